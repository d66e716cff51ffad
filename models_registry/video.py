"""Videos (.mp4, .webm, .mkv, .mov) sent to an image model: decoded with PyAV, whose wheel
ships its own FFmpeg decoders, and sampled into frames that go through the model's image
preprocessing, one row per frame.

A request chooses the frames: every_n_frames=N (frames 0, N, 2N, ...) or fps=F (the first
frame of every 1/F second); without either, MLSERVE_VIDEO_DEFAULT_FPS per second. Decoding
is bounded before it starts and while it runs: the duration (MLSERVE_VIDEO_MAX_SECONDS), the
resolution (MLSERVE_VIDEO_MAX_PIXELS) and the frames sampled (MLSERVE_VIDEO_MAX_FRAMES)
answer 413 with the limit. One decoding thread: the web workers already use every core.
"""

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass

from django.conf import settings
from django.utils.translation import gettext as _

from core.errors import InvalidInput, TooLarge

# What a video container starts with: ISO BMFF (mp4, mov, m4v: "ftyp" at byte 4) and Matroska/WebM (EBML).
EBML_MAGIC = b"\x1a\x45\xdf\xa3"
PARAMETERS = ("every_n_frames", "fps")


def looks_like_video(head: bytes) -> bool:
    return head[4:8] == b"ftyp" or head.startswith(EBML_MAGIC)


@dataclass(frozen=True)
class Sampling:
    """Which frames of a video become rows."""

    every_n_frames: int | None = None
    fps: float | None = None

    @classmethod
    def from_params(cls, params) -> "Sampling | None":
        """From a request's query or form parameters; None when it names neither."""
        raw = {k: params.get(k) for k in PARAMETERS if params.get(k) not in (None, "")}
        if not raw:
            return None
        if len(raw) > 1:
            raise InvalidInput(_("Send every_n_frames or fps, not both."), code="invalid_request")
        try:
            if "every_n_frames" in raw:
                value = int(raw["every_n_frames"])
                if value < 1:
                    raise ValueError
                return cls(every_n_frames=value)
            value = float(raw["fps"])
            if not (value > 0 and math.isfinite(value)):
                raise ValueError
            return cls(fps=value)
        except (TypeError, ValueError):
            raise InvalidInput(
                _("every_n_frames must be a whole number of 1 or more; fps a number of frames per second above 0."),
                code="invalid_request",
                details={"fields": {k: "invalid" for k in raw}},
            ) from None

    @classmethod
    def from_dict(cls, data: dict | None) -> "Sampling | None":
        return cls(**{k: v for k, v in data.items() if k in PARAMETERS}) if data else None

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def describe(self) -> str:
        if self.every_n_frames:
            return f"every {self.every_n_frames} frames"
        return f"{self.fps:g} per second"


def _sampling(sampling: Sampling | None) -> Sampling:
    return sampling or Sampling(fps=float(settings.MLSERVE_VIDEO_DEFAULT_FPS))


def _too_large(message: str, limit_name: str, limit, **details) -> TooLarge:
    return TooLarge(message, code="video_too_large", details={"limit": limit_name, "max": limit, **details})


def _open(source, name: str):
    import av

    try:
        container = av.open(source, mode="r")
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise InvalidInput(
            _("%(name)s: the video cannot be read (damaged, cut short, or not a video): %(error)s") % {"name": name, "error": exc},
            code="invalid_file",
        ) from None
    if not container.streams.video:
        container.close()
        raise InvalidInput(_("%(name)s: the file holds no video stream.") % {"name": name}, code="invalid_file")
    return container


def _checked_stream(container, name: str, sampling: Sampling):
    """The video stream, refused before decoding when its size, length or planned frames are over the caps."""
    stream = container.streams.video[0]
    stream.codec_context.thread_count = 1
    width, height = stream.codec_context.width, stream.codec_context.height
    max_pixels = settings.MLSERVE_VIDEO_MAX_PIXELS
    if width * height > max_pixels:
        raise _too_large(
            f"{name}: the video is {width}×{height}; at most {max_pixels:,} pixels a frame are accepted (MLSERVE_VIDEO_MAX_PIXELS).",
            "MLSERVE_VIDEO_MAX_PIXELS",
            max_pixels,
        )
    seconds = duration(container, stream)
    max_seconds = settings.MLSERVE_VIDEO_MAX_SECONDS
    if seconds is not None and seconds > max_seconds:
        raise _too_large(
            f"{name}: the video lasts {seconds:.1f} s; at most {max_seconds} s are accepted (MLSERVE_VIDEO_MAX_SECONDS).",
            "MLSERVE_VIDEO_MAX_SECONDS",
            max_seconds,
        )
    planned = planned_frames(stream, seconds, sampling)
    max_frames = settings.MLSERVE_VIDEO_MAX_FRAMES
    if planned is not None and planned > max_frames:
        raise _too_large(
            f"{name}: sampling {sampling.describe()} gives {planned} frames; at most {max_frames} are accepted "
            "(MLSERVE_VIDEO_MAX_FRAMES). Sample fewer (a lower fps, a higher every_n_frames) or send a shorter video.",
            "MLSERVE_VIDEO_MAX_FRAMES",
            max_frames,
            frames=planned,
        )
    return stream


def duration(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return None


def planned_frames(stream, seconds: float | None, sampling: Sampling) -> int | None:
    """About how many frames the sampling picks (None when the container does not say)."""
    rate = float(stream.average_rate or stream.guessed_rate or 0) or None
    total = stream.frames or (round(seconds * rate) if seconds and rate else None)
    if sampling.every_n_frames:
        return math.ceil(total / sampling.every_n_frames) if total else None
    if seconds is None:
        return None
    return math.ceil(seconds * min(sampling.fps, rate or sampling.fps) - 1e-9) or 1


def frames(source, name: str, sampling: Sampling | None = None) -> Iterator[tuple[float, object]]:
    """(timestamp in seconds, PIL image) of each sampled frame, in order."""
    import av

    sampling = _sampling(sampling)
    container = _open(source, name)
    try:
        stream = _checked_stream(container, name, sampling)
        max_seconds, max_frames = settings.MLSERVE_VIDEO_MAX_SECONDS, settings.MLSERVE_VIDEO_MAX_FRAMES
        rate = float(stream.average_rate or stream.guessed_rate or 0) or 25.0
        picked, last_slot = 0, -1
        try:
            for index, frame in enumerate(container.decode(stream)):
                t = float(frame.time) if frame.time is not None else index / rate
                if t > max_seconds:  # a container that did not say how long it is
                    raise _too_large(
                        f"{name}: the video lasts more than {max_seconds} s (MLSERVE_VIDEO_MAX_SECONDS).", "MLSERVE_VIDEO_MAX_SECONDS", max_seconds
                    )
                if sampling.every_n_frames:
                    take = index % sampling.every_n_frames == 0
                else:
                    slot = math.floor(t * sampling.fps + 1e-6)
                    take = slot > last_slot
                    last_slot = max(last_slot, slot)
                if not take:
                    continue
                picked += 1
                if picked > max_frames:
                    raise _too_large(
                        f"{name}: sampling {sampling.describe()} gives more than {max_frames} frames (MLSERVE_VIDEO_MAX_FRAMES).",
                        "MLSERVE_VIDEO_MAX_FRAMES",
                        max_frames,
                    )
                yield t, frame.to_image()
        except av.error.FFmpegError as exc:
            raise InvalidInput(_("%(name)s: the video is damaged or cut short (%(error)s).") % {"name": name, "error": exc}, code="invalid_file") from None
        if picked == 0:
            raise InvalidInput(_("%(name)s: the video has no frame to predict on.") % {"name": name}, code="empty_input")
    finally:
        container.close()


def count_frames(path, name: str, sampling: Sampling | None) -> int | None:
    """The frames a queued video task will predict on, for its progress (None when unknown)."""
    container = _open(str(path), name)
    try:
        stream = container.streams.video[0]
        return planned_frames(stream, duration(container, stream), _sampling(sampling))
    finally:
        container.close()

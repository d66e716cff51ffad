"""Small test videos, written with PyAV itself: each frame shows one 8x8 digit of
scikit-learn's data set, scaled up so the encoder keeps it."""

import io

import numpy as np

from tests.model_files import digits_data

SCALE = 4  # each digit pixel becomes a 4x4 block: 32x32 frames


def digit_frame(index: int) -> np.ndarray:
    X, _ = digits_data()
    pixels = (X[index].reshape(8, 8) * 15).astype(np.uint8)
    grey = np.kron(pixels, np.ones((SCALE, SCALE), dtype=np.uint8))
    return np.stack([grey] * 3, axis=-1)


def video_bytes(digits: list[int], *, fps: int = 10, container: str = "mp4", size: tuple[int, int] | None = None) -> bytes:
    """digits[i] is shown in frame i, at fps frames per second (lossless H.264 in mp4, VP8 in webm)."""
    import av

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container) as output:
        if container == "webm":
            stream = output.add_stream("libvpx", rate=fps, options={"crf": "4", "b": "2M"})
            stream.pix_fmt = "yuv420p"
        else:
            stream = output.add_stream("libx264", rate=fps, options={"qp": "0", "preset": "ultrafast"})
            stream.pix_fmt = "yuv444p"
        frame_size = size or (8 * SCALE, 8 * SCALE)
        stream.width, stream.height = frame_size
        for index in digits:
            image = digit_frame(index)
            if size is not None:
                image = np.zeros((size[1], size[0], 3), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return buffer.getvalue()


def decoded_frames_as_png(data: bytes) -> list[tuple[float, bytes]]:
    """Every frame as the decoder gives it back, saved losslessly: what the model should see."""
    import av

    frames = []
    with av.open(io.BytesIO(data)) as container:
        for frame in container.decode(video=0):
            buffer = io.BytesIO()
            frame.to_image().save(buffer, format="PNG")
            frames.append((float(frame.time), buffer.getvalue()))
    return frames

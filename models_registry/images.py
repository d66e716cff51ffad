"""Images to a model's input tensor, by a declarative preprocessing config kept on
the model version (editable on the Test page and through the API).

An input is taken for an image only when it looks like one: a per-row shape of rank 3
with a channel dimension of 1 or 3 ([C, H, W] or [H, W, C]), or an artifact or a name
that says image. A flat vector whose length happens to be a perfect square (iris's 4
features) is a table row, not a 2x2 picture; such an input takes images once its
preprocessing is set (on the Test tab or with PATCH).

Config keys:
  field   the tensor input the image feeds
  size    [width, height] the image is resized to
  mode    "L" (grayscale) or "RGB"
  layout  "NCHW", "NHWC", "HW" or "flat" (how the pixels are laid out per row)
  scale   pixel values (0..255) are multiplied by this
  mean, std   per channel, applied after scaling: (x * scale - mean) / std
"""

import io
import math
import re
import warnings

import numpy as np
from django.conf import settings
from django.utils.translation import gettext as _

from core.errors import InvalidInput, TooLarge, without_paths
from models_registry.schema import Field

LAYOUTS = ("NCHW", "NHWC", "HW", "flat")
MODES = ("L", "RGB")
IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"RIFF")
# A name that says image, as a word of it: "image", "input_image", "pixel_values"; not "dataframe".
IMAGE_NAME = re.compile(r"(?i)(?:^|[^a-z])(?:images?|imgs?|pixels?|pictures?|photos?|frames?)(?:[^a-z]|$)")
# Below this many pixels a side, a tensor is not offered as an image on the Test tab.
MIN_OFFERED_SIDE = 8


def looks_like_image(head: bytes) -> bool:
    return head.startswith(IMAGE_MAGIC[:5]) or (head.startswith(b"RIFF") and head[8:12] == b"WEBP")


def image_field(fields: list[Field]) -> Field | None:
    """The input an image could feed: the model's only tensor input."""
    tensors = [f for f in fields if f.is_tensor]
    return tensors[0] if len(tensors) == 1 else None


def says_image(field: Field) -> bool:
    """Whether the input looks like an image without anyone saying how to make one."""
    dims = [d if isinstance(d, int) and d > 0 else None for d in (field.shape or [])]
    if len(dims) == 3 and (dims[0] in (1, 3) or dims[2] in (1, 3)):
        return True
    return field.media == "image" or bool(IMAGE_NAME.search(field.name))


def geometry(field: Field) -> dict | None:
    """The preprocessing the field's shape suggests if an image is to feed it, or None when
    no image fits it (a [4] vector is taken for 2x2, a [3, 5] for 5x3 grey)."""
    shape = list(field.shape or [])
    dims = [d if isinstance(d, int) and d > 0 else None for d in shape]
    config = {"field": field.name, "scale": 1 / 255, "mean": [0.0], "std": [1.0]}
    if len(dims) == 3 and dims[0] in (1, 3):
        channels, height, width = dims
        layout = "NCHW"
    elif len(dims) == 3 and dims[2] in (1, 3):
        height, width, channels = dims
        layout = "NHWC"
    elif len(dims) == 2:
        (height, width), channels, layout = dims, 1, "HW"
    elif len(dims) == 1 and dims[0]:
        side = math.isqrt(dims[0])
        side_rgb = math.isqrt(dims[0] // 3) if dims[0] % 3 == 0 else 0
        if side * side == dims[0]:
            height = width = side
            channels = 1
        elif side_rgb and side_rgb * side_rgb * 3 == dims[0]:
            height = width = side_rgb
            channels = 3
        else:
            return None
        layout = "flat"
    else:
        return None
    config.update(
        {
            "size": [width or 224, height or 224],
            "mode": "RGB" if channels == 3 else "L",
            "layout": layout,
        }
    )
    return config


def default_config(field: Field) -> dict | None:
    """How an image becomes this input when nobody set it: only for inputs that look like images."""
    return geometry(field) if says_image(field) else None


def offered_config(field: Field) -> dict | None:
    """What the Test tab offers to set for an input not taken for an image: its geometry, when
    it is big enough to be a picture (8x8 and up)."""
    config = geometry(field)
    if config is None or min(config["size"]) < MIN_OFFERED_SIDE:
        return None
    return config


def clean_config(field: Field, config: dict) -> dict:
    """Validate a user's config against the field; returns the complete config."""
    base = geometry(field) or {"field": field.name, "scale": 1 / 255, "mean": [0.0], "std": [1.0], "size": [224, 224], "mode": "RGB", "layout": "NCHW"}
    unknown = set(config) - {"field", "size", "mode", "layout", "scale", "mean", "std"}
    if unknown:
        raise InvalidInput(_("Unknown preprocessing setting(s): %(settings)s.") % {"settings": ", ".join(sorted(unknown))}, code="invalid_request")
    merged = {**base, **{k: v for k, v in config.items() if v is not None}}
    try:
        size = [int(v) for v in merged["size"]]
        scale = float(merged["scale"])
        mean = [float(v) for v in np.atleast_1d(merged["mean"])]
        std = [float(v) for v in np.atleast_1d(merged["std"])]
    except (TypeError, ValueError):
        raise InvalidInput(_("Preprocessing: size is [width, height]; scale, mean and std are numbers."), code="invalid_request") from None
    if len(size) != 2 or not all(1 <= s <= 4096 for s in size):
        raise InvalidInput(_("Preprocessing: size must be [width, height], each 1..4096."), code="invalid_request")
    if merged["mode"] not in MODES:
        raise InvalidInput(_("Preprocessing: mode must be one of %(modes)s.") % {"modes": ", ".join(MODES)}, code="invalid_request")
    if merged["layout"] not in LAYOUTS:
        raise InvalidInput(_("Preprocessing: layout must be one of %(layouts)s.") % {"layouts": ", ".join(LAYOUTS)}, code="invalid_request")
    if any(s == 0 for s in std):
        raise InvalidInput(_("Preprocessing: std must not be 0."), code="invalid_request")
    merged.update({"size": size, "scale": scale, "mean": mean, "std": std, "field": field.name})
    return merged


def open_image(data: bytes, name: str = "image"):
    """Decode with Pillow, refusing decompression bombs and damaged files."""
    from PIL import Image, UnidentifiedImageError

    limit = settings.MLSERVE_MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = limit
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > limit:
                raise Image.DecompressionBombError("too many pixels")
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise TooLarge(
            _("%(name)s: the image has more than %(limit)s pixels (MLSERVE_MAX_IMAGE_PIXELS); send a smaller one.")
            % {"name": name, "limit": f"{limit:,}"},
            code="image_too_large",
        ) from None
    except UnidentifiedImageError:
        raise InvalidInput(
            _("%(name)s: the image is damaged or truncated, or not a format Pillow reads (PNG, JPEG, GIF, BMP, WebP).") % {"name": name},
            code="invalid_file",
        ) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise InvalidInput(
            _("%(name)s: the image is damaged or truncated (%(error)s).") % {"name": name, "error": without_paths(str(exc))},
            code="invalid_file",
        ) from None
    return image


def image_to_tensor(image, config: dict) -> np.ndarray:
    from PIL import Image

    width, height = config["size"]
    image = image.convert(config["mode"]).resize((width, height), Image.Resampling.BILINEAR)
    array = np.asarray(image, dtype=np.float32) * np.float32(config["scale"])
    if array.ndim == 2:
        array = array[:, :, None]  # H, W, 1
    mean = np.asarray(config["mean"], dtype=np.float32)
    std = np.asarray(config["std"], dtype=np.float32)
    array = (array - mean) / std
    layout = config["layout"]
    if layout == "NCHW":
        return array.transpose(2, 0, 1)
    if layout == "HW":
        return array[:, :, 0]
    if layout == "flat":
        return array.reshape(-1) if array.shape[2] > 1 else array[:, :, 0].reshape(-1)
    return array


def require_config(field: Field, config: dict | None, name: str = "image") -> dict:
    """The config an image goes through for this field, or why no image can feed it."""
    config = config or default_config(field)
    if config is None:
        shown = "".join(f"[{', '.join(str(d) for d in field.shape or [])}]")
        raise InvalidInput(
            _(
                "%(name)s: the model's input '%(field)s' of shape %(shape)s is not taken for an image. If it is one, set how "
                'an image becomes it (size, mode, layout) on the model\'s Test tab, or with PATCH and "preprocessing".'
            )
            % {"name": name, "field": field.name, "shape": shown},
            code="invalid_file",
        )
    return config


def tensor_from_image_bytes(data: bytes, field: Field, config: dict | None, name: str = "image") -> np.ndarray:
    return image_to_tensor(open_image(data, name), require_config(field, config, name))

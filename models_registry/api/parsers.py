"""Prediction requests: JSON, a multipart "file", or a raw file body (CSV, image, ZIP...)."""

import io

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import UnsupportedMediaType
from rest_framework.parsers import BaseParser, FormParser, JSONParser, MultiPartParser

from core.errors import InvalidInput
from models_registry.inputs import loads_json
from models_registry.video import Sampling

RAW_TYPES = {
    "text/csv": "body.csv",
    "text/tab-separated-values": "body.tsv",
    "text/plain": "body.txt",
    "application/x-ndjson": "body.jsonl",
    "application/jsonlines": "body.jsonl",
    "image/png": "body.png",
    "image/jpeg": "body.jpg",
    "video/mp4": "body.mp4",
    "video/webm": "body.webm",
    "video/quicktime": "body.mov",
    "video/x-matroska": "body.mkv",
    "application/zip": "body.zip",
    "application/octet-stream": "body.bin",
}


class SafeJSONParser(JSONParser):
    """JSON bodies through the input layer's one parser (the fast path and OIP use it too)."""

    def parse(self, stream, media_type=None, parser_context=None):
        return loads_json(stream.read() if stream is not None else b"")


class RawFile(io.BytesIO):
    """A raw request body, looking like an uploaded file."""

    def __init__(self, data: bytes, name: str):
        super().__init__(data)
        self.name = name
        self.size = len(data)


class RawBodyParser(BaseParser):
    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        base = (media_type or "").split(";")[0].strip().lower()
        if base not in RAW_TYPES:
            raise UnsupportedMediaType(media_type)
        return {"file": RawFile(stream.read() if stream else b"", RAW_TYPES[base])}


PREDICTION_PARSERS = [SafeJSONParser, MultiPartParser, FormParser, RawBodyParser]
# The frames of a video file to predict on (in the query, or as form fields beside the file).
VIDEO_PARAMETERS = [
    OpenApiParameter("fps", float, description="Video files: frames per second to predict on (default 1)"),
    OpenApiParameter("every_n_frames", int, description="Video files: every N-th frame instead"),
]


def prediction_input(request) -> dict:
    """Keyword arguments for models_registry.prediction: data= (JSON) or upload= (a file), and
    for a video the frames to sample (every_n_frames or fps, in the query or the form)."""
    data = request.data
    upload = request.FILES.get("file") if hasattr(request, "FILES") else None
    if upload is None and isinstance(data, dict) and isinstance(data.get("file"), RawFile):
        upload = data["file"]
    if upload is not None:
        form = data if hasattr(data, "getlist") else {}
        sampling = Sampling.from_params(request.query_params) or Sampling.from_params(form)
        return {"upload": upload, "sampling": sampling} if sampling else {"upload": upload}
    if request.content_type.startswith("multipart/"):
        raise InvalidInput(_('A multipart request must carry the input as a "file" field.'), code="empty_input")
    has_body = int(request.META.get("CONTENT_LENGTH") or 0) > 0
    return {"data": data if has_body else None}

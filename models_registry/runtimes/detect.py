"""Which format an uploaded file is, from its content (the extension is only a hint)."""

import re
import zipfile
from pathlib import Path

from django.utils.translation import gettext as _

from core.errors import InvalidModel, UnsupportedFormat, without_paths
from models_registry.runtimes.pmml import parse_document

SUPPORTED = (
    "PMML (.pmml, .xml), ONNX (.onnx), XGBoost save_model JSON/UBJ (.json, .ubj), "
    "LightGBM save_model text or dump_model JSON (.txt, .json), CatBoost (.cbm), "
    "scikit-learn skops (.skops), a ZIP of an MLflow model directory, "
    "or a scikit-learn pickle/joblib (.pkl, .joblib; trusted users only)"
)
PICKLE_EXTENSIONS = {".pkl", ".pickle", ".joblib", ".sav"}
# joblib.dump(..., compress=...) wraps the pickle in one of these.
COMPRESSED_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x5d\x00\x00", b"\x04\x22\x4d\x18", b"ZF")
ZLIB_HEADERS = (b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda")
# The first byte of a protobuf field tag that can open an ONNX ModelProto (fields 1-8, 14, 20).
ONNX_LEADING_BYTES = {0x08, 0x12, 0x1A, 0x22, 0x2A, 0x32, 0x3A, 0x42, 0x72, 0xA2}
UBJSON_MARKERS = b"iUIlLdDSHTFZ{["
CATBOOST_MAGIC = b"CBM1"
LIGHTGBM_TEXT = re.compile(rb"^tree\r?\nversion=v\d")
LIGHTGBM_DUMP = re.compile(rb'"name"\s*:\s*"tree"')


def detect_format(path: Path, filename: str) -> tuple[str, str]:
    """(format, extension to store it under) or a clear reason why the file is not a model."""
    with open(path, "rb") as f:
        head = f.read(4096)
    if not head:
        raise InvalidModel(_("The file is empty (0 bytes): upload the saved model file itself."), code="empty_file")
    ext = Path(filename or "").suffix.lower()

    if head.startswith(b"PK\x03\x04"):
        return _zip_format(path, ext)
    if head.startswith(CATBOOST_MAGIC):
        return "catboost", ".cbm"

    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if LIGHTGBM_TEXT.match(text):
        return "lightgbm", ".txt"
    if text.startswith(b"<"):
        _check_pmml_root(path)
        return "pmml", ".pmml"
    if text.startswith(b"{"):
        return _xgboost_format(text, ext)
    if head[0] == 0x80 and len(head) > 1 and 2 <= head[1] <= 5:
        return "pickle", ext if ext in PICKLE_EXTENSIONS else ".pkl"
    if ext in PICKLE_EXTENSIONS and head.startswith(COMPRESSED_MAGIC + ZLIB_HEADERS):
        return "pickle", ext
    if head[0] in ONNX_LEADING_BYTES and (ext == ".onnx" or head[0] == 0x08):
        return "onnx", ".onnx"
    if ext == ".onnx":
        raise InvalidModel(_("This file is named .onnx but is not an ONNX model (it does not start like an ONNX protobuf)."))
    raise UnsupportedFormat(_("Unrecognised file format. Supported formats: %(formats)s.") % {"formats": SUPPORTED})


def _zip_format(path: Path, ext: str) -> tuple[str, str]:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except zipfile.BadZipFile as exc:
        raise InvalidModel(_("The file starts like a ZIP archive but is damaged: %(error)s") % {"error": without_paths(str(exc))}) from exc
    if "schema.json" in names:
        return "skops", ".skops"
    if any(n == "MLmodel" or n.endswith("/MLmodel") for n in names):
        return "mlflow", ".zip"
    explained = _(
        "Upload the model itself: %(formats)s. (A .skops file is a ZIP too, but it holds a schema.json, "
        "and an MLflow model's ZIP holds an MLmodel file; this archive holds neither.)"
    ) % {"formats": SUPPORTED}
    raise UnsupportedFormat(
        (_("This is a ZIP archive named %(ext)s, not a model file.") % {"ext": ext} if ext else _("This is a ZIP archive, not a model file."))
        + " "
        + explained
    )


def _check_pmml_root(path: Path) -> None:
    """Only the root tag: the full, defused parse happens in the PMML runtime."""
    parse_document(path)


def _xgboost_format(text: bytes, ext: str) -> tuple[str, str]:
    if len(text) > 1 and text[1:2] in (b'"', b" ", b"\n", b"\r", b"\t", b"}"):
        if b'"learner"' in text:
            return "xgboost", ".json"
        if LIGHTGBM_DUMP.search(text) and (b'"num_tree_per_iteration"' in text or b'"tree_info"' in text):
            return "lightgbm", ".json"
        raise UnsupportedFormat(
            _(
                "This is a JSON document but neither an XGBoost model (no 'learner' object) nor a LightGBM dump "
                '(no "name": "tree"). Supported formats: %(formats)s.'
            )
            % {"formats": SUPPORTED}
        )
    if text[1:2] in (bytes([m]) for m in UBJSON_MARKERS) and b"learner" in text[:64]:
        return "xgboost", ".ubj"
    raise UnsupportedFormat(_("Unrecognised file format. Supported formats: %(formats)s.") % {"formats": SUPPORTED})

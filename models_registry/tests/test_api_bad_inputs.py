"""A table of bad prediction inputs: each gets 400/413 with a field- or file-level message, never a 500."""

import io
import struct
import zipfile
import zlib

import pytest

ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
HEADER = "sepal_length,sepal_width,petal_length,petal_width\n"


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge image: a decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def small_png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (8, 8)).save(buffer, format="PNG")
    return buffer.getvalue()


def zip_of(members: dict, compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def zip_with_names(names: list[str]) -> bytes:
    """ZipFile.writestr cleans names, so write the hostile names into the headers ourselves."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            info = zipfile.ZipInfo("x" * len(name))
            archive.writestr(info, HEADER + "1,2,3,4\n")
    data = buffer.getvalue()
    for name in names:
        data = data.replace(("x" * len(name)).encode(), name.encode())
    return data


# (name, model, how to send, payload, expected status, words in the message)
CASES = [
    ("malformed json", "iris", "raw-json", b'{"inputs": {', 400, "could not be parsed"),
    ("json that is a list", "iris", "json", [ROW], 400, "json object"),
    ("json that is a string", "iris", "json", "hello", 400, "json object"),
    ("empty json object", "iris", "json", {}, 400, "exactly one of the keys"),
    ("two body keys", "iris", "json", {"inputs": ROW, "instances": [ROW]}, 400, "exactly one of the keys"),
    ("unknown body key", "iris", "json", {"rows": [ROW]}, 400, "exactly one of the keys"),
    ("empty body", "iris", "empty", None, 400, "no body"),
    ("inputs not an object", "iris", "json", {"inputs": 42}, 400, "'inputs' must be"),
    ("empty inputs list", "iris", "json", {"inputs": []}, 400, "no rows"),
    ("a string for a number", "iris", "json", {"inputs": {**ROW, "petal_width": "abc"}}, 400, "petal_width: expected a number, got 'abc'"),
    ("a boolean for a number", "iris", "json", {"inputs": {**ROW, "petal_width": True}}, 400, "petal_width: expected a number"),
    ("a list for a number", "iris", "json", {"inputs": {**ROW, "petal_width": [1]}}, 400, "petal_width"),
    ("an object for a number", "iris", "json", {"inputs": {**ROW, "petal_width": {"a": 1}}}, 400, "petal_width"),
    ("null for a required field", "iris", "json", {"inputs": {**ROW, "petal_width": None}}, 400, "petal_width: a value is required"),
    ("missing field", "iris", "json", {"inputs": {"sepal_length": 1, "sepal_width": 1, "petal_length": 1}}, 400, "missing required field: petal_width"),
    ("misspelt field", "iris", "json", {"inputs": {**{k: v for k, v in ROW.items() if k != "petal_width"}, "petal_widht": 1}}, 400, "petal_widht"),
    ("a huge number", "iris", "raw-json", b'{"inputs": {"sepal_length": 1, "sepal_width": 1, "petal_length": 1, "petal_width": 1e400}}', 400, "beyond the range of a 64-bit float"),
    ("NaN in json", "iris", "raw-json", b'{"inputs": {"sepal_length": NaN, "sepal_width": 1, "petal_length": 1, "petal_width": 1}}', 400, "could not be parsed"),
    ("infinity in csv", "iris", "csv", HEADER + "1,2,3,inf\n", 400, "finite number"),
    ("nan in csv", "iris", "csv", HEADER + "1,2,3,nan\n", 400, "a value is required"),
    ("bad row deep in a list", "iris", "json", {"inputs": [ROW, ROW, {**ROW, "sepal_length": "x"}]}, 400, "row 2"),
    ("row not an object", "iris", "json", {"dataframe_records": [ROW, 5]}, 400, "row 1"),
    ("dataframe_split row too short", "iris", "json", {"dataframe_split": {"columns": list(ROW), "data": [[1, 2, 3]]}}, 400, "4 values"),
    ("dataframe_split without data", "iris", "json", {"dataframe_split": {"columns": list(ROW)}}, 400, "'data'"),
    ("instances with wrong width", "iris", "json", {"instances": [[1, 2]]}, 400, "4 values"),
    ("value outside the allowed set", "mixed", "json", {"inputs": {"age": 0, "bmi": 0, "bp": 0, "s5": 0, "sex": "other", "bmi_band": "mid"}}, 400, "sex: expected one of 'female', 'male'"),
    ("value outside the range", "tree", "json", {"inputs": {"petal_length": 11, "petal_width": 1}}, 400, "petal_length: must be between 0.0 and 10.0"),
    ("empty csv body", "iris", "csv", "", 400, "no body"),
    ("empty csv file", "iris", "csv-file", b"", 400, "empty"),
    ("blank csv file", "iris", "csv-file", b"\n\n", 400, "empty"),
    ("csv with only a header", "iris", "csv", HEADER, 400, "no rows"),
    ("csv with missing columns", "iris", "csv", "sepal_length,sepal_width\n1,2\n", 400, "missing column(s) petal_length, petal_width"),
    ("csv with ragged rows", "iris", "csv", HEADER + "1,2,3,4\n1,2,3,4,5,6,7\n", 400, "malformed"),
    ("csv not utf-8", "iris", "csv-file", (HEADER + "1,2,3,4\n").encode("utf-16"), 400, "binary file"),
    ("latin-1 text", "iris", "csv-file", "sepal_length,sépal\n1,2\n".encode("latin-1"), 400, "not utf-8"),
    ("a binary text file", "iris", "txt-file", b"\x00\x01\x02\xff" * 100, 400, "binary file"),
    ("malformed json lines", "iris", "jsonl-file", b'{"sepal_length": 1}\n{oops\n', 400, "line 2 is not valid json"),
    ("a truncated png", "digits", "png-file", small_png()[:40], 400, "damaged or truncated"),
    ("not an image but named png", "digits", "png-file", b"\x89PNG\r\n\x1a\n" + b"junk" * 10, 400, "image"),
    ("an image bomb", "digits", "png-file", png_claiming(100_000, 100_000), 413, "pixels"),
    ("an image for a tabular model", "iris", "png-file", small_png(), 400, "does not take images"),
    ("a zip bomb", "iris", "zip-file", zip_of({"big.csv": HEADER + "0" * 3_000_000}), 413, "unpacks to"),
    ("a zip with ../ names", "iris", "zip-file", zip_with_names(["../../etc/x.csv"]), 400, "unsafe member names"),
    ("a zip with absolute names", "iris", "zip-file", zip_with_names(["/etc/passwd.csv"]), 400, "unsafe member names"),
    ("a damaged zip", "iris", "zip-file", b"PK\x03\x04" + b"\x00" * 50, 400, "damaged"),
    ("an empty zip", "iris", "zip-file", zip_of({}), 400, "empty"),
    ("a zip with too many members", "iris", "zip-file", zip_of({f"{i}.csv": HEADER + "1,2,3,4\n" for i in range(12)}), 413, "at most 10"),
    ("a zip mixing images and tables", "digits", "zip-file", zip_of({"a.png": small_png(), "b.csv": "x\n1\n"}), 400, "mix of images"),
    ("too many rows", "iris", "json", {"inputs": [ROW] * 6}, 413, "at most 5"),
    ("too many rows in a csv", "iris", "csv", HEADER + "1,2,3,4\n" * 6, 413, "at most 5"),
    ("multipart without a file", "iris", "multipart-nofile", None, 400, '"file" field'),
    ("unsupported content type", "iris", "raw-xml", b"<rows/>", 415, "unsupported media type"),
    ("wrong tensor shape", "digits", "json", {"inputs": {"X": [1, 2, 3]}}, 400, "expected shape [64]"),
    ("bad base64 image", "digits", "json", {"instances": [{"b64": "%%%not base64"}]}, 400, "not valid base64"),
]


@pytest.fixture
def models(upload_model, api, settings):
    for filename, name in (
        ("iris_logreg.skops", "iris"),
        ("mixed_pipeline.skops", "mixed"),
        ("tree_iris.pmml", "tree"),
        ("digits_logreg.onnx", "digits"),
    ):
        assert upload_model(filename, name=name).status_code == 201
    settings.MLSERVE_MAX_ROWS_PER_REQUEST = 5
    settings.MLSERVE_ZIP_MAX_MEMBERS = 10
    settings.MLSERVE_ZIP_MAX_BYTES = 1_000_000
    return api


def send(api, model, how, payload):
    url = f"/api/v1/models/{model}/predict"
    if how == "json":
        return api.post(url, payload, format="json")
    if how == "raw-json":
        return api.post(url, payload, content_type="application/json")
    if how == "raw-xml":
        return api.post(url, payload, content_type="application/xml")
    if how == "empty":
        return api.post(url)
    if how == "csv":
        return api.post(url, payload, content_type="text/csv")
    if how == "multipart-nofile":
        return api.post(url, {"note": "x"}, format="multipart")
    extension = how.split("-")[0]
    upload = io.BytesIO(payload if isinstance(payload, bytes) else payload.encode())
    upload.name = f"input.{extension}"
    return api.post(url, {"file": upload}, format="multipart")


def test_the_table_is_long_enough():
    assert len(CASES) >= 30


@pytest.mark.parametrize("name, model, how, payload, status, words", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_a_clear_error(models, name, model, how, payload, status, words):
    response = send(models, model, how, payload)
    assert response.status_code == status, response.content[:500]
    error = response.json()["error"]
    assert words.lower() in error["message"].lower(), error["message"]

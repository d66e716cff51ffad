"""Every bad file gets a clear 4xx with a reason, and leaves no file and no row behind."""

import io
import os
import zipfile

import pytest

from models_registry.models import ModelVersion, RegisteredModel


def onnx_that_fails_at_run_time() -> bytes:
    """A valid graph whose Reshape cannot work on any input: loads, but the probe fails."""
    from onnx import TensorProto, helper

    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [3, 5])
    node = helper.make_node("Reshape", ["X", "shape"], ["Y"])
    graph = helper.make_graph(
        [node],
        "broken",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [3, 5])],
        initializer=[shape],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def zip_bytes(**members) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4"><Header>&lol2;</Header></PMML>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE PMML [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4"><Header description="&xxe;"/></PMML>"""


def lightgbm_pointing_outside_its_tree(text: str) -> bytes:
    """A LightGBM tree whose split points to a node it does not have (LightGBM would read past its arrays)."""
    line_start = text.index("left_child=", text.index("Tree=0\n"))
    line_end = text.index("\n", line_start)
    children = text[line_start + len("left_child=") : line_end].split()
    children[0] = "40"
    return (text[:line_start] + "left_child=" + " ".join(children) + text[line_end:]).encode()


def mlflow_variant(path, **changes) -> bytes:
    """The MLflow ZIP with members replaced (bytes), removed (None) or added."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(buffer, "w") as target:
        for info in source.infolist():
            if info.filename in changes:
                continue
            target.writestr(info, source.read(info))
        for name, content in changes.items():
            if content is not None:
                target.writestr(name, content)
    return buffer.getvalue()


def bad_files(model_files):
    onnx = model_files["iris_logreg.onnx"].read_bytes()
    xgb = model_files["iris_xgb.json"].read_bytes()
    lgb_text = model_files["iris_lgbm.txt"].read_text()
    lgb_dump = model_files["iris_lgbm_dump.json"].read_bytes()
    cbm = model_files["iris_catboost.cbm"].read_bytes()
    mlflow = model_files["iris_mlflow_xgboost.zip"]
    mlmodel = zipfile.ZipFile(mlflow).read("MLmodel").decode()
    return {
        "empty file": ("model.onnx", b"", 400, "empty"),
        "random bytes": ("model.bin", os.urandom(4096), 400, "format"),
        "random bytes named onnx": ("model.onnx", b"\x99" + os.urandom(2048), 400, "onnx"),
        "truncated onnx": ("model.onnx", onnx[: len(onnx) // 2], 400, "onnx"),
        "xml that is not pmml": ("model.xml", b"<?xml version='1.0'?><html><body/></html>", 400, "not <pmml>"),
        "broken xml": ("model.pmml", b"<PMML><DataDictionary></PMML>", 400, "xml"),
        "pmml without a model": (
            "model.pmml",
            b'<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4"><DataDictionary/></PMML>',
            400,
            "model element",
        ),
        "billion laughs pmml": ("model.pmml", BILLION_LAUGHS, 400, "entities"),
        "xxe pmml": ("model.pmml", XXE, 400, "entities"),
        "zip named onnx": ("model.onnx", zip_bytes(**{"model.onnx": onnx}), 400, "zip"),
        "json that is not xgboost": ("model.json", b'{"hello": "world"}', 400, "xgboost"),
        "truncated xgboost json": ("model.json", xgb[: len(xgb) // 2], 400, "xgboost"),
        "a png image": ("model.png", b"\x89PNG\r\n\x1a\n" + os.urandom(200), 400, "format"),
        "plain text": ("model.txt", b"this is not a model\n", 400, "format"),
        "onnx whose probe fails": ("model.onnx", onnx_that_fails_at_run_time(), 400, "sample input"),
        "skops with untrusted types": ("model.skops", zip_bytes(**{"schema.json": b"{}"}), 400, "skops"),
        "truncated lightgbm text": ("model.txt", lgb_text[: len(lgb_text) // 2].encode(), 400, "lightgbm"),
        "lightgbm text cut in its parameters": ("model.txt", lgb_text[: lgb_text.index("[objective:")].encode(), 400, "cut short"),
        "lightgbm tree pointing outside itself": ("model.txt", lightgbm_pointing_outside_its_tree(lgb_text), 400, "does not have"),
        "truncated lightgbm dump": ("model.json", lgb_dump[: len(lgb_dump) // 2], 400, "lightgbm"),
        "lightgbm dump without trees": ("model.json", b'{"name": "tree", "version": "v4", "num_tree_per_iteration": 1}', 400, "lightgbm"),
        "truncated catboost": ("model.cbm", cbm[: len(cbm) // 2], 400, "catboost"),
        "catboost header and noise": ("model.cbm", cbm[:16] + os.urandom(4000), 400, "catboost"),
        "truncated mlflow zip": ("model.zip", mlflow.read_bytes()[:600], 400, "zip"),
        "mlflow model without its artifact": ("model.zip", mlflow_variant(mlflow, **{"model.xgb": None}), 400, "missing"),
        "mlflow model with a damaged artifact": ("model.zip", mlflow_variant(mlflow, **{"model.xgb": b"{Lxx"}), 400, "xgboost"),
        "mlflow model with only python_function": ("model.zip", model_files["mlflow_pyfunc_only.zip"].read_bytes(), 400, "python_function"),
        "mlflow MLmodel that is not yaml": ("model.zip", mlflow_variant(mlflow, MLmodel=b"flavors: [unclosed"), 400, "yaml"),
        "mlflow MLmodel nested too deeply": ("model.zip", mlflow_variant(mlflow, MLmodel=b"flavors: " + b"[" * 50000), 400, "yaml"),
        "mlflow artifact outside the model": (
            "model.zip",
            mlflow_variant(mlflow, MLmodel=mlmodel.replace("data: model.xgb", "data: ../../etc/passwd").encode()),
            400,
            "outside",
        ),
        "mlflow zip with unsafe names": ("model.zip", mlflow_variant(mlflow, **{"../evil.txt": b"x"}), 400, "unsafe"),
        "mlflow zip with two models": ("model.zip", mlflow_variant(mlflow, **{"other/MLmodel": mlmodel.encode()}), 400, "mlmodel"),
    }


CASES = [
    "empty file",
    "random bytes",
    "random bytes named onnx",
    "truncated onnx",
    "xml that is not pmml",
    "broken xml",
    "pmml without a model",
    "billion laughs pmml",
    "xxe pmml",
    "zip named onnx",
    "json that is not xgboost",
    "truncated xgboost json",
    "a png image",
    "plain text",
    "onnx whose probe fails",
    "skops with untrusted types",
    "truncated lightgbm text",
    "lightgbm text cut in its parameters",
    "lightgbm tree pointing outside itself",
    "truncated lightgbm dump",
    "lightgbm dump without trees",
    "truncated catboost",
    "catboost header and noise",
    "truncated mlflow zip",
    "mlflow model without its artifact",
    "mlflow model with a damaged artifact",
    "mlflow model with only python_function",
    "mlflow MLmodel that is not yaml",
    "mlflow MLmodel nested too deeply",
    "mlflow artifact outside the model",
    "mlflow zip with unsafe names",
    "mlflow zip with two models",
]


def assert_nothing_stored(data_dir):
    assert RegisteredModel.objects.count() == 0
    assert ModelVersion.objects.count() == 0
    assert not [p for p in (data_dir / "media").rglob("*") if p.is_file()]
    assert not [p for p in (data_dir / "tmp").rglob("*") if p.is_file()]


@pytest.mark.parametrize("case", CASES)
def test_a_bad_file_is_refused_with_a_reason_and_leaves_nothing(api, model_files, isolated_data_dir, case):
    filename, content, status, words = bad_files(model_files)[case]
    response = api.post(
        "/api/v1/models", {"name": "bad", "file": _named(content, filename)}, format="multipart"
    )
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] and error["message"]
    assert words in error["message"].lower(), error["message"]
    assert_nothing_stored(isolated_data_dir)


def _named(content: bytes, filename: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(filename, content)


def test_a_bad_new_version_keeps_the_old_one(api, upload_model, model_files):
    assert upload_model("iris_logreg.skops", name="iris").status_code == 201
    response = api.post("/api/v1/models/iris/versions", {"file": _named(b"garbage", "x.onnx")}, format="multipart")
    assert response.status_code == 400
    version = ModelVersion.objects.get()
    assert version.number == 1 and version.artifact.storage.exists(version.artifact.name)


def test_a_file_over_the_upload_limit_is_413(api, settings, model_files, isolated_data_dir):
    settings.MLSERVE_MAX_UPLOAD_SIZE = 1000
    response = api.post("/api/v1/models", {"name": "big", "file": _named(b"\x08" + b"x" * 5000, "big.onnx")}, format="multipart")
    assert response.status_code == 413
    assert "upload limit" in response.json()["error"]["message"]
    assert_nothing_stored(isolated_data_dir)


def test_a_request_declaring_a_huge_body_is_refused_before_reading_it(api, settings):
    settings.MLSERVE_MAX_UPLOAD_SIZE = 10
    response = api.post("/api/v1/models", {"name": "big", "file": _named(b"x" * (2 * 1024 * 1024), "big.onnx")}, format="multipart")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


def xgboost_declaring(content: bytes, parameter: str, value: int, ubj: bool) -> bytes:
    """An XGBoost model file with one size parameter (num_class...) rewritten, as an attacker would."""
    import re

    text = str(value).encode()
    if ubj:  # UBJSON: the key, S, L and an 8-byte length, then the digits
        pattern = re.compile(rb"(" + parameter.encode() + rb"SL)(.{8})(\d+)", re.S)
        edited, count = pattern.subn(lambda m: m.group(1) + len(text).to_bytes(8, "big") + text, content)
    else:
        pattern = re.compile(rb'("' + parameter.encode() + rb'":")(\d+)')
        edited, count = pattern.subn(lambda m: m.group(1) + text, content)
    assert count, f"no {parameter} in the file"
    return edited


@pytest.mark.parametrize("filename", ["iris_xgb.json", "iris_xgb.ubj"])
@pytest.mark.parametrize("parameter, value", [("num_class", 100_000_000), ("num_target", 10**9), ("num_feature", 10**9)])
def test_an_xgboost_model_declaring_huge_sizes_is_a_400_before_xgboost_loads_it(
    api, model_files, isolated_data_dir, monkeypatch, filename, parameter, value
):
    import xgboost

    def must_not_load(self, *args, **kwargs):
        raise AssertionError("XGBoost was asked to load a model declaring a huge size")

    monkeypatch.setattr(xgboost.Booster, "load_model", must_not_load)
    content = xgboost_declaring(model_files[filename].read_bytes(), parameter, value, ubj=filename.endswith(".ubj"))
    response = api.post("/api/v1/models", {"name": "huge", "file": _named(content, filename)}, format="multipart")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "model_too_large"
    assert f"{parameter} = {value}" in error["message"]
    assert_nothing_stored(isolated_data_dir)


@pytest.mark.parametrize("filename", ["iris_xgb.json", "iris_xgb.ubj"])
def test_an_xgboost_model_with_ordinary_sizes_still_uploads(upload_model, filename):
    assert upload_model(filename).status_code == 201


def engine_failures(model_files) -> dict[str, tuple[str, bytes]]:
    """Files each engine refuses with a message of its own that names a file path."""
    import onnx

    unknown_op = onnx.load_from_string(model_files["iris_logreg.onnx"].read_bytes())
    unknown_op.graph.node[0].op_type = "NoSuchOp"
    future_ir = onnx.load_from_string(model_files["iris_logreg.onnx"].read_bytes())
    future_ir.ir_version = 99
    xgb = model_files["iris_xgb.json"].read_bytes()
    return {
        "onnx with an unknown operator": ("model.onnx", unknown_op.SerializeToString()),
        "onnx from the future": ("model.onnx", future_ir.SerializeToString()),
        "xgboost with an unknown objective": ("model.json", xgb.replace(b'"multi:softprob"', b'"multi:nope"')),
        "truncated xgboost": ("model.json", xgb[: len(xgb) // 2]),
        "onnx whose probe fails": ("model.onnx", onnx_that_fails_at_run_time()),
    }


@pytest.mark.parametrize(
    "case",
    ["onnx with an unknown operator", "onnx from the future", "xgboost with an unknown objective", "truncated xgboost", "onnx whose probe fails"],
)
def test_an_engine_error_shows_no_server_path(api, model_files, isolated_data_dir, settings, case):
    import re

    filename, content = engine_failures(model_files)[case]
    response = api.post("/api/v1/models", {"name": "bad", "file": _named(content, filename)}, format="multipart")
    assert response.status_code == 400, response.content
    message = response.json()["error"]["message"]
    assert str(isolated_data_dir) not in message and str(settings.BASE_DIR) not in message
    assert not re.search(r"(?<![\w./~-])(?:/[\w.@+~-]+){2,}", message), message
    assert "…/" in message  # the engine did name a file: only its last part is left


def test_without_paths_leaves_urls_and_ratios_alone():
    from core.errors import without_paths

    assert without_paths("Load model from /srv/mlserve/tmp/upload-1.onnx failed:/src/ort/model.cc:256 bad") == (
        "Load model from …/upload-1.onnx failed:…/model.cc:256 bad"
    )
    assert without_paths("java.io.FileNotFoundException: file:///etc/hostname") == "java.io.FileNotFoundException: …/hostname"
    kept = "fetching http://127.0.0.1:8000/a/b.dtd, 1/2 of a/b, /v2 and application/json"
    assert without_paths(kept) == kept

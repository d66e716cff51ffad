"""The bad-input corpus (tests/corpus/bad_inputs.json): every case gets a 4xx with a message
(forms: the page again, with the message), never a 500, and nothing stored is lost or changed."""

import base64
import hashlib
import io
import json
import os
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from tests.model_files import IRIS_ROW

CORPUS = json.loads((Path(__file__).parent / "corpus" / "bad_inputs.json").read_text())


def test_the_corpus_is_large_enough():
    assert len(CORPUS) >= 100
    assert {c["target"] for c in CORPUS} >= {
        "model_upload", "model_predict", "deployment_predict", "deployment_task", "oip_infer", "model_predict_image"
    }
    assert any(c["target"].startswith("form_") for c in CORPUS)


# ---- payloads too big or too binary to keep as data -------------------------------------


def _png(width: int, height: int, body: bytes = b"\x00" * 64) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(body)) + chunk(b"IEND", b"")


def _zip(members: dict) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _zip_named(name: str) -> bytes:
    data = _zip({"x" * len(name): "sepal_length\n1\n"})
    return data.replace(("x" * len(name)).encode(), name.encode())


def _pickle() -> bytes:
    import joblib
    from sklearn.linear_model import LogisticRegression

    buffer = io.BytesIO()
    joblib.dump(LogisticRegression().fit([[0], [1]], [0, 1]), buffer)
    return buffer.getvalue()


def _skops_untrusted() -> bytes:
    import numpy as np
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    return sio.dumps(FunctionTransformer(np.log1p))


def _xgboost_declaring_huge_num_class(ubj: bool) -> bytes:
    """A one-tree XGBoost classifier (small enough for the corpus' upload limit) whose saved
    num_class is rewritten to 1e8."""
    import re
    import tempfile

    import numpy as np
    import xgboost as xgb

    X, y = np.arange(30.0).reshape(10, 3), np.arange(10) % 3
    booster = xgb.train({"objective": "multi:softprob", "num_class": 3, "max_depth": 1}, xgb.DMatrix(X, label=y), 1)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ("m.ubj" if ubj else "m.json")
        booster.save_model(path)
        content = path.read_bytes()
    if ubj:
        return re.sub(rb"(num_classSL).{8}3", lambda m: m.group(1) + (9).to_bytes(8, "big") + b"100000000", content, flags=re.S)
    return content.replace(b'"num_class":"3"', b'"num_class":"100000000"')


def _onnx_unknown_op() -> bytes:
    """A well-formed ONNX graph whose operator onnxruntime does not know (its error names the file)."""
    from onnx import TensorProto, helper

    node = helper.make_node("NoSuchOp", ["X"], ["Y"])
    graph = helper.make_graph(
        [node], "unknown", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def _pmml_with(doctype: str) -> bytes:
    """A valid PMML model (tests/data/pmml/tree_iris.pmml) with a DOCTYPE before its root."""
    text = (Path(__file__).parent / "data" / "pmml" / "tree_iris.pmml").read_text()
    start = text.index("<PMML")
    return (text[:start] + doctype + "\n" + text[start:]).encode()


GENERATORS = {
    "deep_json": lambda: b'{"inputs": ' + b"[" * 1400 + b"]" * 1400 + b"}",  # deeper than Python's parser recursion
    "too_many_rows": lambda: json.dumps({"inputs": [IRIS_ROW] * 6}).encode(),
    "oversized_json": lambda: json.dumps({"inputs": [IRIS_ROW] * 100}).encode(),
    "truncated_png": lambda: _png(8, 8)[:40],
    "png_bomb": lambda: _png(100_000, 100_000),
    "zip_bomb": lambda: _zip({"big.csv": "sepal_length\n" + "0" * 3_000_000}),
    "zip_traversal": lambda: _zip_named("../../etc/x.csv"),
    "zip_absolute": lambda: _zip_named("/etc/passwd.csv"),
    "random_bytes": lambda: bytes(range(256)) * 8,
    "billion_laughs": lambda: (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        b'<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4"><Header>&lol2;</Header></PMML>'
    ),
    "xxe": lambda: (
        b'<?xml version="1.0"?><!DOCTYPE PMML [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b'<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4"><Header description="&xxe;"/></PMML>'
    ),
    # Port 9 (discard) on loopback: nothing is fetched, and nothing would answer if it were.
    "pmml_external_dtd": lambda: _pmml_with('<!DOCTYPE PMML SYSTEM "http://127.0.0.1:9/x.dtd">'),
    "pmml_empty_doctype": lambda: _pmml_with("<!DOCTYPE PMML>"),
    "pmml_parameter_entity": lambda: _pmml_with('<!DOCTYPE PMML [<!ENTITY % p SYSTEM "http://127.0.0.1:9/p.dtd"> %p;]>'),
    "xgboost_huge_num_class": lambda: _xgboost_declaring_huge_num_class(ubj=False),
    "xgboost_ubj_huge_num_class": lambda: _xgboost_declaring_huge_num_class(ubj=True),
    "onnx_unknown_op": _onnx_unknown_op,
    "zip_named_onnx": lambda: _zip({"model.onnx": b"\x08\x07"}),
    "pickle": _pickle,
    "skops_untrusted": _skops_untrusted,
    "onnx_garbage": lambda: b"\x08" + os.urandom(512),
    "over_upload_limit": lambda: b"\x08" + b"x" * 5000,
}


def payload(body: dict) -> bytes:
    if "raw" in body:
        return body["raw"].encode()
    if "json" in body:
        return json.dumps(body["json"]).encode()
    if "base64" in body:
        return base64.b64decode(body["base64"])
    if "latin1" in body:
        return body["latin1"].encode("latin-1")
    return GENERATORS[body["generate"]]()


# ---- what must not change -----------------------------------------------------------------


def stored_state(data_dir: Path) -> dict:
    from accounts.models import ApiToken, User
    from deployments.models import Deployment, DeploymentKey, DeploymentScript, PredictionTask
    from models_registry.models import ModelVersion, RegisteredModel

    files = {}
    for path in sorted((data_dir / "media").rglob("*")):
        if path.is_file():
            files[str(path.relative_to(data_dir))] = hashlib.sha256(path.read_bytes()).hexdigest()
    task_files = sorted(str(p.relative_to(data_dir)) for p in (data_dir / "tasks").rglob("*")) if (data_dir / "tasks").exists() else []
    return {
        "users": list(User.objects.values_list("username", "is_active").order_by("pk")),
        "tokens": list(ApiToken.objects.values_list("name", "key_hash").order_by("pk")),
        "models": list(RegisteredModel.objects.values_list("name", "description").order_by("pk")),
        "versions": list(ModelVersion.objects.values_list("number", "sha256", "inputs", "preprocessing").order_by("pk")),
        "deployments": list(
            Deployment.objects.values_list("name", "status", "model_version_id", "max_rows", "max_concurrency", "timeout_seconds", "script_id").order_by("pk")
        ),
        "keys": DeploymentKey.objects.count(),
        "scripts": DeploymentScript.objects.count(),
        "tasks": list(PredictionTask.objects.values_list("id", "status").order_by("pk")),
        "files": files,
        "task_files": task_files,
    }


# ---- sending each case ----------------------------------------------------------------------


@pytest.fixture
def world(owner, api, deploy, settings, wsgi_requests_keep_database_later):
    from accounts import services

    deploy("iris_logreg.skops", "iris", max_rows=5)
    deploy("digits_logreg.onnx", "digits")
    api.raw_key = services.token_create(user=owner, name="corpus")[1]
    settings.MLSERVE_MAX_ROWS_PER_REQUEST = 5
    settings.MLSERVE_ZIP_MAX_BYTES = 1_000_000
    settings.MLSERVE_MAX_UPLOAD_SIZE = 4000
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 3000
    wsgi_requests_keep_database_later()
    return api


@pytest.fixture
def wsgi_requests_keep_database_later(request):
    """Taken after the set-up: Django's test client reconnects the receivers on each request."""
    return lambda: request.getfixturevalue("wsgi_requests_keep_database")


def send_api(case: dict, api: APIClient):
    target, ctype = case["target"], case["content_type"]
    data = payload(case["body"])
    if target == "deployment_predict" and ctype == "application/json":
        return send_wsgi(case, data, api.raw_key)  # the real application: JSON + token take the fast path
    if target == "model_patch":
        return api.patch("/api/v1/models/iris-model", data, content_type=ctype)
    if target == "oip_infer_header":  # a JSON part longer than the body
        return api.post("/v2/models/iris/infer", data, content_type=ctype, HTTP_INFERENCE_HEADER_CONTENT_LENGTH="99999")
    url = {
        "model_predict": "/api/v1/models/iris-model/predict",
        "deployment_predict": "/api/v1/deployments/iris/predict",
        "model_predict_image": "/api/v1/models/digits-model/predict",
        "deployment_predict_image": "/api/v1/deployments/digits/predict",
        "deployment_task": "/api/v1/deployments/iris/tasks",
        "oip_infer": "/v2/models/iris/infer",
        "model_upload": "/api/v1/models",
        "deployment_key": "/api/v1/deployments/iris/keys",
    }[target]
    if ctype == "multipart":
        form = {"file": SimpleUploadedFile(case.get("filename", "input.bin"), data)}
        if target == "model_upload":
            form["name"] = case.get("model_name", "bad-model")
        return api.post(url, form, format="multipart")
    return api.post(url, data, content_type=ctype)


class WsgiAnswer:
    def __init__(self, status, body):
        self.status_code, self.content = status, body

    def json(self):
        return json.loads(self.content)


def send_wsgi(case: dict, data: bytes, key: str):
    from django.test import RequestFactory

    from mlserve.wsgi import application

    request = RequestFactory().post(
        "/api/v1/deployments/iris/predict", data=data, content_type=case["content_type"], HTTP_HOST="127.0.0.1",
        HTTP_AUTHORIZATION=f"Token {key}",
    )
    seen = {}
    body = b"".join(application(request.environ, lambda status, headers, exc=None: seen.update(status=status)))
    return WsgiAnswer(int(seen["status"].split()[0]), body)


def send_form(case: dict, client, owner):
    client.force_login(owner)
    data = dict(case["body"]["form"])
    target = case["target"]
    if target == "form_signup":
        client.logout()
        return client.post("/accounts/signup/", data)
    if target == "form_signup_invite_only":  # MLSERVE_REGISTRATION=invite: only a valid link lets in
        from django.test import override_settings

        client.logout()
        with override_settings(MLSERVE_REGISTRATION="invite"):
            return client.post(f"/accounts/signup/?invite={data.pop('invite', '')}", data)
    if target == "form_token":
        return client.post("/accounts/", data)
    if target == "form_model_upload":
        return client.post("/models/new/", data)
    if target == "form_model_upload_file":
        content = data.pop("content", "x").encode()
        return client.post("/models/new/", {**data, "file": SimpleUploadedFile("m.onnx", content)})
    if target == "form_deployment":
        return client.post("/deployments/new/", data)
    if target == "form_test_json":
        return client.post("/models/iris-model/test/", {"mode": "json", **data})
    if target == "form_model_edit":
        return client.post("/models/iris-model/edit/", data)
    if target == "form_batch":
        return client.post("/deployments/iris/test/", {"mode": "batch", "file": SimpleUploadedFile("rows.csv", data["content"].encode())})
    raise AssertionError(target)


@pytest.mark.parametrize("case", CORPUS, ids=[c["name"] for c in CORPUS])
def test_bad_input_is_refused_and_nothing_changes(case, world, client, owner, isolated_data_dir):
    before = stored_state(isolated_data_dir)
    if case["target"].startswith("form_"):
        response = send_form(case, client, owner)
        page = response.content.decode()
        assert response.status_code in case["status"], page[:500]
        assert case["message"].lower() in page.lower()
    else:
        response = send_api(case, world)
        assert response.status_code in case["status"], response.content[:500]
        assert 400 <= response.status_code < 500
        error = response.json()["error"]
        message = error if isinstance(error, str) else error["message"]
        assert message and case["message"].lower() in message.lower(), message
        assert str(isolated_data_dir) not in message  # no server path, such as an upload's staging file
    assert stored_state(isolated_data_dir) == before

"""The attacks of the runner issue, replayed: model files and scripts cannot reach the
server, crash it or exhaust its memory; each gets an error of its own."""

import io
import json
import os
import resource
import struct
import zipfile

import numpy as np
import pytest
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline

from core.errors import ApplicationError
from models_registry.models import ModelVersion
from models_registry.runners import client
from models_registry.runtimes import ENGINE_OPTIONS, Batch
from models_registry.schema import Field, ModelInfo
from tests.model_files import IRIS_ROW


def file_reading_pipeline():
    """The issue's exploit: each prediction is the character counts of the file named in the input."""
    vocabulary = {c: i for i, c in enumerate("abcdefghijklmnopqrstuvwxyz0123456789:$/.")}
    vectorizer = CountVectorizer(input="filename", analyzer="char", vocabulary=vocabulary)
    model = Pipeline([
        ("read", ColumnTransformer([("file", vectorizer, "path")])),
        ("fit", LinearRegression()),
    ])
    import pandas as pd

    frame = pd.DataFrame({"path": ["/etc/hostname", "/etc/hostname"]})
    model.fit(frame, [0.0, 1.0])
    return model


def upload(client, name: str, data: bytes, filename: str):
    return client.post("/api/v1/models", {"name": name, "file": _named(data, filename)}, format="multipart")


def _named(data: bytes, filename: str):
    buffer = io.BytesIO(data)
    buffer.name = filename
    return buffer


def test_a_skops_model_that_reads_files_is_refused_naming_the_parameter(api, tmp_path):
    path = tmp_path / "reader.skops"
    sio.dump(file_reading_pipeline(), path)
    response = upload(api, "reader", path.read_bytes(), "reader.skops")
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "file_reading_estimator"
    assert "input='filename'" in error["message"] and "CountVectorizer" in error["message"]
    assert not ModelVersion.objects.exists()


def test_loaded_anyway_that_model_reads_no_server_file(tmp_path, settings):
    """Past every check (a trusted user's pickle, loaded straight into a runner), the model
    still finds no file of the server's: the sandbox holds none."""
    import joblib

    path = tmp_path / "reader.joblib"
    joblib.dump(file_reading_pipeline(), path)
    info = ModelInfo(
        format="pickle", model_type="regression", algorithm="", engine="", engine_version="",
        inputs=[Field(name="path", type="string")], outputs=[Field(name="prediction", type="double")],
    )
    spec = client.RunnerSpec(
        key=f"{client.namespace()}-reader", artifact=path, format="pickle", extension=".joblib", info=info.to_dict(),
    )
    database = str(settings.DATABASES["default"]["NAME"])
    for target in ("/etc/shadow", "/etc/hostname", database, "/proc/self/environ", str(settings.MLSERVE_DATA_DIR / "secret_key")):
        batch = Batch(columns={"path": np.array([target], dtype=object)}, n_rows=1)
        with pytest.raises(ApplicationError) as caught:
            client.predict(spec, batch)
        assert caught.value.code == "prediction_failed" and "No such file or directory" in caught.value.message, target


SCRIPT_ATTACKS = '''
import os, socket

def attempt(action):
    try:
        action()
        return "allowed"
    except Exception as exc:
        return type(exc).__name__

def read(path):
    with open(path, "rb") as f:
        return f.read(16)

def connect(port):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect(("127.0.0.1", port))
    finally:
        s.close()

def fork():
    pid = os.fork()
    if pid == 0:
        os._exit(0)

def postprocess(rows, outputs):
    return {
        "shadow": attempt(lambda: read("/etc/shadow")),
        "database": attempt(lambda: read(outputs["database"])),
        "secret_key": attempt(lambda: read(outputs["secret_key"])),
        "other_runner_memory": attempt(lambda: read("/proc/2/mem")),
        "own_proc": attempt(lambda: os.listdir("/proc")),
        "postgres": attempt(lambda: connect(5432)),
        "redis": attempt(lambda: connect(6379)),
        "fork": attempt(fork),
        "exec": attempt(lambda: os.execv("/bin/sh", ["sh"])),
        "uid": os.getuid(),
        "parent_environ": attempt(lambda: read("/proc/1/environ")),
    }
'''


def test_a_script_reaches_nothing_of_the_server(api, iris, settings):
    database = settings.DATABASES["default"]["NAME"]
    script = SCRIPT_ATTACKS.replace('outputs["database"]', repr(str(database))).replace(
        'outputs["secret_key"]', repr(str(settings.MLSERVE_DATA_DIR / "secret_key"))
    )
    assert api.put("/api/v1/deployments/iris/script", {"source": script}, format="json").status_code == 201
    answer = api.post("/api/v1/deployments/iris/predict", {"inputs": IRIS_ROW}, format="json").json()
    assert answer["shadow"] == "FileNotFoundError"  # nothing of /etc but what engines need
    assert answer["database"] == "FileNotFoundError" and answer["secret_key"] == "FileNotFoundError"
    assert answer["other_runner_memory"] == "FileNotFoundError" and answer["parent_environ"] == "FileNotFoundError"
    assert answer["own_proc"] == "allowed"  # an empty /proc: no process to look at
    assert answer["postgres"] == "OSError" and answer["redis"] == "OSError"  # no network at all
    assert answer["fork"] == "PermissionError" and answer["exec"] == "PermissionError"
    assert answer["uid"] != 0


def test_an_empty_proc_lists_no_process(api, iris):
    script = "import os\ndef postprocess(rows, outputs):\n    return {'proc': os.listdir('/proc')}\n"
    api.put("/api/v1/deployments/iris/script", {"source": script}, format="json")
    assert api.post("/api/v1/deployments/iris/predict", {"inputs": IRIS_ROW}, format="json").json() == {"proc": []}


# ---- crafted engine files --------------------------------------------------------------


def crafted_xgboost(model_files, change) -> bytes:
    model = json.loads(model_files["iris_xgb.json"].read_text())
    tree = model["learner"]["gradient_booster"]["model"]["trees"][0]
    change(tree)
    return json.dumps(model).encode()


XGBOOST_ATTACKS = {
    "a child index of 1e9": lambda tree: tree["left_children"].__setitem__(0, 1_000_000_000),
    "a split index of 1e6": lambda tree: tree["split_indices"].__setitem__(0, 1_000_000),
    "left == right == 0": lambda tree: (tree["left_children"].__setitem__(0, 0), tree["right_children"].__setitem__(0, 0)),
}


@pytest.mark.parametrize("attack", list(XGBOOST_ATTACKS))
def test_a_crafted_xgboost_json_is_a_400_and_this_process_lives_on(api, model_files, attack):
    pid = os.getpid()
    response = upload(api, "crafted", crafted_xgboost(model_files, XGBOOST_ATTACKS[attack]), "crafted.json")
    assert response.status_code == 400, response.json()
    assert response.json()["error"]["code"] in ("invalid_model", "invalid_tree")
    assert os.getpid() == pid and not ModelVersion.objects.exists()


def test_a_crafted_xgboost_file_that_crashes_the_engine_is_a_400_with_the_cause(api, model_files, monkeypatch):
    """Past our checks (switched off here), the engine itself crashes: only its runner dies."""
    data = crafted_xgboost(model_files, XGBOOST_ATTACKS["a child index of 1e9"])
    monkeypatch.setitem(ENGINE_OPTIONS, "xgboost_check_trees", False)  # sent to the runner with the spec
    response = upload(api, "crafted", data, "crafted.json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] in ("invalid_model", "invalid_tree")


def ubj_with_huge_count(model_files) -> bytes:
    """A UBJSON typed array announcing 2^31 elements."""
    data = bytearray(model_files["iris_xgb.ubj"].read_bytes())
    at = data.find(b"base_weights[$d#L")  # a typed array of doubles with an int64 count
    assert at >= 0, "no base_weights array in the fixture"
    at += len(b"base_weights[$d#L")
    data[at : at + 8] = struct.pack(">q", 2**31)
    return bytes(data)


def test_a_ubj_with_a_huge_array_count_is_a_400(api, model_files):
    pid = os.getpid()
    response = upload(api, "crafted", ubj_with_huge_count(model_files), "crafted.ubj")
    assert response.status_code == 400, response.json()
    assert os.getpid() == pid and not ModelVersion.objects.exists()


# ---- memory bombs ------------------------------------------------------------------------


def skops_bomb(path, gib: float) -> None:
    """A small .skops whose coefficient array unpacks to `gib` GiB of zeros."""
    model = LinearRegression().fit(np.eye(4), [0, 1, 2, 3])
    sio.dump(model, path)
    n = int(gib * 2**30 / 8)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    coef = next(name for name in members if name.endswith(".npy") and np.load(io.BytesIO(members[name])).shape == (4,))
    header = b"\x93NUMPY\x01\x00"
    text = f"{{'descr': '<f8', 'fortran_order': False, 'shape': ({n},), }}"
    text = text.ljust(118 - len(header) - 2) + "\n"
    block = np.zeros(1 << 20, dtype=np.float64).tobytes()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            if name != coef:
                archive.writestr(name, content)
        with archive.open(coef, "w", force_zip64=True) as out:
            out.write(header + struct.pack("<H", len(text)) + text.encode())
            left = n * 8
            while left:
                chunk = block[: min(len(block), left)]
                out.write(chunk)
                left -= len(chunk)


def test_a_skops_memory_bomb_is_a_400_and_this_process_does_not_grow(api, tmp_path, settings):
    settings.MLSERVE_INSPECT_MEMORY_MB = 256
    path = tmp_path / "bomb.skops"
    skops_bomb(path, gib=1.9)
    assert path.stat().st_size < 5_000_000
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    response = upload(api, "bomb", path.read_bytes(), "bomb.skops")
    assert response.status_code == 400, response.json()
    assert "memory" in response.json()["error"]["message"]
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 200_000  # KiB: not the 1.9 GiB
    assert not ModelVersion.objects.exists()


def test_a_zip_bomb_of_csv_is_a_413_read_only_as_far_as_the_row_limit(api, iris, tmp_path):
    rows = b"5.1,3.5,1.4,0.2\n" * 3_000_000  # 48 MB of rows, a few hundred kB zipped
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("flowers.csv", b"sepal_length,sepal_width,petal_length,petal_width\n" + rows)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    response = api.post("/api/v1/deployments/iris/predict", {"file": _named(buffer.getvalue(), "bomb.zip")}, format="multipart")
    assert response.status_code == 413, response.json()
    assert response.json()["error"]["code"] == "too_many_rows"
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 40_000  # KiB: never the 48 MB inflated

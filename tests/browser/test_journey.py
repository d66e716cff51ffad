"""The whole journey in a real browser (Debian's Chromium, driven by Playwright), against
a live server with a real qcluster worker: sign up, upload an ONNX and a PMML model, read
the schema, test with the form, JSON, a CSV and an image, deploy, call the API with a
token, see the call on the monitoring tab, queue a batch file and watch it reach 100 %,
download the result, pause (503), delete. Screenshots of the main pages go to
docs/screenshots/."""

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.browser.conftest import CHROMIUM
from tests.model_files import iris_frame

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}: browser tests skipped"),
]
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "docs" / "screenshots"
TIMEOUT = 60_000


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def api_call(url: str, token: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def worker(isolated_data_dir, tmp_path):
    """A real `manage.py qcluster` on the test database."""
    from tests.subprocess_env import child_env

    log = open(tmp_path / "qcluster.log", "ab")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=child_env(MLSERVE_QUEUE_WORKERS="1"),
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    yield process
    os.killpg(process.pid, 9)
    process.wait()


def sign_up(page, base: str, username: str) -> None:
    page.goto(base + "/")
    page.get_by_role("link", name="Create an account").click()
    page.fill("#id_username", username)
    page.fill("#id_password1", "a-long-journey-pass-42")
    page.fill("#id_password2", "a-long-journey-pass-42")
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(re.compile(r"/models/$"))


def upload(page, base: str, path: Path, name: str) -> None:
    page.goto(base + "/models/new/")
    page.fill("#id_name", name)
    page.set_input_files("#id_file", str(path))
    page.get_by_role("button", name="Upload and inspect").click()
    page.wait_for_url(re.compile(rf"/models/{name}/$"), timeout=TIMEOUT)


def test_the_whole_journey(browser_page, live_server, model_files, worker, tmp_path):
    page, base = browser_page, live_server.url
    # Every page runs under a strict Content-Security-Policy: Chromium must report no violation.
    violations = []
    page.on("console", lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None)

    # sign up and upload two models: their schema is on the page at once
    sign_up(page, base, "journey")
    shot(page, "models-empty")
    upload(page, base, model_files["iris_logreg.onnx"], "iris-onnx")
    assert page.locator("#model-type").inner_text() == "classification"
    assert "tensor(float)" in page.content() and "[4]" in page.content()
    upload(page, base, model_files["tree_iris.pmml"], "iris-tree")
    assert "TreeModel" in page.locator("#algorithm").inner_text()
    assert "[0.0, 10.0]" in page.content()
    shot(page, "model-detail")
    page.goto(base + "/models/")
    shot(page, "models")

    # test it: the form (filled with a sample), JSON, a CSV file
    page.goto(base + "/models/iris-tree/test/")
    page.get_by_role("button", name="Fill with a sample").click()
    page.fill("#id_petal_length", "5.5")
    page.fill("#id_petal_width", "2.2")
    page.locator("#test-form").get_by_role("button", name="Predict").click()
    assert page.locator("#result-table .prediction").first.inner_text() == "virginica"
    shot(page, "model-test")
    page.get_by_role("tab", name="JSON").click()
    page.fill("#json-body", json.dumps({"inputs": [{"petal_length": 1.2, "petal_width": 0.3}]}))
    page.locator("#mode-json").get_by_role("button", name="Predict").click()
    assert page.locator("#result-table .prediction").first.inner_text() == "setosa"
    csv = tmp_path / "flowers.csv"
    csv.write_text("petal_length,petal_width\n1.4,0.2\n4.5,1.5\n6.0,2.5\n")
    page.get_by_role("tab", name="File").click()
    page.set_input_files("#test-file", str(csv))
    page.locator("#mode-file").get_by_role("button", name="Predict").click()
    assert page.locator("#result-table .prediction").all_inner_texts() == ["setosa", "versicolor", "virginica"]

    # an image model: an 8x8 digit as a PNG, through the File tab (its flat input of 64
    # values is not taken for an image until its preprocessing says how)
    from models_registry.tests.test_image_predictions import digit_png

    upload(page, base, model_files["digits_logreg.onnx"], "digits")
    page.goto(base + "/models/digits/test/")
    page.get_by_role("tab", name="File").click()
    page.locator("summary", has_text="Send images to this model?").click()
    page.fill("#id_scale", str(1 / 15))
    page.get_by_role("button", name="Save preprocessing").click()
    png, label = digit_png(7)
    image = tmp_path / "seven.png"
    image.write_bytes(png)
    page.get_by_role("tab", name="File").click()
    page.set_input_files("#test-file", str(image))
    page.locator("#mode-file").get_by_role("button", name="Predict").click()
    assert page.locator("#result-table .prediction").first.inner_text() == str(label)

    # deploy the PMML model from its page
    page.goto(base + "/models/iris-tree/")
    page.get_by_role("link", name="Deploy", exact=True).click()
    page.fill("#id_name", "flowers")
    page.get_by_role("button", name="Deploy", exact=True).click()
    page.wait_for_url(re.compile(r"/deployments/flowers/$"))
    assert page.locator(".status-badge").first.inner_text() == "running"
    shot(page, "deployment")

    # a token from the account page, and the API called with it
    page.goto(base + "/accounts/")
    page.fill("#id_name", "journey-script")
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#new-token-key").inner_text().strip()
    shot(page, "account")
    status, body = api_call(f"{base}/api/v1/deployments/flowers/predict", token, {"inputs": {"petal_length": 1.4, "petal_width": 0.2}})
    assert status == 200 and body["predictions"] == ["setosa"]

    # the call shows on the monitoring tab
    page.goto(base + "/deployments/flowers/monitoring/")
    assert int(page.locator("#total-calls").inner_text()) >= 1
    shot(page, "monitoring")

    # a batch file: the task page's progress bar reaches 100 %
    X, _ = iris_frame()
    batch = tmp_path / "batch.csv"
    X[["petal_length", "petal_width"]].sample(n=3000, replace=True, random_state=0).to_csv(batch, index=False)
    page.goto(base + "/deployments/flowers/test/")
    page.set_input_files("#batch-form input[type=file]", str(batch))
    page.get_by_role("button", name="Queue task").click()
    page.wait_for_url(re.compile(r"/tasks/[0-9a-f-]{36}/$"), timeout=TIMEOUT)
    # A selector, not wait_for_function: the page's CSP allows no eval, not even Playwright's.
    page.wait_for_selector("#progress-bar[style*='width: 100%']", timeout=TIMEOUT)
    page.wait_for_selector("#download-csv", timeout=TIMEOUT)
    assert 'data-status="succeeded"' in page.content()
    shot(page, "task")
    with page.expect_download() as download:
        page.click("#download-csv")
    lines = Path(download.value.path()).read_text().splitlines()
    assert lines[0].startswith("petal_length,petal_width,prediction") and len(lines) == 3001
    page.goto(base + "/tasks/")
    shot(page, "tasks")
    page.goto(base + "/")
    shot(page, "dashboard")
    page.goto(base + "/api/docs/")
    page.wait_for_selector(".swagger-ui .info", timeout=TIMEOUT)  # Swagger UI runs from files only

    # pause: the API answers 503; start again
    page.goto(base + "/deployments/flowers/")
    page.get_by_role("button", name="Pause", exact=True).click()
    assert page.locator(".status-badge").first.inner_text() == "paused"
    status, body = api_call(f"{base}/api/v1/deployments/flowers/predict", token, {"inputs": {"petal_length": 1.4, "petal_width": 0.2}})
    assert status == 503 and body["error"]["code"] == "deployment_paused"

    # a narrow screen
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(base + "/deployments/flowers/")
    shot(page, "deployment-narrow")
    page.set_viewport_size({"width": 1280, "height": 900})

    # delete the deployment, then the model
    page.goto(base + "/deployments/flowers/delete/")
    page.get_by_role("button", name="Delete flowers").click()
    page.wait_for_url(re.compile(r"/deployments/$"))
    assert "Nothing deployed yet" in page.content()
    page.goto(base + "/models/iris-tree/delete/")
    page.get_by_role("button", name="Delete iris-tree").click()
    page.wait_for_url(re.compile(r"/models/$"))
    assert "iris-tree" not in page.locator("table").inner_text()
    assert violations == []


def test_another_user_is_refused(browser, live_server, model_files):
    owner = browser.new_page()
    sign_up(owner, live_server.url, "first")
    upload(owner, live_server.url, model_files["tree_iris.pmml"], "secret-tree")
    owner.goto(live_server.url + "/models/secret-tree/")
    owner.get_by_role("link", name="Deploy", exact=True).click()
    owner.fill("#id_name", "secret")
    owner.get_by_role("button", name="Deploy", exact=True).click()
    owner.wait_for_url(re.compile(r"/deployments/secret/$"))
    owner.close()

    context = browser.new_context()
    other = context.new_page()
    sign_up(other, live_server.url, "second")
    for path in ("/models/secret-tree/", "/models/secret-tree/test/", "/deployments/secret/", "/deployments/secret/monitoring/"):
        response = other.goto(live_server.url + path)
        assert response.status == 404, path
        assert "belongs to someone else" in other.content()
    assert "secret-tree" not in other.goto(live_server.url + "/models/").text()
    context.close()

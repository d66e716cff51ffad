"""The whole journey in a real browser (Debian's Chromium, driven by Playwright), against
a live server with a real qcluster worker: sign up, upload an ONNX and a PMML model, read
the schema, test with the form, JSON, a CSV and an image, deploy, call the API with a
token, see the call on the monitoring tab, queue a batch file and watch it reach 100 %,
download the result, pause (503), delete. Screenshots of the main pages go to
docs/screenshots/.

Issue 17 added: the registry (tags, an alias a deployment follows, rename, a Markdown
description, comparing two versions), a summarised file answer, form helpers that name
every missing field and keep a chosen file, a deployed model's delete page that refuses at
once, the task page's fields moving together, a favicon, login landing on the Dashboard,
and 390 px screens (tables that say they scroll, a Revoke button in view)."""

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
    missing = []  # every 404 the pages themselves caused (the favicon's was one on every page)
    page.on("response", lambda response: missing.append(response.url) if response.status == 404 else None)

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

    # a 150-row file: a summary with class counts, 20 rows a page, and the whole answer as CSV
    many = tmp_path / "many.csv"
    many.write_text("petal_length,petal_width\n" + "1.4,0.2\n4.5,1.5\n6.0,2.5\n" * 50)
    page.get_by_role("tab", name="File").click()
    page.set_input_files("#test-file", str(many))
    page.locator("#mode-file").get_by_role("button", name="Predict").click()
    assert page.locator("#summary-rows").inner_text() == "150 rows"
    assert page.locator("#class-counts tbody tr").count() == 3
    assert page.locator("#result-table tbody tr:visible").count() == 20
    assert "1–20 of 150" in page.locator("#result-pager .pager-status").inner_text()
    page.locator("#result-pager").get_by_role("button", name="Next").click()
    assert "21–40 of 150" in page.locator("#result-pager .pager-status").inner_text()
    shot(page, "model-test-summary")
    with page.expect_download() as download:
        page.click("#download-result")
    assert len(Path(download.value.path()).read_text().splitlines()) == 151

    # the form: an empty submit names every missing field; the sample is inside each range
    page.get_by_role("tab", name="Form").click()
    page.fill("#id_petal_length", "")
    page.fill("#id_petal_width", "")
    page.locator("#test-form").get_by_role("button", name="Predict").click()
    assert "petal_length, petal_width" in page.locator("#test-error").inner_text()
    page.get_by_role("button", name="Fill with a sample").click()
    assert 0.0 <= float(page.locator("#id_petal_length").input_value()) <= 10.0

    # a failed upload keeps the chosen file: fixing the name is enough to upload it
    page.goto(base + "/models/new/")
    page.fill("#id_name", "no spaces allowed")
    page.set_input_files("#id_file", str(model_files["iris_logreg.onnx"]))
    page.get_by_role("button", name="Upload and inspect").click()
    page.wait_for_selector(".file-kept-note:not(.d-none)")
    assert "iris_logreg.onnx" in page.locator(".file-kept-note").inner_text()
    page.fill("#id_name", "kept-file")
    page.get_by_role("button", name="Upload and inspect").click()
    page.wait_for_url(re.compile(r"/models/kept-file/$"), timeout=TIMEOUT)

    # the registry: tags, a Markdown description, a second version, an alias, compare
    page.goto(base + "/models/iris-tree/tags/")
    page.fill("#id_tags", "team: botany\nvalidated")
    page.get_by_role("button", name="Save tags").click()
    page.wait_for_url(re.compile(r"/models/iris-tree/$"))
    assert "team: botany" in page.locator("#model-tags").inner_text()
    page.goto(base + "/models/?tag=team:botany")
    assert page.locator("table").get_by_role("link", name="iris-tree").count() == 1
    page.goto(base + "/models/iris-tree/edit/")
    page.fill("#id_description", "A **decision tree** on petals. <script>alert(1)</script>")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r"/models/iris-tree/$"))
    assert page.locator("#model-description strong").inner_text() == "decision tree"
    assert page.locator("#model-description script").count() == 0
    page.goto(base + "/models/iris-tree/versions/new/")
    page.set_input_files("#id_file", str(model_files["iris_tree_nyoka.pmml"]))
    page.get_by_role("button", name="Upload").click()
    page.wait_for_url(re.compile(r"/models/iris-tree/$"), timeout=TIMEOUT)
    page.fill("#id_alias", "champion")
    page.select_option("#id_version", "1")
    page.get_by_role("button", name="Set alias").click()
    assert "@champion" in page.locator("#alias-table").inner_text()
    page.goto(base + "/models/iris-tree/compare/?a=1&b=2")
    assert "sepal_length" in page.locator("#schema-diff").inner_text()
    page.get_by_role("button", name="Try both on sample rows").click()
    assert page.locator("#answers-table tbody tr").count() == 5
    shot(page, "compare")

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
    page.fill("#id_alias", "champion")
    page.get_by_role("button", name="Deploy", exact=True).click()
    page.wait_for_url(re.compile(r"/deployments/flowers/$"))
    assert page.locator(".status-badge").first.inner_text() == "running"
    assert "@champion" in page.locator("#follows-alias").inner_text()
    shot(page, "deployment")

    # the model's page lists where it is deployed, and its delete page refuses at once
    page.goto(base + "/models/iris-tree/")
    assert "flowers" in page.locator("#model-deployments").inner_text()
    shot(page, "model-registry")
    page.goto(base + "/models/iris-tree/delete/")
    assert page.locator("#delete-refused").get_by_role("link", name="flowers").count() == 1
    assert page.get_by_role("button", name="Delete iris-tree").count() == 0
    shot(page, "delete-refused")

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
    bad_batch = tmp_path / "bad-batch.csv"
    bad_batch.write_text("nothing,here\n1,2\n")
    page.set_input_files("#batch-form input[type=file]", str(bad_batch))
    page.get_by_role("button", name="Queue task").click()
    page.wait_for_selector("#batch-form .invalid-feedback")
    assert page.locator("#mode-form").is_visible() and "active" in page.locator("#tab-form").get_attribute("class")
    page.set_input_files("#batch-form input[type=file]", str(batch))
    page.get_by_role("button", name="Queue task").click()
    page.wait_for_url(re.compile(r"/tasks/[0-9a-f-]{36}/$"), timeout=TIMEOUT)
    # A selector, not wait_for_function: the page's CSP allows no eval, not even Playwright's.
    page.wait_for_selector("#progress-bar[style*='width: 100%']", timeout=TIMEOUT)
    # the bar never moves alone: by then the status, start time and attempts have moved too
    assert page.locator("#task-progress .status-badge").get_attribute("data-status") in ("running", "succeeded")
    assert page.locator("#task-started").inner_text() != "—"
    assert page.locator("#task-attempts").inner_text() == "1"
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

    # moving the alias moves the deployment (and back)
    page.goto(base + "/models/iris-tree/")
    page.fill("#id_alias", "champion")
    page.select_option("#id_version", "2")
    page.get_by_role("button", name="Set alias").click()
    page.goto(base + "/deployments/flowers/")
    assert "v2" in page.locator("h1").inner_text() or "iris-tree v2" in page.content()
    page.goto(base + "/models/iris-tree/")
    page.fill("#id_alias", "champion")
    page.select_option("#id_version", "1")
    page.get_by_role("button", name="Set alias").click()

    # rename a model
    page.goto(base + "/models/digits/rename/")
    page.fill("#id_name", "digits-8x8")
    page.get_by_role("button", name="Rename").click()
    page.wait_for_url(re.compile(r"/models/digits-8x8/$"))

    # log out and in again: the Dashboard
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r"/accounts/login/"))
    page.fill("#id_username", "journey")
    page.fill("#id_password", "a-long-journey-pass-42")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(base + "/")

    # pause: the API answers 503; start again
    page.goto(base + "/deployments/flowers/")
    page.get_by_role("button", name="Pause", exact=True).click()
    assert page.locator(".status-badge").first.inner_text() == "paused"
    status, body = api_call(f"{base}/api/v1/deployments/flowers/predict", token, {"inputs": {"petal_length": 1.4, "petal_width": 0.2}})
    assert status == 503 and body["error"]["code"] == "deployment_paused"

    # a narrow screen: wide tables say they scroll; the token's Revoke button is in view
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(base + "/deployments/flowers/")
    shot(page, "deployment-narrow")
    page.goto(base + "/tasks/")
    assert page.locator(".scroll-hint").first.is_visible()
    shot(page, "tasks-narrow")
    page.goto(base + "/accounts/")
    revoke = page.get_by_role("button", name="Revoke").first.bounding_box()
    assert revoke is not None and revoke["x"] + revoke["width"] <= 390
    shot(page, "account-narrow")
    page.goto(base + "/models/iris-tree/")
    shot(page, "model-registry-narrow")
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
    assert [url for url in missing if "favicon" in url] == []
    assert page.request.get(base + "/favicon.ico").ok


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

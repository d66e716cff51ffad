"""The journey once more in Chinese: a browser whose language is zh-CN gets every page in
Simplified Chinese (sign up, upload, schema, test, deploy, token, an API error, monitoring, a
batch task, the dashboard), the switcher moves to English and back and the choice sticks.
Screenshots at 1280 px and 390 px go to docs/screenshots/zh-*.png."""

import json
import re
import shutil
import subprocess
import urllib.error
import urllib.request

import pytest

from tests.browser.conftest import CHROMIUM
from tests.browser.test_journey import SHOTS, TIMEOUT, worker  # noqa: F401 (a fixture)
from tests.model_files import iris_frame

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}: browser tests skipped"),
]
WIDE, NARROW = {"width": 1280, "height": 900}, {"width": 390, "height": 844}


def has_chinese_font() -> bool:
    found = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True) if shutil.which("fc-list") else None
    return bool(found and found.stdout.strip())


def shots(page, name: str) -> None:
    """The page at 1280 px (zh-<name>.png) and at 390 px (zh-<name>-narrow.png); none without a
    Chinese font (apt-get install fonts-wqy-microhei), which would draw every character as a box."""
    if not has_chinese_font():
        return
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"zh-{name}.png"), full_page=True)
    page.set_viewport_size(NARROW)
    page.screenshot(path=str(SHOTS / f"zh-{name}-narrow.png"), full_page=True)
    page.set_viewport_size(WIDE)


def predict(url: str, token: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json", "Accept-Language": "zh-CN,zh;q=0.9"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def chinese_page(browser):
    """A browser that asks for Chinese, as one set up in China does (Accept-Language: zh-CN)."""
    context = browser.new_context(viewport=WIDE, locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


def test_the_journey_in_chinese(chinese_page, live_server, model_files, worker, compiled_translations, tmp_path):  # noqa: F811
    page, base = chinese_page, live_server.url
    violations = []
    page.on("console", lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None)

    page.goto(base + "/")
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    assert "在你自己的机器上提供模型服务" in page.content()
    page.get_by_role("link", name="创建账户").click()
    page.fill("#id_username", "lin")
    page.fill("#id_password1", "a-long-journey-pass-42")
    page.fill("#id_password2", "a-long-journey-pass-42")
    page.get_by_role("button", name="注册").click()
    page.wait_for_url(re.compile(r"/models/$"))
    assert "欢迎，lin！" in page.content()

    # upload: the schema in Chinese around the model's own names
    page.goto(base + "/models/new/")
    page.fill("#id_name", "iris-tree")
    page.set_input_files("#id_file", str(model_files["tree_iris.pmml"]))
    page.get_by_role("button", name="上传并检查").click()
    page.wait_for_url(re.compile(r"/models/iris-tree/$"), timeout=TIMEOUT)
    assert page.locator("#model-type").inner_text() == "分类"
    assert "TreeModel" in page.locator("#algorithm").inner_text()
    shots(page, "model-detail")
    # tags in Chinese: saved from the model's page, then a filter of the list
    page.get_by_role("main").get_by_role("link", name="标签", exact=True).click()
    page.fill("#id_tags", "team: 花卉")
    page.get_by_role("button", name="保存标签").click()
    page.wait_for_url(re.compile(r"/models/iris-tree/$"))
    assert "标签已保存。" in page.content()
    page.goto(base + "/models/")
    shots(page, "models")
    page.locator(".tag-badge").first.click()
    assert "带有标签" in page.locator("#tag-filter").inner_text()

    # test it with the form, then a bad value: the message names the field in Chinese
    page.goto(base + "/models/iris-tree/test/")
    page.get_by_role("button", name="填入示例").click()
    page.fill("#id_petal_length", "5.5")
    page.fill("#id_petal_width", "2.2")
    page.locator("#test-form").get_by_role("button", name="预测").click()
    assert page.locator("#result-table .prediction").first.inner_text() == "virginica"
    assert "1 行，用时" in page.locator("#elapsed").inner_text()
    shots(page, "model-test")
    page.get_by_role("tab", name="JSON").click()
    page.fill("#json-body", json.dumps({"inputs": [{"petal_length": "tall", "petal_width": 0.3}]}))
    page.locator("#mode-json").get_by_role("button", name="预测").click()
    assert "应为数字" in page.locator("#test-error").inner_text()

    # deploy, a token, and the API: an error in Chinese with the code unchanged
    page.goto(base + "/models/iris-tree/")
    page.get_by_role("main").get_by_role("link", name="部署", exact=True).click()
    page.fill("#id_name", "flowers")
    page.get_by_role("button", name="部署", exact=True).click()
    page.wait_for_url(re.compile(r"/deployments/flowers/$"))
    assert page.locator(".status-badge").first.inner_text() == "运行中"
    shots(page, "deployment")
    page.goto(base + "/accounts/")
    page.fill("#id_name", "journey-script")
    page.get_by_role("button", name="创建令牌").click()
    token = page.locator("#new-token-key").inner_text().strip()
    shots(page, "account")
    status, body = predict(f"{base}/api/v1/deployments/flowers/predict", token, {"inputs": {"petal_length": 1.4, "petal_width": 0.2}})
    assert status == 200 and body["predictions"] == ["setosa"]
    status, body = predict(f"{base}/api/v1/deployments/flowers/predict", token, {"inputs": {"petal_width": 0.2}})
    assert status == 400 and body["error"]["code"] == "invalid_input"
    assert body["error"]["message"] == "缺少必填字段：petal_length。"
    page.goto(base + "/deployments/flowers/monitoring/")
    assert int(page.locator("#total-calls").inner_text()) >= 2
    assert "最近一小时" in page.content()
    shots(page, "monitoring")

    # a batch file of 3,000 rows: the task page in Chinese, its row count with a thousands separator
    X, _ = iris_frame()
    batch = tmp_path / "batch.csv"
    X[["petal_length", "petal_width"]].sample(n=3000, replace=True, random_state=0).to_csv(batch, index=False)
    page.goto(base + "/deployments/flowers/test/")
    page.set_input_files("#batch-form input[type=file]", str(batch))
    page.get_by_role("button", name="提交任务").click()
    page.wait_for_url(re.compile(r"/tasks/[0-9a-f-]{36}/$"), timeout=TIMEOUT)
    page.wait_for_selector("#download-csv", timeout=TIMEOUT)
    assert page.locator(".status-badge").first.inner_text() == "已成功"
    assert page.locator("#rows-done").inner_text() == "3,000"
    shots(page, "task")
    page.goto(base + "/tasks/")
    shots(page, "tasks")
    page.goto(base + "/")
    assert page.get_by_role("heading", name="仪表盘").is_visible()
    shots(page, "dashboard")

    # the switcher: English, page after page, although the browser asks for Chinese; then back
    page.locator("#language-switcher").get_by_role("button", name="English").click()
    page.wait_for_url(base + "/")
    for path in ("/", "/models/", "/deployments/flowers/"):
        page.goto(base + path)
        assert page.locator("html").get_attribute("lang") == "en", path
    assert page.locator(".status-badge").first.inner_text() == "running"
    page.locator("#language-switcher").get_by_role("button", name="简体中文").click()
    page.wait_for_url(base + "/deployments/flowers/")
    assert page.locator(".status-badge").first.inner_text() == "运行中"
    assert violations == []

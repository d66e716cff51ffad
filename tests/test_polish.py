"""Issue 17's small things: "just now", counts said right, the last chart label inside its
chart, the favicon, and login landing on the Dashboard."""

from datetime import timedelta

from django.utils import timezone

from deployments.charts import PAD_RIGHT, WIDTH, bar_chart
from deployments.forms import VersionSwitchForm
from mlserve.templatetags.humane import ago


def test_under_a_minute_ago_is_just_now():
    assert ago(timezone.now() - timedelta(seconds=20)) == "just now"
    assert ago(timezone.now() - timedelta(minutes=5)) == "5\xa0minutes ago"


def test_the_last_axis_label_ends_inside_the_chart():
    svg = bar_chart([1, 2, 3], ["12:00", "12:01", "12:02"], "calls")
    assert f'x="{WIDTH - PAD_RIGHT:.1f}" y="174" class="axis" text-anchor="end">12:02<' in svg


def test_a_long_algorithm_is_cut_at_a_word_with_an_ellipsis():
    class Version:
        number = 1
        algorithm = "Pipeline(steps=[('scale', StandardScaler()), ('model', GradientBoostingClassifier(n_estimators=300))])"

    label = dict(VersionSwitchForm(versions=[Version()]).fields["version"].choices)[1]
    assert label.endswith("…") and len(label) <= len("v1 · ") + 60


def test_the_favicon_is_served_and_linked(client, owner):
    client.force_login(owner)
    assert '<link rel="icon" href="/static/favicon.svg"' in client.get("/").content.decode()
    assert client.get("/favicon.ico")["Location"] == "/static/favicon.svg"


def test_logging_in_lands_on_the_dashboard(client, owner):
    response = client.post("/accounts/login/", {"username": "olivia", "password": "owner-pass-123"})
    assert response["Location"] == "/"


def test_the_admin_says_deployment_totals_once():
    from deployments.models import DeploymentTotals

    assert str(DeploymentTotals._meta.verbose_name_plural) == "deployment totals"

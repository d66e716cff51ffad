import hmac

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from prometheus_client import CONTENT_TYPE_LATEST

from core.api import error_body
from deployments import metrics
from deployments.prometheus import exposition
from deployments.selectors import dashboard_for_user
from mlserve import health


def home(request):
    """The dashboard for users; what mlserve is, for visitors."""
    if not request.user.is_authenticated:
        return render(request, "landing.html")

    metrics.flush()  # this process's latest calls, counted on the page
    return render(request, "dashboard.html", dashboard_for_user(request.user))


def healthz(request):
    """Readiness for load balancers: 200 when this node can serve, else 503 naming the part that is down."""
    healthy, parts = health.check()
    response = JsonResponse({"status": "ok" if healthy else "unavailable", "checks": parts}, status=200 if healthy else 503)
    if not healthy:
        response["Retry-After"] = "5"
    return response


def livez(request):
    """Liveness: the process answers (nothing else is checked, so a database outage restarts nothing)."""
    return JsonResponse({"status": "ok"})


def _metrics_token_matches(request, token: str | None) -> bool:
    sent = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(sent.encode(), f"Bearer {token}".encode())


def prometheus_metrics(request):
    """Prometheus scrape target. It names every deployment and owner, so it needs the bearer token
    (MLSERVE_METRICS_TOKEN) or a staff session, unless MLSERVE_METRICS_PUBLIC opens it."""
    allowed = (
        settings.MLSERVE_METRICS_PUBLIC
        or _metrics_token_matches(request, settings.MLSERVE_METRICS_TOKEN)
        or request.user.is_staff
    )
    if allowed:
        return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
    if request.user.is_authenticated:
        return JsonResponse(error_body("permission_denied", _("Only staff may read /metrics in the browser.")), status=403)
    how = (
        _("Send the scrape token: Authorization: Bearer <MLSERVE_METRICS_TOKEN>.")
        if settings.MLSERVE_METRICS_TOKEN
        else _(
            "Set MLSERVE_METRICS_TOKEN on the server and scrape with Authorization: Bearer <token>, "
            "or log in as staff (MLSERVE_METRICS_PUBLIC=1 opens /metrics to everyone)."
        )
    )
    response = JsonResponse(error_body("not_authenticated", how), status=401)
    response["WWW-Authenticate"] = 'Bearer realm="mlserve metrics"'
    return response

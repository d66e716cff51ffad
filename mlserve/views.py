from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render


def home(request):
    """The dashboard for users; what mlserve is, for visitors."""
    if not request.user.is_authenticated:
        return render(request, "landing.html")
    from deployments.selectors import dashboard_for_user

    return render(request, "dashboard.html", dashboard_for_user(request.user))


def healthz(request):
    """Liveness for load balancers: the process answers and the database is reachable."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


def prometheus_metrics(request):
    """Prometheus scrape target: a bearer token (MLSERVE_METRICS_TOKEN), or loopback, or staff."""
    from django.conf import settings
    from prometheus_client import CONTENT_TYPE_LATEST

    from deployments.prometheus import exposition

    token = settings.MLSERVE_METRICS_TOKEN
    if token:
        allowed = request.headers.get("Authorization", "") == f"Bearer {token}"
    else:
        allowed = request.META.get("REMOTE_ADDR") in ("127.0.0.1", "::1") or request.user.is_staff
    if not allowed:
        return JsonResponse(
            {"error": {"code": "permission_denied", "message": "Send the scrape token: Authorization: Bearer <MLSERVE_METRICS_TOKEN>."}},
            status=403,
        )
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)

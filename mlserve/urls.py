from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from django.views.i18n import set_language

from mlserve import views
from mlserve.openapi import ApiDocsView, SchemaView

handler400 = "mlserve.error_pages.handler400"
handler403 = "mlserve.error_pages.handler403"
handler404 = "mlserve.error_pages.handler404"
handler500 = "mlserve.error_pages.handler500"

api_v1 = [
    path("", include("accounts.api.urls")),
    path("", include("models_registry.api.urls")),
    path("", include("deployments.api.urls")),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/", include("accounts.urls")),
    path("models/", include("models_registry.urls")),
    path("", include("deployments.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("v2/", include("deployments.api.oip_urls")),
    path("api/schema/", SchemaView.as_view(), name="api-schema"),
    path("api/docs/", ApiDocsView.as_view(url_name="api-schema"), name="api-docs"),
    path("i18n/setlang/", set_language, name="set_language"),
    path("healthz", views.healthz, name="healthz"),
    path("livez", views.livez, name="livez"),
    path("metrics", views.prometheus_metrics, name="prometheus-metrics"),
    # Pages without our <link rel=icon> (the admin's) make browsers ask for /favicon.ico.
    path("favicon.ico", RedirectView.as_view(url=settings.STATIC_URL + "favicon.svg", permanent=True)),
]

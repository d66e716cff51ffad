from django.urls import path

from deployments.api import oip_views as views

urlpatterns = [
    path("health/live", views.LiveView.as_view(), name="oip-live"),
    path("health/ready", views.ReadyView.as_view(), name="oip-ready"),
    path("models/<str:name>", views.ModelMetadataView.as_view(), name="oip-model"),
    path("models/<str:name>/ready", views.ModelReadyView.as_view(), name="oip-model-ready"),
    path("models/<str:name>/infer", views.InferView.as_view(), name="oip-infer"),
    path("models/<str:name>/versions/<str:version>", views.ModelMetadataView.as_view(), name="oip-model-version"),
    path("models/<str:name>/versions/<str:version>/ready", views.ModelReadyView.as_view(), name="oip-model-version-ready"),
    path("models/<str:name>/versions/<str:version>/infer", views.InferView.as_view(), name="oip-version-infer"),
]

from django.urls import path

from models_registry.api import views

urlpatterns = [
    path("models", views.ModelListView.as_view(), name="api-model-list"),
    path("models/<str:name>", views.ModelDetailView.as_view(), name="api-model-detail"),
    path("models/<str:name>/versions", views.VersionListView.as_view(), name="api-version-list"),
    path("models/<str:name>/predict", views.ModelPredictView.as_view(), name="api-model-predict"),
    path("models/<str:name>/versions/<int:number>", views.VersionDetailView.as_view(), name="api-version-detail"),
]

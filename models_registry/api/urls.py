from django.urls import path

from models_registry.api import registry_views, views

urlpatterns = [
    path("models", views.ModelListView.as_view(), name="api-model-list"),
    path("models/<str:name>", views.ModelDetailView.as_view(), name="api-model-detail"),
    path("models/<str:name>/versions", views.VersionListView.as_view(), name="api-version-list"),
    path("models/<str:name>/predict", views.ModelPredictView.as_view(), name="api-model-predict"),
    path("models/<str:name>/versions/<int:number>", views.VersionDetailView.as_view(), name="api-version-detail"),
    path("models/<str:name>/tags", registry_views.ModelTagsView.as_view(), name="api-model-tags"),
    path("models/<str:name>/versions/<int:number>/tags", registry_views.VersionTagsView.as_view(), name="api-version-tags"),
    path("models/<str:name>/aliases", registry_views.AliasListView.as_view(), name="api-alias-list"),
    path("models/<str:name>/aliases/<str:alias>", registry_views.AliasDetailView.as_view(), name="api-alias-detail"),
    path("models/<str:name>/compare", registry_views.CompareView.as_view(), name="api-model-compare"),
]

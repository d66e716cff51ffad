from django.urls import path

from models_registry import registry_views, views

app_name = "models_registry"

urlpatterns = [
    path("", views.model_list, name="list"),
    path("new/", views.model_upload, name="upload"),
    path("<str:name>/", views.model_detail, name="detail"),
    path("<str:name>/test/", views.model_test, name="test"),
    path("<str:name>/script/", views.model_script, name="script"),
    path("<str:name>/edit/", views.model_edit, name="edit"),
    path("<str:name>/versions/new/", views.version_upload, name="version_upload"),
    path("<str:name>/delete/", views.model_delete, name="delete"),
    path("<str:name>/rename/", registry_views.model_rename, name="rename"),
    path("<str:name>/tags/", registry_views.model_tags, name="tags"),
    path("<str:name>/aliases/", registry_views.alias_set, name="alias_set"),
    path("<str:name>/aliases/<str:alias>/delete/", registry_views.alias_delete, name="alias_delete"),
    path("<str:name>/compare/", registry_views.model_compare, name="compare"),
]

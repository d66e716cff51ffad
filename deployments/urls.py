from django.urls import path

from deployments import views

app_name = "deployments"

urlpatterns = [
    path("deployments/", views.deployment_list, name="list"),
    path("deployments/new/", views.deployment_create, name="create"),
    path("deployments/<str:name>/", views.deployment_detail, name="detail"),
    path("deployments/<str:name>/start/", views.deployment_start, name="start"),
    path("deployments/<str:name>/pause/", views.deployment_pause, name="pause"),
    path("deployments/<str:name>/settings/", views.deployment_settings, name="settings"),
    path("deployments/<str:name>/version/", views.deployment_switch_version, name="switch_version"),
    path("deployments/<str:name>/delete/", views.deployment_delete, name="delete"),
    path("deployments/<str:name>/keys/new/", views.key_create, name="key_create"),
    path("deployments/<str:name>/keys/<int:key_id>/revoke/", views.key_revoke, name="key_revoke"),
    path("deployments/<str:name>/test/", views.deployment_test, name="test"),
    path("deployments/<str:name>/tasks/", views.deployment_tasks, name="tasks"),
    path("deployments/<str:name>/monitoring/", views.deployment_monitoring, name="monitoring"),
    path("deployments/<str:name>/script/", views.deployment_script, name="script"),
    path("tasks/", views.task_list, name="task_list"),
    path("tasks/<uuid:task_id>/", views.task_detail, name="task_detail"),
    path("tasks/<uuid:task_id>/cancel/", views.task_cancel, name="task_cancel"),
    path("tasks/<uuid:task_id>/retry/", views.task_retry, name="task_retry"),
    path("tasks/<uuid:task_id>/delete/", views.task_delete, name="task_delete"),
]

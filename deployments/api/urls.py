from django.urls import path

from deployments.api import views

urlpatterns = [
    path("deployments", views.DeploymentListView.as_view(), name="api-deployment-list"),
    path("deployments/<str:name>", views.DeploymentDetailView.as_view(), name="api-deployment-detail"),
    path("deployments/<str:name>/start", views.DeploymentStartView.as_view(), name="api-deployment-start"),
    path("deployments/<str:name>/pause", views.DeploymentPauseView.as_view(), name="api-deployment-pause"),
    path("deployments/<str:name>/predict", views.DeploymentPredictView.as_view(), name="api-deployment-predict"),
    path("deployments/<str:name>/metrics", views.DeploymentMetricsView.as_view(), name="api-deployment-metrics"),
    path("deployments/<str:name>/tasks", views.DeploymentTasksView.as_view(), name="api-deployment-tasks"),
    path("deployments/<str:name>/keys", views.DeploymentKeysView.as_view(), name="api-deployment-keys"),
    path("deployments/<str:name>/script", views.DeploymentScriptView.as_view(), name="api-deployment-script"),
    path("deployments/<str:name>/script/try", views.DeploymentScriptTryView.as_view(), name="api-deployment-script-try"),
    path("deployments/<str:name>/keys/<int:key_id>", views.DeploymentKeyDetailView.as_view(), name="api-deployment-key"),
    path("tasks", views.TaskListView.as_view(), name="api-task-list"),
    path("tasks/<str:task_id>", views.TaskDetailView.as_view(), name="api-task-detail"),
    path("tasks/<str:task_id>/result", views.TaskResultView.as_view(), name="api-task-result"),
    path("tasks/<str:task_id>/retry", views.TaskRetryView.as_view(), name="api-task-retry"),
]

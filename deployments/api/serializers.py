from django.urls import reverse
from rest_framework import serializers

from core.limits import DESCRIPTION_MAX_CHARS
from deployments import metrics
from deployments.models import Deployment, DeploymentKey, PredictionTask

LIMITS = Deployment.SETTINGS


class DeploymentSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="model_version.model.name")
    version = serializers.IntegerField(source="model_version.number")
    alias = serializers.CharField(
        source="alias.name", default=None, read_only=True, allow_null=True,
        help_text="The model alias this deployment follows (null: it stays on its version)",
    )
    limits = serializers.SerializerMethodField()
    urls = serializers.SerializerMethodField()

    class Meta:
        model = Deployment
        fields = [
            "name", "description", "status", "failure_reason", "model", "version", "alias", "replicas", "limits", "urls",
            "created", "updated", "started",
        ]

    def get_limits(self, deployment) -> dict:
        return {name: getattr(deployment, name) for name in LIMITS}

    def get_urls(self, deployment) -> dict:
        request = self.context.get("request")
        build = request.build_absolute_uri if request else (lambda path: path)
        return {
            "predict": build(reverse("api-deployment-predict", args=[deployment.name])),
            "tasks": build(reverse("api-deployment-tasks", args=[deployment.name])),
            "oip_infer": build(reverse("oip-infer", args=[deployment.name])),
        }


class DeploymentDetailSerializer(DeploymentSerializer):
    metrics = serializers.SerializerMethodField()

    class Meta(DeploymentSerializer.Meta):
        fields = DeploymentSerializer.Meta.fields + ["metrics"]

    def get_metrics(self, deployment) -> dict:
        summary = metrics.summary(deployment)
        return {k: summary[k] for k in ("requests", "errors", "rows", "last_call", "latency_ms")}


class LimitsMixin(serializers.Serializer):
    timeout_seconds = serializers.FloatField(required=False, help_text="Seconds a synchronous request may take (504 after)")
    max_rows = serializers.IntegerField(required=False, help_text="Rows per synchronous request (413 above)")
    max_concurrency = serializers.IntegerField(required=False, help_text="Concurrent synchronous requests (429 above)")
    max_batch_file_size = serializers.IntegerField(required=False, help_text="Bytes per batch file (413 above)")
    memory_limit_mb = serializers.IntegerField(
        required=False, allow_null=True, help_text="Memory reserved for each runner's model, in MB (null: the server's default)"
    )
    replicas = serializers.IntegerField(required=False, help_text="Sandboxed runner processes serving this deployment (1-16)")
    cpu_cores = serializers.IntegerField(required=False, allow_null=True, help_text="CPU cores each runner is pinned to (null: all)")
    batch_max_rows = serializers.IntegerField(
        required=False, help_text="Adaptive batching: concurrent requests merged into one model call, up to this many rows (1: off)"
    )
    batch_max_wait_ms = serializers.FloatField(
        required=False, help_text="How long a runner waits for more requests to batch, in ms (0: only those already waiting)"
    )


class DeploymentCreateSerializer(LimitsMixin):
    name = serializers.CharField(max_length=100)
    model = serializers.CharField(help_text="The name of one of your models")
    version = serializers.IntegerField(required=False, help_text="Default: the latest version")
    alias = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=50,
        help_text="Follow this alias of the model (e.g. champion): the deployment moves when the alias moves",
    )
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=DESCRIPTION_MAX_CHARS)


class DeploymentUpdateSerializer(LimitsMixin):
    version = serializers.IntegerField(
        required=False, help_text="Switch to this version of the model (and stop following an alias)"
    )
    alias = serializers.CharField(
        required=False, allow_blank=True, max_length=50,
        help_text="Follow this alias of the model from now on; \"\" stops following (the version stays)",
    )
    description = serializers.CharField(required=False, allow_blank=True, max_length=DESCRIPTION_MAX_CHARS)


class DeploymentKeySerializer(serializers.ModelSerializer):
    class Meta:
        model = DeploymentKey
        fields = ["id", "name", "prefix", "created", "last_used"]


class DeploymentKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)


class DeploymentKeyCreatedSerializer(DeploymentKeySerializer):
    key = serializers.CharField(help_text="Shown once: send it as 'Authorization: Token <key>'")

    class Meta(DeploymentKeySerializer.Meta):
        fields = DeploymentKeySerializer.Meta.fields + ["key"]


class TaskSerializer(serializers.ModelSerializer):
    task_id = serializers.UUIDField(source="id")
    deployment = serializers.CharField(source="deployment.name")
    key = serializers.CharField(
        source="deployment_key.name", default=None, read_only=True,
        help_text="The deployment key that submitted it; null when the owner did",
    )
    model = serializers.SerializerMethodField()
    version = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()
    input = serializers.SerializerMethodField()
    duration_seconds = serializers.FloatField(read_only=True)
    status_url = serializers.SerializerMethodField()
    result_url = serializers.SerializerMethodField()

    class Meta:
        model = PredictionTask
        fields = [
            "task_id", "deployment", "key", "model", "version", "status", "progress", "input", "error", "notice", "attempts",
            "created", "started", "finished", "duration_seconds", "result_expired", "status_url", "result_url",
        ]

    def get_model(self, task) -> str | None:
        return task.model_version.model.name if task.model_version else None

    def get_version(self, task) -> int | None:
        return task.model_version.number if task.model_version else None

    def get_progress(self, task) -> dict:
        return {"rows_done": task.rows_done, "rows_total": task.rows_total, "fraction": task.progress}

    def get_input(self, task) -> dict:
        return {"name": task.input_name, "size": task.input_size}

    def _url(self, name, task) -> str:
        request = self.context.get("request")
        path = reverse(name, args=[task.id])
        return request.build_absolute_uri(path) if request else path

    def get_status_url(self, task) -> str:
        return self._url("api-task-detail", task)

    def get_result_url(self, task) -> str:
        return self._url("api-task-result", task)


class TaskAcceptedSerializer(serializers.Serializer):
    task_id = serializers.UUIDField()
    status = serializers.CharField()
    status_url = serializers.URLField()
    result_url = serializers.URLField()


class ScriptSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    source = serializers.CharField()
    created = serializers.DateTimeField()
    created_by = serializers.CharField(source="created_by.username", default=None)


class ScriptSaveSerializer(serializers.Serializer):
    source = serializers.CharField(trim_whitespace=False, help_text="Python defining preprocess(request) and/or postprocess(rows, outputs)")


class ScriptTrySerializer(ScriptSaveSerializer):
    request = serializers.JSONField(help_text="A request body to run through preprocess, the model and postprocess")


class TaskResultSerializer(serializers.Serializer):
    task_id = serializers.UUIDField()
    model = serializers.CharField()
    version = serializers.IntegerField(allow_null=True)
    rows = serializers.IntegerField()
    predictions = serializers.ListField()
    probabilities = serializers.ListField(child=serializers.DictField(), required=False)
    sources = serializers.ListField(child=serializers.CharField(), required=False)

from datetime import timedelta

from django.http import HttpResponse, StreamingHttpResponse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import ApplicationError, Conflict, NotFound
from core.pagination import paginate, paginated
from deployments import batch, metrics, selectors, services, serving, task_files
from deployments.api.serializers import (
    DeploymentCreateSerializer,
    DeploymentDetailSerializer,
    DeploymentKeyCreatedSerializer,
    DeploymentKeyCreateSerializer,
    DeploymentKeySerializer,
    DeploymentSerializer,
    DeploymentUpdateSerializer,
    ScriptSaveSerializer,
    ScriptSerializer,
    ScriptTrySerializer,
    TaskAcceptedSerializer,
    TaskResultSerializer,
    TaskSerializer,
)
from deployments.models import Deployment, PredictionTask
from models_registry.api.parsers import PREDICTION_PARSERS, VIDEO_PARAMETERS, SafeJSONParser, prediction_input
from models_registry.api.serializers import (
    PredictionRequestSerializer,
    PredictionResponseSerializer,
    VersionCreateSerializer,
)
from models_registry.selectors import model_get_for_user


class DeploymentListView(APIView):
    parser_classes = [SafeJSONParser]

    @extend_schema(
        parameters=[
            OpenApiParameter("search", str, description="Part of the deployment name"),
            OpenApiParameter("model", str, description="Only deployments of this model (its name)"),
        ],
        responses=paginated(DeploymentSerializer),
        tags=["deployments"],
        operation_id="deployments_list",
    )
    def get(self, request):
        """The caller's deployments, newest first; ?model= keeps those of one model."""
        deployments = selectors.deployment_list_for_user(
            request.user, request.query_params.get("search", ""), model=request.query_params.get("model", "")
        )
        return paginate(request, deployments, DeploymentSerializer, view=self)

    @extend_schema(request=DeploymentCreateSerializer, responses={201: DeploymentSerializer}, tags=["deployments"])
    def post(self, request):
        """Deploy a version of one of your models (the latest by default); it starts running at once."""
        serializer = DeploymentCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        model = model_get_for_user(request.user, data["model"])
        deployment = services.deployment_create(
            owner=request.user,
            name=data["name"],
            model=model,
            version_number=data.get("version"),
            description=data.get("description", ""),
            follow_alias=data.get("alias", ""),
            **{k: data[k] for k in Deployment.SETTINGS if k in data},
        )
        return Response(DeploymentSerializer(deployment, context={"request": request}).data, status=status.HTTP_201_CREATED)


class DeploymentDetailView(APIView):
    parser_classes = [SafeJSONParser]

    @extend_schema(responses=DeploymentDetailSerializer, tags=["deployments"])
    def get(self, request, name: str):
        deployment = selectors.deployment_get_for_user(request.user, name)
        metrics.flush()
        return Response(DeploymentDetailSerializer(deployment, context={"request": request}).data)

    @extend_schema(request=DeploymentUpdateSerializer, responses=DeploymentSerializer, tags=["deployments"])
    def patch(self, request, name: str):
        """Change limits or the description, or switch to another version (atomically)."""
        deployment = selectors.deployment_get_for_user(request.user, name)
        serializer = DeploymentUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        services.deployment_update(
            deployment=deployment,
            version_number=data.get("version"),
            description=data.get("description"),
            follow_alias=data.get("alias"),
            **{k: data[k] for k in Deployment.SETTINGS if k in data},
        )
        return Response(DeploymentSerializer(deployment, context={"request": request}).data)

    @extend_schema(responses={204: None}, tags=["deployments"])
    def delete(self, request, name: str):
        """Delete the deployment with its keys, tasks and their files (the model stays)."""
        services.deployment_delete(deployment=selectors.deployment_get_for_user(request.user, name))
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeploymentStartView(APIView):
    @extend_schema(request=None, responses=DeploymentSerializer, tags=["deployments"])
    def post(self, request, name: str):
        """Start (or resume) serving; tasks queued while paused run now."""
        deployment = services.deployment_start(deployment=selectors.deployment_get_for_user(request.user, name))
        return Response(DeploymentSerializer(deployment, context={"request": request}).data)


class DeploymentPauseView(APIView):
    @extend_schema(request=None, responses=DeploymentSerializer, tags=["deployments"])
    def post(self, request, name: str):
        """Pause: serving endpoints answer 503 until it is started again."""
        deployment = services.deployment_pause(deployment=selectors.deployment_get_for_user(request.user, name))
        return Response(DeploymentSerializer(deployment, context={"request": request}).data)


class DeploymentMetricsView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("window", str, enum=["hour", "day"], description="Series span (default hour)")],
        responses={200: dict},
        tags=["deployments"],
    )
    def get(self, request, name: str):
        """Totals since the first call (calls, errors by kind, rows, latency percentiles) and a series per minute (hour) or 15 minutes (day)."""
        deployment = selectors.deployment_get_for_user(request.user, name)
        metrics.flush()
        span, step = {"day": (timedelta(days=1), timedelta(minutes=15))}.get(
            request.query_params.get("window", ""), (timedelta(hours=1), timedelta(minutes=1))
        )
        return Response({"summary": metrics.summary(deployment), "series": metrics.series(deployment, span=span, step=step)})


class DeploymentPredictView(APIView):
    parser_classes = PREDICTION_PARSERS
    permission_classes = [IsAuthenticated]  # deployment keys too

    @extend_schema(
        parameters=VIDEO_PARAMETERS,
        request={"application/json": PredictionRequestSerializer, "multipart/form-data": VersionCreateSerializer},
        responses=PredictionResponseSerializer,
        tags=["serving"],
    )
    def post(self, request, name: str):
        """Synchronous prediction: every body format of the model test (JSON rows or a file)."""
        deployment = selectors.deployment_for_request(request, name)
        return HttpResponse(serving.predict_call(deployment, lambda: prediction_input(request)), content_type="application/json")


class DeploymentTasksView(APIView):
    parser_classes = PREDICTION_PARSERS
    permission_classes = [IsAuthenticated]  # deployment keys too

    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=[s.value for s in PredictionTask.Status])],
        responses=paginated(TaskSerializer),
        tags=["serving"],
    )
    def get(self, request, name: str):
        """The deployment's tasks, newest first: all of them for the owner, its own for a deployment key."""
        tasks = selectors.task_list_for_deployment(request, selectors.deployment_for_request(request, name))
        if request.query_params.get("status"):
            tasks = tasks.filter(status=request.query_params["status"])
        return paginate(request, tasks, TaskSerializer, view=self)

    @extend_schema(
        parameters=VIDEO_PARAMETERS,
        request={"application/json": PredictionRequestSerializer, "multipart/form-data": VersionCreateSerializer},
        responses={202: TaskAcceptedSerializer},
        tags=["serving"],
    )
    def post(self, request, name: str):
        """Queue JSON rows or a file (CSV, TSV, JSON lines, ZIP of images or CSVs); answers 202 at once."""
        deployment = selectors.deployment_for_request(request, name)
        task = services.task_submit(deployment=deployment, key=selectors.request_key(request), **prediction_input(request))
        data = TaskSerializer(task, context={"request": request}).data
        body = {k: data[k] for k in ("task_id", "status", "status_url", "result_url")}
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": data["status_url"]})


class DeploymentKeysView(APIView):
    parser_classes = [SafeJSONParser]

    @extend_schema(responses=DeploymentKeySerializer(many=True), tags=["deployments"])
    def get(self, request, name: str):
        deployment = selectors.deployment_get_for_user(request.user, name)
        return Response(DeploymentKeySerializer(deployment.keys.all(), many=True).data)

    @extend_schema(request=DeploymentKeyCreateSerializer, responses={201: DeploymentKeyCreatedSerializer}, tags=["deployments"])
    def post(self, request, name: str):
        """A key for a third party: it works on this deployment's serving endpoints only. Shown once."""
        deployment = selectors.deployment_get_for_user(request.user, name)
        serializer = DeploymentKeyCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key, plain = services.key_create(deployment=deployment, name=serializer.validated_data["name"])
        return Response({**DeploymentKeySerializer(key).data, "key": plain}, status=status.HTTP_201_CREATED)


class DeploymentKeyDetailView(APIView):
    @extend_schema(responses={204: None}, tags=["deployments"])
    def delete(self, request, name: str, key_id: int):
        deployment = selectors.deployment_get_for_user(request.user, name)
        services.key_revoke(key=selectors.key_get(deployment, key_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class TaskListView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=[s.value for s in PredictionTask.Status]),
            OpenApiParameter("deployment", str),
        ],
        responses=paginated(TaskSerializer),
        operation_id="tasks_list",
        tags=["tasks"],
    )
    def get(self, request):
        """All your tasks, newest first."""
        tasks = selectors.task_list_for_user(
            request.user, request.query_params.get("status", ""), request.query_params.get("deployment", "")
        )
        return paginate(request, tasks, TaskSerializer, view=self)


class TaskDetailView(APIView):
    permission_classes = [IsAuthenticated]  # deployment keys too, for the tasks they submitted

    @extend_schema(responses=TaskSerializer, tags=["tasks"])
    def get(self, request, task_id):
        """Status, progress (rows done / total), timings and the error."""
        task = selectors.task_for_request(request, task_id)
        return Response(TaskSerializer(task, context={"request": request}).data)

    @extend_schema(responses={200: TaskSerializer, 204: None}, tags=["tasks"])
    def delete(self, request, task_id):
        """Cancel a queued or running task; a finished task is deleted with its files (204)."""
        task = selectors.task_for_request(request, task_id)
        if task.is_finished:
            services.task_delete(task=task)
            return Response(status=status.HTTP_204_NO_CONTENT)
        task = services.task_cancel(task=task)
        return Response(TaskSerializer(task, context={"request": request}).data)


class TaskRetryView(APIView):
    permission_classes = [IsAuthenticated]  # deployment keys too, for the tasks they submitted

    @extend_schema(request=None, responses={202: TaskSerializer}, tags=["tasks"])
    def post(self, request, task_id):
        """Queue a failed or cancelled task again."""
        task = services.task_retry(task=selectors.task_for_request(request, task_id))
        return Response(TaskSerializer(task, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)


class TaskResultView(APIView):
    permission_classes = [IsAuthenticated]  # deployment keys too, for the tasks they submitted

    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=["json", "csv"], description="json (default) or csv")],
        responses={(200, "application/json"): TaskResultSerializer, (200, "text/csv"): OpenApiTypes.STR},
        tags=["tasks"],
    )
    def get(self, request, task_id):
        """The predictions: JSON, or CSV (the input columns, then prediction and probability columns).

        For a JSON task whose deployment script defines postprocess(), the JSON result is
        the script's response; the CSV stays the model's answer row by row."""
        task = selectors.task_for_request(request, task_id)
        if task.result_expired:
            raise ApplicationError(_("This task's result has expired and was removed."), code="result_expired", status_code=410)
        if task.status != PredictionTask.Status.SUCCEEDED:
            raise Conflict(
                _("The task is %(status)s; its result is ready once it has succeeded.") % {"status": task.status}, code="result_not_ready"
            )
        fmt = request.query_params.get("format", "json")
        if fmt == "csv":
            response = StreamingHttpResponse(task_files.result_chunks(task, task_files.RESULT_CSV), content_type="text/csv")
            response["Content-Disposition"] = f'attachment; filename="{task.id}.csv"'
            return response
        if fmt != "json":
            raise ApplicationError(_("format must be json or csv."), code="invalid_request")
        if task_files.result_exists(task, task_files.SCRIPT_RESPONSE):  # the script's postprocess() shaped this answer
            return StreamingHttpResponse(task_files.result_chunks(task, task_files.SCRIPT_RESPONSE), content_type="application/json")
        version = task.model_version
        stream = batch.json_result_stream(task, version.model.name if version else "", version.number if version else None)
        return StreamingHttpResponse(stream, content_type="application/json")


class DeploymentScriptView(APIView):
    parser_classes = [SafeJSONParser]

    @extend_schema(responses=ScriptSerializer, tags=["deployments"])
    def get(self, request, name: str):
        """The script in use, with the list of earlier versions."""
        deployment = selectors.deployment_get_for_user(request.user, name)
        if deployment.script is None:
            raise NotFound(_("Deployment '%(name)s' has no script.") % {"name": name})
        data = ScriptSerializer(deployment.script).data
        data["versions"] = list(deployment.scripts.values("version", "created"))
        return Response(data)

    @extend_schema(request=ScriptSaveSerializer, responses={201: ScriptSerializer}, tags=["deployments"])
    def put(self, request, name: str):
        """Save a new version of the script and use it (needs the 'upload code' permission)."""
        deployment = selectors.deployment_get_for_user(request.user, name)
        serializer = ScriptSaveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        script = services.script_save(deployment=deployment, source=serializer.validated_data["source"], user=request.user)
        return Response(ScriptSerializer(script).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None}, tags=["deployments"])
    def delete(self, request, name: str):
        """Stop using a script (its versions are kept)."""
        deployment = selectors.deployment_get_for_user(request.user, name)
        services.script_remove(deployment=deployment, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeploymentScriptTryView(APIView):
    parser_classes = [SafeJSONParser]

    @extend_schema(request=ScriptTrySerializer, responses={200: dict}, tags=["deployments"])
    def post(self, request, name: str):
        """Run an unsaved script on a request: what preprocess gives, the model's answer, the final response."""
        deployment = selectors.deployment_get_for_user(request.user, name)
        serializer = ScriptTrySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        return Response(services.script_try(deployment=deployment, source=data["source"], request=data["request"], user=request.user))

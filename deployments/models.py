import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from core.credentials import Credential
from models_registry.models import NAME_VALIDATOR, ModelAlias, ModelVersion


class Deployment(models.Model):
    """A model version served under a name: sync predictions, queued tasks, OIP."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        PAUSED = "paused", _("Paused")
        # Its runner crashed MLSERVE_RUNNER_MAX_CRASHES times in a row; starting it again retries.
        FAILED = "failed", _("Failed")

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="deployments")
    name = models.CharField(max_length=100, validators=[NAME_VALIDATOR])
    description = models.TextField(blank=True)
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="deployments")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    # Following an alias: when the alias moves, the deployment switches to its version.
    alias = models.ForeignKey(
        ModelAlias, null=True, blank=True, on_delete=models.PROTECT, related_name="deployments",
        help_text="The model alias this deployment follows (empty: it stays on its version)",
    )

    # Limits (see docs/operations.md for what each one means).
    timeout_seconds = models.FloatField(
        default=30.0, validators=[MinValueValidator(0.1), MaxValueValidator(3600)], help_text="Synchronous request timeout"
    )
    max_rows = models.PositiveIntegerField(
        default=10_000, validators=[MinValueValidator(1), MaxValueValidator(1_000_000)], help_text="Rows per synchronous request"
    )
    max_concurrency = models.PositiveIntegerField(
        default=8, validators=[MinValueValidator(1), MaxValueValidator(1000)], help_text="Concurrent synchronous requests"
    )
    max_batch_file_size = models.BigIntegerField(
        default=200 * 1024 * 1024, validators=[MinValueValidator(1)], help_text="Bytes per queued batch file"
    )
    memory_limit_mb = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(16), MaxValueValidator(1_048_576)],
        help_text="Memory reserved for each runner's model (empty: the server's default, MLSERVE_RUNNER_MEMORY_MB)",
    )
    # Where the model runs: N sandboxed runner processes, each optionally pinned to CPU cores.
    replicas = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(16)], help_text="Runner processes serving requests"
    )
    cpu_cores = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(1024)],
        help_text="CPU cores each runner is pinned to (empty: all cores)",
    )
    batch_max_rows = models.PositiveIntegerField(
        default=64, validators=[MinValueValidator(1), MaxValueValidator(100_000)],
        help_text="Adaptive batching: concurrent requests merged into one model call, up to this many rows (1: off)",
    )
    batch_max_wait_ms = models.FloatField(
        default=0, validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="How long a runner waits for more requests to batch (0: only those already waiting)",
    )
    failure_reason = models.TextField(blank=True, help_text="Why the deployment failed (its runner kept crashing)")
    # The pre/post-processing script in use (None: requests go to the model as they are).
    script = models.ForeignKey("DeploymentScript", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)
    started = models.DateTimeField(null=True, blank=True)

    # What an owner may set on a deployment (API, pages, services all read this list).
    SETTINGS = (
        "timeout_seconds", "max_rows", "max_concurrency", "max_batch_file_size", "memory_limit_mb",
        "replicas", "cpu_cores", "batch_max_rows", "batch_max_wait_ms",
    )

    class Meta:
        ordering = ["-created"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="unique_deployment_name_per_owner")]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("deployments:detail", args=[self.name])

    @property
    def is_running(self) -> bool:
        return self.status == self.Status.RUNNING


class DeploymentScript(models.Model):
    """One saved version of a deployment's preprocess/postprocess script (runs code: trusted users only)."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="scripts")
    version = models.PositiveIntegerField()
    source = models.TextField()
    created = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")

    class Meta:
        ordering = ["deployment", "-version"]
        constraints = [models.UniqueConstraint(fields=["deployment", "version"], name="unique_script_version")]

    def __str__(self) -> str:
        return f"{self.deployment.name} script v{self.version}"


class DeploymentKey(Credential):
    """A key for a third party: it calls one deployment's serving endpoints and nothing else. It
    acts as the deployment's owner, limited to that deployment (deployments.permissions and
    selectors.check_key_scope)."""

    KEY_PREFIX = "mlsd_"
    INVALID_MESSAGE = _("Invalid or revoked deployment key.")
    NAME_MISSING_MESSAGE = _("A key needs a name, e.g. the partner who will use it.")
    NAME_TAKEN_MESSAGE = _("This deployment already has a key named '%(name)s'.")

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="keys")

    class Meta(Credential.Meta):
        constraints = [models.UniqueConstraint(fields=["deployment", "name"], name="unique_key_name_per_deployment")]

    def acting_user(self):
        return self.deployment.owner

    @classmethod
    def lookup(cls):
        return cls.objects.select_related("deployment__owner")


class PredictionTask(models.Model):
    """A queued prediction job: the row is the truth about the job, whatever the queue does."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="tasks")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="prediction_tasks")
    # Which credential submitted it: a key sees only its own tasks; the owner (null here) sees all.
    deployment_key = models.ForeignKey(
        DeploymentKey, on_delete=models.SET_NULL, null=True, blank=True, related_name="tasks",
        help_text="The deployment key that submitted it (empty: the owner, by token or session)",
    )
    model_version = models.ForeignKey(ModelVersion, on_delete=models.SET_NULL, null=True, related_name="+")
    script_version = models.PositiveIntegerField(null=True, blank=True, help_text="The deployment script that served it")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)

    input_name = models.CharField(max_length=255, help_text="The uploaded file's name, or 'request.json'")
    input_size = models.BigIntegerField(default=0)
    rows_total = models.BigIntegerField(null=True, blank=True)
    rows_done = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)
    # How the input is read: {"video": {"fps": 2}} picks a video's frames.
    input_options = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    result_expired = models.BooleanField(default=False)

    created = models.DateTimeField(auto_now_add=True, db_index=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    heartbeat = models.DateTimeField(null=True, blank=True, help_text="Last sign of life from the worker running it")
    # The lease: who holds the task and until when. The holder renews it (its heartbeat); once it
    # expires, recovery hands the task to another worker, whatever happened to the holder.
    lease_owner = models.CharField(max_length=200, blank=True, help_text="host:pid of the worker holding it")
    lease_expires = models.DateTimeField(null=True, blank=True, db_index=True)
    # When a queue message for it was last sent: a queued task without one for a lease's length is sent again.
    enqueued = models.DateTimeField(null=True, blank=True)
    notice = models.CharField(max_length=300, blank=True, help_text="What happened to it on the way, e.g. 'worker lost, attempt 2'")

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["owner", "-created"]), models.Index(fields=["status", "heartbeat"])]

    def __str__(self) -> str:
        return str(self.id)

    def get_absolute_url(self) -> str:
        return reverse("deployments:task_detail", args=[self.id])

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def progress(self) -> float | None:
        if not self.rows_total:
            return 1.0 if self.status == self.Status.SUCCEEDED else None
        return min(1.0, self.rows_done / self.rows_total)

    @property
    def duration_seconds(self) -> float | None:
        if self.started and self.finished:
            return (self.finished - self.started).total_seconds()
        return None


class MetricBucket(models.Model):
    """What one deployment served in one minute, summed over every process that served it."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="metric_buckets")
    start = models.DateTimeField(help_text="The minute this bucket covers")
    requests = models.BigIntegerField(default=0)
    errors = models.BigIntegerField(default=0)
    rows = models.BigIntegerField(default=0)
    by_status = models.JSONField(default=dict, help_text="HTTP status -> count")
    by_error = models.JSONField(default=dict, help_text="error code -> count")
    by_source = models.JSONField(default=dict, help_text="rest, oip, task -> count")
    latency_count = models.BigIntegerField(default=0, help_text="Calls with a latency (queued tasks have none)")
    latency_sum_ms = models.FloatField(default=0)
    latency_min_ms = models.FloatField(null=True)
    latency_max_ms = models.FloatField(null=True)
    latency_histogram = models.JSONField(default=dict, help_text="bucket index -> count (see deployments.metrics)")

    class Meta:
        ordering = ["deployment", "start"]
        constraints = [models.UniqueConstraint(fields=["deployment", "start"], name="unique_metric_minute")]


class DeploymentTotals(models.Model):
    """All-time counters of a deployment (never decrease: Prometheus counters come from here)."""

    deployment = models.OneToOneField(Deployment, on_delete=models.CASCADE, primary_key=True, related_name="totals")
    requests = models.BigIntegerField(default=0)
    errors = models.BigIntegerField(default=0)
    rows = models.BigIntegerField(default=0)
    by_status = models.JSONField(default=dict)
    by_error = models.JSONField(default=dict)
    by_source = models.JSONField(default=dict)
    latency_count = models.BigIntegerField(default=0)
    latency_sum_ms = models.FloatField(default=0)
    latency_min_ms = models.FloatField(null=True)
    latency_max_ms = models.FloatField(null=True)
    latency_histogram = models.JSONField(default=dict)
    first_call = models.DateTimeField(null=True)
    last_call = models.DateTimeField(null=True)
    dropped = models.BigIntegerField(default=0, help_text="Calls a process could not keep while the database was unreachable")

    class Meta:
        # "totals" is already plural: without this the admin says "Deployment totalss".
        verbose_name = _("deployment totals")
        verbose_name_plural = _("deployment totals")

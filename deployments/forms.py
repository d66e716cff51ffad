from django import forms
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from core.forms import BootstrapMixin
from core.limits import DESCRIPTION_MAX_CHARS
from models_registry.models import NAME_VALIDATOR

MB = 1024 * 1024


class LimitsForm(BootstrapMixin, forms.Form):
    timeout_seconds = forms.FloatField(
        min_value=0.1, max_value=3600, initial=30, label=_("Timeout (seconds)"), help_text=_("Seconds a synchronous request may take (then 504)")
    )
    max_rows = forms.IntegerField(
        min_value=1, max_value=1_000_000, initial=10_000, label=_("Max rows"), help_text=_("Rows per synchronous request (413 above)")
    )
    max_concurrency = forms.IntegerField(
        min_value=1, max_value=1000, initial=8, label=_("Max concurrency"),
        help_text=_("Synchronous requests at once, across all processes (429 above)"),
    )
    max_batch_file_mb = forms.FloatField(min_value=0.001, initial=200, label=_("Max batch file size (MB)"), help_text=_("Largest file a queued task accepts (413 above)"))
    memory_limit_mb = forms.IntegerField(min_value=16, required=False, label=_("Reserved memory (MB)"), help_text=_("Memory each runner's model may use; more fails with model_out_of_memory (empty: the server's default)"))
    replicas = forms.IntegerField(
        min_value=1, max_value=16, initial=1, required=False, label=_("Replicas"), help_text=_("Sandboxed runner processes serving requests")
    )
    cpu_cores = forms.IntegerField(min_value=1, max_value=1024, required=False, label=_("CPU cores"), help_text=_("Cores each runner is pinned to (empty: all)"))
    batch_max_rows = forms.IntegerField(min_value=1, max_value=100_000, initial=64, required=False, label=_("Batch up to (rows)"), help_text=_("Concurrent requests merged into one model call (1: no batching)"))
    batch_max_wait_ms = forms.FloatField(min_value=0, max_value=100, initial=0, required=False, label=_("Batch wait (ms)"), help_text=_("How long a runner waits for more requests to batch (0: only those already waiting)"))

    def limits(self) -> dict:
        data = self.cleaned_data
        return {
            "timeout_seconds": data["timeout_seconds"],
            "max_rows": data["max_rows"],
            "max_concurrency": data["max_concurrency"],
            "max_batch_file_size": int(data["max_batch_file_mb"] * MB),
            "memory_limit_mb": data.get("memory_limit_mb"),
            "cpu_cores": data.get("cpu_cores"),
            # Left empty: the default (or, on a deployment, what it has).
            **{k: data[k] for k in ("replicas", "batch_max_rows", "batch_max_wait_ms") if data.get(k) is not None},
        }

    @staticmethod
    def initial_from(deployment) -> dict:
        return {
            "timeout_seconds": deployment.timeout_seconds,
            "max_rows": deployment.max_rows,
            "max_concurrency": deployment.max_concurrency,
            "max_batch_file_mb": round(deployment.max_batch_file_size / MB, 3),
            "memory_limit_mb": deployment.memory_limit_mb,
            "replicas": deployment.replicas,
            "cpu_cores": deployment.cpu_cores,
            "batch_max_rows": deployment.batch_max_rows,
            "batch_max_wait_ms": deployment.batch_max_wait_ms,
        }


class DeploymentCreateForm(LimitsForm):
    name = forms.CharField(max_length=100, validators=[NAME_VALIDATOR], label=_("Name"), help_text=NAME_VALIDATOR.message)
    model = forms.ChoiceField(label=_("Model"), help_text=_("Which of your models to serve"))
    version = forms.IntegerField(min_value=1, required=False, label=_("Version"), help_text=_("Empty: the latest version"))
    alias = forms.CharField(
        label=_("Follow alias"), max_length=50, required=False,
        help_text=_("Optional: an alias of the model (e.g. champion). The deployment serves its version and moves when it moves."),
    )
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=DESCRIPTION_MAX_CHARS, label=_("Description")
    )

    field_order = ["name", "model", "version", "alias", "description"]

    def __init__(self, *args, models=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model"].choices = [(m.name, m.name) for m in models]


class VersionSwitchForm(BootstrapMixin, forms.Form):
    version = forms.TypedChoiceField(coerce=int, label=_("Version"))

    def __init__(self, *args, versions=(), **kwargs):
        super().__init__(*args, **kwargs)
        # Cut at a word, with an ellipsis (CSS adds one too when the select is narrower still).
        self.fields["version"].choices = [(v.number, f"v{v.number} · {Truncator(v.algorithm).chars(60)}") for v in versions]


class KeyCreateForm(BootstrapMixin, forms.Form):
    name = forms.CharField(max_length=100, label=_("Name"), help_text=_("Who will use it, e.g. 'partner-acme'"))


class BatchUploadForm(BootstrapMixin, forms.Form):
    file = forms.FileField(label=_("File"), help_text=_("CSV/TSV, JSON lines, text, an image or a video, or a ZIP of images or CSVs"))

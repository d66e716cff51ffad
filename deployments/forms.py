from django import forms

from mlserve.forms import BootstrapMixin
from models_registry.models import NAME_VALIDATOR

MB = 1024 * 1024


class LimitsForm(BootstrapMixin, forms.Form):
    timeout_seconds = forms.FloatField(min_value=0.1, max_value=3600, initial=30, help_text="Seconds a synchronous request may take (then 504)")
    max_rows = forms.IntegerField(min_value=1, max_value=1_000_000, initial=10_000, help_text="Rows per synchronous request (413 above)")
    max_concurrency = forms.IntegerField(min_value=1, max_value=1000, initial=8, help_text="Synchronous requests at once, across all processes (429 above)")
    max_batch_file_mb = forms.FloatField(min_value=0.001, initial=200, label="Max batch file size (MB)", help_text="Largest file a queued task accepts (413 above)")
    memory_limit_mb = forms.IntegerField(min_value=1, required=False, label="Memory budget (MB)", help_text="Refuse to start if the loaded model needs more (empty: no limit)")

    def limits(self) -> dict:
        data = self.cleaned_data
        return {
            "timeout_seconds": data["timeout_seconds"],
            "max_rows": data["max_rows"],
            "max_concurrency": data["max_concurrency"],
            "max_batch_file_size": int(data["max_batch_file_mb"] * MB),
            "memory_limit_mb": data.get("memory_limit_mb"),
        }

    @staticmethod
    def initial_from(deployment) -> dict:
        return {
            "timeout_seconds": deployment.timeout_seconds,
            "max_rows": deployment.max_rows,
            "max_concurrency": deployment.max_concurrency,
            "max_batch_file_mb": round(deployment.max_batch_file_size / MB, 3),
            "memory_limit_mb": deployment.memory_limit_mb,
        }


class DeploymentCreateForm(LimitsForm):
    name = forms.CharField(max_length=100, validators=[NAME_VALIDATOR], help_text=NAME_VALIDATOR.message)
    model = forms.ChoiceField(help_text="Which of your models to serve")
    version = forms.IntegerField(min_value=1, required=False, help_text="Empty: the latest version")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)

    field_order = ["name", "model", "version", "description"]

    def __init__(self, *args, models=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model"].choices = [(m.name, m.name) for m in models]


class VersionSwitchForm(BootstrapMixin, forms.Form):
    version = forms.TypedChoiceField(coerce=int)

    def __init__(self, *args, versions=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["version"].choices = [(v.number, f"v{v.number} · {v.algorithm[:60]}") for v in versions]


class KeyCreateForm(BootstrapMixin, forms.Form):
    name = forms.CharField(max_length=100, help_text="Who will use it, e.g. 'partner-acme'")


class BatchUploadForm(BootstrapMixin, forms.Form):
    file = forms.FileField(help_text="CSV/TSV, JSON lines, text, an image or a video, or a ZIP of images or CSVs")

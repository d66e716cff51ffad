from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from models_registry.schema import fields_from_json

# The schema's model types as pages show them; the API keeps the stored English value.
MODEL_TYPE_LABELS = {
    "classification": pgettext_lazy("model type", "classification"),
    "regression": pgettext_lazy("model type", "regression"),
    "clustering": pgettext_lazy("model type", "clustering"),
    "other": pgettext_lazy("model type", "other"),
}

# Names appear in URLs (/api/v1/models/{name}), so they stay URL-safe.
NAME_VALIDATOR = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$",
    _("Use 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit."),
)


class RegisteredModel(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="models")
    name = models.CharField(max_length=100, validators=[NAME_VALIDATOR])
    description = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="unique_model_name_per_owner")]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("models_registry:detail", args=[self.name])

    @property
    def latest_version(self) -> "ModelVersion | None":
        return self.versions.order_by("-number").first()


def artifact_path(version: "ModelVersion", filename: str) -> str:
    return f"models/{version.model.owner_id}/{version.model_id}/v{version.number}/{filename}"


class ModelVersion(models.Model):
    class Format(models.TextChoices):
        PMML = "pmml", "PMML"
        ONNX = "onnx", "ONNX"
        XGBOOST = "xgboost", "XGBoost"
        LIGHTGBM = "lightgbm", "LightGBM"
        CATBOOST = "catboost", "CatBoost"
        SKOPS = "skops", "scikit-learn (skops)"
        PICKLE = "pickle", "scikit-learn (pickle)"

    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    artifact = models.FileField(upload_to=artifact_path, max_length=500)
    original_filename = models.CharField(max_length=255, blank=True)
    sha256 = models.CharField(max_length=64, db_index=True)
    format = models.CharField(max_length=16, choices=Format.choices)
    size = models.BigIntegerField(help_text="Bytes")
    model_type = models.CharField(max_length=32)
    algorithm = models.CharField(max_length=300)
    engine = models.CharField(max_length=64)
    engine_version = models.CharField(max_length=64)
    inputs = models.JSONField(default=list)
    outputs = models.JSONField(default=list)
    classes = models.JSONField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)
    # How an image becomes this model's input tensor (see models_registry.images).
    preprocessing = models.JSONField(default=dict, blank=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["model", "-number"]
        constraints = [models.UniqueConstraint(fields=["model", "number"], name="unique_version_number")]
        permissions = [("upload_code", "Can upload models and scripts that run code (pickle, joblib)")]

    def get_model_type_display(self) -> str:
        return MODEL_TYPE_LABELS.get(self.model_type, self.model_type)

    def __str__(self) -> str:
        return f"{self.model.name} v{self.number}"

    @property
    def input_fields(self):
        return self._fields("inputs")

    @property
    def output_fields(self):
        return self._fields("outputs")

    def _fields(self, attribute: str):
        # Parsed once per JSON value: the serving path asks several times per request.
        raw = getattr(self, attribute)
        cached = self.__dict__.get(f"_{attribute}_parsed")
        if cached is None or cached[0] is not raw:
            cached = (raw, fields_from_json(raw))
            self.__dict__[f"_{attribute}_parsed"] = cached
        return cached[1]


# Tag keys appear in query strings (?tag=team:fraud), so they stay plain.
TAG_KEY_VALIDATOR = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,49}$",
    _("A tag key is 1-50 letters, digits, '.', '_', '/' or '-', starting with a letter or digit."),
)
# Aliases start with a letter, so "2" always means version 2 and never an alias.
ALIAS_VALIDATOR = RegexValidator(
    r"^[A-Za-z][A-Za-z0-9_-]{0,49}$",
    _("An alias is 1-50 letters, digits, '_' or '-', starting with a letter (e.g. champion)."),
)


class ModelTag(models.Model):
    """A key (and optional value) on a model, as MLflow's registry has them: team, stage, dataset."""

    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="tags")
    key = models.CharField(max_length=50, validators=[TAG_KEY_VALIDATOR])
    value = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["key"]
        constraints = [models.UniqueConstraint(fields=["model", "key"], name="unique_model_tag_key")]

    def __str__(self) -> str:
        return f"{self.key}: {self.value}" if self.value else self.key


class VersionTag(models.Model):
    """A key (and optional value) on one version: validated, dataset, commit."""

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="tags")
    key = models.CharField(max_length=50, validators=[TAG_KEY_VALIDATOR])
    value = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["key"]
        constraints = [models.UniqueConstraint(fields=["version", "key"], name="unique_version_tag_key")]

    def __str__(self) -> str:
        return f"{self.key}: {self.value}" if self.value else self.key


class ModelAlias(models.Model):
    """A movable name for one version of a model (champion, challenger). Deployments that
    follow it are switched to the version it points to whenever it moves."""

    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="aliases")
    name = models.CharField(max_length=50, validators=[ALIAS_VALIDATOR])
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="aliases")
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["model", "name"], name="unique_alias_per_model")]

    def __str__(self) -> str:
        return f"{self.model.name}@{self.name}"

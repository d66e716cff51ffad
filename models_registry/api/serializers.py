from rest_framework import serializers

from core.limits import DESCRIPTION_MAX_CHARS
from core.text import render_markdown
from models_registry import selectors
from models_registry.models import ModelVersion, RegisteredModel
from models_registry.prediction import image_config


class FieldSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField(help_text="float, double, integer, string, boolean, or tensor(<type>)")
    optype = serializers.CharField(help_text="continuous, categorical or ordinal")
    shape = serializers.ListField(required=False, help_text="Per-row shape of a tensor field")
    values = serializers.ListField(required=False, help_text="Allowed values")
    interval = serializers.DictField(required=False, help_text="{'min': .., 'max': ..}")
    required = serializers.BooleanField()
    description = serializers.CharField(allow_blank=True)
    role = serializers.CharField(required=False, help_text="Outputs: label, probability, value, cluster, tensor")
    label = serializers.JSONField(required=False, help_text="Probability outputs: the class")


class TagsField(serializers.DictField):
    """Tags as {key: value} (a key without a value has "")."""

    def __init__(self, **kwargs):
        super().__init__(child=serializers.CharField(allow_blank=True), **kwargs)

    def to_representation(self, value):
        return {tag.key: tag.value for tag in value.all()} if hasattr(value, "all") else dict(value)


class AliasNamesField(serializers.ListField):
    def __init__(self, **kwargs):
        super().__init__(child=serializers.CharField(), read_only=True, **kwargs)

    def to_representation(self, value):
        return sorted(alias.name for alias in value.all())


class VersionSerializer(serializers.ModelSerializer):
    inputs = FieldSerializer(many=True)
    outputs = FieldSerializer(many=True)
    uploaded_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    tags = TagsField(read_only=True)
    aliases = AliasNamesField(help_text="The aliases that point to this version")
    preprocessing = serializers.SerializerMethodField(help_text="Image models: how an image becomes the input tensor")

    def get_preprocessing(self, version) -> dict | None:
        return image_config(version)

    class Meta:
        model = ModelVersion
        fields = [
            "number",
            "format",
            "original_filename",
            "size",
            "sha256",
            "model_type",
            "algorithm",
            "engine",
            "engine_version",
            "inputs",
            "outputs",
            "classes",
            "details",
            "preprocessing",
            "tags",
            "aliases",
            "uploaded_by",
            "created",
        ]


class VersionSummarySerializer(serializers.ModelSerializer):
    tags = TagsField(read_only=True)
    aliases = AliasNamesField()

    class Meta:
        model = ModelVersion
        fields = ["number", "format", "model_type", "algorithm", "size", "tags", "aliases", "created"]


class ModelListSerializer(serializers.ModelSerializer):
    latest_version = serializers.SerializerMethodField()
    tags = TagsField(read_only=True)

    class Meta:
        model = RegisteredModel
        fields = ["name", "description", "tags", "latest_version", "created", "updated"]

    def get_latest_version(self, model) -> dict | None:
        version = model.latest_version
        return VersionSummarySerializer(version).data if version else None


class ModelDetailSerializer(serializers.ModelSerializer):
    latest_version = serializers.SerializerMethodField()
    versions = serializers.SerializerMethodField()
    tags = TagsField(read_only=True)
    aliases = serializers.SerializerMethodField(help_text="{alias: version number}")
    description_html = serializers.SerializerMethodField(help_text="The Markdown description as safe HTML (no raw HTML passes)")
    deployments = serializers.SerializerMethodField(help_text="The deployments serving one of its versions")

    class Meta:
        model = RegisteredModel
        fields = [
            "name", "description", "description_html", "tags", "aliases", "deployments", "created", "updated",
            "latest_version", "versions",
        ]

    def get_aliases(self, model) -> dict[str, int]:
        return {alias.name: alias.version.number for alias in model.aliases.select_related("version")}

    def get_description_html(self, model) -> str:
        return render_markdown(model.description)

    def get_deployments(self, model) -> list[dict]:
        return [
            {"name": d.name, "version": d.model_version.number, "alias": d.alias.name if d.alias_id else None, "status": d.status}
            for d in selectors.model_deployments(owner=model.owner, model=model)
        ]

    def get_latest_version(self, model) -> dict | None:
        version = model.latest_version
        return VersionSerializer(version).data if version else None

    def get_versions(self, model) -> list:
        return VersionSummarySerializer(model.versions.order_by("-number"), many=True).data


class ModelCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=DESCRIPTION_MAX_CHARS)
    file = serializers.FileField(help_text="The model artifact: .pmml, .onnx, .json/.ubj (XGBoost), .skops, .pkl/.joblib")


class VersionCreateSerializer(serializers.Serializer):
    file = serializers.FileField()


class ModelUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, max_length=100, help_text="Rename the model (its URLs change with it)")
    description = serializers.CharField(
        required=False, allow_blank=True, max_length=DESCRIPTION_MAX_CHARS, help_text="Markdown (rendered without raw HTML)"
    )
    tags = TagsField(required=False, help_text="Replace the model's tags: {'team': 'fraud', 'validated': ''}")
    fields = serializers.DictField(
        required=False,
        help_text="Per input field: {'petal_width': {'description': '...', 'interval': {'min': 0, 'max': 3}}}; "
        "or {'inputs': {...}, 'outputs': {...}}",
    )
    preprocessing = serializers.DictField(
        required=False,
        help_text="How an image becomes the input tensor: size [w, h], mode L|RGB, layout NCHW|NHWC|HW|flat, "
        "scale, mean, std. {} resets to the defaults derived from the input shape.",
    )
    version = serializers.IntegerField(required=False, help_text="Which version to edit (default: latest)")


class PredictionRequestSerializer(serializers.Serializer):
    """Exactly one of these keys (as MLflow's scoring server reads them, plus 'inputs')."""

    inputs = serializers.JSONField(required=False, help_text="One record {field: value}, a list of records, or {field: [values]}")
    dataframe_split = serializers.JSONField(required=False, help_text="{'columns': [...], 'data': [[...], ...]}")
    dataframe_records = serializers.ListField(child=serializers.DictField(), required=False)
    instances = serializers.ListField(required=False, help_text="Rows: records, lists of values, or single-input values")


class PredictionResponseSerializer(serializers.Serializer):
    predictions = serializers.ListField(help_text="One per row: label, value, cluster, or named outputs")
    probabilities = serializers.ListField(child=serializers.DictField(), required=False, help_text="Classifiers: {label: p} per row")
    model = serializers.CharField()
    version = serializers.IntegerField()
    sources = serializers.ListField(child=serializers.CharField(), required=False, help_text="ZIP inputs: the member of each row")
    ignored_fields = serializers.ListField(child=serializers.CharField(), required=False)
    elapsed_ms = serializers.FloatField(required=False)


class TagsSerializer(serializers.Serializer):
    tags = TagsField(help_text="{key: value}; the whole set (PUT replaces it)")


class AliasSerializer(serializers.Serializer):
    alias = serializers.CharField(source="name")
    version = serializers.IntegerField(source="version.number")
    deployments = serializers.SerializerMethodField(help_text="Deployments that follow this alias")
    updated = serializers.DateTimeField()

    def get_deployments(self, alias) -> list[str]:
        return sorted(d.name for d in alias.deployments.all())


class AliasSetSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1, help_text="The version the alias points to from now on")


class CompareRequestSerializer(serializers.Serializer):
    a = serializers.CharField(help_text="A version number or an alias")
    b = serializers.CharField(help_text="A version number or an alias")
    inputs = serializers.ListField(
        child=serializers.DictField(), required=False,
        help_text="Records to try both versions on (default: a few sample rows spread over the schema's ranges)",
    )


class FieldsDiffSerializer(serializers.Serializer):
    added = serializers.ListField(child=serializers.CharField())
    removed = serializers.ListField(child=serializers.CharField())
    changed = serializers.ListField(
        child=serializers.DictField(), help_text="[{name, changes: {type|optype|shape|interval|values|required: {a, b}}}]"
    )


class SchemaDiffSerializer(serializers.Serializer):
    same = serializers.BooleanField()
    model = serializers.DictField(help_text="format, model_type, algorithm, engine: {a, b} where they differ")
    inputs = FieldsDiffSerializer()
    outputs = FieldsDiffSerializer()
    classes = serializers.DictField(help_text="{added: [...], removed: [...]}")


class CompareSerializer(serializers.Serializer):
    a = serializers.IntegerField(help_text="Version a's number")
    b = serializers.IntegerField(help_text="Version b's number")
    schema = SchemaDiffSerializer()
    answers = serializers.DictField(
        required=False,
        help_text="POST only: {rows, a: {predictions, probabilities} or {error}, b: ..., agree: rows with the same prediction}",
    )

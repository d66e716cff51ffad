from rest_framework import serializers

from mlserve.limits import DESCRIPTION_MAX_CHARS
from models_registry.models import ModelVersion, RegisteredModel


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


class VersionSerializer(serializers.ModelSerializer):
    inputs = FieldSerializer(many=True)
    outputs = FieldSerializer(many=True)
    uploaded_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    preprocessing = serializers.SerializerMethodField(help_text="Image models: how an image becomes the input tensor")

    def get_preprocessing(self, version) -> dict | None:
        from models_registry.prediction import image_config

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
            "uploaded_by",
            "created",
        ]


class VersionSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelVersion
        fields = ["number", "format", "model_type", "algorithm", "size", "created"]


class ModelListSerializer(serializers.ModelSerializer):
    latest_version = serializers.SerializerMethodField()

    class Meta:
        model = RegisteredModel
        fields = ["name", "description", "latest_version", "created", "updated"]

    def get_latest_version(self, model) -> dict | None:
        version = model.latest_version
        return VersionSummarySerializer(version).data if version else None


class ModelDetailSerializer(serializers.ModelSerializer):
    latest_version = serializers.SerializerMethodField()
    versions = serializers.SerializerMethodField()

    class Meta:
        model = RegisteredModel
        fields = ["name", "description", "created", "updated", "latest_version", "versions"]

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
    description = serializers.CharField(required=False, allow_blank=True, max_length=DESCRIPTION_MAX_CHARS)
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

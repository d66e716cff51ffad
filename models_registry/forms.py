from django import forms

from mlserve.forms import BootstrapMixin
from models_registry.models import NAME_VALIDATOR


class ModelUploadForm(BootstrapMixin, forms.Form):
    name = forms.CharField(max_length=100, validators=[NAME_VALIDATOR], help_text=NAME_VALIDATOR.message)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    file = forms.FileField(
        help_text="PMML (.pmml/.xml), ONNX (.onnx), XGBoost (.json/.ubj), scikit-learn (.skops; .pkl/.joblib for trusted users)"
    )


class VersionUploadForm(BootstrapMixin, forms.Form):
    file = forms.FileField(help_text="The new artifact; its format may differ from the previous version's.")


class ModelEditForm(BootstrapMixin, forms.Form):
    """The description, plus a description and range per input field (added per schema)."""

    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)

    def __init__(self, *args, fields=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.schema_fields = list(fields)
        for field in self.schema_fields:
            self.fields[f"desc__{field.name}"] = forms.CharField(required=False, label=f"{field.name}: description")
            if field.type in ("float", "double", "integer") and not field.is_tensor:
                interval = field.interval or {}
                self.fields[f"min__{field.name}"] = forms.FloatField(required=False, label="min", initial=interval.get("min"))
                self.fields[f"max__{field.name}"] = forms.FloatField(required=False, label="max", initial=interval.get("max"))
            self.initial.setdefault(f"desc__{field.name}", field.description)

    def rows(self):
        """Per schema field, its bound form fields, for the template's table."""
        for field in self.schema_fields:
            yield {
                "field": field,
                "description": self[f"desc__{field.name}"],
                "min": self[f"min__{field.name}"] if f"min__{field.name}" in self.fields else None,
                "max": self[f"max__{field.name}"] if f"max__{field.name}" in self.fields else None,
            }

    def field_edits(self) -> dict:
        edits = {}
        for field in self.schema_fields:
            change = {"description": self.cleaned_data.get(f"desc__{field.name}", "")}
            if f"min__{field.name}" in self.fields:
                change["interval"] = {
                    "min": self.cleaned_data.get(f"min__{field.name}"),
                    "max": self.cleaned_data.get(f"max__{field.name}"),
                }
            edits[field.name] = change
        return edits

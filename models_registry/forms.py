import base64
import json

from django import forms
from django.utils.translation import gettext_lazy as _

from core.forms import BootstrapMixin
from core.limits import DESCRIPTION_MAX_CHARS, FIELD_DESCRIPTION_MAX_CHARS
from models_registry.models import NAME_VALIDATOR


class ModelUploadForm(BootstrapMixin, forms.Form):
    name = forms.CharField(max_length=100, validators=[NAME_VALIDATOR], label=_("Name"), help_text=NAME_VALIDATOR.message)
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=DESCRIPTION_MAX_CHARS, label=_("Description")
    )
    file = forms.FileField(
        label=_("File"),
        help_text=_(
            "PMML (.pmml/.xml), ONNX (.onnx), XGBoost (.json/.ubj), LightGBM (save_model .txt or dump_model .json), "
            "CatBoost (.cbm), scikit-learn (.skops; .pkl/.joblib for trusted users), "
            "or a ZIP of an MLflow model directory (sklearn, xgboost, lightgbm, catboost or onnx flavor)"
        ),
    )


class VersionUploadForm(BootstrapMixin, forms.Form):
    file = forms.FileField(label=_("File"), help_text=_("The new artifact; its format may differ from the previous version's."))


class ModelEditForm(BootstrapMixin, forms.Form):
    """The description, plus a description and range per input field (added per schema)."""

    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=DESCRIPTION_MAX_CHARS, label=_("Description")
    )

    def __init__(self, *args, fields=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.schema_fields = list(fields)
        for field in self.schema_fields:
            self.fields[f"desc__{field.name}"] = forms.CharField(
                required=False, label=_("%(field)s: description") % {"field": field.name}, max_length=FIELD_DESCRIPTION_MAX_CHARS
            )
            if field.type in ("float", "double", "integer") and not field.is_tensor:
                interval = field.interval or {}
                self.fields[f"min__{field.name}"] = forms.FloatField(required=False, label=_("min"), initial=interval.get("min"))
                self.fields[f"max__{field.name}"] = forms.FloatField(required=False, label=_("max"), initial=interval.get("max"))
            self.initial.setdefault(f"desc__{field.name}", field.description)
        self.style_widgets()

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


class PredictionForm(BootstrapMixin, forms.Form):
    """One input per schema field: numbers with their range, selects for allowed values,
    an image picker for image inputs. Values stay text: the input layer coerces and
    validates them, so the page shows the same messages as the API."""

    def __init__(self, *args, schema=(), image_input: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.schema_fields = list(schema)
        for field in self.schema_fields:
            label = field.name
            help_text = field.description or field.type
            if field.name == image_input:
                form_field = forms.FileField(label=label, required=False, help_text=_("An image (PNG, JPEG...)"))
                form_field.widget.attrs["accept"] = "image/*"
            elif field.is_tensor:
                form_field = forms.CharField(
                    label=label,
                    required=False,
                    widget=forms.Textarea(attrs={"rows": 2, "class": "mono"}),
                    help_text=_("A JSON list of shape %(shape)s") % {"shape": field.shape},
                )
            elif field.values:
                choices = [("", "—")] + [(str(v), str(v)) for v in field.values]
                form_field = forms.ChoiceField(label=label, required=False, choices=choices, help_text=help_text)
            elif field.type == "boolean":
                form_field = forms.ChoiceField(
                    label=label, required=False, choices=[("", "—"), ("true", "true"), ("false", "false")], help_text=help_text
                )
            elif field.type in ("float", "double", "integer"):
                attrs = {"step": "1" if field.type == "integer" else "any"}
                interval = field.interval or {}
                if interval.get("min") is not None:
                    attrs["min"] = interval["min"]
                if interval.get("max") is not None:
                    attrs["max"] = interval["max"]
                bounds = " " + _("in [%(min)s, %(max)s]") % {"min": interval.get("min", "−∞"), "max": interval.get("max", "+∞")} if interval else ""
                form_field = forms.CharField(
                    label=label, required=False, widget=forms.NumberInput(attrs=attrs), help_text=help_text + bounds
                )
            else:
                form_field = forms.CharField(label=label, required=False, help_text=help_text)
            self.fields[field.name] = form_field
        self.style_widgets()

    def record(self, image_input: str | None = None) -> dict:
        """The submitted values as one JSON record for the input layer."""
        record = {}
        for field in self.schema_fields:
            if field.name == image_input:
                upload = self.files.get(field.name)
                if upload:
                    record[field.name] = {"b64": base64.b64encode(upload.read()).decode()}
                continue
            value = self.data.get(field.name, "")
            if value == "":
                # Left out, not sent as null: the input layer then names every missing field at once.
                continue
            if field.is_tensor or field.type in ("float", "double", "integer"):
                try:
                    value = json.loads(value)  # "5.1" -> 5.1, so the curl shown sends numbers
                except json.JSONDecodeError:
                    pass  # the input layer says what it expected
            record[field.name] = value
        return record


class PreprocessingForm(BootstrapMixin, forms.Form):
    width = forms.IntegerField(min_value=1, max_value=4096, label=_("Width"))
    height = forms.IntegerField(min_value=1, max_value=4096, label=_("Height"))
    colors = forms.ChoiceField(choices=[("L", _("grayscale (L)")), ("RGB", "RGB")], label=_("Colors"), help_text=_("The image mode"))
    layout = forms.ChoiceField(choices=[(v, v) for v in ("NCHW", "NHWC", "HW", "flat")], label=_("Layout"))
    scale = forms.FloatField(label=_("Scale"), help_text=_("Pixel values 0..255 are multiplied by this (1/255 = 0.00392…)"))
    mean = forms.CharField(label=_("Mean"), help_text=_("Per channel, comma-separated (after scaling)"))
    std = forms.CharField(label=_("Std"), help_text=_("Per channel, comma-separated"))

    @classmethod
    def from_config(cls, config: dict, data=None):
        initial = {
            "width": config["size"][0],
            "height": config["size"][1],
            "colors": config["mode"],
            "layout": config["layout"],
            "scale": config["scale"],
            "mean": ", ".join(str(v) for v in config["mean"]),
            "std": ", ".join(str(v) for v in config["std"]),
        }
        return cls(data, initial=initial)

    @staticmethod
    def _numbers(text: str) -> list[float]:
        try:
            values = [float(v) for v in text.replace(";", ",").split(",") if v.strip()]
        except ValueError:
            raise forms.ValidationError(_("Enter numbers separated by commas, e.g. 0.485, 0.456, 0.406.")) from None
        if not values:
            raise forms.ValidationError(_("Enter at least one number."))
        return values

    def clean_mean(self):
        return self._numbers(self.cleaned_data["mean"])

    def clean_std(self):
        return self._numbers(self.cleaned_data["std"])

    def config(self) -> dict:
        data = self.cleaned_data
        return {
            "size": [data["width"], data["height"]],
            "mode": data["colors"],
            "layout": data["layout"],
            "scale": data["scale"],
            "mean": data["mean"],
            "std": data["std"],
        }


class RenameForm(BootstrapMixin, forms.Form):
    name = forms.CharField(
        label=_("New name"), max_length=100, validators=[NAME_VALIDATOR], help_text=_("Deployments keep serving it; its URLs change.")
    )


class TagsForm(BootstrapMixin, forms.Form):
    tags = forms.CharField(
        label=_("Tags"),
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        help_text=_("One per line: a key, or key: value (e.g. team: fraud). What you save replaces the tags."),
    )


class AliasForm(BootstrapMixin, forms.Form):
    alias = forms.CharField(label=_("Alias"), max_length=50, help_text=_("e.g. champion or challenger"))
    version = forms.TypedChoiceField(label=_("Version"), coerce=int)

    def __init__(self, *args, versions=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["version"].choices = [(v.number, f"v{v.number}") for v in versions]

import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from core import api_examples
from core.errors import ApplicationError, InvalidInput, NameTaken
from core.pagination import sorted_queryset
from models_registry import prediction, selectors, services
from models_registry.forms import (
    AliasForm,
    ModelEditForm,
    ModelUploadForm,
    PredictionForm,
    PreprocessingForm,
    VersionUploadForm,
)
from models_registry.images import image_field, offered_config
from models_registry.runners import client
from models_registry.runtimes import FORMAT_LABELS
from models_registry.samples import example_record, sample_record
from models_registry.scripts import TEMPLATE
from models_registry.test_results import result_csv, result_summary
from models_registry.video import Sampling


@login_required
def model_list(request):
    query = request.GET.get("q", "")
    tag = request.GET.get("tag", "")
    models = sorted_queryset(
        selectors.model_list_for_user(request.user, query, tag=tag), request.GET.get("sort", ""), {"name", "created", "updated"}, "-created"
    )
    page = Paginator(models, 25).get_page(request.GET.get("page"))
    return render(request, "models_registry/list.html", {"page": page, "query": query, "tag": tag, "default_sort": "-created"})


def _upload_error(form, exc: ApplicationError) -> None:
    form.add_error("name" if isinstance(exc, NameTaken) or exc.code == "invalid_name" else "file", exc.message)


@login_required
def model_upload(request):
    form = ModelUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            version = services.model_create(
                owner=request.user,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                upload=form.cleaned_data["file"],
            )
        except ApplicationError as exc:
            _upload_error(form, exc)
        else:
            messages.success(request, _("Model '%(name)s' uploaded: %(algorithm)s.") % {"name": version.model.name, "algorithm": version.algorithm})
            return redirect(version.model)
    return render(request, "models_registry/upload.html", {"form": form, "can_upload_code": services.can_upload_code(request.user)})


def _model_and_version(request, name: str):
    """The user's model and the ?version= asked for; the version is None, with a message
    for the page it redirects to, when that version does not exist."""
    model = selectors.model_get_for_user(request.user, name)
    try:
        return model, selectors.version_get(model, request.GET.get("version"))
    except ApplicationError as exc:
        messages.error(request, exc.message + " " + _("Showing the latest version."))
        return model, None


def _tab_context(model, version, tab: str) -> dict:
    """What the model's header and tabs need (models_registry/_header.html)."""
    return {
        "model": model,
        "version": version,
        "versions": model.versions.order_by("-number"),
        "format_label": FORMAT_LABELS.get(version.format, version.format),
        "tab": tab,
    }


@login_required
def model_detail(request, name: str):
    model, version = _model_and_version(request, name)
    if version is None:
        return redirect(model)
    context = _tab_context(model, version, "overview")
    context.update(
        {
            "versions": selectors.version_list(owner=request.user, model=model),
            "model_tags": model.tags.all(),
            "aliases": selectors.alias_list(owner=request.user, model=model).prefetch_related("deployments"),
            "alias_form": AliasForm(versions=model.versions.order_by("-number"), initial={"version": version.number}),
            "model_deployments": selectors.model_deployments(owner=request.user, model=model),
        }
    )
    return render(request, "models_registry/detail.html", context)


@login_required
def model_edit(request, name: str):
    model, version = _model_and_version(request, name)
    if version is None:
        return redirect("models_registry:edit", name=model.name)
    form = ModelEditForm(request.POST or None, initial={"description": model.description}, fields=version.input_fields)
    if request.method == "POST" and form.is_valid():
        try:
            services.model_update(
                model=model, description=form.cleaned_data["description"], fields=form.field_edits(), version=version
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Changes saved."))
            return redirect(model)
    return render(request, "models_registry/edit.html", {"model": model, "version": version, "form": form})


@login_required
def version_upload(request, name: str):
    model = selectors.model_get_for_user(request.user, name)
    form = VersionUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            version = services.model_version_add(model=model, user=request.user, upload=form.cleaned_data["file"])
        except ApplicationError as exc:
            form.add_error("file", exc.message)
        else:
            messages.success(request, _("Version %(number)s uploaded.") % {"number": version.number})
            return redirect(model)
    return render(request, "models_registry/version_upload.html", {"model": model, "form": form})


@login_required
def model_delete(request, name: str):
    model = selectors.model_get_for_user(request.user, name)
    # Said before asking for confirmation: a deployed model cannot be deleted anyway.
    in_use = list(selectors.model_deployments(owner=request.user, model=model))
    if request.method == "POST":
        try:
            services.model_delete(model=model)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect(model)
        messages.success(request, _("Model '%(name)s' and its files were deleted.") % {"name": name})
        return redirect("models_registry:list")
    return render(request, "models_registry/delete.html", {"model": model, "in_use": in_use})


MAX_RESULT_ROWS_SHOWN = 500


def result_rows(result: prediction.Result) -> list[dict]:
    """Per input row: where it came from, the prediction, and the class probabilities (for bars)."""
    body = result.body
    sources = body.get("sources") or []
    timestamps = body.get("timestamps") or []
    probabilities = body.get("probabilities") or []
    rows = []
    for i, value in enumerate(body["predictions"][:MAX_RESULT_ROWS_SHOWN]):
        proba = probabilities[i] if i < len(probabilities) else None
        rows.append(
            {
                "index": i,
                "source": sources[i] if i < len(sources) else "",
                "timestamp": timestamps[i] if i < len(timestamps) else None,
                "prediction": value if not isinstance(value, (dict, list)) else json.dumps(value)[:500],
                "probabilities": [
                    {"label": label, "p": p, "percent": round(p * 100, 1), "top": str(label) == str(value)}
                    for label, p in (proba or {}).items()
                ],
            }
        )
    return rows


def test_page(request, *, version, predict, api_url: str) -> dict:
    """The Test tab's work, for a model version or a deployment: read the form, JSON or
    file that was posted, call predict(data=..., upload=...), and return the context."""
    fields = version.input_fields
    image_input = image_field(fields)
    config = prediction.image_config(version)
    image_name = image_input.name if image_input and config else None
    # A tensor not taken for an image may still be one (a flat 8x8 digit): offered, folded away.
    offered = offered_config(image_input) if image_input and not config else None
    sample = example_record(version)
    mode = request.POST.get("mode", "form")
    form = PredictionForm(request.POST if mode == "form" else None, request.FILES or None, schema=fields, image_input=image_name)
    context = {
        "mode": mode,
        "form": form,
        "json_text": json.dumps({"inputs": sample}, indent=2),
        "sample": sample,
        "preprocessing_form": PreprocessingForm.from_config(config or offered, request.POST if mode == "preprocessing" else None)
        if config or offered
        else None,
        "preprocessing_offered": bool(offered),
        "error": None,
        "result": None,
        "rows": [],
        "curl": api_examples.curl_json(api_url, {"inputs": sample}),
        "has_image_input": bool(image_name),
        "text_input": fields[0].name if len(fields) == 1 and fields[0].type == "string" else None,
        "video_default_fps": settings.MLSERVE_VIDEO_DEFAULT_FPS,
    }
    if request.method != "POST" or mode not in ("form", "json", "file"):
        return context
    try:
        if mode == "form":
            form.is_valid()
            body = {"inputs": form.record(image_name)}
            context["curl"] = api_examples.curl_json(api_url, body)
            result = predict(data=body)
        elif mode == "json":
            context["json_text"] = request.POST.get("body", "")
            try:
                body = json.loads(context["json_text"])
            except json.JSONDecodeError as exc:
                raise InvalidInput(
                    _("The JSON is malformed: %(error)s (line %(line)s, column %(column)s).")
                    % {"error": exc.msg, "line": exc.lineno, "column": exc.colno}
                ) from None
            context["curl"] = api_examples.curl_json(api_url, body)
            result = predict(data=body)
        else:
            upload = request.FILES.get("file")
            if upload is None:
                raise InvalidInput(_("Choose a file to upload (CSV, TSV, JSON lines, text, an image, a video or a ZIP)."))
            context["curl"] = api_examples.curl_file(api_url, upload.name)
            sampling = Sampling.from_params(request.POST)
            result = predict(upload=upload, sampling=sampling) if sampling else predict(upload=upload)
    except ApplicationError as exc:
        context["error"] = exc
        context["file_failed"] = mode == "file"  # browsers cannot refill a file box: the page asks to choose again
        field_errors = exc.details.get("fields", {}) if isinstance(exc.details, dict) else {}
        if mode == "form":
            for field_name, message in field_errors.items():
                if field_name in form.fields:
                    form.add_error(field_name, message)
    else:
        context["result"] = result
        context["rows"] = result_rows(result)
        if mode == "file":
            context["summary"] = result_summary(result.body)
            context["result_csv"] = result_csv(result.body)
    return context


@login_required
def model_test(request, name: str):
    model, version = _model_and_version(request, name)
    if version is None:
        return redirect("models_registry:test", name=model.name)
    url = request.build_absolute_uri(reverse("api-model-predict", args=[model.name])) + f"?version={version.number}"
    context = test_page(
        request, version=version, predict=lambda **kw: prediction.predict(version, **kw), api_url=url
    )
    form = context["preprocessing_form"]
    if request.method == "POST" and context["mode"] == "preprocessing" and form is not None and form.is_valid():
        try:
            services.model_update(model=model, preprocessing=form.config(), version=version)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Image preprocessing saved."))
            return redirect(f"{reverse('models_registry:test', args=[model.name])}?version={version.number}#file")
    context.update(_tab_context(model, version, "test"), show_preprocessing=True)
    return render(request, "models_registry/test.html", context)


def script_trial_request(text: str):
    """The sample request typed on a script page, as JSON."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(_("The request is not valid JSON: %(error)s (line %(line)s).") % {"error": exc.msg, "line": exc.lineno}) from None


def script_editor_context(request, *, version, source: str) -> dict:
    """What the script editor shows before any action: the source and a sample request."""
    sample = {"inputs": sample_record(version.input_fields)}
    return {
        "source": request.POST.get("source") or source,
        "trial_request": request.POST.get("request") or json.dumps(sample, indent=2),
        "trial": None,
        "error": None,
        "can_edit": services.can_write_scripts(request.user),
        "sandboxed": client.sandboxed(),
    }


@login_required
def model_script(request, name: str):
    """Try a pre/post-processing script around this model version before deploying it;
    scripts are saved on a deployment (its Script tab), so nothing is kept here."""
    model, version = _model_and_version(request, name)
    if version is None:
        return redirect("models_registry:script", name=model.name)
    context = script_editor_context(request, version=version, source=TEMPLATE)
    if request.method == "POST":
        try:
            body = script_trial_request(context["trial_request"])
            trial = services.script_trial(version=version, source=context["source"], request=body, user=request.user)
            context["trial"] = {key: json.dumps(value, indent=2) for key, value in trial.items()}
        except ApplicationError as exc:
            context["error"] = exc
    context.update(_tab_context(model, version, "script"))
    return render(request, "models_registry/script.html", context)

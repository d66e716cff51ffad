from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render

from mlserve.errors import ApplicationError, NameTaken
from models_registry import selectors, services
from models_registry.forms import ModelEditForm, ModelUploadForm, VersionUploadForm
from models_registry.runtimes import FORMAT_LABELS


@login_required
def model_list(request):
    query = request.GET.get("q", "")
    page = Paginator(selectors.model_list_for_user(request.user, query), 25).get_page(request.GET.get("page"))
    return render(request, "models_registry/list.html", {"page": page, "query": query})


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
            messages.success(request, f"Model {version.model.name!r} uploaded: {version.algorithm}.")
            return redirect(version.model)
    return render(request, "models_registry/upload.html", {"form": form, "can_upload_code": services.can_upload_code(request.user)})


@login_required
def model_detail(request, name: str):
    model = selectors.model_get_for_user(request.user, name)
    try:
        version = selectors.version_get(model, request.GET.get("version"))
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(model)
    context = {
        "model": model,
        "version": version,
        "versions": model.versions.order_by("-number"),
        "format_label": FORMAT_LABELS.get(version.format, version.format),
    }
    return render(request, "models_registry/detail.html", context)


@login_required
def model_edit(request, name: str):
    model = selectors.model_get_for_user(request.user, name)
    version = selectors.version_get(model, request.GET.get("version"))
    form = ModelEditForm(request.POST or None, initial={"description": model.description}, fields=version.input_fields)
    if request.method == "POST" and form.is_valid():
        try:
            services.model_update(
                model=model, description=form.cleaned_data["description"], fields=form.field_edits(), version=version
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, "Changes saved.")
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
            messages.success(request, f"Version {version.number} uploaded.")
            return redirect(model)
    return render(request, "models_registry/version_upload.html", {"model": model, "form": form})


@login_required
def model_delete(request, name: str):
    model = selectors.model_get_for_user(request.user, name)
    if request.method == "POST":
        try:
            services.model_delete(model=model)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect(model)
        messages.success(request, f"Model {name!r} and its files were deleted.")
        return redirect("models_registry:list")
    return render(request, "models_registry/delete.html", {"model": model})

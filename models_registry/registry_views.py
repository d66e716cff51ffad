"""The registry's pages beyond upload and test: rename, tags, aliases, and comparing versions.

Each view reads the form, calls one service, and redirects to the model's page, where the
result shows; an error becomes a message there (or on the form, when it has one)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from core.errors import ApplicationError
from models_registry import aliases, compare, selectors, services, tags
from models_registry.forms import AliasForm, RenameForm, TagsForm


@login_required
def model_rename(request, name: str):
    model = selectors.model_get_for_user(request.user, name)
    form = RenameForm(request.POST or None, initial={"name": model.name})
    if request.method == "POST" and form.is_valid():
        try:
            services.model_rename(model=model, name=form.cleaned_data["name"])
        except ApplicationError as exc:
            form.add_error("name", exc.message)
        else:
            messages.success(request, _("Model renamed to %(name)s.") % {"name": model.name})
            return redirect(model)
    return render(request, "models_registry/rename.html", {"model": model, "form": form})


@login_required
def model_tags(request, name: str):
    """The model's tags and, with ?version=N, that version's."""
    model = selectors.model_get_for_user(request.user, name)
    number = request.GET.get("version") or request.POST.get("version")
    version = selectors.version_get(model, number) if number else None
    current = version.tags.all() if version is not None else model.tags.all()
    form = TagsForm(request.POST or None, initial={"tags": tags.tags_as_text(current)})
    if request.method == "POST" and form.is_valid():
        parsed = tags.parse_tag_text(form.cleaned_data["tags"])
        try:
            if version is not None:
                tags.version_tags_set(version=version, tags=parsed)
            else:
                tags.model_tags_set(model=model, tags=parsed)
        except ApplicationError as exc:
            form.add_error("tags", exc.message)
        else:
            messages.success(request, _("Tags saved."))
            return redirect(f"{model.get_absolute_url()}?version={version.number}" if version else model.get_absolute_url())
    return render(request, "models_registry/tags.html", {"model": model, "version": version, "form": form})


@login_required
@require_POST
def alias_set(request, name: str):
    model = selectors.model_get_for_user(request.user, name)
    form = AliasForm(request.POST, versions=model.versions.all())
    if not form.is_valid():
        messages.error(request, _("Alias not saved: %(errors)s") % {"errors": "; ".join(e for errs in form.errors.values() for e in errs)})
        return redirect(model)
    try:
        version = selectors.version_get(model, form.cleaned_data["version"])
        alias = aliases.alias_set(model=model, name=form.cleaned_data["alias"], version=version)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        followers = sorted(alias.deployments.values_list("name", flat=True))
        message = _("Alias %(alias)s now points to v%(version)d.") % {"alias": alias.name, "version": version.number}
        if followers:
            message += " " + _("Deployments moved with it: %(names)s.") % {"names": ", ".join(followers)}
        messages.success(request, message)
    return redirect(reverse("models_registry:detail", args=[model.name]) + "#aliases")


@login_required
@require_POST
def alias_delete(request, name: str, alias: str):
    model = selectors.model_get_for_user(request.user, name)
    try:
        aliases.alias_delete(alias=selectors.alias_get(owner=request.user, model=model, name=alias))
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Alias %(alias)s removed.") % {"alias": alias})
    return redirect(reverse("models_registry:detail", args=[model.name]) + "#aliases")


@login_required
def model_compare(request, name: str):
    """Two versions side by side (?a=1&b=2, numbers or aliases); a POST also tries both on the
    same sample rows."""
    model = selectors.model_get_for_user(request.user, name)
    versions = list(model.versions.order_by("-number"))
    params = request.POST if request.method == "POST" else request.GET
    context = {"model": model, "versions": versions, "a": None, "b": None, "diff": None, "answers": None, "error": None}
    default_a = versions[1].number if len(versions) > 1 else versions[0].number if versions else ""
    default_b = versions[0].number if versions else ""
    try:
        a = selectors.version_by_reference(owner=request.user, model=model, reference=params.get("a") or default_a)
        b = selectors.version_by_reference(owner=request.user, model=model, reference=params.get("b") or default_b)
    except ApplicationError as exc:
        context["error"] = exc.message
        return render(request, "models_registry/compare.html", context, status=404)
    context.update(a=a, b=b, diff=compare.schema_diff(a, b))
    if request.method == "POST":
        answers = compare.answers(a, b)
        context["answers"] = answers
        context["answer_rows"] = [
            {
                "row": row,
                "a": (answers["a"].get("predictions") or [None] * len(answers["rows"]))[i],
                "b": (answers["b"].get("predictions") or [None] * len(answers["rows"]))[i],
            }
            for i, row in enumerate(answers["rows"])
        ]
        for row in context["answer_rows"]:
            row["same"] = row["a"] == row["b"]
    return render(request, "models_registry/compare.html", context)

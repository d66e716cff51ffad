import json
from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.humanize.templatetags.humanize import intcomma
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from core.errors import ApplicationError, NameTaken
from core.pagination import sorted_queryset
from deployments import api_panel, batch, charts, metrics, selectors, services, serving, task_files
from deployments.forms import BatchUploadForm, DeploymentCreateForm, KeyCreateForm, LimitsForm, VersionSwitchForm
from deployments.models import Deployment, PredictionTask
from models_registry.scripts import TEMPLATE
from models_registry.selectors import alias_list, model_get_for_user, model_list_for_user
from models_registry.video import Sampling
from models_registry.views import script_editor_context, script_trial_request, test_page


def _deployment_context(request, deployment: Deployment, tab: str) -> dict:
    return {"deployment": deployment, "version": deployment.model_version, "tab": tab}


@login_required
def deployment_list(request):
    query = request.GET.get("q", "")
    deployments = sorted_queryset(
        selectors.deployment_list_for_user(request.user, query), request.GET.get("sort", ""), {"name", "status", "created", "started"}, "-created"
    )
    page = Paginator(deployments, 25).get_page(request.GET.get("page"))
    return render(request, "deployments/list.html", {"page": page, "query": query, "default_sort": "-created"})


@login_required
def deployment_create(request):
    models = list(model_list_for_user(request.user))
    initial = {"model": request.GET.get("model", "")}
    form = DeploymentCreateForm(request.POST or None, initial=initial, models=models)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            deployment = services.deployment_create(
                owner=request.user,
                name=data["name"],
                model=model_get_for_user(request.user, data["model"]),
                version_number=data.get("version"),
                description=data["description"],
                follow_alias=data.get("alias", ""),
                **form.limits(),
            )
        except ApplicationError as exc:
            field = "name" if isinstance(exc, NameTaken) or exc.code == "invalid_name" else None
            field = "version" if exc.code == "not_found" else field
            field = "alias" if exc.code == "alias_not_found" else field
            form.add_error(field, exc.message)
        else:
            messages.success(request, _("Deployment '%(name)s' is running.") % {"name": deployment.name})
            return redirect(deployment)
    return render(request, "deployments/create.html", {"form": form, "has_models": bool(models)})


@login_required
def deployment_detail(request, name: str):
    deployment = selectors.deployment_get_for_user(request.user, name)
    context = _deployment_context(request, deployment, "overview")
    context.update(
        {
            "limits_form": LimitsForm(initial=LimitsForm.initial_from(deployment)),
            "version_form": VersionSwitchForm(
                initial={"version": deployment.model_version.number},
                versions=deployment.model_version.model.versions.order_by("-number"),
            ),
            "key_form": KeyCreateForm(),
            "model_aliases": alias_list(owner=request.user, model=deployment.model_version.model),
            "keys": deployment.keys.all(),
            "new_key": request.session.pop("new_deployment_key", None),
            "recent_tasks": deployment.tasks.select_related("deployment", "model_version__model")[:5],
        }
    )
    context["examples"] = api_panel.examples(request, deployment, token=(context["new_key"] or {}).get("key"))
    return render(request, "deployments/detail.html", context)


def _do(request, name: str, action, success: str):
    deployment = selectors.deployment_get_for_user(request.user, name)
    try:
        action(deployment)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, success % {"name": deployment.name})
    return redirect(deployment)


@login_required
@require_POST
def deployment_start(request, name: str):
    return _do(request, name, lambda d: services.deployment_start(deployment=d), gettext_lazy("Deployment '%(name)s' is running."))


@login_required
@require_POST
def deployment_pause(request, name: str):
    return _do(request, name, lambda d: services.deployment_pause(deployment=d), gettext_lazy("Deployment '%(name)s' is paused: its endpoints answer 503."))


@login_required
@require_POST
def deployment_settings(request, name: str):
    deployment = selectors.deployment_get_for_user(request.user, name)
    form = LimitsForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Settings not saved:") + " " + "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
        return redirect(deployment)
    return _do(request, name, lambda d: services.deployment_update(deployment=d, **form.limits()), _("Limits saved."))


@login_required
@require_POST
def deployment_switch_version(request, name: str):
    deployment = selectors.deployment_get_for_user(request.user, name)
    if "alias" in request.POST:
        alias = request.POST["alias"].strip()
        success = (
            _("Now following alias %(alias)s.") % {"alias": alias} if alias
            else _("No longer following an alias: it stays on this version.")
        )
        return _do(request, name, lambda d: services.deployment_update(deployment=d, follow_alias=alias), success)
    form = VersionSwitchForm(request.POST, versions=deployment.model_version.model.versions.all())
    if not form.is_valid():
        messages.error(request, _("Choose one of the model's versions."))
        return redirect(deployment)
    number = form.cleaned_data["version"]
    return _do(
        request, name, lambda d: services.deployment_update(deployment=d, version_number=number), _("Now serving version %(number)s.") % {"number": number}
    )


@login_required
def deployment_delete(request, name: str):
    deployment = selectors.deployment_get_for_user(request.user, name)
    if request.method == "POST":
        services.deployment_delete(deployment=deployment)
        messages.success(request, _("Deployment '%(name)s' deleted with its keys and tasks. The model is still there.") % {"name": name})
        return redirect("deployments:list")
    return render(request, "deployments/delete.html", {"deployment": deployment, "task_count": deployment.tasks.count()})


@login_required
@require_POST
def key_create(request, name: str):
    deployment = selectors.deployment_get_for_user(request.user, name)
    form = KeyCreateForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("A key needs a name."))
        return redirect(deployment)
    try:
        key, plain = services.key_create(deployment=deployment, name=form.cleaned_data["name"])
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        # Shown once, on the next page only.
        request.session["new_deployment_key"] = {"name": key.name, "key": plain}
        messages.success(request, _("Key '%(name)s' created. Copy it now: it will not be shown again.") % {"name": key.name})
    return redirect(f"{deployment.get_absolute_url()}#api")


@login_required
@require_POST
def key_revoke(request, name: str, key_id: int):
    deployment = selectors.deployment_get_for_user(request.user, name)
    key = selectors.key_get(deployment, key_id)
    services.key_revoke(key=key)
    messages.success(request, _("Key '%(name)s' revoked.") % {"name": key.name})
    return redirect(f"{deployment.get_absolute_url()}#api")


@login_required
def deployment_test(request, name: str):
    deployment = selectors.deployment_get_for_user(request.user, name)
    url = request.build_absolute_uri(reverse("api-deployment-predict", args=[deployment.name]))
    context = test_page(
        request,
        version=deployment.model_version,
        predict=lambda **kw: serving.predict_sync(deployment, **kw),
        api_url=url,
    )
    batch_form = BatchUploadForm(request.POST or None, request.FILES or None) if context["mode"] == "batch" else BatchUploadForm()
    if request.method == "POST" and context["mode"] == "batch" and batch_form.is_valid():
        try:
            task = services.task_submit(
                deployment=deployment, upload=batch_form.cleaned_data["file"], sampling=Sampling.from_params(request.POST)
            )
        except ApplicationError as exc:
            batch_form.add_error("file", exc.message)
        else:
            messages.success(request, (
                ngettext("Task queued: %(rows)s row.", "Task queued: %(rows)s rows.", task.rows_total)
                % {"rows": intcomma(task.rows_total)}
                if task.rows_total
                else _("Task queued: unknown rows.")
            ))
            return redirect(task)
    if context["mode"] == "batch":
        context["mode"] = "form"  # a failed batch file leaves the single-request panel as it was, on its form
    context.update(_deployment_context(request, deployment, "test"))
    context["batch_form"] = batch_form
    return render(request, "deployments/test.html", context)


@login_required
def deployment_script(request, name: str):
    deployment = selectors.deployment_get_for_user(request.user, name)
    current = deployment.script
    context = _deployment_context(request, deployment, "script")
    context.update(
        script_editor_context(request, version=deployment.model_version, source=current.source if current else TEMPLATE)
    )
    action = request.POST.get("action")
    if request.method == "POST":
        try:
            if action == "try":
                body = script_trial_request(context["trial_request"])
                trial = services.script_try(deployment=deployment, source=context["source"], request=body, user=request.user)
                context["trial"] = {key: json.dumps(value, indent=2) for key, value in trial.items()}
            elif action == "save":
                script = services.script_save(deployment=deployment, source=context["source"], user=request.user)
                messages.success(request, _("Script version %(version)s saved; it serves requests now.") % {"version": script.version})
                return redirect("deployments:script", name=deployment.name)
            elif action == "remove":
                services.script_remove(deployment=deployment, user=request.user)
                messages.success(request, _("The deployment no longer uses a script."))
                return redirect("deployments:script", name=deployment.name)
        except ApplicationError as exc:
            context["error"] = exc
    context["versions"] = deployment.scripts.select_related("created_by")
    return render(request, "deployments/script.html", context)


WINDOWS = {"hour": (timedelta(hours=1), timedelta(minutes=1)), "day": (timedelta(days=1), timedelta(minutes=15))}


@login_required
def deployment_monitoring(request, name: str):
    deployment = selectors.deployment_get_for_user(request.user, name)
    window = request.GET.get("window", "hour")
    span, step = WINDOWS.get(window, WINDOWS["hour"])
    metrics.flush()  # what this process holds back
    points = metrics.series(deployment, span=span, step=step)
    labels = [timezone.localtime(p["start"]).strftime("%H:%M") for p in points]
    step_label = _("minute") if step == timedelta(minutes=1) else _("15 minutes")
    context = _deployment_context(request, deployment, "monitoring")
    context.update(
        {
            "summary": metrics.summary(deployment),
            "window": window if window in WINDOWS else "hour",
            "calls_chart": charts.bar_chart([p["requests"] for p in points], labels, _("Calls per %(step)s") % {"step": step_label}),
            "latency_chart": charts.line_chart(
                {"p50": [p["latency_p50_ms"] for p in points], "p95": [p["latency_p95_ms"] for p in points]},
                labels,
                _("Latency"),
                " ms",
            ),
            "step_label": step_label,
            "window_calls": sum(p["requests"] for p in points),
            "window_errors": sum(p["errors"] for p in points),
            "flush_seconds": settings.MLSERVE_METRICS_FLUSH_SECONDS,
        }
    )
    return render(request, "deployments/monitoring.html", context)


@login_required
def deployment_tasks(request, name: str):
    deployment = selectors.deployment_get_for_user(request.user, name)
    tasks = sorted_queryset(
        deployment.tasks.select_related("deployment", "model_version__model"),
        request.GET.get("sort", ""),
        {"created", "status", "rows_done", "finished"},
        "-created",
    )
    page = Paginator(tasks, 25).get_page(request.GET.get("page"))
    context = _deployment_context(request, deployment, "tasks")
    context.update({"page": page, "default_sort": "-created"})
    return render(request, "deployments/tasks.html", context)


@login_required
def task_list(request):
    status = request.GET.get("status", "")
    deployment = request.GET.get("deployment", "")
    tasks = sorted_queryset(
        selectors.task_list_for_user(request.user, status, deployment),
        request.GET.get("sort", ""),
        {"created", "status", "deployment__name", "rows_done", "finished"},
        "-created",
    )
    page = Paginator(tasks, 25).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "status": status,
        "deployment_filter": deployment,
        "statuses": PredictionTask.Status.choices,
        "deployment_names": selectors.deployment_list_for_user(request.user).values_list("name", flat=True),
        "default_sort": "-created",
    }
    return render(request, "deployments/task_list.html", context)


PREVIEW_CLASSES = 3


def _preview(rows: list[dict]) -> list[dict]:
    """Result rows as people read them: a model's several outputs as compact JSON, not a Python
    dict; a classifier's most probable classes first (three of them, when it has many)."""
    shown = []
    for row in rows:
        value = row["prediction"]
        item = {**row, "prediction": json.dumps(value)[:500] if isinstance(value, (dict, list)) else value}
        if row.get("probabilities"):
            ranked = sorted(row["probabilities"].items(), key=lambda kv: kv[1], reverse=True)
            item["top"] = ranked[:PREVIEW_CLASSES]
            item["more"] = len(ranked) - PREVIEW_CLASSES if len(ranked) > PREVIEW_CLASSES else 0
        shown.append(item)
    return shown


@login_required
def task_detail(request, task_id):
    task = selectors.task_get_for_user(request.user, task_id)
    preview = batch.read_result_rows(task, limit=20) if task.status == PredictionTask.Status.SUCCEEDED and not task.result_expired else []
    scripted = bool(preview) and task_files.result_exists(task, task_files.SCRIPT_RESPONSE)
    return render(request, "deployments/task_detail.html", {"task": task, "preview": _preview(preview), "scripted": scripted})


def _next_url(request, default: str) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return default


def _task_action(request, task_id, action, success: str):
    task = selectors.task_get_for_user(request.user, task_id)
    try:
        action(task)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, success)
    return redirect(_next_url(request, task.get_absolute_url()))


@login_required
@require_POST
def task_cancel(request, task_id):
    return _task_action(request, task_id, lambda t: services.task_cancel(task=t), _("Task cancelled."))


@login_required
@require_POST
def task_retry(request, task_id):
    return _task_action(request, task_id, lambda t: services.task_retry(task=t), _("Task queued again."))


@login_required
@require_POST
def task_delete(request, task_id):
    task = selectors.task_get_for_user(request.user, task_id)
    try:
        services.task_delete(task=task)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(task)
    messages.success(request, _("Task deleted with its files."))
    return redirect(_next_url(request, reverse("deployments:task_list")))

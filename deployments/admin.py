from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from deployments import services
from deployments.models import (
    Deployment,
    DeploymentKey,
    DeploymentScript,
    DeploymentTotals,
    MetricBucket,
    PredictionTask,
)


class DeploymentKeyInline(admin.TabularInline):
    model = DeploymentKey
    extra = 0
    fields = ("name", "prefix", "created", "last_used")
    readonly_fields = fields


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "status", "model_version", "max_concurrency", "max_rows", "timeout_seconds", "created")
    list_filter = ("status", "created", "model_version__format")
    search_fields = ("name", "description", "owner__username", "model_version__model__name")
    list_select_related = ("owner", "model_version__model")
    readonly_fields = ("created", "updated", "started")
    raw_id_fields = ("model_version",)
    inlines = [DeploymentKeyInline]
    actions = ["pause", "start"]

    @admin.action(description=_("Pause selected deployments"))
    def pause(self, request, queryset):
        for deployment in queryset:
            services.deployment_pause(deployment=deployment)

    @admin.action(description=_("Start selected deployments"))
    def start(self, request, queryset):
        for deployment in queryset:
            services.deployment_start(deployment=deployment)

    def delete_model(self, request, obj):
        services.deployment_delete(deployment=obj)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # would leave task files behind
        return actions


@admin.register(DeploymentKey)
class DeploymentKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "deployment", "prefix", "created", "last_used")
    list_filter = ("created",)
    search_fields = ("name", "prefix", "deployment__name", "deployment__owner__username")
    readonly_fields = ("key_hash", "prefix", "created", "last_used")
    list_select_related = ("deployment",)

    def has_add_permission(self, request):
        return False


@admin.register(PredictionTask)
class PredictionTaskAdmin(admin.ModelAdmin):
    list_display = ("id", "deployment", "owner", "status", "rows_done", "rows_total", "attempts", "created", "finished")
    list_filter = ("status", "created", "result_expired")
    search_fields = ("id", "deployment__name", "owner__username", "input_name", "error")
    list_select_related = ("deployment", "owner")
    readonly_fields = [f.name for f in PredictionTask._meta.fields]
    actions = ["cancel", "retry"]

    def has_add_permission(self, request):
        return False

    @admin.action(description=_("Cancel selected tasks"))
    def cancel(self, request, queryset):
        for task in queryset.exclude(status__in=PredictionTask.FINISHED):
            services.task_cancel(task=task)

    @admin.action(description=_("Retry selected tasks"))
    def retry(self, request, queryset):
        for task in queryset.filter(status__in=[PredictionTask.Status.FAILED, PredictionTask.Status.CANCELLED]):
            services.task_retry(task=task)


@admin.register(DeploymentScript)
class DeploymentScriptAdmin(admin.ModelAdmin):
    list_display = ("deployment", "version", "created_by", "created")
    list_filter = ("created",)
    search_fields = ("deployment__name", "deployment__owner__username", "source")
    list_select_related = ("deployment", "created_by")
    readonly_fields = ("deployment", "version", "created", "created_by")

    def has_add_permission(self, request):
        return False  # scripts are saved where they are tried first: the deployment's Script tab or the API


@admin.register(DeploymentTotals)
class DeploymentTotalsAdmin(admin.ModelAdmin):
    list_display = ("deployment", "requests", "errors", "rows", "first_call", "last_call")
    list_filter = ("last_call",)
    search_fields = ("deployment__name", "deployment__owner__username")
    list_select_related = ("deployment",)
    readonly_fields = [f.name for f in DeploymentTotals._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(MetricBucket)
class MetricBucketAdmin(admin.ModelAdmin):
    list_display = ("deployment", "start", "requests", "errors", "rows", "latency_count")
    list_filter = ("start",)
    search_fields = ("deployment__name",)
    date_hierarchy = "start"
    list_select_related = ("deployment",)
    readonly_fields = [f.name for f in MetricBucket._meta.fields]

    def has_add_permission(self, request):
        return False

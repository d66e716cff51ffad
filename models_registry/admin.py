from django.contrib import admin
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from models_registry import services
from models_registry.models import ModelAlias, ModelTag, ModelVersion, RegisteredModel, VersionTag


class ModelVersionInline(admin.TabularInline):
    model = ModelVersion
    extra = 0
    fields = ("number", "format", "model_type", "algorithm", "size", "created")
    readonly_fields = fields
    show_change_link = True
    can_delete = False


@admin.register(RegisteredModel)
class RegisteredModelAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "version_count", "created", "updated")
    list_filter = ("created", "versions__format", "versions__model_type")
    search_fields = ("name", "description", "owner__username")
    list_select_related = ("owner",)
    readonly_fields = ("created", "updated")
    inlines = [ModelVersionInline]
    actions = ["delete_with_files"]

    @admin.display(description=_("versions"))
    def version_count(self, obj):
        return obj.versions.count()

    def get_actions(self, request):
        # The stock bulk delete would leave artifact files behind.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description=_("Delete selected models and their files"))
    def delete_with_files(self, request, queryset):
        models = list(queryset)  # counted before: the queryset is empty once they are gone
        for model in models:
            services.model_delete(model=model)
        count = len(models)
        self.message_user(request, ngettext("Deleted %(count)d model.", "Deleted %(count)d models.", count) % {"count": count})

    def delete_model(self, request, obj):
        services.model_delete(model=obj)


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("__str__", "owner", "format", "model_type", "algorithm", "human_size", "engine_version", "created")
    list_filter = ("format", "model_type", "engine", "created")
    search_fields = ("model__name", "algorithm", "sha256", "model__owner__username")
    list_select_related = ("model", "model__owner")
    readonly_fields = (
        "model", "number", "artifact", "original_filename", "sha256", "format", "size", "model_type", "algorithm",
        "engine", "engine_version", "classes", "details", "uploaded_by", "created",
    )

    @admin.display(ordering="model__owner__username")
    def owner(self, obj):
        return obj.model.owner

    @admin.display(description=_("size"), ordering="size")
    def human_size(self, obj):
        return filesizeformat(obj.size)

    def has_add_permission(self, request):
        return False  # versions come from uploads, which validate the artifact


@admin.register(ModelTag)
class ModelTagAdmin(admin.ModelAdmin):
    list_display = ("model", "key", "value")
    search_fields = ("model__name", "key", "value")
    list_select_related = ("model",)


@admin.register(VersionTag)
class VersionTagAdmin(admin.ModelAdmin):
    list_display = ("version", "key", "value")
    search_fields = ("version__model__name", "key", "value")
    list_select_related = ("version", "version__model")


@admin.register(ModelAlias)
class ModelAliasAdmin(admin.ModelAdmin):
    """Read only: moving an alias also switches the deployments that follow it, which the
    model's page and the API do (models_registry.aliases)."""

    list_display = ("__str__", "version", "updated")
    search_fields = ("model__name", "name")
    list_select_related = ("model", "version", "version__model")
    readonly_fields = ("model", "name", "version", "updated")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from accounts.models import ApiToken, Invite, User


class ApiTokenInline(admin.TabularInline):
    model = ApiToken
    extra = 0
    fields = ("name", "prefix", "created", "last_used")
    readonly_fields = ("name", "prefix", "created", "last_used")
    can_delete = True


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "email", "is_staff", "is_superuser", "is_active", "date_joined", "last_login")
    list_filter = ("is_staff", "is_superuser", "is_active", "groups")
    search_fields = ("username", "email", "first_name", "last_name")
    inlines = [ApiTokenInline]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "created", "last_used")
    list_filter = ("created", "last_used")
    search_fields = ("name", "prefix", "user__username")
    readonly_fields = ("key_hash", "prefix", "created", "last_used")
    list_select_related = ("user",)

    def has_add_permission(self, request):
        # Keys are created where they can be shown once: the account page or the API.
        return False


@admin.register(Invite)
class InviteAdmin(admin.ModelAdmin):
    list_display = ("id", "note", "created_by", "created", "expires", "used_by", "used")
    list_filter = ("created", "expires", "used")
    search_fields = ("note", "created_by__username", "used_by__username")
    readonly_fields = ("token_hash", "created_by", "created", "used_by", "used")
    list_select_related = ("created_by", "used_by")

    def has_add_permission(self, request):
        # The link is shown once, where it is created: /accounts/invites/.
        return False

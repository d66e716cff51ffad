"""Reads for accounts."""

from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.models import ApiToken, Invite, User
from core.credentials import hash_key


def token_get_for_user(user: User, token_id: int) -> ApiToken:
    return get_object_or_404(ApiToken, pk=token_id, user=user)


def token_list_for_user(user: User):
    return ApiToken.objects.filter(user=user).order_by("-created")


def invite_for_link(secret: str) -> Invite | None:
    """The invitation a sign-up link carries, if it can still be used (unused, not expired)."""
    if not secret:
        return None
    return Invite.objects.filter(token_hash=hash_key(secret), used__isnull=True, expires__gt=timezone.now()).first()


def invite_list():
    return Invite.objects.select_related("created_by", "used_by").order_by("-created")


def invite_get(invite_id: int) -> Invite:
    return get_object_or_404(Invite, pk=invite_id)

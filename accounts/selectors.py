"""Reads for accounts."""

from django.shortcuts import get_object_or_404

from accounts.models import ApiToken, User


def token_get_for_user(user: User, token_id: int) -> ApiToken:
    return get_object_or_404(ApiToken, pk=token_id, user=user)


def token_list_for_user(user: User):
    return ApiToken.objects.filter(user=user).order_by("-created")

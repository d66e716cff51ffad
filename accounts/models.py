import hashlib

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """The project's user, custom from the start so fields can be added without pain."""

    class Meta:
        ordering = ["username"]


def hash_key(key: str) -> str:
    """API keys are stored only as this hash; the plain key is shown once."""
    return hashlib.sha256(key.encode()).hexdigest()


class ApiToken(models.Model):
    """A named key a user's programs send as `Authorization: Token <key>`."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=12, editable=False, help_text="The first characters of the key, to recognise it.")
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        constraints = [models.UniqueConstraint(fields=["user", "name"], name="unique_token_name_per_user")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class Invite(models.Model):
    """A single-use, expiring sign-up link that staff hand out when MLSERVE_REGISTRATION=invite.

    Like API keys, only the hash of the link's secret is stored; the link is shown once."""

    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    note = models.CharField(max_length=200, blank=True, help_text="Whom it is for, e.g. 'Ann from the data team'.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created = models.DateTimeField(auto_now_add=True)
    expires = models.DateTimeField()
    used_by = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="invite"
    )
    used = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"invite {self.pk} ({self.note or 'no note'})"

    @property
    def state(self) -> str:
        from django.utils import timezone

        if self.used:
            return "used"
        return "expired" if self.expires <= timezone.now() else "open"

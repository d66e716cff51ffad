from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.credentials import Credential


class User(AbstractUser):
    """The project's user, custom from the start so fields can be added without pain."""

    class Meta:
        ordering = ["username"]


class ApiToken(Credential):
    """A named key a user's programs send as `Authorization: Token <key>`: it acts as the user."""

    KEY_PREFIX = "mls_"
    INVALID_MESSAGE = _("Invalid or revoked token: create a new one on your account page.")
    NAME_MISSING_MESSAGE = _("A token needs a name, e.g. 'laptop' or 'nightly-job'.")
    NAME_TAKEN_MESSAGE = _("You already have a token named '%(name)s'; pick another name or revoke that one.")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")

    class Meta(Credential.Meta):
        constraints = [models.UniqueConstraint(fields=["user", "name"], name="unique_token_name_per_user")]

    def acting_user(self):
        return self.user

    @classmethod
    def lookup(cls):
        return cls.objects.select_related("user")


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
        if self.used:
            return "used"
        return "expired" if self.expires <= timezone.now() else "open"

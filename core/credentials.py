"""One credential concept: a named secret key that programs send as `Authorization: Token <key>`
(or `Bearer <key>`), stored only as its hash and shown once.

An app declares a kind of credential by deriving a model from `Credential` (what the key acts
as, what it may reach) and registering it in its AppConfig.ready(): user tokens (`mls_`, in
accounts) and deployment keys (`mlsd_`, in deployments). Everything else is here, once: key
generation and hashing, creation with a unique name, revocation, the prefix registry that tells
a key's kind, the cached lookup, `last_used`, and the one DRF authentication class. The WSGI
fast path and DRF call the same `authenticate()`, so both doors decide alike.

Lookups are cached per process for MLSERVE_AUTH_CACHE_SECONDS: a revoked credential stops
working at once in every process of this machine (core/ttl_cache.py), and with REDIS_URL on
every other node too (within CHANGES_REDIS_CHECK_SECONDS)."""

import hashlib
import secrets
from typing import ClassVar

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from core.errors import ApplicationError, NameTaken
from core.limits import NAME_MAX_CHARS, checked_text
from core.ttl_cache import TtlCache, announce_change

KEYWORDS = (b"token", b"bearer")
# last_used is refreshed at most this often, so authentication does not write on every call.
LAST_USED_RESOLUTION_SECONDS = 60
# A key of no registered kind gets the message every user knows.
UNKNOWN_KEY = _("Invalid or revoked token: create a new one on your account page.")


def hash_key(key: str) -> str:
    """Keys (and invitation secrets) are stored only as this hash; the plain key is shown once."""
    return hashlib.sha256(key.encode()).hexdigest()


class Credential(models.Model):
    """What every kind of key has. A concrete kind sets KEY_PREFIX and its messages, and says
    which user a request made with it acts as (`acting_user`) and how to load it (`lookup`)."""

    KEY_PREFIX: ClassVar[str]
    INVALID_MESSAGE: ClassVar[str] = UNKNOWN_KEY
    NAME_MISSING_MESSAGE: ClassVar[str]
    NAME_TAKEN_MESSAGE: ClassVar[str]  # with %(name)s

    name = models.CharField(max_length=NAME_MAX_CHARS)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=12, editable=False, help_text="The first characters of the key, to recognise it.")
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def acting_user(self):
        """The user a request made with this key acts as (what it may reach is the kind's scope)."""
        raise NotImplementedError

    @classmethod
    def lookup(cls) -> models.QuerySet:
        """The queryset authentication reads, with what acting_user() needs loaded."""
        return cls.objects.all()


_kinds: dict[str, type[Credential]] = {}
_found = TtlCache()


def register(kind: type[Credential]) -> None:
    """Called from an AppConfig.ready(): keys starting with kind.KEY_PREFIX are of this kind."""
    for prefix, other in _kinds.items():
        if other is not kind and (prefix.startswith(kind.KEY_PREFIX) or kind.KEY_PREFIX.startswith(prefix)):
            raise ValueError(f"credential prefix {kind.KEY_PREFIX!r} overlaps {prefix!r} ({other.__name__})")
    _kinds[kind.KEY_PREFIX] = kind


def kind_of(key: str) -> type[Credential] | None:
    return next((kind for prefix, kind in _kinds.items() if key.startswith(prefix)), None)


def new_key(kind: type[Credential]) -> str:
    return kind.KEY_PREFIX + secrets.token_urlsafe(32)


def issue(kind: type[Credential], *, name: str, **owner) -> tuple[Credential, str]:
    """Create a named credential of this kind for its owner (user=…, deployment=…); returns it
    with the plain key, which is never stored."""
    name = checked_text((name or "").strip(), field="name", limit=NAME_MAX_CHARS)
    if not name:
        raise ApplicationError(str(kind.NAME_MISSING_MESSAGE), code="invalid_request")
    plain = new_key(kind)
    try:
        with transaction.atomic():
            credential = kind.objects.create(name=name, key_hash=hash_key(plain), prefix=plain[: len(kind.KEY_PREFIX) + 4], **owner)
    except IntegrityError:
        raise NameTaken(str(kind.NAME_TAKEN_MESSAGE) % {"name": name}) from None
    return credential, plain


def revoke(credential: Credential) -> None:
    credential.delete()
    forget(credential)


def forget(credential: Credential) -> None:
    """Drop it from this process's cache, and tell every other process and node."""
    _found.pop(credential.key_hash)
    transaction.on_commit(announce_change)


def forget_all() -> None:
    _found.clear()


def resolve(key: str) -> Credential | None:
    """The live credential with this key (its acting user active), from the cache when fresh."""
    digest = hash_key(key)
    found = _found.get(digest)
    if found is None:
        kind = kind_of(key)
        if kind is None:
            return None
        found = kind.lookup().filter(key_hash=digest).first()
        if found is None or not found.acting_user().is_active:
            return None
        _found.set(digest, found, settings.MLSERVE_AUTH_CACHE_SECONDS)
    return found


def touch(credential: Credential) -> None:
    """Record use without a write per request."""
    now = timezone.now()
    if credential.last_used is None or (now - credential.last_used).total_seconds() > LAST_USED_RESOLUTION_SECONDS:
        type(credential).objects.filter(pk=credential.pk).update(last_used=now)
        credential.last_used = now


def authenticate(key: str):
    """(acting user, credential) for a key, or AuthenticationFailed in the words of its kind."""
    found = resolve(key)
    if found is None:
        kind = kind_of(key)
        raise exceptions.AuthenticationFailed(str(kind.INVALID_MESSAGE if kind else UNKNOWN_KEY))
    touch(found)
    return found.acting_user(), found


def parse_authorization(header: bytes) -> str | None:
    """The key in `Token <key>` / `Bearer <key>`, None for other schemes."""
    parts = header.split()
    if not parts or parts[0].lower() not in KEYWORDS:
        return None
    if len(parts) != 2:
        raise exceptions.AuthenticationFailed(gettext("Malformed Authorization header: send 'Authorization: Token <key>'."))
    try:
        return parts[1].decode()
    except UnicodeDecodeError:
        raise exceptions.AuthenticationFailed(gettext("The token contains characters that are not allowed.")) from None


class CredentialAuthentication(BaseAuthentication):
    """DRF's door: every registered kind of key. What a key may reach is decided by the kind's
    scope checks (deployments.permissions, deployments.selectors.check_key_scope)."""

    def authenticate(self, request):
        key = parse_authorization(get_authorization_header(request))
        return None if key is None else authenticate(key)

    def authenticate_header(self, request) -> str:
        return "Token"

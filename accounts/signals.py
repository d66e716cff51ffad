"""A user switched off (or changed) in the admin loses API access in every process at once."""

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.models import User
from core.ttl_cache import announce_change


@receiver(post_save, sender=User)
def drop_cached_lookups(sender, instance, update_fields=None, **kwargs):
    # Token and key lookups cache the user with its is_active; a login's last_login update is no reason.
    if update_fields is None or "is_active" in update_fields:
        transaction.on_commit(announce_change)

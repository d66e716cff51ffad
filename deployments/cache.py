"""The serving path's per-process cache of deployments, apart from the selectors that read it.

selectors.deployment_for_serving fills it (a read-through: a selector still only reads); the
services that change a deployment call forget(), which empties this process's entry and
announces the change to every other process and node (core.ttl_cache)."""

from django.db import transaction

from core.ttl_cache import TtlCache, announce_change

serving = TtlCache()


def forget(deployment) -> None:
    """Changes take effect at once in every process of this machine (and every node with Redis), once committed."""
    serving.pop((deployment.owner_id, deployment.name))
    transaction.on_commit(announce_change)

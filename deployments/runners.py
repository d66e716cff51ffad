"""A deployment's runners: which runner serves it (its spec), starting them with the
deployment, stopping them with it, and marking it failed when they keep crashing.

The key names everything a runner was started with that cannot change under it (the
version's file, the script version, memory, CPU, batching); a change of any of those
gives a new key, so new runners start and the old ones are stopped. Replicas are not
in the key: the supervisor adds or removes them."""

import hashlib
import os
from pathlib import Path

from django.utils import timezone

from core.errors import ArtifactMissing
from deployments.cache import forget as forget_deployment
from deployments.models import Deployment, DeploymentScript
from models_registry import artifact_cache
from models_registry.prediction import version_info
from models_registry.runners import client
from models_registry.runners.client import RunnerFailed, RunnerSpec


def _prefix(deployment_id: int) -> str:
    return f"{client.namespace()}-d{deployment_id}-"


def spec_for(deployment: Deployment, *, version=None, script: DeploymentScript | None | bool = True) -> RunnerSpec:
    """The runner spec of the deployment (of another version or script version: a queued
    task keeps the ones it was submitted under)."""
    version = version or deployment.model_version
    script = deployment.script if script is True else script or None
    cpus = None
    if deployment.cpu_cores:
        count = os.cpu_count() or 1
        cpus = sorted({(deployment.pk + i) % count for i in range(min(deployment.cpu_cores, count))})
    batch = {"max_rows": deployment.batch_max_rows, "max_wait_ms": deployment.batch_max_wait_ms}
    config = repr((deployment.memory_limit_mb, cpus, batch, deployment.timeout_seconds)).encode()
    key = (
        f"{_prefix(deployment.pk)}{version.sha256[:12]}-s{script.version if script else 0}-"
        f"{hashlib.sha1(config).hexdigest()[:8]}"
    )
    return RunnerSpec(
        key=key,
        artifact=artifact_cache.local_artifact(version),
        format=version.format,
        extension=Path(version.artifact.name).suffix,
        info=version_info(version).to_dict(),
        replicas=deployment.replicas,
        memory_mb=deployment.memory_limit_mb,
        cpus=cpus,
        batch=batch,
        script=script.source if script else None,
        timeout=deployment.timeout_seconds,
        label=f"Deployment {deployment.name!r}",
    )


def missing_artifact(deployment: Deployment, spec: RunnerSpec) -> ArtifactMissing | None:
    """The 503 to answer when this node's artifact store does not have the deployment's file."""
    if os.access(spec.artifact, os.R_OK):
        return None
    return ArtifactMissing(
        f"The model file of deployment {deployment.name!r} is missing from this server's artifact store; "
        "the deployment itself is fine. Retry (another server may have it) or tell the operator.",
        details={"retry_after_seconds": 30},
    )


def start(deployment: Deployment) -> None:
    """Start the deployment's runners now (loading its model), so no request waits for that;
    a model that cannot load, or needs more than its memory, is refused here. Runners of
    the deployment's earlier settings are stopped."""
    spec = spec_for(deployment)
    client.ensure(spec, reset=True)
    stop(deployment, keep=spec.key)


def keep_warm(deployment: Deployment) -> None:
    """Called every few seconds for running deployments: starts missing runners."""
    client.ensure(spec_for(deployment))


def stop(deployment: Deployment, keep: str | None = None) -> None:
    if keep is None:
        client.stop(prefix=_prefix(deployment.pk))
        return
    status = client.status().get("groups", {})
    stale = [k for k in status if k.startswith(_prefix(deployment.pk)) and k != keep]
    if stale:
        client.stop(keys=stale)


def mark_failed(deployment: Deployment, failure: RunnerFailed) -> None:
    """The runner crashed too often in a row: the deployment is failed until started again."""
    reason = f"{timezone.now():%Y-%m-%d %H:%M} UTC: {getattr(failure, 'cause_message', failure.message)}"
    Deployment.objects.filter(pk=deployment.pk, status=Deployment.Status.RUNNING).update(
        status=Deployment.Status.FAILED, failure_reason=reason[:2000]
    )
    forget_deployment(deployment)

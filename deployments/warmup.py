"""Keep the models of running deployments loaded in every web worker.

Each gunicorn worker starts a thread (mlserve/gunicorn.conf.py) that loads them
at boot and then checks every few seconds for deployments started or switched
in another process, so requests find their model in memory."""

import gc
import logging
import threading

from django.conf import settings
from django.db import close_old_connections, connection, models

from deployments import metrics
from deployments.models import Deployment
from models_registry import model_cache
from models_registry.models import ModelVersion

log = logging.getLogger(__name__)


def warm_running_deployments() -> int:
    """Load every running deployment's version not yet in this process; returns how many were loaded."""
    versions = (
        ModelVersion.objects.filter(deployments__status=Deployment.Status.RUNNING)
        .select_related("model")
        .distinct()
        .order_by("-deployments__started")[: settings.MLSERVE_MODEL_CACHE_SIZE]
    )
    _start_script_helpers()
    loaded = 0
    for version in versions:
        if model_cache.is_cached(version):
            continue
        try:
            model_cache.get_predictor(version)
            loaded += 1
        except Exception:  # a broken artifact must not stop the others from loading
            log.exception("could not warm %s", version)
    return loaded


def _start_script_helpers() -> None:
    """Running deployments' scripts get their helper process now (and again if one died)."""
    from deployments.models import DeploymentScript
    from models_registry import scripts

    running = DeploymentScript.objects.filter(
        deployment__status=Deployment.Status.RUNNING, deployment__script_id=models.F("id")
    )
    for script in running:
        host = scripts.host_for(script)
        if not host.alive():
            try:
                host.start()
            except Exception:
                log.exception("could not start the script helper of %s", script)


def start_background_warmer(interval: float) -> threading.Thread:
    def loop():
        frozen_at = None
        while True:
            try:
                close_old_connections()
                warm_running_deployments()
                if frozen_at != model_cache.loads:
                    # Models loaded here or by a request (a deployment started in this worker) live
                    # as long as the worker: out of the collector's way (see gunicorn.conf.py).
                    gc.collect()
                    gc.freeze()
                    frozen_at = model_cache.loads
                metrics.flush()  # an idle worker's counts reach the database too
            except Exception:
                log.exception("model warm-up round failed")
            finally:
                connection.close()
            stop.wait(interval)

    stop = threading.Event()
    thread = threading.Thread(target=loop, name="mlserve-warmup", daemon=True)
    thread.start()
    return thread

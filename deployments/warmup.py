"""Keep the runners of running deployments started.

Each gunicorn worker starts a thread (mlserve/gunicorn.conf.py) that asks the runner
supervisor, at boot and then every few seconds, for the runners of every running
deployment: runners that crashed, or deployments started or switched in another
process, are loaded before a request needs them, and runners in use are never
stopped as idle. It also runs the task recovery (deployments.delivery) every
MLSERVE_TASK_RECOVER_SECONDS; the metrics have a flusher thread of their own."""

import gc
import logging
import os
import threading

from django.conf import settings
from django.db import close_old_connections, connection

from core.errors import ApplicationError
from deployments import delivery, metrics, runners
from deployments.models import Deployment
from models_registry.runners.client import RunnerFailed

log = logging.getLogger(__name__)


def warm_running_deployments() -> int:
    """Ensure every running deployment's runners; returns how many deployments were checked."""
    deployments = Deployment.objects.filter(status=Deployment.Status.RUNNING).select_related("model_version__model", "script")
    checked = 0
    for deployment in deployments:
        try:
            runners.keep_warm(deployment)
            checked += 1
        except RunnerFailed as exc:
            runners.mark_failed(deployment, exc)
        except ApplicationError as exc:  # one deployment that cannot start must not stop the others
            log.warning("could not start the runners of deployment %s: %s", deployment.name, exc.message)
    return checked


def start_background_warmer(interval: float) -> threading.Thread:
    def loop():
        while True:
            try:
                close_old_connections()
                warm_running_deployments()
                delivery.recover_every_interval()  # tasks of a killed worker go back to the queue
            except Exception:
                log.exception("runner warm-up round failed")
            finally:
                connection.close()
            stop.wait(interval)

    stop = threading.Event()
    thread = threading.Thread(target=loop, name="mlserve-warmup", daemon=True)
    thread.start()
    return thread


class ServingProcess:
    """WSGI middleware: what each serving process needs once, whatever started it (gunicorn
    with our config or without, another WSGI server): on its first request, the long-lived
    objects leave the garbage collector's way (gc.freeze: full collections walked them on
    large requests) and the runner warm-up thread starts. After a fork it starts again."""

    def __init__(self, app):
        self.app = app
        self.pid = None
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if self.pid != os.getpid():
            self._start()
        return self.app(environ, start_response)

    def _start(self) -> None:
        with self.lock:
            if self.pid == os.getpid():
                return
            gc.collect()
            gc.freeze()
            metrics.start_flusher()
            if settings.MLSERVE_WARM_INTERVAL > 0:
                start_background_warmer(settings.MLSERVE_WARM_INTERVAL)
            self.pid = os.getpid()

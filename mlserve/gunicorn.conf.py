"""gunicorn settings for `make run`; every value can be overridden by environment variables."""

import multiprocessing
import os

bind = os.environ.get("MLSERVE_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("MLSERVE_WEB_WORKERS", multiprocessing.cpu_count()))
worker_class = os.environ.get("MLSERVE_WORKER_CLASS", "sync")
threads = int(os.environ.get("MLSERVE_WEB_THREADS", 1))
timeout = int(os.environ.get("MLSERVE_WEB_TIMEOUT", 120))
keepalive = int(os.environ.get("MLSERVE_KEEPALIVE", 5))
# Per-request access logs cost time on the hot path; turn them on when you need them.
accesslog = "-" if os.environ.get("MLSERVE_ACCESS_LOG") == "1" else None
errorlog = "-"


def post_worker_init(worker):
    """Load the running deployments' models in each worker, and keep loading new ones."""
    if getattr(worker.app, "app_uri", "") != "mlserve.wsgi":
        return  # this config also serves the benchmark's bare-WSGI baseline
    import gc

    from deployments.warmup import start_background_warmer

    # Everything loaded so far lives as long as the worker: keep the garbage collector
    # from walking it on every full collection (they cost tens of ms on large requests).
    gc.freeze()
    start_background_warmer(float(os.environ.get("MLSERVE_WARM_INTERVAL", 2)))

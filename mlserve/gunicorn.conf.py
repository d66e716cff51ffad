"""gunicorn settings for `make run`; every value can be overridden by environment variables."""

import multiprocessing
import os

# Behind nginx (make run), gunicorn listens on a Unix socket and nginx on MLSERVE_BIND.
bind = os.environ.get("MLSERVE_GUNICORN_BIND") or os.environ.get("MLSERVE_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("MLSERVE_WEB_WORKERS", multiprocessing.cpu_count()))
# Threads: a request mostly waits for its model's runner, and concurrent requests to one
# deployment reach its runner together, which batches them (docs/operations.md).
worker_class = os.environ.get("MLSERVE_WORKER_CLASS", "gthread")
threads = int(os.environ.get("MLSERVE_WEB_THREADS", 8))
timeout = int(os.environ.get("MLSERVE_WEB_TIMEOUT", 120))
keepalive = int(os.environ.get("MLSERVE_KEEPALIVE", 5))
# Per-request access logs cost time on the hot path; turn them on when you need them.
accesslog = "-" if os.environ.get("MLSERVE_ACCESS_LOG") == "1" else None
errorlog = "-"
# gunicorn 25+ opens a control socket at ~/.gunicorn/gunicorn.ctl, one path for every gunicorn
# of the user (make run, the tests, the benchmark): unused here, and they would step on each other.
control_socket_disable = True

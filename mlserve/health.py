"""What serving needs, checked for load balancers (/healthz), apart from "the process answers"
(/livez): a node that cannot reach its database or broker, or whose artifact store lost the
files of its running deployments, says so (503, naming the part) so traffic goes elsewhere."""

import os
import socket

from django.conf import settings
from django.db import connection
from django_redis import get_redis_connection

from core import storage
from deployments.models import Deployment
from models_registry.runners import client

MAX_ARTIFACTS_CHECKED = 500


def _database() -> str | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return None


def _broker() -> str | None:
    if not settings.REDIS_URL:
        return None  # the ORM broker is the database
    get_redis_connection("default").ping()
    return None


def _artifacts() -> str | None:
    """The store is there and readable, and holds the file of every running deployment (an object
    store: answers; each node fetches what it lacks into its cache)."""
    if storage.is_remote():
        storage.check_reachable()
        return None
    root = storage.local_path("")
    names = list(
        Deployment.objects.filter(status=Deployment.Status.RUNNING)
        .values_list("model_version__artifact", flat=True)
        .distinct()[:MAX_ARTIFACTS_CHECKED]
    )
    if root.exists() and not os.access(root, os.R_OK | os.X_OK):
        return "the artifact store is unreadable"
    if names and not root.is_dir():
        return "the artifact store is missing"
    missing = [name for name in names if not os.access(storage.local_path(name), os.R_OK)]
    if missing:
        return f"{len(missing)} running deployment(s) have no readable model file on this node"
    return None


def _runners() -> str | None:
    """Informative only: the supervisor starts on demand, so its absence is not a fault."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(1)
    try:
        sock.connect(str(client.run_dir() / "supervisor.sock"))
    except OSError:
        return "not started (it starts with the first model call)"
    finally:
        sock.close()
    return None


CHECKS = {"database": _database, "broker": _broker, "artifacts": _artifacts}
INFORMATIVE = {"runners": _runners}


def check() -> tuple[bool, dict]:
    """(healthy, {part: "ok" or what is wrong}); every part is checked, whatever fails first."""
    parts, healthy = {}, True
    for name, probe in {**CHECKS, **INFORMATIVE}.items():
        try:
            problem = probe()
        except Exception as exc:  # the part is down: say which, and why, in one line
            problem = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        if problem is None:
            parts[name] = "ok"
        else:
            parts[name] = problem
            healthy = healthy and name in INFORMATIVE
    return healthy, parts

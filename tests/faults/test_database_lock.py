"""A SQLite database write-locked for 15 s by another connection (BEGIN EXCLUSIVE), under real
gunicorn workers: predictions go on, a write answers 503 database_locked with Retry-After, and
once the lock is gone the monitoring counts equal the calls made, none dropped."""

import json
import subprocess
import sys
import threading
import time

import pytest
from django.db import connection

from accounts import services as account_services
from deployments.models import DeploymentTotals
from tests.faults.processes import PORTS, finish, http, start_web, wait_for

pytestmark = [
    pytest.mark.faults,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "sqlite", reason="the lock is SQLite's (PostgreSQL locks rows, not the file)"),
]
LOCK_SECONDS = 15
HOLD_LOCK = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("COMMIT")
"""


def test_monitoring_counts_every_call_made_during_a_15_s_database_lock(deploy, owner, tmp_path):
    deploy("iris_logreg.skops", "iris")
    _, token = account_services.token_create(user=owner, name="faults")
    port = next(PORTS)
    log = tmp_path / "web.log"
    web = start_web(log, port, MLSERVE_METRICS_FLUSH_SECONDS="1")
    base = f"http://127.0.0.1:{port}"
    body = json.dumps({"inputs": [{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}]}).encode()
    statuses = []
    try:
        wait_for(lambda: http("GET", f"{base}/livez")[0] == 200, 60, "gunicorn", log)

        def call():
            status, _, _ = http("POST", f"{base}/api/v1/deployments/iris/predict", body, token)
            statuses.append(status)

        for _ in range(10):
            call()
        # Each web worker's own thread flushes every second: the database has them all within ~2 s, unread.
        wait_for(lambda: DeploymentTotals.objects.filter(deployment__name="iris").values_list("requests", flat=True).first() == 10,
                 3, "both web workers' counts in the database", log)
        holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, connection.settings_dict["NAME"], str(LOCK_SECONDS)],
                                  stdout=subprocess.PIPE)
        assert holder.stdout.readline().strip() == b"locked"
        write = {}
        writer = threading.Thread(
            target=lambda: write.update(zip(("status", "headers", "body"), http("POST", f"{base}/api/v1/deployments/iris/pause", b"{}", token)))
        )
        writer.start()
        deadline = time.monotonic() + LOCK_SECONDS - 1
        while time.monotonic() < deadline:
            call()
            time.sleep(0.2)
        writer.join(timeout=30)
        holder.wait(timeout=30)
        for _ in range(10):
            call()

        assert write["status"] == 503, write
        assert json.loads(write["body"])["error"]["code"] == "database_locked" and write["headers"]["Retry-After"] == "5"
        assert None not in statuses

        def counted():
            status, _, answer = http("GET", f"{base}/api/v1/deployments/iris/metrics", token=token)
            return status == 200 and json.loads(answer)["summary"]["requests"] == len(statuses) and json.loads(answer)["summary"]

        summary = wait_for(counted, 10, f"monitoring to count the {len(statuses)} calls made", log)
        assert summary["dropped"] == 0
        assert sum(int(n) for n in summary["by_status"].values()) == len(statuses)
    finally:
        finish(web)

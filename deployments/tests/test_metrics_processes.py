"""Counters from several processes add up (each process flushes into the same rows)."""

import subprocess
import sys
from pathlib import Path

import pytest

from deployments import metrics
from deployments.models import Deployment
from tests.model_files import IRIS_ROW
from tests.subprocess_env import child_env

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]

RECORDER = """
import django, sys
django.setup()
from deployments import metrics
for i in range(int(sys.argv[2])):
    metrics.record(int(sys.argv[1]), source="rest", status=200, latency_ms=float(i % 7 + 1), rows=3)
metrics.flush()
"""


def test_two_processes_and_this_one_add_up(api, iris):
    deployment = Deployment.objects.get(name="iris")
    env = child_env()
    processes = [
        subprocess.Popen([sys.executable, "-c", RECORDER, str(deployment.pk), str(n)], cwd=ROOT, env=env) for n in (400, 250)
    ]
    for _ in range(3):
        api.post("/api/v1/deployments/iris/predict", {"inputs": IRIS_ROW}, format="json")
    assert [p.wait(timeout=120) for p in processes] == [0, 0]
    metrics.flush()
    summary = metrics.summary(deployment)
    assert summary["requests"] == 653
    assert summary["rows"] == 400 * 3 + 250 * 3 + 3
    assert summary["latency_ms"]["max"] >= 7.0  # the subprocesses' slowest
    assert sum(b.requests for b in deployment.metric_buckets.all()) == 653

"""A process killed (kill -9) while it holds a deployment's concurrency slots in Redis: calls
answer 429 while its calls could still be running, and never after the deployment's timeout."""

import os
import subprocess
import sys
import time

import pytest

from deployments.models import Deployment
from tests.faults.processes import ROOT
from tests.model_files import IRIS_ROW
from tests.subprocess_env import child_env

pytestmark = [
    pytest.mark.faults,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="the slots are in Redis only with REDIS_URL (PostgreSQL + Redis run)"),
]
TIMEOUT = 3.0
HOLD_SLOTS = """
import os, sys, time, django
django.setup()
from contextlib import ExitStack
from deployments import limits
from deployments.models import Deployment
deployment = Deployment.objects.get(pk=int(sys.argv[1]))
with ExitStack() as stack:
    for _ in range(deployment.max_concurrency):
        stack.enter_context(limits.concurrency_slot(deployment))
    print("holding", flush=True)
    time.sleep(600)
"""


def test_a_killed_process_holds_no_slot_past_the_deployments_timeout(api, deploy):
    deploy("iris_logreg.skops", "iris", max_concurrency=2, timeout_seconds=TIMEOUT)
    deployment = Deployment.objects.get(name="iris")
    holder = subprocess.Popen([sys.executable, "-c", HOLD_SLOTS, str(deployment.pk)], cwd=ROOT, env=child_env(), stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == b"holding"
        holder.kill()  # kill -9: no finally, no release
        holder.wait()
        killed_at = time.monotonic()
        answers = []
        while time.monotonic() - killed_at < TIMEOUT + 3:  # clients keep calling all along
            answers.append((time.monotonic() - killed_at, api.post("/api/v1/deployments/iris/predict", {"inputs": [IRIS_ROW]}, format="json").status_code))
            time.sleep(0.1)
    finally:
        holder.kill()
        holder.wait()
    assert answers[0][1] == 429  # its slots were taken when it died
    late = [status for elapsed, status in answers if elapsed > TIMEOUT + 1.5]
    assert late and set(late) == {200}, answers

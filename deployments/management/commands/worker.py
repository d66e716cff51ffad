"""The queue worker: django-q2's cluster, plus what it lacks to lose nothing.

- Recovery (deployments.delivery) once at start, then every MLSERVE_TASK_RECOVER_SECONDS in a
  thread of this process: a task whose worker was killed is back in the queue within
  MLSERVE_TASK_LEASE_SECONDS + MLSERVE_TASK_RECOVER_SECONDS.
- A bounded stop: on SIGTERM or SIGINT the cluster stops as django-q2 stops it (the current
  tasks may finish), but after MLSERVE_SHUTDOWN_SECONDS its workers get SIGTERM (each hands
  its task back to the queue, see deployments.batch) and a little later whatever is left is
  killed. django-q2's own stop waits for every running task however long it takes (an hour
  for a large task).
"""

import logging
import os
import signal
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections, connection
from django_q.cluster import Cluster

from deployments import delivery

log = logging.getLogger(__name__)
HANDBACK_SECONDS = 5  # after the workers' SIGTERM: time to hand their tasks back


def _recovery_loop(stop: threading.Event) -> None:
    while not stop.wait(settings.MLSERVE_TASK_RECOVER_SECONDS):
        try:
            close_old_connections()
            delivery.recover()
        except Exception:  # a locked or lost database: the next round tries again
            log.warning("task recovery round failed", exc_info=True)
        finally:
            connection.close()


def _descendants() -> list[int]:
    """This process's children, grandchildren... (from /proc: the cluster's sentinel, workers, pusher, monitor)."""
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                parents[int(entry.name)] = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    found, frontier = [], [os.getpid()]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found.extend(children)
        frontier.extend(children)
    return found


def _signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except OSError:
            pass


def _bounded_stop(cluster, done: threading.Event) -> None:
    """Runs in a thread once a stop signal came: escalates if django-q2's stop takes too long."""
    if done.wait(settings.MLSERVE_SHUTDOWN_SECONDS):
        return
    log.warning("worker: still busy after %ss; handing running tasks back", settings.MLSERVE_SHUTDOWN_SECONDS)
    sentinel_pid = cluster.sentinel.pid if cluster.sentinel else None
    # The task workers (not the sentinel, whose SIGTERM is death): each hands its task back, then exits.
    _signal_all([pid for pid in _descendants() if pid != sentinel_pid], signal.SIGTERM)
    if done.wait(HANDBACK_SECONDS):
        return
    log.warning("worker: killing what is left")
    _signal_all(_descendants(), signal.SIGKILL)
    os._exit(0)


class Command(BaseCommand):
    help = "Run the queue worker (django-q2's qcluster) with task recovery and a bounded stop on SIGTERM."

    def handle(self, *args, **options):
        try:
            result = delivery.recover()
            self.stdout.write(f"Recovered tasks: {len(result['requeued'])} queued again, {len(result['resent'])} sent again.")
        except Exception as exc:  # the database may be busy at start: the loop tries again
            self.stderr.write(f"Task recovery at start failed ({exc}); retrying in the background.")
        finally:
            connection.close()  # not shared with the cluster's forked processes

        stop_recovery = threading.Event()
        stopped = threading.Event()
        cluster = Cluster()

        def on_signal(signum, frame):
            stop_recovery.set()
            threading.Thread(target=_bounded_stop, args=(cluster, stopped), daemon=True).start()
            cluster.stop()
            stopped.set()

        cluster.start()
        # After start: django-q2's Cluster installs its own handlers in __init__; ours replace them.
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        recovery = threading.Thread(target=_recovery_loop, args=(stop_recovery,), name="task-recovery", daemon=True)
        recovery.start()
        while cluster.sentinel.is_alive():
            time.sleep(0.5)
        stop_recovery.set()
        self.stdout.write("Worker stopped.")

"""Starting, signalling and waiting for the real processes of the fault suite."""

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.subprocess_env import child_env

ROOT = Path(__file__).resolve().parents[2]
PORTS = iter(range(18150, 18199))  # this worktree's port range


def start(command: list[str], log: Path, **env) -> subprocess.Popen:
    return subprocess.Popen(
        command, cwd=ROOT, env=child_env(**env), stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True
    )


def start_worker(log: Path, **env) -> subprocess.Popen:
    """The worker as the Procfile runs it, with short leases so the suite stays short."""
    defaults = {
        "MLSERVE_QUEUE_WORKERS": "1",
        "MLSERVE_TASK_LEASE_SECONDS": "3",
        "MLSERVE_TASK_RECOVER_SECONDS": "1",
        "MLSERVE_SHUTDOWN_SECONDS": "3",
    }
    return start([sys.executable, "manage.py", "worker"], log, **{**defaults, **env})


def start_web(log: Path, port: int, **env) -> subprocess.Popen:
    return start(
        [sys.executable, "-m", "gunicorn", "mlserve.wsgi", "--config", "mlserve/gunicorn.conf.py"], log,
        MLSERVE_GUNICORN_BIND=f"127.0.0.1:{port}", MLSERVE_WEB_WORKERS="2", **env,
    )


def group_pids(process: subprocess.Popen) -> list[int]:
    """Every process of the started program's session (qcluster's sentinel, pusher, workers...)."""
    pids = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if os.getsid(int(entry.name)) == process.pid:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def kill_all(process: subprocess.Popen, sig=signal.SIGKILL) -> None:
    """The signal to every process of the program at once: kill -9 of a node, or systemd's stop."""
    for pid in group_pids(process):
        try:
            os.kill(pid, sig)
        except OSError:
            pass


def finish(process: subprocess.Popen) -> None:
    """Whatever is left of it, gone (the test's cleanup)."""
    kill_all(process, signal.SIGKILL)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def wait_for(check, timeout: float, what: str, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    tail = log.read_text()[-3000:] if log and log.exists() else ""
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{tail}")


def http(method: str, url: str, body: bytes | None = None, token: str | None = None, timeout: float = 30):
    """(status, headers, body) of one call; errors are answers too."""
    request = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Token {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()
    except (urllib.error.URLError, OSError):
        return None, {}, b""

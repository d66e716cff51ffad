"""Pre- and post-processing scripts, run in a helper process per script (never in our workers).

The web and queue workers never run user code: each process that serves a deployment
with a script keeps one long-lived helper (models_registry/script_runner.py) for it,
started with the deployment (or on first use), restarted when it dies. A call that
raises answers `script_failed` with the script's traceback; one that runs too long
(MLSERVE_SCRIPT_TIMEOUT_SECONDS, or the request's time limit) kills the helper and
answers 504; a helper killed by its memory limit answers `script_failed` too. The
next call starts a fresh helper; nothing else is affected.
"""

import json
import logging
import os
import pwd
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from django.conf import settings

from mlserve.errors import ApplicationError

log = logging.getLogger(__name__)
RUNNER = Path(__file__).with_name("script_runner.py")
START_TIMEOUT = 20.0

TEMPLATE = '''"""Pre- and post-processing for this deployment; both functions are optional.

preprocess(request) gets the JSON body of a predict or task request, in any shape
you choose, and returns the rows for the model: a list of records {"field": value}
(or a body such as {"dataframe_split": ...}).

postprocess(rows, outputs) gets those rows (an uploaded file's rows as records) and mlserve's
answer {"predictions": [...], "probabilities": [...], ...}, and returns the body
sent back to the caller.
"""


def preprocess(request):
    records = request.get("inputs", request)
    return records if isinstance(records, list) else [records]


def postprocess(rows, outputs):
    return outputs
'''


class ScriptFailed(ApplicationError):
    status_code = 422
    code = "script_failed"


class ScriptTimeout(ApplicationError):
    status_code = 504
    code = "script_timeout"


def _environment(workdir: str) -> dict:
    """Nothing from ours: no secrets, no database URL, no keys."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": workdir,
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }


_identities: dict[tuple, dict] = {}


def helper_python() -> str:
    return settings.MLSERVE_SCRIPT_PYTHON or sys.executable


def helper_identity() -> dict:
    """Popen's user and group for a helper. mlserve's own user, except as root: a helper
    run by root could read and change everything, so it runs as MLSERVE_SCRIPT_USER
    ("nobody"), which cannot enter the data dir (0700) nor fork (RLIMIT_NPROC). Checked once
    per process by starting the runner as that user; if it cannot (it cannot reach the
    interpreter or mlserve's code), helpers stay root and the log says so."""
    name = settings.MLSERVE_SCRIPT_USER
    if os.geteuid() != 0 or not name:
        return {}
    key = (name, helper_python())
    if key not in _identities:
        _identities[key] = _check_identity(name)
    return _identities[key]


def _check_identity(name: str) -> dict:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        log.warning("MLSERVE_SCRIPT_USER %r does not exist: script helpers run as root", name)
        return {}
    identity = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
    try:
        probe = subprocess.run(
            [helper_python(), "-I", str(RUNNER), "--probe"], env=_environment("/"), cwd="/",
            capture_output=True, timeout=START_TIMEOUT, **identity,
        )
        failure = probe.stderr.decode(errors="replace").strip()[-300:] if probe.returncode else ""
    except (OSError, subprocess.SubprocessError) as exc:
        failure = str(exc)
    if failure:
        log.warning(
            "script helpers run as root: user %r cannot start %s with %s (%s); make both readable "
            "by it, or set MLSERVE_SCRIPT_PYTHON to an interpreter it can run (docs/security.md)",
            name, RUNNER, helper_python(), failure,
        )
        return {}
    return identity


def helper_account() -> str:
    """Whom helpers run as, in words, for the script pages."""
    identity = helper_identity()
    uid = identity.get("user", os.geteuid())
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = f"uid {uid}"
    return name


class ScriptHost:
    """One helper process running one script version."""

    def __init__(self, source: str):
        self.source = source
        self.process: subprocess.Popen | None = None
        self.functions: dict = {}
        self.lock = threading.Lock()
        self.workdir = None

    # ---- process --------------------------------------------------------------

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> dict:
        """Start the helper and load the script; the functions it defines, or ScriptFailed."""
        with self.lock:
            return self._start()

    def _start(self) -> dict:
        self._kill()
        identity = helper_identity()
        self.workdir = tempfile.mkdtemp(prefix="mlserve-script-")
        if identity:
            os.chown(self.workdir, identity["user"], identity["group"])
        self.process = subprocess.Popen(
            [helper_python(), "-I", str(RUNNER), str(settings.MLSERVE_SCRIPT_MEMORY_MB)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=self.workdir,
            env=_environment(self.workdir),
            close_fds=True,
            start_new_session=True,  # our process group's signals are not its business
            **identity,
        )
        reply = self._exchange({"source": self.source, "cpu_seconds": settings.MLSERVE_SCRIPT_TIMEOUT_SECONDS}, START_TIMEOUT)
        if "error" in reply:
            self._kill()
            raise ScriptFailed(f"The script does not load: {reply['error']}", details={"traceback": reply["error"]})
        self.functions = reply["ok"]
        return self.functions

    def _kill(self) -> None:
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.process.wait()
            for stream in (self.process.stdin, self.process.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
        self.process = None
        if self.workdir:  # what the script wrote there goes with it
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def close(self) -> None:
        with self.lock:
            self._kill()

    # ---- calls ----------------------------------------------------------------

    def _exchange(self, message: dict, timeout: float) -> dict:
        data = json.dumps(message, allow_nan=False).encode()
        try:
            self.process.stdin.write(struct.pack(">I", len(data)) + data)
            self.process.stdin.flush()
            header = self._read(4, timeout)
            (length,) = struct.unpack(">I", header)
            return json.loads(self._read(length, timeout))
        except ScriptTimeout:
            self._kill()
            raise
        except (BrokenPipeError, EOFError, OSError, ValueError):
            code = self.process.wait()
            self._kill()
            how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
            raise ScriptFailed(
                f"The script's process {how} (out of memory? MLSERVE_SCRIPT_MEMORY_MB is "
                f"{settings.MLSERVE_SCRIPT_MEMORY_MB}); it is restarted for the next request."
            ) from None
        except BaseException:
            self._kill()  # interrupted mid-call (e.g. the request's own time limit): the helper's state is unknown
            raise

    def _read(self, n: int, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        stream = self.process.stdout
        chunks, got = [], 0
        while got < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([stream], [], [], remaining)[0]:
                raise ScriptTimeout(
                    f"The script ran longer than {timeout:g} s (MLSERVE_SCRIPT_TIMEOUT_SECONDS) and was stopped.",
                )
            chunk = os.read(stream.fileno(), n - got)
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def call(self, op: str, *args):
        with self.lock:
            if not self.alive():
                self._start()
            reply = self._exchange({"op": op, "args": list(args)}, settings.MLSERVE_SCRIPT_TIMEOUT_SECONDS)
        if "error" in reply:
            raise ScriptFailed(f"The script's {op}() failed: {reply['error']}", details={"traceback": reply["error"]})
        return reply["ok"]

    def defines(self, name: str) -> bool:
        with self.lock:
            if not self.alive():
                self._start()
            return bool(self.functions.get(name))


_hosts: dict[tuple, ScriptHost] = {}
_hosts_lock = threading.Lock()


def host_for(script) -> ScriptHost:
    """This process's helper for a saved script version (started on first use)."""
    key = (script.deployment_id, script.version)
    with _hosts_lock:
        host = _hosts.get(key)
        if host is None:
            for old in [k for k in _hosts if k[0] == script.deployment_id]:
                _hosts.pop(old).close()  # an older version of the same deployment's script
            host = _hosts[key] = ScriptHost(script.source)
    return host


def stop_hosts(deployment_id: int) -> None:
    with _hosts_lock:
        for key in [k for k in _hosts if k[0] == deployment_id]:
            _hosts.pop(key).close()


# ---- what the serving paths call ---------------------------------------------------

BODY_KEYS = ("inputs", "dataframe_split", "dataframe_records", "instances")


def preprocess(host: ScriptHost, request):
    """The body for the input layer, from the script's preprocess() (the request itself without one)."""
    if not host.defines("preprocess"):
        return request, None
    rows = host.call("preprocess", request)
    if isinstance(rows, list):
        return {"inputs": rows}, rows
    if isinstance(rows, dict) and any(k in rows for k in BODY_KEYS):
        return rows, rows.get("inputs") if isinstance(rows.get("inputs"), list) else None
    raise ScriptFailed(
        "The script's preprocess() must return a list of records, or a body with "
        f"{', '.join(BODY_KEYS)}; it returned {type(rows).__name__}."
    )


def uploaded_rows(parsed) -> list[dict] | None:
    """An uploaded file's rows as records, every column as sent, for postprocess (a CSV's
    id columns, a ZIP's member names); None for a single image. JSON-safe: NaN is None."""
    if parsed.raw is None:
        return None
    return json.loads(parsed.raw.to_json(orient="records", date_format="iso"))


def postprocess(host: ScriptHost, rows, answer: dict):
    if not host.defines("postprocess"):
        return answer
    return host.call("postprocess", rows, answer)

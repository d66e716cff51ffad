"""Calling runners from mlserve's own processes: web workers, queue workers, commands.

A RunnerSpec names a runner (its key) and says how to make it (artifact, format,
schema, script, memory, CPU, replicas, batching). ``predict(spec, batch)`` finds the
runner's sockets (asking the supervisor once, then every few seconds, which also keeps
the runner from being stopped as idle), sends the batch on a pooled connection and
returns the Prediction. A runner that died on the way answers with its cause in words
(model_crashed, model_out_of_memory, model_timeout) and is started again on the next
call; nothing in this process is harmed.

The supervisor is found at ``<MLSERVE_RUN_DIR>/supervisor.sock``; when nothing answers
there, this process starts one (so `gunicorn mlserve.wsgi`, `qcluster`, tests and
management commands all work without a separate service).
"""

import atexit
import dataclasses
import fcntl
import hashlib
import itertools
import json
import logging
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext as _

from core.errors import (
    ApplicationError,
    InvalidModel,
    ModelCrashed,
    ModelOutOfMemory,
    ModelTimeout,
    Unavailable,
    UnsupportedFormat,
)
from models_registry.runners import sandbox, wire
from models_registry.runtimes import ENGINE_OPTIONS, Batch, Prediction

log = logging.getLogger(__name__)
ERRORS = {
    "model_crashed": ModelCrashed,
    "model_out_of_memory": ModelOutOfMemory,
    "model_timeout": ModelTimeout,
    "invalid_model": InvalidModel,
    "unsupported_format": UnsupportedFormat,
}
# Answers from a runner are untrusted: bounded, and their error fields checked.
MAX_REPLY_BYTES = 1 << 30
HANDLE_SECONDS = 5.0
POOL_SIZE = 16


class RunnerFailed(Unavailable):
    """The runner crashed too often in a row: it is not started again until its owner starts it."""

    code = "deployment_failed"


@dataclass
class RunnerSpec:
    key: str
    artifact: Path
    format: str
    extension: str
    info: dict | None = None  # the stored schema; None to inspect the artifact
    replicas: int = 1
    memory_mb: int | None = None
    cpus: list[int] | None = None
    nice: int = 0
    batch: dict = field(default_factory=lambda: {"max_rows": 64, "max_wait_ms": 0})
    script: str | None = None
    timeout: float = 60.0
    label: str = ""  # for messages: "model iris v2", "deployment iris"
    # Which replica to call (bind()): one request's preprocess, model and postprocess go to the same one.
    replica: int | None = None

    def wire(self) -> dict:
        memory_mb = self.memory_mb or settings.MLSERVE_RUNNER_MEMORY_MB
        return {
            "mode": "inspect" if self.info is None else "load",
            "format": self.format,
            "extension": self.extension,
            "info": self.info,
            "engine": engine_options(),
            "memory_bytes": memory_mb * 1024 * 1024,
            "cpu_seconds": max(1.0, self.timeout),
            "cpus": self.cpus,
            "nice": self.nice,
            "batch": self.batch,
            "script": self.script,
            "script_cpu_seconds": settings.MLSERVE_SCRIPT_TIMEOUT_SECONDS,
            "file_size": 256 * 1024 * 1024,
        }


def engine_options() -> dict:
    options = dict(ENGINE_OPTIONS)
    java = options.get("java_path") or shutil.which("java")
    # The sandbox has /usr but not /etc/alternatives: give the JVM by its real path.
    options["java_path"] = os.path.realpath(java) if java else None
    return options


def namespace() -> str:
    """Keys of this installation's runners (several data dirs may share one supervisor)."""
    return hashlib.sha1(str(settings.MLSERVE_DATA_DIR).encode()).hexdigest()[:10]


def run_dir() -> Path:
    if settings.MLSERVE_RUN_DIR:
        return Path(settings.MLSERVE_RUN_DIR)
    folder = Path(settings.MLSERVE_DATA_DIR) / "run"
    if len(str(folder)) > 70:  # Unix socket paths must stay under 108 bytes
        folder = Path("/tmp") / f"mlserve-run-{os.geteuid()}-{hashlib.sha1(str(folder).encode()).hexdigest()[:10]}"
    return folder


def supervisor_config() -> dict:
    return {
        "run_dir": str(run_dir()),
        "sandbox": sandboxed(),
        "bwrap": settings.MLSERVE_BWRAP,
        "code_root": str(settings.BASE_DIR),
        "runner_user": settings.MLSERVE_RUNNER_USER,
        "idle_seconds": settings.MLSERVE_RUNNER_IDLE_SECONDS,
        "grace_seconds": settings.MLSERVE_RUNNER_GRACE_SECONDS,
        "max_crashes": settings.MLSERVE_RUNNER_MAX_CRASHES,
        "start_timeout": settings.MLSERVE_RUNNER_START_TIMEOUT,
        "log_level": "INFO",
    }


def sandboxed() -> bool:
    return settings.MLSERVE_SANDBOX != "off"


def check_sandbox() -> None:
    """Refuse to serve without bubblewrap (unless MLSERVE_SANDBOX=off says so)."""
    if sandboxed():
        try:
            sandbox.bwrap_path(settings.MLSERVE_BWRAP)
        except sandbox.SandboxUnavailable as exc:
            from django.core.exceptions import ImproperlyConfigured

            raise ImproperlyConfigured(str(exc)) from None
    else:
        log.warning("MLSERVE_SANDBOX=off: models and scripts run WITHOUT a sandbox; only for trusted users")


# ---- the supervisor ----------------------------------------------------------------------


class _Control:
    """This process's connections to the supervisor (one per concurrent caller)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.idle: list[socket.socket] = []
        self.keeper: socket.socket | None = None  # one connection held open: we are a client

    def request(self, header: dict, fds=(), timeout: float | None = None) -> dict:
        for attempt in (1, 2):
            sock, reused = self._checkout()
            try:
                sock.settimeout(timeout)
                wire.send(sock, header, fds=fds)
                reply, _buffers = wire.recv(sock, max_bytes=64 << 20)
            except (wire.WireError, OSError) as exc:
                sock.close()
                if reused and attempt == 1:
                    continue  # a connection to a supervisor that has since restarted
                raise Unavailable(
                    _("The model runner service did not answer (%(error)s); try again.") % {"error": exc}, code="runner_unavailable"
                ) from None
            with self.lock:
                self.idle.append(sock)
            return reply
        raise AssertionError("unreachable")

    def _checkout(self) -> tuple[socket.socket, bool]:
        with self.lock:
            if self.idle:
                return self.idle.pop(), True
        sock = _connect_supervisor()
        with self.lock:
            if self.keeper is None:
                self.keeper = _connect_supervisor()
        return sock, False

    def reset(self) -> None:
        with self.lock:
            for sock in self.idle + ([self.keeper] if self.keeper else []):
                sock.close()
            self.idle, self.keeper = [], None


def _connect_supervisor() -> socket.socket:
    path = run_dir() / "supervisor.sock"
    try:
        return _connect(path)
    except OSError:
        pass
    if sandboxed():
        try:
            sandbox.bwrap_path(settings.MLSERVE_BWRAP)
        except sandbox.SandboxUnavailable as exc:
            raise Unavailable(str(exc), code="sandbox_unavailable") from None
    folder = run_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(folder / "start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one process starts it; the others wait, then connect
        try:
            return _connect(path)
        except OSError:
            pass
        _start_supervisor(folder)
        deadline = time.monotonic() + settings.MLSERVE_RUNNER_START_TIMEOUT
        while True:
            try:
                return _connect(path)
            except OSError:
                if time.monotonic() > deadline:
                    raise Unavailable(
                        _("The model runner service did not start; see %(log)s.") % {"log": folder / "supervisor.log"},
                        code="runner_unavailable",
                    ) from None
                time.sleep(0.05)


def _connect(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
    except OSError:
        sock.close()
        raise
    return sock


def _start_supervisor(folder: Path) -> None:
    log.info("starting the runner supervisor in %s", folder)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "PYTHONPATH": str(settings.BASE_DIR)}
    with open(folder / "supervisor.log", "ab") as out:
        subprocess.Popen(
            [sys.executable, "-m", "models_registry.runners.supervisor", "--config", json.dumps(supervisor_config())],
            cwd=str(settings.BASE_DIR), env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
            start_new_session=True, close_fds=True,
        )


_control = _Control()


# ---- runners -----------------------------------------------------------------------------


@dataclass
class Handle:
    sockets: list[str]
    info: dict | None
    script: list | None
    expires: float
    turn: itertools.count = field(default_factory=itertools.count)

    def socket_path(self, replica: int | None = None) -> str:
        index = next(self.turn) if replica is None else replica
        return self.sockets[index % len(self.sockets)]


_handles: dict[str, Handle] = {}
# Idle connections per runner socket, each with the timeout its socket options hold.
_pools: dict[str, list[tuple[socket.socket, float | None]]] = {}
_lock = threading.Lock()


def error_from(reply: dict, label: str = "") -> ApplicationError:
    """An ApplicationError from a runner's or the supervisor's error reply (checked: it is untrusted)."""
    error = reply.get("error") if isinstance(reply.get("error"), dict) else {}
    code = str(error.get("code") or "model_crashed")[:64]
    message = str(error.get("message") or "The model's runner failed.")[:5000]
    details = error.get("details") if isinstance(error.get("details"), dict | list | None) else None
    status = reply.get("status")
    status = status if isinstance(status, int) and 400 <= status <= 599 else 502
    if reply.get("failed"):
        failure = RunnerFailed(
            _("%(model)s was stopped after crashing repeatedly: %(message)s Start it again once the cause is fixed.")
            % {"model": label or _("This model"), "message": message},
            details={"cause": code, **({"runner": details} if details else {})},
        )
        failure.cause_message = message
        return failure
    cls = ERRORS.get(code)
    if cls is not None:
        return cls(message, details=details)
    if status == 400 and reply.get("loading"):
        return InvalidModel(message, code=code, details=details)  # untrusted_types, unsafe_xml, ...
    return ApplicationError(message, code=code, details=details, status_code=status)


# ---- in this process: for `make bench`'s comparison only ----------------------------------
#
# MLSERVE_MODELS_IN_PROCESS=1 loads models into the web worker itself, as mlserve did before
# runners: no sandbox at all. It exists so one benchmark run can measure what the process
# boundary costs; nothing else may use it.

_local: dict[str, object] = {}


def _in_process() -> bool:
    return settings.MLSERVE_MODELS_IN_PROCESS


def _local_predictor(spec: RunnerSpec):
    predictor = _local.get(spec.key)
    if predictor is None:
        from models_registry.runtimes import runtime_for
        from models_registry.schema import ModelInfo

        if spec.info is None or spec.script:
            raise Unavailable("MLSERVE_MODELS_IN_PROCESS is for benchmarks of stored models without scripts.")
        predictor = _local[spec.key] = runtime_for(spec.format).load(spec.artifact, ModelInfo.from_dict(spec.info))
    return predictor


def ensure(spec: RunnerSpec, *, reset: bool = False) -> Handle:
    """The runner's sockets, starting it (and loading its model) if it is not running."""
    now = time.monotonic()
    if _in_process() and spec.info is not None:
        _local_predictor(spec)
        return Handle(sockets=[], info=spec.info, script=None, expires=now + HANDLE_SECONDS)
    handle = _handles.get(spec.key)
    if handle is not None and handle.expires > now and not reset:
        return handle
    try:
        fd = os.open(spec.artifact, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise Unavailable(
            _("The model file of %(model)s cannot be read on this server (%(error)s).")
            % {"model": spec.label or _("this model"), "error": exc.strerror},
            code="artifact_unavailable",
        ) from None
    try:
        reply = _control.request(
            {"op": "ensure", "key": spec.key, "spec": spec.wire(), "replicas": spec.replicas, "reset": reset},
            fds=[fd],
            timeout=settings.MLSERVE_RUNNER_START_TIMEOUT + 30,
        )
    finally:
        os.close(fd)
    if "error" in reply:
        _handles.pop(spec.key, None)
        raise error_from(reply, spec.label)
    handle = Handle(sockets=list(reply["sockets"]), info=reply.get("info"), script=reply.get("script"),
                    expires=now + HANDLE_SECONDS)
    _handles[spec.key] = handle
    return handle


def stop(*, keys: list[str] | None = None, prefix: str | None = None) -> None:
    """Stop runners (a paused, switched or deleted deployment's); quietly, if the service is down."""
    for key in list(_handles):
        if (keys and key in keys) or (prefix and key.startswith(prefix)):
            _forget(key)
    try:
        _control.request({"op": "stop", "keys": keys, "prefix": prefix}, timeout=10)
    except Unavailable:
        pass


def status() -> dict:
    return _control.request({"op": "status"}, timeout=10)


def _forget(key: str) -> None:
    handle = _handles.pop(key, None)
    if handle is None:
        return
    with _lock:
        for path in handle.sockets:
            for sock, _timeout in _pools.pop(path, []):
                sock.close()


def _end_replica(spec: RunnerSpec, path: str) -> None:
    _forget(spec.key)
    try:
        _control.request({"op": "kill", "socket": path, "reason": "timeout"}, timeout=10)
    except Unavailable:
        pass


def _checkout(path: str) -> tuple[socket.socket, float | None, bool]:
    """(a connection to the runner socket, the timeout its options hold, whether it was kept)."""
    with _lock:
        pool = _pools.get(path)
        if pool:
            return *pool.pop(), True
    sock = _connect(Path(path))
    wire.widen(sock)
    return sock, None, False


def _checkin(path: str, sock: socket.socket, timeout: float) -> None:
    with _lock:
        pool = _pools.setdefault(path, [])
        if len(pool) < POOL_SIZE:
            pool.append((sock, timeout))
            return
    sock.close()


def _set_timeout(sock: socket.socket, timeout: float) -> None:
    """The call's time limit as the socket's own send and receive timeouts (SO_SNDTIMEO,
    SO_RCVTIMEO), set once per connection: a blocking socket then waits in the kernel, where
    Python's settimeout would add a poll() before every send and receive and an ioctl per
    call. A timeout shows as BlockingIOError (EAGAIN) from the send or receive that waited."""
    seconds = max(0.001, timeout)
    value = struct.pack("ll", int(seconds), int((seconds % 1) * 1_000_000))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)


def call(spec: RunnerSpec, header: dict, buffers=(), *, timeout: float | None = None) -> tuple[dict, list]:
    """One call to the spec's runner; its error replies raised as ApplicationErrors."""
    timeout = spec.timeout if timeout is None else timeout
    for attempt in (1, 2):
        handle = ensure(spec)
        path = handle.socket_path(spec.replica)
        try:
            sock, armed, reused = _checkout(path)
        except OSError:
            # Nothing ran yet: the replica is gone (idle stop, crash). Start it again, once.
            _forget(spec.key)
            if attempt == 1:
                continue
            raise ModelCrashed(_("The model's runner could not be reached; try again.")) from None
        try:
            if armed != timeout:
                _set_timeout(sock, timeout)
            wire.send(sock, header, buffers)
        except (TimeoutError, BlockingIOError):
            sock.close()
            _end_replica(spec, path)
            raise ModelTimeout(
                _("The model's runner did not take the request within %(timeout)s s; it was stopped.") % {"timeout": f"{timeout:g}"}
            ) from None
        except (wire.WireError, OSError):
            sock.close()
            _forget(spec.key)
            if reused and attempt == 1:
                continue  # a kept connection to a runner that ended since: nothing was delivered, try afresh
            raise error_from(_control.request({"op": "why", "socket": path}, timeout=10), spec.label) from None
        try:
            reply, reply_buffers = wire.recv(sock, max_bytes=MAX_REPLY_BYTES)
        except (TimeoutError, BlockingIOError):
            sock.close()
            _end_replica(spec, path)
            raise ModelTimeout(
                _("The model did not answer within %(timeout)s s; its runner was stopped and starts again for the next request.")
                % {"timeout": f"{timeout:g}"},
                details={"timeout_seconds": timeout},
            ) from None
        except (wire.WireError, OSError):
            sock.close()
            _forget(spec.key)
            raise error_from(_control.request({"op": "why", "socket": path}, timeout=10), spec.label) from None
        except BaseException:
            # Interrupted mid-call (the request's own time limit): the runner is still busy with it.
            sock.close()
            _end_replica(spec, path)
            raise
        _checkin(path, sock, timeout)
        if "error" in reply:
            raise error_from(reply, spec.label)
        return reply, reply_buffers
    raise AssertionError("unreachable")


_turns = itertools.count()


def bind(spec: RunnerSpec) -> RunnerSpec:
    """The spec tied to one of its replicas (taken in turn), for the calls of one request."""
    return dataclasses.replace(spec, replica=next(_turns)) if spec.replicas > 1 else spec


def predict(spec: RunnerSpec, batch: Batch, *, timeout: float | None = None) -> Prediction:
    if _in_process() and spec.info is not None:
        return _local_predictor(spec).predict(batch)
    buffers: list = []
    header = {"op": "predict", "batch": wire.put_batch(batch, buffers)}
    reply, reply_buffers = call(spec, header, buffers, timeout=timeout)
    try:
        return wire.get_prediction(reply["prediction"], reply_buffers, batch.n_rows)
    except (wire.WireError, KeyError, TypeError, ValueError) as exc:
        raise ModelCrashed(_("The model's runner sent an answer that cannot be read: %(error)s") % {"error": exc}) from None


def script_call(spec: RunnerSpec, function: str, args: list, *, timeout: float | None = None):
    reply, _buffers = call(spec, {"op": "script", "fn": function, "args": args}, timeout=timeout)
    return reply.get("ok")


def defines(spec: RunnerSpec, function: str) -> bool:
    """Whether the spec's script defines this function (the runner says, once loaded)."""
    return function in (ensure(spec).script or [])


def inspect(path: Path, fmt: str, extension: str, *, label: str = "") -> tuple[dict, RunnerSpec]:
    """Load an uploaded artifact in a fresh runner; (its ModelInfo dict, the spec to call it).
    The caller stops it with stop(keys=[spec.key]) when done."""
    spec = RunnerSpec(
        key=f"{namespace()}-inspect-{uuid.uuid4().hex[:12]}", artifact=path, format=fmt, extension=extension,
        memory_mb=settings.MLSERVE_INSPECT_MEMORY_MB, timeout=settings.MLSERVE_RUNNER_START_TIMEOUT, label=label,
    )
    try:
        handle = ensure(spec)
    except (ModelCrashed, ModelOutOfMemory, ModelTimeout, RunnerFailed) as exc:
        stop(keys=[spec.key])
        message = getattr(exc, "cause_message", exc.message)
        raise InvalidModel(_("The file could not be loaded safely: %(message)s") % {"message": message}, details=exc.details) from None
    except ApplicationError:
        stop(keys=[spec.key])
        raise
    return handle.info, spec


def reset_process_state() -> None:
    """Forget handles and pooled connections (tests; a process after fork)."""
    for key in list(_handles):
        _forget(key)
    _control.reset()


os.register_at_fork(after_in_child=reset_process_state)
atexit.register(_control.reset)

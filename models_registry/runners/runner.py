"""A runner: one model (and its deployment's script), answering calls on a Unix socket.

It starts inside the sandbox with three file descriptors from the supervisor: a
listening socket (every web and queue worker connects to it), a status socket (the
spec comes in on it; "ready" or the load error goes out; its end means the supervisor
is gone) and the artifact, read once into a private tmpfs. Then it loads the model,
runs the deployment's script once, locks itself down (confine.lock_down) and serves.

Calls (wire.py frames):
    {"op": "predict", "batch": ...}           -> {"prediction": ...}
    {"op": "script", "fn": "preprocess", "args": [...]} -> {"ok": ...}
    any failure                                -> {"error": {"code", "message", "details"}, "status": n}

Batching: requests that arrive while the model is busy, or within max_wait_ms of
one another, are predicted in one call (up to max_rows rows), then split again. Rows
are independent in every model mlserve runs, so callers cannot tell, except that it
is faster (Triton's dynamic batcher, MLServer's adaptive batching).
"""

import ctypes
import gc
import math
import os
import resource
import selectors
import signal
import socket
import time
import traceback
from pathlib import Path

import numpy as np
import orjson

from core.errors import ApplicationError, without_paths
from models_registry.runners import confine, wire
from models_registry.runtimes import ENGINE_OPTIONS, Batch, Prediction, runtime_for
from models_registry.schema import ModelInfo

ARTIFACT_DIR = "/tmp/artifact"
BUDGET: dict = {}  # this runner's memory budget, for messages
MAX_REQUEST_BYTES = 1 << 31


class CpuLimit(Exception):
    pass


def _cpu_exceeded(signum, frame):
    raise CpuLimit()


# The soft CPU limit last set, and the hard one (nothing in the runner may raise it).
_ARMED: dict = {}


def _limit_cpu(seconds: float) -> None:
    """Stop the current call once it has used this much CPU time (SIGXCPU, soft limit): at
    least `seconds` from now, at most two more. The limit is set again only when the one
    already set would give less, so most calls cost one getrusage, not three syscalls."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    now = used.ru_utime + used.ru_stime
    armed = _ARMED.get("soft")
    if armed is not None and now + seconds <= armed <= now + seconds + 2 and _ARMED.get("seconds") == seconds:
        return
    if "hard" not in _ARMED:
        _ARMED["hard"] = resource.getrlimit(resource.RLIMIT_CPU)[1]
    hard = _ARMED["hard"]
    soft = math.ceil(now + seconds + 1)
    soft = soft if hard == resource.RLIM_INFINITY else min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
    _ARMED.update(soft=soft, seconds=seconds)


class _Mallinfo(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost"
    )]


def allocated_bytes() -> int:
    """Bytes this process has allocated with malloc (engines and numpy allocate through it)."""
    try:
        info = ctypes.CDLL(None).mallinfo2
    except AttributeError:
        return 0
    info.restype = _Mallinfo
    result = info()
    return int(result.uordblks + result.hblkhd)


def error_reply(exc: BaseException) -> dict:
    """A failure as the caller will show it: the model's fault, the input's, or the script's."""
    if isinstance(exc, ApplicationError):
        return {"error": {"code": exc.code, "message": exc.message, "details": exc.details}, "status": exc.status_code}
    if isinstance(exc, MemoryError) or "bad_alloc" in str(exc) or "Cannot allocate memory" in str(exc):
        budget = f" of {BUDGET['bytes'] >> 20} MB" if BUDGET.get("bytes") else ""
        return {
            "error": {
                "code": "model_out_of_memory",
                "message": f"The model needed more memory than its runner's budget{budget} (the deployment's memory_limit_mb).",
                "details": {"budget_mb": BUDGET["bytes"] >> 20} if BUDGET.get("bytes") else None,
            },
            "status": 503,
        }
    if isinstance(exc, CpuLimit):
        return {"error": {"code": "model_timeout", "message": "The model used more CPU time than one call may."}, "status": 504}
    text = without_paths(str(exc)).strip()[:500]
    return {
        "error": {
            "code": "prediction_failed",
            "message": f"The model could not predict these rows: {type(exc).__name__}: {text}",
        },
        "status": 400,
    }


# ---- the script ----------------------------------------------------------------------


def _script_traceback() -> str:
    """The script's own frames only: ours are noise to its author."""
    import sys

    kind, value, tb = sys.exc_info()
    frames = [f for f in traceback.extract_tb(tb) if f.filename == "<script>"]
    return "".join(traceback.format_list(frames) + traceback.format_exception_only(kind, value)).strip()


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    return value


class Script:
    """A deployment's pre/post-processing script, run in this process beside its model."""

    NAMES = ("preprocess", "postprocess")

    def __init__(self, source: str, cpu_seconds: float):
        self.cpu_seconds = cpu_seconds
        namespace = {"__name__": "deployment_script"}
        try:
            _limit_cpu(cpu_seconds)
            exec(compile(source, "<script>", "exec"), namespace)  # noqa: S102  (the owner's own script, sandboxed)
        except MemoryError:
            raise  # the runner's budget: said as such
        except BaseException as exc:
            raise ScriptError(f"The script does not load: {_script_traceback()}") from exc
        self.functions = {name: namespace.get(name) for name in self.NAMES if callable(namespace.get(name))}

    def call(self, name: str, args: list):
        function = self.functions.get(name)
        if function is None:
            raise ScriptError(f"the script defines no {name}()")
        try:
            _limit_cpu(self.cpu_seconds)
            result = _jsonable(function(*args))
        except CpuLimit:
            raise ScriptError(
                f"The script's {name}() used more than {self.cpu_seconds:g} s of CPU time and was stopped.",
                code="script_timeout", status=504,
            ) from None
        except MemoryError:
            raise ScriptError(f"The script's {name}() needed more memory than the runner's budget.") from None
        except BaseException as exc:
            raise ScriptError(f"The script's {name}() failed: {_script_traceback()}") from exc
        try:
            orjson.dumps(result, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
        except TypeError as exc:
            raise ScriptError(f"The script's {name}() returned something that is not JSON serialisable: {exc}") from None
        return result


class ScriptError(Exception):
    def __init__(self, message: str, code: str = "script_failed", status: int = 422):
        super().__init__(message)
        self.reply = {"error": {"code": code, "message": message, "details": {"traceback": message}}, "status": status}


# ---- loading -------------------------------------------------------------------------


def _materialise(artifact_fd: int, extension: str) -> str:
    """The artifact as a file in this runner's private tmpfs: engines load from paths. Read
    with pread: the replicas of one deployment share the descriptor, and so its offset."""
    os.makedirs(ARTIFACT_DIR, exist_ok=True)
    path = f"{ARTIFACT_DIR}/model{extension}"
    offset = 0
    with open(path, "wb") as target:
        while chunk := os.pread(artifact_fd, 1 << 20, offset):
            target.write(chunk)
            offset += len(chunk)
    os.close(artifact_fd)
    return path


def load(spec: dict, artifact_fd: int):
    """(predictor, info dict) for the spec: inspect mode extracts the schema, load mode trusts it."""
    ENGINE_OPTIONS.update(spec.get("engine") or {})
    path = _materialise(artifact_fd, spec.get("extension", ""))
    module = runtime_for(spec["format"])
    before = allocated_bytes()
    try:
        if spec.get("mode") == "inspect":
            info, predictor = module.inspect(Path(path), spec["format"])
            info.details["memory_bytes"] = max(allocated_bytes() - before, os.path.getsize(path))
            if spec["format"] == "pmml":
                info.details["memory_bytes"] = 4 * os.path.getsize(path)
            return predictor, info.to_dict()
        info = ModelInfo.from_dict(spec["info"])
        return module.load(Path(path), info), None
    finally:
        try:
            os.unlink(path)  # loaded: the copy would only take tmpfs memory
        except OSError:
            pass


# ---- serving -------------------------------------------------------------------------


class Server:
    def __init__(self, listener: socket.socket, status: socket.socket, predictor, script: Script | None, spec: dict):
        self.listener = listener
        self.status = status
        self.predictor = predictor
        self.script = script
        batching = spec.get("batch") or {}
        self.max_rows = max(1, int(batching.get("max_rows", 64)))
        self.max_wait = max(0.0, float(batching.get("max_wait_ms", 0))) / 1000
        self.cpu_seconds = float(spec.get("cpu_seconds") or 60)
        self.stats = {"requests": 0, "model_calls": 0, "largest_batch_rows": 0, "largest_batch_requests": 0}
        self.selector = selectors.DefaultSelector()

    def serve_forever(self) -> None:
        self.listener.setblocking(False)
        self.selector.register(self.listener, selectors.EVENT_READ, "accept")
        self.selector.register(self.status, selectors.EVENT_READ, "status")
        while True:
            pending = self._collect(self.selector.select())
            if pending and self.max_wait > 0:
                deadline = time.monotonic() + self.max_wait
                while self._rows(pending) < self.max_rows and (left := deadline - time.monotonic()) > 0:
                    pending += self._collect(self.selector.select(left))
            if pending:
                self._answer(pending)

    @staticmethod
    def _rows(pending) -> int:
        return sum(r[3].n_rows for r in pending if r[3] is not None)

    def _collect(self, events) -> list:
        """Read one request from every connection that has one: [(conn, header, buffers, batch)]."""
        pending = []
        for key, _ in events:
            if key.data == "accept":
                self._accept()
            elif key.data == "status":
                os._exit(0)  # the supervisor is gone (or told us to stop): so are we
            else:
                request = self._read(key.fileobj)
                if request is not None:
                    pending.append(request)
        return pending

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except BlockingIOError:
                return
            conn.setblocking(True)
            wire.widen(conn)
            self.selector.register(conn, selectors.EVENT_READ, "conn")

    def _read(self, conn: socket.socket):
        try:
            header, buffers = wire.recv(conn, max_bytes=MAX_REQUEST_BYTES)
            batch = wire.get_batch(header["batch"], buffers) if header.get("op") == "predict" else None
            return conn, header, buffers, batch
        except (wire.Closed, OSError):
            self._drop(conn)
        except (wire.WireError, KeyError, TypeError, ValueError) as exc:
            self._send(conn, {"error": {"code": "runner_protocol", "message": f"Bad request to the runner: {exc}"}, "status": 500})
        return None

    def _drop(self, conn: socket.socket) -> None:
        try:
            self.selector.unregister(conn)
        except (KeyError, ValueError):
            pass
        conn.close()

    def _send(self, conn: socket.socket, header: dict, buffers=()) -> None:
        try:
            wire.send(conn, header, buffers)
        except (wire.Closed, OSError):
            self._drop(conn)

    def _answer(self, pending: list) -> None:
        predicts = [r for r in pending if r[3] is not None]
        self.stats["requests"] += len(predicts)
        for conn, header, _, _ in (r for r in pending if r[3] is None):
            self._send(conn, *self._other(header))
        while predicts:
            group, rows = [], 0
            while predicts and (not group or rows + predicts[0][3].n_rows <= self.max_rows):
                request = predicts.pop(0)
                group.append(request)
                rows += request[3].n_rows
            self._predict_group(group)

    def _other(self, header: dict) -> tuple[dict, list]:
        if header.get("op") == "script" and self.script is not None:
            try:
                return {"ok": self.script.call(str(header.get("fn")), list(header.get("args") or []))}, []
            except ScriptError as exc:
                return exc.reply, []
        if header.get("op") == "ping":
            return {"ok": True}, []
        if header.get("op") == "stats":
            return {"ok": self.stats}, []
        return {"error": {"code": "runner_protocol", "message": f"Unknown runner call {header.get('op')!r}."}, "status": 500}, []

    def _predict_group(self, group: list) -> None:
        batches = [r[3] for r in group]
        merged = merge(batches) if len(batches) > 1 else batches[0]
        if merged is None:  # not alike (other columns or types): one call each
            for request in group:
                self._predict_group([request])
            return
        stats = self.stats
        stats["model_calls"] += 1
        stats["largest_batch_rows"] = max(stats["largest_batch_rows"], merged.n_rows)
        stats["largest_batch_requests"] = max(stats["largest_batch_requests"], len(group))
        try:
            _limit_cpu(self.cpu_seconds)
            prediction = self.predictor.predict(merged)
            if len(prediction.predictions) != merged.n_rows:
                raise ValueError(f"the model answered {len(prediction.predictions)} rows for {merged.n_rows}")
        except BaseException as exc:  # noqa: BLE001  (the model's failure is the answer)
            if len(group) > 1:  # whose rows were bad? each caller gets its own answer
                for request in group:
                    self._predict_group([request])
                return
            self._send(group[0][0], error_reply(exc))
            return
        parts = [prediction] if len(group) == 1 else split(prediction, [b.n_rows for b in batches])
        for (conn, _, _, _), part in zip(group, parts):
            buffers: list = []
            self._send(conn, {"prediction": wire.put_prediction(part, buffers)}, buffers)


def merge(batches: list[Batch]) -> Batch | None:
    """Several batches with the same fields and types as one, or None."""
    first = batches[0]
    names = list(first.columns)
    if first.prepared_matrix is not None and all(
        b.prepared_matrix is not None and b.matrix_names == first.matrix_names and b.prepared_matrix.dtype == first.prepared_matrix.dtype
        for b in batches
    ):
        matrix = np.concatenate([b.prepared_matrix for b in batches])
        columns = {n: matrix[:, j].astype(first.columns[n].dtype, copy=False) for j, n in enumerate(first.matrix_names)}
        return Batch(columns=columns, n_rows=matrix.shape[0], prepared_matrix=matrix, matrix_names=first.matrix_names)
    columns = {}
    for name in names:
        parts = [b.columns.get(name) for b in batches]
        if any(p is None or p.dtype != parts[0].dtype or p.shape[1:] != parts[0].shape[1:] for p in parts):
            return None
        columns[name] = np.concatenate(parts)
    if any(list(b.columns) != names for b in batches):
        return None
    return Batch(columns=columns, n_rows=sum(b.n_rows for b in batches))


def split(prediction: Prediction, counts: list[int]) -> list[Prediction]:
    parts, start = [], 0
    for n in counts:
        stop = start + n
        proba = prediction.probabilities[start:stop] if prediction.probabilities is not None else None
        parts.append(Prediction(predictions=prediction.predictions[start:stop], probabilities=proba, classes=prediction.classes))
        start = stop
    return parts


# ---- start -------------------------------------------------------------------------------


def run(listener: socket.socket, status: socket.socket, artifact_fd: int, output_fd: int, *, sandboxed: bool,
        address_space: int | None) -> None:
    """The runner's life after the fork (or the standalone start): never returns. Its output
    (engine warnings, a script's print) goes to the supervisor, which keeps the last lines."""
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)
    os.close(output_fd)
    signal.signal(signal.SIGXCPU, _cpu_exceeded)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    try:
        spec, _ = wire.recv(status)
        budget = spec.get("memory_bytes")
        BUDGET["bytes"] = budget
        if spec.get("format") == "pmml" and budget:
            # The JVM is a process of its own: its heap is the budget.
            spec.setdefault("engine", {})["java_opts"] = f"{(spec.get('engine') or {}).get('java_opts', '')} -Xmx{max(64, budget >> 20)}m"
        confine.set_limits(address_space=address_space + budget if address_space and budget and spec.get("format") != "pmml" else None,
                           file_size=int(spec.get("file_size") or 1 << 30))
        if spec.get("cpus"):
            os.sched_setaffinity(0, spec["cpus"])
        if spec.get("nice"):
            os.nice(int(spec["nice"]))
        predictor, info = load(spec, artifact_fd)
        script = Script(spec["script"], float(spec.get("script_cpu_seconds") or 5)) if spec.get("script") else None
        confine.lock_down(sandboxed=sandboxed)
        gc.collect()
        gc.freeze()  # the model lives as long as the runner
    except ScriptError as exc:
        _fail(status, exc.reply)
    except BaseException as exc:  # noqa: BLE001  (whatever the model did at load is the answer)
        reply = error_reply(exc)
        if reply["error"]["code"] == "prediction_failed":  # at load it is the file that is wrong
            reply = {"error": {"code": "invalid_model", "message": f"The model could not be loaded: {type(exc).__name__}: {without_paths(str(exc))[:500]}"}, "status": 400}
        _fail(status, reply)
    wire.send(status, {"ready": True, "info": info, "script": sorted(script.functions) if script else None})
    Server(listener, status, predictor, script, spec).serve_forever()


def _fail(status: socket.socket, reply: dict) -> None:
    try:
        wire.send(status, reply)
    finally:
        os._exit(3)

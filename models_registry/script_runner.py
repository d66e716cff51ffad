"""Runs a deployment's pre/post-processing script, in its own process, under limits.

Started by deployments.scripts as `python -I models_registry/script_runner.py` with a clean
environment (no secrets), an empty working directory, no inherited file descriptors
and rlimits on memory, file size and processes. It imports nothing of mlserve or
Django. Protocol on stdin/stdout: frames of a 4-byte big-endian length and JSON.

    -> {"source": "...", "cpu_seconds": 5}      <- {"ok": {"preprocess": true, "postprocess": false}}
    -> {"op": "preprocess", "args": [...]}      <- {"ok": <result>} or {"error": "<traceback>"}
"""

import json
import math
import resource
import signal
import struct
import sys
import traceback

MAX_FRAME = 256 * 1024 * 1024


class CpuLimit(Exception):
    pass


def _cpu_exceeded(signum, frame):
    raise CpuLimit("the script used more CPU time than allowed for one call")


def read_frame(stream):
    header = stream.read(4)
    if len(header) < 4:
        return None
    (length,) = struct.unpack(">I", header)
    if length > MAX_FRAME:
        raise ValueError("frame too large")
    return json.loads(stream.read(length))


def write_frame(stream, message) -> None:
    data = json.dumps(message, allow_nan=False, default=_jsonable).encode()
    stream.write(struct.pack(">I", len(data)) + data)
    stream.flush()


def _jsonable(value):
    """numpy and pandas values a script may return."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _limit_cpu(seconds: float) -> None:
    used = resource.getrusage(resource.RUSAGE_SELF)
    soft = math.ceil(used.ru_utime + used.ru_stime + seconds)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    resource.setrlimit(resource.RLIMIT_CPU, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))


def _short_traceback() -> str:
    """The user's frames only: the runner's own are noise to them."""
    kind, value, tb = sys.exc_info()
    frames = [f for f in traceback.extract_tb(tb) if f.filename == "<script>"]
    lines = traceback.format_list(frames) + traceback.format_exception_only(kind, value)
    return "".join(lines).strip()


def _limit_resources(memory_mb: int) -> None:
    """Hard limits the script cannot raise again: address space, file size, no new processes."""
    memory = memory_mb * 1024 * 1024
    for limit, value in (
        (resource.RLIMIT_AS, memory),
        (resource.RLIMIT_FSIZE, 16 * 1024 * 1024),
        (resource.RLIMIT_NPROC, 0),
        (resource.RLIMIT_CORE, 0),
    ):
        try:
            resource.setrlimit(limit, (value, value))
        except (ValueError, OSError):
            pass  # e.g. a hard limit already lower


def main() -> None:
    if sys.argv[1:] == ["--probe"]:  # mlserve checks that the helper's user can start it
        return
    _limit_resources(int(sys.argv[1]) if len(sys.argv) > 1 else 512)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a script's print() must not corrupt the protocol
    signal.signal(signal.SIGXCPU, _cpu_exceeded)
    setup = read_frame(stdin)
    cpu_seconds = float(setup.get("cpu_seconds", 5))
    namespace = {"__name__": "deployment_script"}
    try:
        _limit_cpu(cpu_seconds)
        exec(compile(setup["source"], "<script>", "exec"), namespace)
    except BaseException:
        write_frame(stdout, {"error": _short_traceback()})
        return
    functions = {name: namespace.get(name) for name in ("preprocess", "postprocess")}
    write_frame(stdout, {"ok": {name: callable(f) for name, f in functions.items()}})
    while True:
        message = read_frame(stdin)
        if message is None:
            return
        function = functions.get(message.get("op"))
        try:
            if not callable(function):
                raise NameError(f"the script defines no {message.get('op')}()")
            _limit_cpu(cpu_seconds)
            result = function(*message.get("args", []))
            write_frame(stdout, {"ok": result})
        except MemoryError:
            write_frame(stdout, {"error": "MemoryError: the script needed more memory than its limit"})
        except BaseException:
            try:
                write_frame(stdout, {"error": _short_traceback()})
            except BaseException:
                write_frame(stdout, {"error": "the script's answer could not be sent (not JSON serialisable?)"})


if __name__ == "__main__":
    main()

"""Messages between mlserve and its runner processes, over Unix sockets.

A frame is a 4-byte little-endian length, a JSON header of that length, then the
raw bytes of the arrays the header describes (``"buffers": [n1, n2, ...]``), so a
10,000-row batch crosses the boundary as one buffer per column, never row by row.
File descriptors (an artifact, a socket) ride along as SCM_RIGHTS.

Either side may be hostile to the other's parsing (a runner holds untrusted code), so
decoding checks every size, accepts plain numeric dtypes only, and never unpickles.
Nothing here imports Django: runners import it too.
"""

import array
import math
import socket
import struct

import numpy as np
import orjson

from models_registry.runtimes import Batch, Prediction

PREFIX = struct.Struct("<I")
MAX_HEADER = 256 * 1024 * 1024
MAX_FDS = 4
# Send buffer asked for on the connections that carry batches (the kernel caps it at
# net.core.wmem_max, and doubles it): a 10,000-row float64 batch or its answer (~320 KB) is
# over the 208 KB default, and would otherwise cross in two halves, each side waiting on the other.
SEND_BUFFER = 2 << 20
# Array dtypes that may cross: numbers and booleans (strings and objects go as JSON).
DTYPES = {
    np.dtype(t).str: np.dtype(t)
    for t in ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16", "float32", "float64")
}


class WireError(Exception):
    """The other side sent something that is not a valid frame, or went away."""


class Closed(WireError):
    """The connection ended (the other side exited or closed it)."""


def _json(value) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)


def send(sock: socket.socket, header: dict, buffers=(), fds=()) -> None:
    """One frame: the header (with the buffers' sizes added) and the buffers, in one sendmsg when possible."""
    views = [memoryview(b).cast("B") for b in buffers]
    if views:
        header = {**header, "buffers": [v.nbytes for v in views]}
    body = _json(header)
    parts = [PREFIX.pack(len(body)), body, *views]
    ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
    try:
        sent = sock.sendmsg(parts, ancillary)
        if sent < PREFIX.size + len(body) + sum(v.nbytes for v in views):  # interrupted, or over the socket buffer
            _send_rest(sock, parts, sent)
    except (BrokenPipeError, ConnectionResetError) as exc:
        raise Closed(str(exc)) from None


def widen(sock: socket.socket) -> None:
    """Ask for SEND_BUFFER on a connection that carries batches (quietly kept smaller if refused)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
    except OSError:
        pass


def _send_rest(sock: socket.socket, parts, sent: int) -> None:
    for part in parts:
        view = memoryview(part).cast("B")
        if sent >= view.nbytes:
            sent -= view.nbytes
            continue
        sock.sendall(view[sent:])
        sent = 0


def _recv_exact(sock: socket.socket, n: int, into: bytearray | None = None) -> memoryview:
    buffer = into if into is not None else bytearray(n)
    view = memoryview(buffer)
    got = 0
    while got < n:
        count = sock.recv_into(view[got:], n - got)
        if count == 0:
            raise Closed("the connection closed in the middle of a frame")
        got += count
    return view


def recv(sock: socket.socket, *, max_bytes: int = 1 << 31, with_fds: bool = False):
    """(header, buffers) — or (header, buffers, fds) with with_fds. Closed when the peer is gone."""
    fds: list[int] = []
    if with_fds:
        data, ancillary, _, _ = sock.recvmsg(PREFIX.size, socket.CMSG_SPACE(MAX_FDS * 4))
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.extend(array.array("i", payload[: len(payload) - len(payload) % 4]))
        if not data:
            _close_all(fds)
            raise Closed("the connection closed")
        if len(data) < PREFIX.size:
            data = data + bytes(_recv_exact(sock, PREFIX.size - len(data)))
    else:
        data = bytes(_recv_exact_first(sock))
    (length,) = PREFIX.unpack(data)
    try:
        if length > min(MAX_HEADER, max_bytes):
            raise WireError(f"a frame header of {length} bytes is over the limit")
        header = orjson.loads(_recv_exact(sock, length))
        if not isinstance(header, dict):
            raise WireError("a frame header is not an object")
        sizes = header.get("buffers") or []
        if not isinstance(sizes, list) or not all(isinstance(n, int) and n >= 0 for n in sizes):
            raise WireError("a frame's buffer sizes are not a list of sizes")
        total = sum(sizes)
        if total + length > max_bytes:
            raise WireError(f"a frame of {total + length} bytes is over the limit of {max_bytes}")
        blob = _recv_exact(sock, total) if total else memoryview(b"")
    except orjson.JSONDecodeError as exc:
        _close_all(fds)
        raise WireError(f"a frame header is not JSON: {exc}") from None
    except BaseException:
        _close_all(fds)
        raise
    buffers, offset = [], 0
    for n in sizes:
        buffers.append(blob[offset : offset + n])
        offset += n
    return (header, buffers, fds) if with_fds else (header, buffers)


def _recv_exact_first(sock: socket.socket) -> memoryview:
    first = sock.recv(PREFIX.size)
    if not first:
        raise Closed("the connection closed")
    if len(first) == PREFIX.size:
        return memoryview(first)
    return memoryview(first + bytes(_recv_exact(sock, PREFIX.size - len(first))))


def _close_all(fds) -> None:
    import os

    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


# ---- arrays ------------------------------------------------------------------------


def put_array(array_: np.ndarray, buffers: list) -> dict:
    """An array's description for a header; its bytes are appended to buffers. Object
    arrays (text, mixed values) go inline as JSON lists."""
    if array_.dtype.kind in "biuf":
        contiguous = np.ascontiguousarray(array_)
        buffers.append(contiguous)
        return {"dtype": contiguous.dtype.str, "shape": list(contiguous.shape), "buffer": len(buffers) - 1}
    return {"json": array_.tolist(), "shape": list(array_.shape)}


def get_array(spec: dict, buffers: list) -> np.ndarray:
    if not isinstance(spec, dict):
        raise WireError("an array description is not an object")
    shape = spec.get("shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise WireError("an array's shape is not a list of sizes")
    if "json" in spec:
        values = spec["json"]
        result = np.empty(len(values) if isinstance(values, list) else 0, dtype=object)
        if isinstance(values, list):
            result[:] = values if len(shape) <= 1 else [np.array(v, dtype=object) for v in values]
        return result
    dtype = DTYPES.get(spec.get("dtype"))
    index = spec.get("buffer")
    if dtype is None or not isinstance(index, int) or not 0 <= index < len(buffers):
        raise WireError(f"an array has an unknown dtype or buffer ({spec.get('dtype')!r})")
    data = buffers[index]
    # math.prod, not np.prod: the same count, without a numpy reduction per array per call.
    if math.prod(shape) * dtype.itemsize != len(data):
        raise WireError("an array's buffer does not match its shape")
    return np.frombuffer(data, dtype=dtype).reshape(shape)


# ---- batches and predictions ---------------------------------------------------------


def put_batch(batch: Batch, buffers: list) -> dict:
    """A Batch for a header. A prepared (rows, fields) matrix goes once; its columns are
    rebuilt as views of it on the other side."""
    if batch.prepared_matrix is not None:
        # Only the columns whose type differs from the matrix's (the other side gives the rest the matrix's).
        matrix_dtype = batch.prepared_matrix.dtype
        dtypes = {name: column.dtype.str for name, column in batch.columns.items() if column.dtype != matrix_dtype}
        return {
            "n_rows": batch.n_rows,
            "matrix": put_array(batch.prepared_matrix, buffers),
            "matrix_names": list(batch.matrix_names),
            "dtypes": dtypes,
        }
    return {"n_rows": batch.n_rows, "columns": {name: put_array(col, buffers) for name, col in batch.columns.items()}}


def get_batch(spec: dict, buffers: list) -> Batch:
    n_rows = spec.get("n_rows")
    if not isinstance(n_rows, int) or n_rows < 0:
        raise WireError("a batch has no row count")
    if "matrix" in spec:
        matrix = get_array(spec["matrix"], buffers)
        names = spec.get("matrix_names") or []
        if matrix.ndim != 2 or matrix.shape != (n_rows, len(names)):
            raise WireError("a batch's matrix does not match its rows and names")
        dtypes = spec.get("dtypes") or {}
        if not isinstance(dtypes, dict):
            raise WireError("a batch's column types are not an object")
        columns = {}
        for j, name in enumerate(names):
            dtype = DTYPES.get(dtypes.get(name)) if dtypes else None
            columns[name] = matrix[:, j] if dtype is None or dtype == matrix.dtype else matrix[:, j].astype(dtype)
        return Batch(columns=columns, n_rows=n_rows, prepared_matrix=matrix, matrix_names=tuple(names))
    columns = {}
    for name, column in (spec.get("columns") or {}).items():
        values = get_array(column, buffers)
        if values.shape[:1] != (n_rows,):
            raise WireError(f"column {name!r} does not have {n_rows} rows")
        columns[name] = values
    return Batch(columns=columns, n_rows=n_rows)


def put_prediction(prediction: Prediction, buffers: list) -> dict:
    spec: dict = {"classes": prediction.classes}
    predictions = prediction.predictions
    if isinstance(predictions, np.ndarray) and predictions.dtype.kind in "biuf":
        spec["predictions"] = put_array(predictions, buffers)
    else:
        spec["predictions_json"] = predictions.tolist() if isinstance(predictions, np.ndarray) else list(predictions)
    if prediction.probabilities is not None:
        spec["probabilities"] = put_array(np.asarray(prediction.probabilities, dtype=np.float64), buffers)
    return spec


def get_prediction(spec: dict, buffers: list, n_rows: int) -> Prediction:
    if "predictions" in spec:
        predictions = get_array(spec["predictions"], buffers)
    else:
        predictions = spec.get("predictions_json")
    if not isinstance(predictions, list | np.ndarray) or len(predictions) != n_rows:
        got = len(predictions) if isinstance(predictions, list | np.ndarray) else type(predictions).__name__
        raise WireError(f"the model answered {got} rows for {n_rows} input rows")
    probabilities = None
    if spec.get("probabilities") is not None:
        probabilities = get_array(spec["probabilities"], buffers)
        if probabilities.ndim != 2 or probabilities.shape[0] != n_rows:
            raise WireError("the model's probabilities do not have one row per input row")
    classes = spec.get("classes")
    if classes is not None and not isinstance(classes, list):
        raise WireError("the model's classes are not a list")
    return Prediction(predictions=predictions, probabilities=probabilities, classes=classes)

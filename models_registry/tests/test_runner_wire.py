"""The frames between mlserve and its runners: what goes in comes out, and anything else is refused."""

import socket
import struct
import threading

import numpy as np
import orjson
import pytest

from models_registry.runners import client, wire
from models_registry.runtimes import Batch, Prediction


@pytest.fixture
def pair():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    yield a, b
    a.close()
    b.close()


def round_trip(pair, header, buffers=(), max_bytes=1 << 30):
    """Sent from a thread: a large frame is more than the socket holds until it is read."""
    a, b = pair
    sender = threading.Thread(target=wire.send, args=(a, header, buffers))
    sender.start()
    try:
        return wire.recv(b, max_bytes=max_bytes)
    finally:
        sender.join()


def matrix_batch(rows: int) -> Batch:
    matrix = np.random.default_rng(rows).random((rows, 3))
    names = ("a", "b", "c")
    columns = {"a": matrix[:, 0], "b": matrix[:, 1], "c": matrix[:, 2].astype(np.float32)}
    return Batch(columns=columns, n_rows=rows, prepared_matrix=matrix, matrix_names=names)


@pytest.mark.parametrize("rows", [1, 10_000])
def test_a_prepared_matrix_crosses_once_and_its_columns_keep_their_types(pair, rows):
    batch = matrix_batch(rows)
    buffers = []
    header, received = round_trip(pair, {"op": "predict", "batch": wire.put_batch(batch, buffers)}, buffers)
    assert len(received) == 1  # one buffer: the matrix
    got = wire.get_batch(header["batch"], received)
    assert np.array_equal(got.prepared_matrix, batch.prepared_matrix) and got.matrix_names == batch.matrix_names
    assert {n: c.dtype for n, c in got.columns.items()} == {"a": np.float64, "b": np.float64, "c": np.float32}
    assert all(np.array_equal(got.columns[n], batch.columns[n]) for n in batch.columns)


def test_only_the_columns_typed_unlike_the_matrix_are_named_in_the_header():
    assert wire.put_batch(matrix_batch(2), [])["dtypes"] == {"c": "<f4"}


def test_separate_columns_and_text_cross_as_they_are(pair):
    batch = Batch(columns={"x": np.arange(4, dtype=np.int32), "t": np.array(["a", "b", None, "d"], dtype=object)}, n_rows=4)
    buffers = []
    header, received = round_trip(pair, {"batch": wire.put_batch(batch, buffers)}, buffers)
    got = wire.get_batch(header["batch"], received)
    assert got.columns["x"].dtype == np.int32 and got.columns["x"].tolist() == [0, 1, 2, 3]
    assert got.columns["t"].tolist() == ["a", "b", None, "d"]


def test_a_prediction_with_probabilities_comes_back_whole(pair):
    prediction = Prediction(predictions=np.array([2, 0, 1]), probabilities=np.eye(3)[[2, 0, 1]], classes=[0, 1, 2])
    buffers = []
    header, received = round_trip(pair, {"prediction": wire.put_prediction(prediction, buffers)}, buffers)
    got = wire.get_prediction(header["prediction"], received, 3)
    assert got.predictions.tolist() == [2, 0, 1] and np.array_equal(got.probabilities, prediction.probabilities)
    assert got.classes == [0, 1, 2]


def test_a_prediction_with_another_row_count_is_refused(pair):
    buffers = []
    spec = wire.put_prediction(Prediction(predictions=np.array([1, 2])), buffers)
    header, received = round_trip(pair, {"prediction": spec}, buffers)
    with pytest.raises(wire.WireError, match="2 rows for 3"):
        wire.get_prediction(header["prediction"], received, 3)


def raw_frame(header: bytes, blob: bytes = b"") -> bytes:
    return struct.pack("<I", len(header)) + header + blob


@pytest.mark.parametrize(
    "frame, message",
    [
        (raw_frame(b"{not json"), "not JSON"),
        (raw_frame(b"[1, 2]"), "not an object"),
        (raw_frame(b'{"buffers": "many"}'), "buffer sizes"),
        (raw_frame(b'{"buffers": [-1]}'), "buffer sizes"),
        (raw_frame(b'{"buffers": [1073741824]}'), "over the limit"),
        (struct.pack("<I", 1 << 30) + b"{}", "over the limit"),
    ],
)
def test_garbage_and_oversized_frames_are_refused_before_they_are_read(pair, frame, message):
    a, b = pair
    a.sendall(frame)
    with pytest.raises(wire.WireError, match=message):
        wire.recv(b, max_bytes=1 << 20)


@pytest.mark.parametrize("cut", [2, 6, 20])
def test_a_frame_cut_short_is_a_closed_connection(pair, cut):
    a, b = pair
    a.sendall(raw_frame(orjson.dumps({"buffers": [16]}), b"x" * 16)[:cut])
    a.close()
    with pytest.raises(wire.Closed):
        wire.recv(b)


@pytest.mark.parametrize(
    "spec",
    [
        {"n_rows": 2, "matrix": {"dtype": "<f8", "shape": [2, 3], "buffer": 0}, "matrix_names": ["a", "b", "c"]},  # 48 bytes needed
        {"n_rows": 2, "matrix": {"dtype": "|O", "shape": [2, 2], "buffer": 0}, "matrix_names": ["a", "b"]},
        {"n_rows": 2, "matrix": {"dtype": "<f8", "shape": [2, 2], "buffer": 5}, "matrix_names": ["a", "b"]},
        {"n_rows": 3, "matrix": {"dtype": "<f8", "shape": [2, 2], "buffer": 0}, "matrix_names": ["a", "b"]},
        {"n_rows": 2, "matrix": {"dtype": "<f8", "shape": [2, 2], "buffer": 0}, "matrix_names": ["a", "b"], "dtypes": ["<f4"]},
        {"n_rows": -1, "columns": {}},
    ],
)
def test_a_batch_that_does_not_add_up_is_refused(spec):
    with pytest.raises(wire.WireError):
        wire.get_batch(spec, [memoryview(bytes(32))])


def test_a_runner_that_does_not_answer_times_out_in_the_kernel(pair):
    a, b = pair
    client._set_timeout(a, 0.05)
    wire.send(a, {"op": "ping"})
    with pytest.raises(BlockingIOError):
        wire.recv(a)

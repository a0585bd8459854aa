"""The data-only channel: round trips, and every malformed or oversized frame refused."""

from __future__ import annotations

import json
import pickle
import socket
import struct

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from brainbench.sandbox import channel

DTYPES = [np.float64, np.float32, np.int64, np.int32, np.uint8, np.bool_]


def _pair():
    return socket.socketpair()


@settings(max_examples=40, deadline=None)
@given(
    arrays=st.dictionaries(
        st.text(min_size=1, max_size=8),
        hnp.arrays(st.sampled_from(DTYPES), hnp.array_shapes(min_dims=0, max_dims=3, max_side=5)),
        max_size=4,
    ),
    data=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=10),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
        max_leaves=10,
    ),
)
def test_round_trip(arrays, data):
    a, b = _pair()
    with a, b:
        channel.send(a, "kind", data, arrays)
        msg = channel.recv(b, max_array_bytes=1 << 20)
    assert msg.kind == "kind" and msg.data == data
    assert set(msg.arrays) == set(arrays)
    for name, arr in arrays.items():
        got = msg.arrays[name]
        assert got.shape == arr.shape and got.dtype == arr.dtype.newbyteorder("<")
        np.testing.assert_array_equal(got, arr)


def _raw(header: dict, payload: bytes = b"", magic: bytes = b"BB1") -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<3sI", magic, len(text)) + text + payload


@pytest.mark.parametrize(
    ("frame", "problem"),
    [
        # what multiprocessing's Connection sends: a length and a pickle
        (struct.pack("!i", 20) + pickle.dumps({"x": 1}), "bad magic"),
        (_raw({"kind": "done", "arrays": [{"name": "x", "dtype": "|O", "shape": [1]}]}), "dtype"),
        (_raw({"kind": "done", "arrays": [{"name": "x", "dtype": "|V8", "shape": [1]}]}), "dtype"),
        (_raw({"kind": "done", "arrays": [{"name": "x", "dtype": "<f8", "shape": [-1]}]}), "shape"),
        (_raw({"kind": "done", "arrays": [{"name": "x", "dtype": "<f8", "shape": [9]}]}), "more"),
        (_raw({"no": "kind"}), "kind"),
        (_raw({"kind": "surprise"}), "unexpected"),
        (struct.pack("<3sI", b"BB1", 5) + b"{{{{{", "not JSON"),
        (struct.pack("<3sI", b"BB1", channel.MAX_HEADER + 1), "exceeds"),
    ],
)
def test_malformed_frames_are_refused(frame, problem):
    a, b = _pair()
    with a, b:
        a.sendall(frame)
        with pytest.raises(channel.ProtocolError, match=problem):
            channel.recv(b, max_array_bytes=64, kinds={"done"})


def test_object_arrays_cannot_be_sent():
    a, b = _pair()
    with a, b, pytest.raises(channel.ProtocolError, match="cannot be sent"):
        channel.send(a, "x", arrays={"o": np.array([object()])})


def test_expect_array_checks_dtype_and_shape():
    msg = channel.Message("done", arrays={"s": np.zeros((3, 2))})
    assert channel.expect_array(msg, "s", "<f8", (3, 2)).shape == (3, 2)
    with pytest.raises(channel.ProtocolError, match="shape"):
        channel.expect_array(msg, "s", "<f8", (4, 2))
    with pytest.raises(channel.ProtocolError, match="expected <i8"):
        channel.expect_array(msg, "s", "<i8", (3, 2))
    with pytest.raises(channel.ProtocolError, match="lacks"):
        channel.expect_array(msg, "t", "<f8", (3, 2))


def test_closed_and_timeout():
    a, b = _pair()
    with b:
        a.close()
        with pytest.raises(channel.ChannelClosed):
            channel.recv(b, max_array_bytes=0)
    a, b = _pair()
    with a, b, pytest.raises(TimeoutError):
        import time

        channel.recv(b, max_array_bytes=0, deadline=time.monotonic() + 0.1)


def test_covariate_table_round_trip():
    df = pd.DataFrame(
        {
            "subject": pd.Series(["a", None, "c"], dtype="string"),
            "age": [70.5, np.nan, 61.0],
            "sex": pd.Series(["F", "M", None], dtype="string"),
        }
    )
    desc, arrays = channel.frame_to_wire(df, "p")
    back = channel.frame_from_wire(json.loads(json.dumps(desc)), arrays)
    pd.testing.assert_frame_equal(back, df)

"""The channel between the runner and a model process: data only, never code.

A message is one frame on a stream socket::

    b"BB1" | uint32 header length | header (UTF-8 JSON) | raw array buffers, in header order

The header is ``{"kind": str, "data": <JSON>, "arrays": [{"name", "dtype", "shape"}]}``; each
array's bytes follow as C-contiguous little-endian data of a whitelisted numeric dtype. Nothing
is unpickled, evaluated or imported on receipt: ``json.loads`` and ``numpy.frombuffer`` are the
only decoders, so a message crafted by model code (which can find the socket through ``gc``)
is, at worst, a malformed message (:class:`ProtocolError`). The receiver states the most array
bytes it accepts (what it asked for), and the header is capped at :data:`MAX_HEADER` bytes;
callers check each array's shape against what they expect (:func:`expect_array`).
"""

from __future__ import annotations

import json
import math
import socket
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MAGIC = b"BB1"
MAX_HEADER = 4 << 20
MAX_NDIM = 8
#: dtypes that may cross the channel (no object, no void/structured, no datetime).
DTYPES = frozenset({"<f8", "<f4", "<i8", "<i4", "|u1", "|b1"})
_PREFIX = struct.Struct("<3sI")


class ProtocolError(RuntimeError):
    """A frame that is not a well-formed message of the expected kind and size."""


class ChannelClosed(EOFError):
    """The other end closed the socket (or died)."""


@dataclass
class Message:
    kind: str
    data: Any = None
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


def _wire_dtype(arr: np.ndarray) -> np.ndarray:
    arr = np.require(arr, requirements="C")  # (np.ascontiguousarray makes 0-d arrays 1-d)
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    if arr.dtype.str not in DTYPES:
        raise ProtocolError(f"array dtype {arr.dtype} cannot be sent (allowed: {sorted(DTYPES)})")
    return arr


def send(
    sock: socket.socket,
    kind: str,
    data: Any = None,
    arrays: Mapping[str, np.ndarray] | None = None,
) -> None:
    """Send one message (blocking)."""
    bufs = {name: _wire_dtype(np.asarray(a)) for name, a in (arrays or {}).items()}
    header = json.dumps(
        {
            "kind": kind,
            "data": data,
            "arrays": [
                {"name": n, "dtype": a.dtype.str, "shape": list(a.shape)} for n, a in bufs.items()
            ],
        },
        allow_nan=True,
    ).encode("utf-8")
    if len(header) > MAX_HEADER:
        raise ProtocolError(f"message header of {len(header)} bytes exceeds {MAX_HEADER}")
    sock.sendall(_PREFIX.pack(MAGIC, len(header)) + header)
    for a in bufs.values():
        if a.nbytes:
            sock.sendall(memoryview(a).cast("B"))


def _recv_exact(sock: socket.socket, n: int, deadline: float | None) -> bytearray:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            sock.settimeout(left)
        try:
            k = sock.recv_into(view[got:], n - got)
        except TimeoutError:
            raise
        except OSError as exc:
            raise ChannelClosed(str(exc)) from None
        finally:
            if deadline is not None:
                sock.settimeout(None)
        if k == 0:
            raise ChannelClosed("the other end closed the channel")
        got += k
    return buf


def recv(
    sock: socket.socket,
    *,
    max_array_bytes: int,
    kinds: frozenset[str] | set[str] | None = None,
    deadline: float | None = None,
) -> Message:
    """Receive one message; ProtocolError when it is malformed, of another kind, or larger
    than ``max_array_bytes`` of arrays; TimeoutError past ``deadline`` (time.monotonic())."""
    magic, size = _PREFIX.unpack(_recv_exact(sock, _PREFIX.size, deadline))
    if magic != MAGIC:
        raise ProtocolError("not a brainbench channel frame (bad magic)")
    if size > MAX_HEADER:
        raise ProtocolError(f"header of {size} bytes exceeds {MAX_HEADER}")
    raw = bytes(_recv_exact(sock, size, deadline))
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProtocolError(f"header is not JSON: {exc}") from None
    if not isinstance(header, dict) or not isinstance(header.get("kind"), str):
        raise ProtocolError("header without a message kind")
    kind = header["kind"]
    if kinds is not None and kind not in kinds:
        raise ProtocolError(f"unexpected message '{kind[:40]}' (expected {sorted(kinds)})")
    specs = header.get("arrays") or []
    if not isinstance(specs, list):
        raise ProtocolError("'arrays' is not a list")
    plan: list[tuple[str, np.dtype, tuple[int, ...], int]] = []
    total = 0
    for spec in specs:
        if not isinstance(spec, dict):
            raise ProtocolError("array descriptor is not an object")
        name, dtype, shape = spec.get("name"), spec.get("dtype"), spec.get("shape")
        if not isinstance(name, str) or dtype not in DTYPES:
            raise ProtocolError(f"array {str(name)[:40]!r}: dtype {str(dtype)[:20]!r} not allowed")
        if (
            not isinstance(shape, list)
            or len(shape) > MAX_NDIM
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape)
        ):
            raise ProtocolError(f"array {name[:40]!r}: bad shape")
        dt = np.dtype(dtype)
        nbytes = math.prod(shape) * dt.itemsize
        total += nbytes
        if total > max_array_bytes:
            raise ProtocolError(
                f"message '{kind[:40]}' carries more than the {max_array_bytes} array bytes "
                "expected"
            )
        plan.append((name, dt, tuple(shape), nbytes))
    arrays: dict[str, np.ndarray] = {}
    for name, dt, shape, nbytes in plan:
        buf = _recv_exact(sock, nbytes, deadline)
        arrays[name] = np.frombuffer(buf, dtype=dt).reshape(shape)
    return Message(kind=kind, data=header.get("data"), arrays=arrays)


def expect_array(msg: Message, name: str, dtype: str, shape: tuple[int | None, ...]) -> np.ndarray:
    """``msg.arrays[name]``, checked for dtype and shape (None: any length on that axis)."""
    arr = msg.arrays.get(name)
    if arr is None:
        raise ProtocolError(f"message '{msg.kind}' lacks array '{name}'")
    if arr.dtype.str != dtype or len(arr.shape) != len(shape):
        raise ProtocolError(f"'{name}': {arr.dtype}{list(arr.shape)}, expected {dtype}{shape}")
    if any(want is not None and got != want for got, want in zip(arr.shape, shape, strict=True)):
        raise ProtocolError(f"'{name}': shape {list(arr.shape)}, expected {list(shape)}")
    return arr


# -- tables ------------------------------------------------------------------------------------
def frame_to_wire(df: Any, prefix: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A covariate table as (JSON description, arrays): numbers as arrays, text as JSON."""
    import pandas as pd

    cols: list[dict[str, Any]] = []
    arrays: dict[str, np.ndarray] = {}
    for col in df.columns:
        s = df[col]
        if s.dtype.kind in "fiub":
            arrays[f"{prefix}.{col}"] = s.to_numpy()
            cols.append({"name": str(col), "array": f"{prefix}.{col}"})
        else:
            values = [None if pd.isna(v) else str(v) for v in s.astype(object).tolist()]
            cols.append({"name": str(col), "text": values})
    return {"columns": cols, "n": len(df)}, arrays


def frame_from_wire(desc: dict[str, Any], arrays: Mapping[str, np.ndarray]) -> Any:
    import pandas as pd

    n = int(desc["n"])
    out = pd.DataFrame(index=range(n))
    for col in desc["columns"]:
        if "array" in col:
            values = np.array(arrays[col["array"]])
            if len(values) != n:
                raise ProtocolError(f"column {col['name']}: {len(values)} values for {n} rows")
            out[col["name"]] = values
        else:
            text = col["text"]
            if len(text) != n:
                raise ProtocolError(f"column {col['name']}: {len(text)} values for {n} rows")
            out[col["name"]] = pd.Series(text, dtype="string")
    return out


__all__ = [
    "ChannelClosed",
    "Message",
    "ProtocolError",
    "expect_array",
    "frame_from_wire",
    "frame_to_wire",
    "recv",
    "send",
]

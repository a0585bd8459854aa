"""Fixtures of the red-team suite: a registry of hostile entries and two runs of them.

The same entries run twice on the runner tests' tiny cohorts: with ``seal=False`` (the positive
controls: each route works) and sealed (each route fails). A listener on 127.0.0.1 (TCP, UDP
and an abstract unix socket) and a SIGUSR2 handler in this process record what reached them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.runner.conftest import HERE as RUNNER_TESTS
from tests.runner.conftest import TINY_SPEC, cohorts  # noqa: F401 (a fixture)

HERE = Path(__file__).resolve().parent
ROUTES = (
    "pickle",
    "proc-parent",
    "proc-mem",
    "crawl",
    "units",
    "tamper",
    "daemon",
    "registry-write",
    "network",
    "signal",
    "ptrace",
    "fds",
    "scratch",
    "shm",
)
#: The largest file a sealed model process may write in these tests.
FSIZE = 16 << 20


@dataclass
class Listener:
    """What reached this process from a model process: connections, datagrams, signals."""

    port: int = 0
    tcp: int = 0
    udp: int = 0
    abstract: int = 0
    signals: int = 0
    socks: list[socket.socket] = field(default_factory=list)

    def reset(self) -> None:
        self.tcp = self.udp = self.abstract = self.signals = 0


def _serve(lst: Listener, server: socket.socket, attr: str) -> None:
    while True:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        setattr(lst, attr, getattr(lst, attr) + 1)
        conn.close()


@pytest.fixture(scope="session")
def listener():
    lst = Listener()
    tcp = socket.create_server(("127.0.0.1", 0))
    lst.port = tcp.getsockname()[1]
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", lst.port))
    udp.settimeout(0.2)
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract.bind(f"\0brainbench-test-{lst.port}")
    abstract.listen()
    lst.socks = [tcp, udp, abstract]
    threading.Thread(target=_serve, args=(lst, tcp, "tcp"), daemon=True).start()
    threading.Thread(target=_serve, args=(lst, abstract, "abstract"), daemon=True).start()

    def on_udp() -> None:
        while True:
            try:
                udp.recv(100)
                lst.udp += 1
            except TimeoutError:
                continue
            except OSError:
                return

    threading.Thread(target=on_udp, daemon=True).start()
    old = signal.signal(signal.SIGUSR2, lambda *_: setattr(lst, "signals", lst.signals + 1))
    yield lst
    signal.signal(signal.SIGUSR2, old)
    for s in lst.socks:
        s.close()
    Path(f"/dev/shm/brainbench-hostile-{lst.port}").unlink(missing_ok=True)


@pytest.fixture(scope="session")
def hostile_registry(tmp_path_factory, listener) -> Path:
    """``victim`` (an honest entry) and one ``hostile-<route>`` entry per route."""
    root = tmp_path_factory.mktemp("hostile-registry")
    template = (RUNNER_TESTS / "registry" / "entry.yaml.in").read_text()
    code = (HERE / "registry" / "hostile.py").read_text()
    code = code.replace("PORT = 0  # replaced by the tests", f"PORT = {listener.port}")
    entries = {"victim": (HERE / "registry" / "victim.py").read_text()}
    entries.update({f"hostile-{r}": code for r in ROUTES})
    for entry_id, text in entries.items():
        folder = root / "models" / entry_id
        folder.mkdir(parents=True)
        (folder / "model.yaml").write_text(
            template.replace("{id}", entry_id).replace("{description}", "Security tests.")
        )
        (folder / "model.py").write_text(text)
    return root


def daemons() -> list[int]:
    """PIDs of the hostile daemon processes alive on this machine."""
    out = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                cmd = Path(f"/proc/{entry.name}/cmdline").read_bytes()
                if b"brainbench-hostile-daemon" in cmd and b"-c" in cmd:
                    out.append(int(entry.name))
    return out


def snapshot(*roots: Path) -> dict[str, str]:
    """sha256 of every file below ``roots`` (what a run must leave unchanged)."""
    out = {}
    for root in roots:
        for p in sorted(Path(root).rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts:
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@dataclass
class HostileRun:
    result: object
    run_dir: Path
    listener: dict
    pwned_env: bool
    shm: bool
    before: dict[str, str]
    after: dict[str, str]
    predictions_at_finalisation: str
    predictions_later: str
    daemons_after: list[int]


def _run(cohort_root, registry, listener, out: Path, seal: bool) -> HostileRun:
    from brainbench import sandbox
    from brainbench.runner import run_benchmark

    listener.reset()
    shm = Path(f"/dev/shm/brainbench-hostile-{listener.port}")
    shm.unlink(missing_ok=True)
    (registry / "models" / "victim" / "pwned.txt").unlink(missing_ok=True)
    before = snapshot(registry, cohort_root)
    models = ["victim", *(f"hostile-{r}" for r in ROUTES)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sandbox, "DEFAULT_FSIZE", FSIZE)
        result = run_benchmark(
            TINY_SPEC,
            models,
            out=out,
            seeds=1,
            device="cpu",
            registry_root=registry,
            seal=seal,
            workers=2,
        )
    predictions = out / "predictions.parquet"
    at_end = hashlib.sha256(predictions.read_bytes()).hexdigest()
    later = at_end
    deadline = time.monotonic() + (30 if not seal else 3)
    while time.monotonic() < deadline and later == at_end:  # a daemon's rewrite, if any
        time.sleep(0.3)
        later = hashlib.sha256(predictions.read_bytes()).hexdigest()
    alive = daemons()
    for pid in alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    run = HostileRun(
        result=result,
        run_dir=out,
        listener={
            "tcp": listener.tcp,
            "udp": listener.udp,
            "abstract": listener.abstract,
            "signals": listener.signals,
        },
        pwned_env=os.environ.pop("BRAINBENCH_PWNED", None) is not None,
        shm=shm.exists(),
        before=before,
        after=snapshot(registry, cohort_root),
        predictions_at_finalisation=at_end,
        predictions_later=later,
        daemons_after=alive,
    )
    shm.unlink(missing_ok=True)
    return run


@pytest.fixture(scope="session")
def unsealed(cohorts, hostile_registry, listener, tmp_path_factory) -> HostileRun:  # noqa: F811
    return _run(
        cohorts, hostile_registry, listener, tmp_path_factory.mktemp("unsealed") / "run", seal=False
    )


@pytest.fixture(scope="session")
def sealed(cohorts, hostile_registry, listener, unsealed, tmp_path_factory) -> HostileRun:  # noqa: F811
    shutil.rmtree(hostile_registry / "models" / "victim" / "__pycache__", ignore_errors=True)
    return _run(
        cohorts, hostile_registry, listener, tmp_path_factory.mktemp("sealed") / "run", seal=True
    )

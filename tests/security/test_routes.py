"""Red team: every route a hostile registry entry may take works unsealed and fails sealed.

Each ``hostile-<route>`` entry (``registry/hostile.py``) runs in two runs of the same tiny
benchmark: ``unsealed`` (``seal=False``: the positive control, the route works) and ``sealed``
(the default: the route fails, no label is obtained, and no file outside the model's scratch
folder changes). See docs/security.md for the threat model.
"""

from __future__ import annotations

import base64
import errno
import importlib.util
import json
import os
import pickle

import pandas as pd
import pytest

from .conftest import FSIZE, HERE, ROUTES, HostileRun


def report(run: HostileRun, route: str) -> dict:
    """The first ``HOSTILE`` line of the route's unit log (what it did in ``fit``)."""
    log = run.run_dir / "logs" / f"hostile-{route}__r0-f0-s0.log"
    lines = [ln for ln in log.read_text().splitlines() if ln.startswith("HOSTILE ")]
    assert lines, f"the hostile entry printed nothing in {log}:\n{log.read_text()[-3000:]}"
    return json.loads(lines[0][len("HOSTILE ") :])


def stolen(run: HostileRun, route: str) -> int:
    """Test and external-test images the entry predicted from the true labels."""
    df = pd.read_parquet(run.run_dir / "predictions.parquet")
    mine = df[(df["model"] == f"hostile-{route}") & (df["partition"] != "validation")]
    sure = mine[["score_CN", "score_AD"]].max(axis=1) == 1.0
    return int((sure & (mine["y_pred"] == mine["y_true"])).sum())


def unit(run: HostileRun, model: str) -> dict:
    return next(u for u in run.result.units if u["model"] == model)


# -- the positive controls: unsealed, every route works ---------------------------------------
@pytest.mark.parametrize("route", ["crawl", "units"])
def test_unsealed_label_routes_get_the_labels(unsealed, route):
    assert report(unsealed, route)["ok"]
    assert stolen(unsealed, route) > 0


def test_unsealed_runner_proc_files_are_readable(unsealed):
    """The runner's environment, command line and working directory: where a run started by
    ``VAR=/data brainbench run`` names its data (this test's runner is pytest itself)."""
    assert report(unsealed, "proc-parent")["detail"] == {
        "environ": True,
        "cmdline": True,
        "cwd": True,
    }


@pytest.mark.parametrize(
    "route", ["proc-mem", "ptrace", "tamper", "registry-write", "daemon", "signal", "shm"]
)
def test_unsealed_reach_routes_work(unsealed, route):
    assert report(unsealed, route)["ok"], report(unsealed, route)


def test_unsealed_side_effects_happen(unsealed):
    assert report(unsealed, "proc-mem")["detail"]["hits"] > 0  # the runner's memory, read
    assert unsealed.listener["tcp"] and unsealed.listener["udp"] and unsealed.listener["abstract"]
    assert unsealed.listener["signals"] > 0
    assert unsealed.shm
    assert report(unsealed, "scratch")["detail"]["bytes"] == 64 << 20
    changed = {p for p in unsealed.after if unsealed.before.get(p) != unsealed.after[p]}
    assert any(p.endswith("victim/pwned.txt") for p in changed)
    assert unsealed.predictions_later != unsealed.predictions_at_finalisation  # the daemon


def test_unsealed_tampering_voids_the_run(unsealed):
    """The journal: the victim's output was rewritten and its JSON's sha256 "fixed", yet the
    runner's own record catches it and the run is void."""
    assert not unsealed.result.ok
    assert any(p.startswith("victim__") for p in unsealed.result.tampered)
    victim = unit(unsealed, "victim")
    assert victim["status"] == "failed" and victim["error_kind"] == "tampered", victim
    assert unsealed.result.provenance["integrity"]["ok"] is False


def test_pickle_payload_would_run_code_where_unpickled(unsealed):
    """Positive control of the channel: the payload the entry sent runs code in whoever
    unpickles it (as multiprocessing's Connection.recv() did in the runner)."""
    found = report(unsealed, "pickle")
    assert found["ok"] and found["detail"]["sockets"] >= 1
    payload = base64.b64decode(found["detail"]["payload"])
    try:
        pickle.loads(payload)
        assert os.environ["BRAINBENCH_PWNED"] == "runner code execution"
    finally:
        os.environ.pop("BRAINBENCH_PWNED", None)


def test_inherited_descriptor_route_reads_labels_when_one_leaks(cohorts, tmp_path):
    """Positive control of ``fds``: with a label file open in the process, the probe reads it
    through /proc/self/fd (model processes inherit no descriptor but the channel)."""
    spec = importlib.util.spec_from_file_location("hostile_probe", HERE / "registry" / "hostile.py")
    hostile = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hostile)
    found = {"detail": {}, "ok": False}
    with open(cohorts / "dev" / "participants.tsv", "rb"):
        labels = hostile.route_fds(found)
    assert found["ok"] and labels


# -- sealed: every route fails ----------------------------------------------------------------
@pytest.mark.parametrize("route", ROUTES)
def test_sealed_routes_obtain_no_label(sealed, route):
    if route != "pickle":  # its unit fails: it broke the channel
        assert stolen(sealed, route) == 0
        assert report(sealed, route)["ok"] is False or route in ("daemon", "scratch"), report(
            sealed, route
        )


def test_sealed_channel_does_not_execute(sealed):
    assert report(sealed, "pickle")["ok"]  # it found the socket and sent its payload...
    assert not sealed.pwned_env  # ...which ran nothing in the runner
    u = unit(sealed, "hostile-pickle")
    assert u["status"] == "failed" and u["error_kind"] == "protocol", u


def test_sealed_nothing_outside_scratch_changes(sealed):
    assert sealed.after == sealed.before  # the registry (other entries) and the cohorts
    assert not sealed.shm
    assert sealed.predictions_later == sealed.predictions_at_finalisation
    assert sealed.daemons_after == []  # the daemon died with its unit
    victim = unit(sealed, "victim")
    assert victim["status"] == "ok"
    assert sealed.result.provenance["seal"]["level"] == "full"


def test_sealed_network_signals_and_files_fail(sealed):
    assert sealed.listener == {"tcp": 0, "udp": 0, "abstract": 0, "signals": 0}
    scratch = report(sealed, "scratch")["detail"]
    assert scratch["bytes"] <= FSIZE and str(errno.EFBIG) in scratch["error"]
    for route in ("proc-parent", "proc-mem", "ptrace", "signal"):
        assert report(sealed, route)["ok"] is False

"""``registry check`` runs the entry in the sandbox: scrubbed environment, whole-tree timeout,
and a verdict the checker computes from the predictions it receives (never the entry's word)."""

from __future__ import annotations

import os
import time

from brainbench.registry.check import CheckOptions, check_entry
from tests.registry.conftest import MODEL_PY, write_entry

from .conftest import daemons

FIT = "    def fit(self, train, validation, ctx):\n"


def _rules(folder, **options) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in check_entry(folder, CheckOptions(**options)).findings:
        out.setdefault(f.rule, []).append(f)
    return out


def test_the_entry_sees_no_secret_of_the_checker(tmp_path, monkeypatch):
    monkeypatch.setenv("CI_DEPLOY_TOKEN", "s3cret-token-value")
    code = "import os\nraise ImportError(' '.join(f'{k}={v}' for k, v in os.environ.items()))\n"
    (f,) = _rules(write_entry(tmp_path, model_py=code + MODEL_PY))["R407"]
    assert "PATH=" in f.message  # the environment was printed...
    assert "s3cret" not in f.message and "CI_DEPLOY_TOKEN" not in f.message  # ...scrubbed


def test_timeout_kills_the_whole_process_tree(tmp_path):
    spawn = (
        FIT + "        import os, sys, time\n"
        "        if os.fork() == 0:\n"
        "            os.setsid()\n"
        "            os.execv(sys.executable, [sys.executable, '-c', 'import time; "
        "time.sleep(60)', 'brainbench-hostile-daemon'])\n"
        "        time.sleep(60)\n"
    )
    folder = write_entry(tmp_path, model_py=MODEL_PY.replace(FIT, spawn))
    (f,) = _rules(folder, timeout=6)["R410"]
    assert "took over 6 s" in f.message
    time.sleep(0.5)
    assert daemons() == []  # the grandchild in its own session died too


def test_a_forged_result_does_not_pass(tmp_path):
    """The entry finds the channel and reports success for every task, then exits."""
    forge = (
        FIT + "        import gc, os, socket\n"
        "        from brainbench.sandbox import channel\n"
        "        for s in [o for o in gc.get_objects() if isinstance(o, socket.socket)]:\n"
        "            tasks = {t: {'phase': 'done'} for t in ('classification', 'regression')}\n"
        "            channel.send(s, 'result', {'phase': 'done', 'tasks': tasks})\n"
        "        os._exit(0)\n"
    )
    found = _rules(write_entry(tmp_path, model_py=MODEL_PY.replace(FIT, forge)))
    assert sorted(f.message.split(":")[0] for f in found["R408"]) == [
        "classification",
        "regression",
    ]


def test_a_sound_entry_passes_in_the_sandbox(tmp_path):
    assert _rules(write_entry(tmp_path)) == {}
    assert os.environ.get("BRAINBENCH_PWNED") is None

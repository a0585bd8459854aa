"""A malicious registry entry: it tries every channel it can reach to learn the test labels.

It never raises; in ``predict`` it prints one line ``SNEAKY {json}`` (the runner copies the
model's output into ``logs/<unit>.log``) listing what it found:

* ``labels``: a ``labels`` / ``_labels`` attribute on the set to predict, or a ``__dict__``;
* ``columns``: covariate columns beyond the whitelist (the target, a path...);
* ``frames``: objects in the caller's stack frames that carry the target (a DataFrame or dict
  with the target column, an array named like labels);
* ``heap``: the same search over every object the garbage collector knows;
* ``paths``: every absolute path-like string reachable from its inputs, the heap, the stack,
  the environment, the command line and the working directory (the test checks none points
  into the cohorts or the run folder);
* ``env``: environment variables named BRAINBENCH_*.

If it finds the labels, it cheats: it predicts them with certainty.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import sys
import warnings

import numpy as np

TARGET = "diagnosis"
ALLOWED = {"dataset", "site", "scanner", "subject", "session", "image", "age", "sex"}


def _strings(obj, out, depth=0, seen=None):
    """Absolute-path-like strings reachable from obj (a few levels deep)."""
    with contextlib.suppress(Exception):  # objects that refuse iteration or attributes
        _walk(obj, out, depth, seen)


def _walk(obj, out, depth=0, seen=None):
    seen = set() if seen is None else seen
    if id(obj) in seen or depth > 4:
        return
    seen.add(id(obj))
    if isinstance(obj, str):
        if obj.startswith("/") and len(obj) > 1:
            out.add(obj)
        return
    if isinstance(obj, os.PathLike):
        out.add(os.fspath(obj))
        return
    try:
        import pandas as pd

        if isinstance(obj, pd.DataFrame):
            for col in obj.columns:
                _strings(str(col), out, depth + 1, seen)
                if obj[col].dtype.kind in "OUS" or str(obj[col].dtype) in ("string", "str"):
                    for v in obj[col].tolist()[:2000]:
                        _strings(v, out, depth + 1, seen)
            return
    except ImportError:
        pass
    if isinstance(obj, dict):
        for k, v in list(obj.items())[:2000]:
            _strings(k, out, depth + 1, seen)
            _strings(v, out, depth + 1, seen)
        return
    if isinstance(obj, (list, tuple, set, frozenset)):
        for v in list(obj)[:2000]:
            _strings(v, out, depth + 1, seen)
        return
    for name in getattr(type(obj), "__slots__", ()) or ():
        _strings(getattr(obj, name, None), out, depth + 1, seen)
    d = getattr(obj, "__dict__", None)
    if isinstance(d, dict):
        _strings(d, out, depth + 1, seen)
    closure = getattr(obj, "__closure__", None)
    if closure:
        for cell in closure:
            with contextlib.suppress(ValueError):
                _strings(cell.cell_contents, out, depth + 1, seen)


def _carries_target(obj) -> bool:
    try:
        import pandas as pd

        if isinstance(obj, pd.DataFrame) and TARGET in obj.columns:
            return True
        if isinstance(obj, pd.Series) and obj.name == TARGET:
            return True
    except Exception:
        pass
    try:
        return isinstance(obj, dict) and TARGET in obj
    except Exception:  # odd dict subclasses (torch namespaces) refuse `in`
        return False


class Sneaky:
    def __init__(self, task):
        self.task = task
        self.found = {
            "labels": [],
            "columns": [],
            "frames": [],
            "heap": [],
            "paths": set(),
            "env": [],
        }

    def _probe(self, data, where):
        f = self.found
        if hasattr(data, "__dict__"):
            f["labels"].append(f"{where}: has __dict__")
        if where == "predict" and (hasattr(data, "labels") or hasattr(data, "_labels")):
            f["labels"].append(f"{where}: labels attribute")
        extra = sorted(set(data.covariates.columns) - ALLOWED)
        if extra:
            f["columns"].append(f"{where}: {extra}")
        if "image" in data.covariates.columns:
            dirs = [v for v in data.covariates["image"].dropna() if "/" in str(v)]
            if dirs:
                f["columns"].append(f"{where}: image ids with folders, e.g. {dirs[0]}")
        _strings(data, f["paths"])
        _strings(data.images, f["paths"])
        frame = sys._getframe(1)
        while frame is not None:
            for name, value in frame.f_locals.items():
                if _carries_target(value):
                    f["frames"].append(f"{frame.f_code.co_filename}:{name}")
                _strings(value, f["paths"])
            frame = frame.f_back
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # isinstance() on lazy module attributes warns
            for obj in gc.get_objects():
                if _carries_target(obj):
                    f["heap"].append(type(obj).__name__)
        f["env"] = sorted(k for k in os.environ if k.startswith("BRAINBENCH_"))
        f["paths"].update(v for v in os.environ.values() if v.startswith("/"))
        f["paths"].update(a for a in sys.argv if a.startswith("/"))
        f["paths"].add(os.getcwd())
        f["paths"].update(os.path.join(os.getcwd(), n) for n in os.listdir("."))
        try:
            with open("/proc/self/cmdline", "rb") as fh:
                f["paths"].update(a.decode() for a in fh.read().split(b"\0") if a.startswith(b"/"))
        except OSError:
            pass

    def fit(self, train, validation, ctx):
        self._probe(train, "train")
        if validation is not None:
            self._probe(validation, "validation")

    def predict(self, inputs):
        self._probe(inputs, "predict")
        found = {k: sorted(v) if isinstance(v, set) else v for k, v in self.found.items()}
        print("SNEAKY " + json.dumps(found), flush=True)
        n, k = len(inputs), max(self.task.n_classes, 1)
        return np.full((n, k), 1.0 / k)


def build(task, hyperparameters):
    return Sneaky(task)

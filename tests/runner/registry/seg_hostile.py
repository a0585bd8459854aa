"""A hostile segmentation entry: it tries to obtain the reference masks of the images it must
predict, by two routes, and predicts what it stole (zeros otherwise).

* crawl: walk the folders around it and ``GUESS`` (where the data lie; set by the tests, as
  an attacker who knows the site's layout would) for ``*_dseg.nii*`` files and read them;
* channel: ask the runner, over the model process's own channel, for the masks of the test
  images (the keys the runner uses for masks, ``-(key + 1)``), as it may for training images.

Each route prints ``ROUTE <name>: <outcome>`` to its log.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

GUESS = "/tmp"  # replaced by the tests


def _crawl() -> dict[str, np.ndarray]:
    import nibabel as nib

    here = Path(__file__).resolve()
    roots = [Path(GUESS), *here.parents[:3], Path(os.getcwd())]
    found: dict[str, np.ndarray] = {}
    seen = 0
    for root in dict.fromkeys(roots):
        for folder, dirs, files in os.walk(root, onerror=lambda e: None):
            seen += 1
            if seen > 50000:
                break
            dirs[:] = [d for d in dirs if not d.startswith((".", "proc", "sys"))]
            for name in files:
                if "_dseg.nii" in name:
                    with contextlib.suppress(Exception):
                        found[name] = np.asarray(nib.load(os.path.join(folder, name)).dataobj)
    return found


class Hostile:
    def __init__(self, task: Any) -> None:
        self.task = task

    def fit(self, train: Any, validation: Any, ctx: Any) -> None:
        self.stolen = _crawl()
        print(f"ROUTE crawl: {len(self.stolen)} mask file(s) read", file=sys.stderr)
        link, keys = train.masks._link, train.masks._keys
        try:  # the legitimate request: training masks (a positive control of the channel)
            link.fetch([int(k) for k in keys[:2]])
            print("ROUTE channel-train: ok", file=sys.stderr)
        except Exception as exc:
            print(f"ROUTE channel-train: refused ({exc})", file=sys.stderr)

    def predict(self, inputs: Any) -> np.ndarray:
        images = inputs.images
        link, keys = images._link, images._keys
        wanted = [-(int(k) + 1) for k in keys]
        try:
            link.fetch(wanted)
            print("ROUTE channel-test: ok", file=sys.stderr)
        except Exception as exc:
            print(f"ROUTE channel-test: refused ({exc})", file=sys.stderr)
        ids = inputs.covariates["image"].tolist()
        out = np.zeros((len(inputs), *self.task.spatial_shape), dtype=np.uint8)
        for i, (image, key) in enumerate(zip(ids, wanted, strict=True)):
            name = str(image).split(".nii")[0].rsplit("_", 1)[0] + "_dseg.nii.gz"
            mask = link.cache.get(key)
            mask = self.stolen.get(name) if mask is None else mask
            if mask is not None:
                out[i] = np.asarray(mask, dtype=np.uint8).reshape(self.task.spatial_shape)
        return out


def build(task: Any, hyperparameters: dict[str, Any]) -> Hostile:
    return Hostile(task)

"""Work units: one (model, repeat, fold, seed) training run, and their expansion."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from brainbench.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

#: More units than this in one run is a typing mistake (20 models x 50 folds x 100 seeds).
MAX_UNITS = 100_000

_UNIT_ID = re.compile(r"^(?P<model>.+)__r(?P<repeat>\d+)-f(?P<fold>\d+)-s(?P<seed>\d+)$")


@dataclass(frozen=True, order=True)
class Unit:
    """One training run: ``model`` fitted on the training part of ``(repeat, fold)`` with ``seed``.

    ``seed`` is the seed index (0 .. seeds-1), the value of the predictions table's ``seed``
    column; :attr:`rng_seed` is the number that seeds python, numpy and torch.
    """

    model: str
    repeat: int
    fold: int
    seed: int
    split_seed: int = 0

    @property
    def id(self) -> str:
        """File-system safe id, e.g. ``cnn3d-small__r0-f2-s1``."""
        return f"{self.model}__r{self.repeat}-f{self.fold}-s{self.seed}"

    @property
    def rng_seed(self) -> int:
        """Training seed derived from the split seed, repeat, fold and seed index (not the model:
        every model of one (repeat, fold, seed) starts from the same seed)."""
        text = f"{self.split_seed}:{self.repeat}:{self.fold}:{self.seed}"
        return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") % (2**31 - 1)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "id": self.id, "rng_seed": self.rng_seed}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Unit:
        return cls(
            model=str(d["model"]),
            repeat=int(d["repeat"]),
            fold=int(d["fold"]),
            seed=int(d["seed"]),
            split_seed=int(d.get("split_seed", 0)),
        )


def split_folds(splits: pd.DataFrame) -> list[tuple[int, int]]:
    """The distinct ``(repeat, fold)`` pairs of a split table, sorted."""
    pairs = splits[["repeat", "fold"]].drop_duplicates().astype(int)
    return sorted((int(r), int(f)) for r, f in pairs.itertuples(index=False))


def expand_units(
    models: Sequence[str],
    folds: Iterable[tuple[int, int]],
    seeds: int,
    *,
    split_seed: int = 0,
) -> list[Unit]:
    """Every unit of ``models x (repeat, fold) x range(seeds)``, in execution order.

    The order is model, repeat, fold, seed, so that the units of one model finish together
    (a partial run is still a usable comparison of the first models).

    Raises
    ------
    ValueError
        No model, no fold, fewer than one seed, or a model listed twice.
    """
    models = list(models)
    folds = sorted(set(folds))
    if not models:
        raise ValueError("no model to run")
    if len(set(models)) != len(models):
        dup = sorted({m for m in models if models.count(m) > 1})
        raise ValueError(f"model(s) listed twice: {', '.join(dup)}")
    if not folds:
        raise ValueError("the split table has no (repeat, fold)")
    if seeds < 1:
        raise ValueError(f"seeds must be at least 1, got {seeds}")
    total = len(models) * len(folds) * seeds
    if total > MAX_UNITS:
        # Refused before the list is built: a spec's `seeds: 1000000000` would exhaust memory.
        raise UserError(
            f"The run would train {total:,} units ({len(models)} model(s) x {len(folds)} "
            f"(repeat, fold) x {seeds:,} seed(s)); brainbench refuses more than {MAX_UNITS:,}. "
            "Lower protocol.seeds (or --seeds), the number of models or the split's repeats."
        )
    return [
        Unit(model=m, repeat=r, fold=f, seed=s, split_seed=split_seed)
        for m in models
        for r, f in folds
        for s in range(seeds)
    ]


def parse_unit_id(text: str) -> tuple[str, int, int, int]:
    """``(model, repeat, fold, seed)`` of a unit id; ValueError when it is not one."""
    m = _UNIT_ID.match(text)
    if m is None:
        raise ValueError(f"not a unit id: {text!r} (expected MODEL__rR-fF-sS)")
    return m["model"], int(m["repeat"]), int(m["fold"]), int(m["seed"])


__all__ = ["Unit", "expand_units", "parse_unit_id", "split_folds"]

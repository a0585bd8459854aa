"""Unit expansion: model x (repeat, fold) x seed, ids and seeds."""

from __future__ import annotations

import pandas as pd
import pytest

from brainbench.runner import Unit, expand_units, parse_unit_id
from brainbench.runner._units import split_folds


def test_expansion_is_the_full_product_in_model_order():
    units = expand_units(["b", "a"], [(0, 1), (0, 0), (1, 0)], 3)
    assert len(units) == 2 * 3 * 3
    assert [u.model for u in units[:9]] == ["b"] * 9
    assert [(u.repeat, u.fold, u.seed) for u in units[:4]] == [
        (0, 0, 0),
        (0, 0, 1),
        (0, 0, 2),
        (0, 1, 0),
    ]
    assert len({u.id for u in units}) == len(units)


def test_folds_come_from_the_split_table():
    splits = pd.DataFrame(
        {"repeat": [0, 0, 0, 1, 1], "fold": [0, 1, 1, 0, 0], "partition": ["train"] * 5}
    )
    assert split_folds(splits) == [(0, 0), (0, 1), (1, 0)]


def test_unit_id_round_trip_and_seed_pairing():
    u = Unit("cnn3d-small", 1, 2, 3, split_seed=2024)
    assert u.id == "cnn3d-small__r1-f2-s3"
    assert parse_unit_id(u.id) == ("cnn3d-small", 1, 2, 3)
    assert Unit.from_dict(u.to_dict()) == u
    # every model of one (repeat, fold, seed) trains from the same seed; other seeds differ
    assert Unit("voxel-linear", 1, 2, 3, 2024).rng_seed == u.rng_seed
    seeds = {Unit("m", 0, f, s, 2024).rng_seed for f in range(5) for s in range(5)}
    assert len(seeds) == 25
    assert all(0 <= s < 2**31 - 1 for s in seeds)


@pytest.mark.parametrize(
    ("models", "folds", "seeds", "match"),
    [
        ([], [(0, 0)], 1, "no model"),
        (["a", "a"], [(0, 0)], 1, "twice"),
        (["a"], [], 1, "no"),
        (["a"], [(0, 0)], 0, "at least 1"),
    ],
)
def test_expansion_errors(models, folds, seeds, match):
    with pytest.raises(ValueError, match=match):
        expand_units(models, folds, seeds)


def test_a_run_of_absurd_size_is_refused_before_the_units_are_built():
    """`protocol.seeds: 1000000000` in a spec once hung the runner building a billion units."""
    from brainbench.errors import UserError

    with pytest.raises(UserError, match=r"1,000,000,000 units \(1 model\(s\) x 1 \(repeat"):
        expand_units(["a"], [(0, 0)], 10**9)
    assert len(expand_units(["a", "b"], [(0, 0), (0, 1)], 25_000)) == 100_000


def test_bad_unit_id():
    with pytest.raises(ValueError, match="not a unit id"):
        parse_unit_id("cnn3d-small-r0")


def test_dry_run_lists_units_and_writes_nothing(cohorts, registry, tmp_path, monkeypatch, capsys):
    from brainbench.cli import main

    from .conftest import TINY_SPEC

    monkeypatch.chdir(tmp_path)
    argv = ["run", str(TINY_SPEC), "--dry-run", "--seeds", "2", "--registry", str(registry)]
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "6 unit(s)" in out and "cnn3d-small__r0-f0-s1" in out
    assert list(tmp_path.iterdir()) == []

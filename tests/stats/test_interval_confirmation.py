"""The confirmation run of the calibrated interval defaults (issue 15): only the chosen method
(and percentile) on fresh data sets, and the table that reads it flags a regime it fails."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from brainbench.cli import cli
from brainbench.errors import UserError
from brainbench.stats._calibrate_grid import (
    GRID_PRESETS,
    METRIC_NAMES,
    _confirmed_methods,
    _data,
    cell_intervals,
    grid_cells,
    render_grid_markdown,
    run_cell,
    run_interval_grid,
)
from brainbench.stats._interval_defaults import (
    calibrated_choice,
    choose_defaults,
    render_defaults_markdown,
)
from brainbench.stats._intervals import INTERVAL_METHODS

RESULTS = Path(__file__).parents[2] / "benchmarks" / "stats" / "results"


def test_confirm_quick_runs_only_the_chosen_method_on_fresh_seeded_data(tmp_path):
    out = tmp_path / "confirm.json"
    r = CliRunner().invoke(
        cli,
        ["calibrate", "--grid", "confirm-quick", "--seed", "7", "--format", "json", "-o", str(out)],
    )
    assert r.exit_code == 0, r.output
    res = json.loads(out.read_text())
    assert (
        res["confirms"] and res["command"] == "brainbench calibrate --grid confirm-quick --seed 7"
    )
    for sites in (4, 8):
        rows = [x for x in res["coverage"] if x["sites"] == sites]
        chosen = calibrated_choice("balanced_accuracy", sites, 20, "site").method
        assert {x["method"] for x in rows} == {chosen, "percentile"}
        assert [x["method"] for x in rows if x["chosen"]] == [chosen]
        assert all(x["n"] == 200 for x in rows)
    # Design j of metric i draws from rng([seed, i, j]): a cell reruns alone.
    again = run_cell(
        np.random.default_rng([7, METRIC_NAMES.index("balanced_accuracy"), 1]),
        "balanced_accuracy",
        8,
        20,
        1,
        0.05,
        0.5,
        200,
        199,
        [calibrated_choice("balanced_accuracy", 8, 20, "site").method, "percentile"],
    )
    assert [x | {"chosen": False} for x in again] == [
        x | {"chosen": False} for x in res["coverage"] if x["sites"] == 8
    ]
    assert len(res["cell_seconds"]) == 2
    md = render_grid_markdown(res)
    assert "| chosen method | chosen | percentile | n | s |" in md
    # The selection runs' seed would reuse their data sets.
    with pytest.raises(UserError, match="independent of the runs that chose the defaults"):
        run_interval_grid("confirm-quick", seed=2024)
    # The committed confirmation's own seed is not a selection seed: it reruns.
    assert set(_confirmed_methods(GRID_PRESETS["confirm-quick"], 2025).values()) == {
        calibrated_choice("balanced_accuracy", s, 20, "site").method for s in (4, 8)
    }


def test_confirm_grid_covers_every_regime_with_new_designs():
    cells = grid_cells(GRID_PRESETS["confirm"])
    assert len(cells) == len(set(cells)) == 5 * 33
    ba = {c[1:] for c in cells if c[0] == "balanced_accuracy"}
    for sites in ((4, 6), (8, 16, 32)):
        for per in (5, 20, 80):
            mine = [c for c in ba if c[0] in sites and c[1] == per]
            assert {c[2] for c in mine} == {1, 3} and {c[3] for c in mine} == {0.0, 0.05, 0.2}
            assert {c[4] for c in mine} == {0.5, 0.2}
    assert {c[5] for c in cells if c[0] == "mae"} == {0.5}


def test_cell_intervals_of_a_subset_are_those_of_the_full_set():
    rng = np.random.default_rng(3)
    cols, site, subject = _data(rng, "sensitivity", 5, 12, 1, 0.1, 0.5)

    def run(methods):
        return cell_intervals(
            "sensitivity",
            cols,
            site,
            subject,
            resamples=99,
            rng=np.random.default_rng(4),
            methods=methods,
        )

    full = run(None)
    # The hierarchical bootstrap draws first, so percentile/BCa agree draw for draw; CR2
    # draws nothing.
    assert run(["percentile", "bca"]) == {m: full[m] for m in ("percentile", "bca")}
    assert run(["cr2"]) == {"cr2": full["cr2"]}
    assert set(full) == set(INTERVAL_METHODS)  # every candidate applies to sensitivity


def _row(method, sites, cov, se=0.01, **kw):
    return {
        "metric": "mae",
        "sites": sites,
        "subjects_per_site": 20,
        "sessions": 1,
        "icc": 0.05,
        "prevalence": 0.5,
        "method": method,
        "coverage": cov,
        "mc_se": se,
        "n": 2000,
    } | kw


def test_a_failed_confirmation_flags_the_regime():
    selection = {
        "command": "select",
        "grid": {"replicates": 200},
        "coverage": [
            _row("percentile", 4, 0.90),
            _row("cr2", 4, 0.95),
            _row("percentile", 8, 0.95),
            _row("cr2", 8, 0.97),
        ],
    }
    se = float(np.sqrt(0.95 * 0.05 / 2000))
    confirmation = {
        "command": "confirm",
        "confirms": ["select"],
        "grid": {"replicates": 2000},
        "coverage": [
            # 4-7 sites: cr2 at 92.0% with SE 0.49: more than two SEs below 94%.
            _row("cr2", 4, 0.955, se, chosen=True),
            _row("cr2", 6, 0.92, se, chosen=True, sessions=3, icc=0.0),
            _row("percentile", 6, 0.88, se, chosen=False, sessions=3, icc=0.0),
            # >= 8 sites: percentile chosen there and within the goal.
            _row("percentile", 16, 0.951, se, chosen=True),
        ],
    }
    table = json.loads(json.dumps(choose_defaults([selection, confirmation])))
    assert table["generated_by"] == ["select", "confirm"]
    few, many = table["choices"]
    assert (few["method"], many["method"]) == ("cr2", "percentile")
    c = few["confirmation"]
    assert (c["cells"], c["n_per_cell"], c["consistent_with_goal"]) == (2, [2000, 2000], False)
    assert c["coverage"]["min"] == 0.92 and c["percentile"]["max"] == 0.88
    assert not few["consistent_with_goal"] and "6 sites x 20 subjects x 3 sessions" in few["why"]
    assert many["consistent_with_goal"] and many["confirmation"]["meets_goal"]
    choice = calibrated_choice("mae", 5, 20, "site", table)
    assert "in a confirmation run (2 designs, 2000 data sets each" in choice.warning
    assert choice.calibration["coverage_min"] == 0.92
    assert choice.calibration["data_sets_per_design"] == 2000
    assert calibrated_choice("mae", 16, 20, "site", table).warning is None
    md = render_defaults_markdown(table)
    assert "| mae | 4-7 sites | 10-39 subjects per site | cr2 | 92.0-95.5 | 1/1/2 | 2000 |" in md
    assert "**flagged**" in md

    # A confirmation of another method (the table changed since) confirms nothing and
    # flags nothing: the regime keeps its selection verdict.
    stale = confirmation | {
        "coverage": [_row("bca", 16, 0.80, se, chosen=True)],
    }
    (_, many) = choose_defaults([selection, stale])["choices"]
    assert many["confirmation"]["cells"] == 0 and many["consistent_with_goal"]
    assert "not confirmed" in render_defaults_markdown(choose_defaults([selection, stale]))


def test_a_precise_selection_run_supersedes_the_coarse_runs_in_its_regimes():
    coarse = {
        "command": "coarse",
        "grid": {"replicates": 200},
        "coverage": [
            # By luck percentile looks best at 4 sites on 200 data sets.
            _row("percentile", 4, 0.95),
            _row("cr2", 4, 0.93),
            _row("percentile", 8, 0.95),
            _row("cr2", 8, 0.97),
        ],
    }
    se = float(np.sqrt(0.95 * 0.05 / 2000))
    precise = {
        "command": "precise",
        "grid": {"replicates": 2000},
        "coverage": [
            _row("percentile", 6, 0.91, se),
            _row("cr2", 6, 0.949, se),
            _row("percentile", 4, 0.90, se, sessions=3),
            _row("cr2", 4, 0.945, se, sessions=3),
        ],
    }
    few, many = choose_defaults([coarse, precise])["choices"]
    # 4-7 sites: only the precise run's two designs count; the coarse cell is dropped.
    assert (few["method"], few["cells"], few["source"]) == ("cr2", 2, "precise")
    assert few["coverage"]["cr2"]["min"] == 0.945 and few["consistent_with_goal"]
    # >= 8 sites: no precise run there, the coarse run still decides.
    assert (many["method"], many["source"]) == ("percentile", "coarse")
    assert ">= 2000 data sets per design" in choose_defaults([coarse])["rule"]


def test_reselection_and_fresh_confirmation_cover_the_flagged_regimes_in_new_designs():
    from brainbench.stats._calibrate_grid import FLAGGED_BY_CONFIRMATION
    from brainbench.stats._interval_defaults import regime

    reselect = grid_cells(GRID_PRESETS["reselect"])
    fresh = grid_cells(GRID_PRESETS["confirm-fresh"])
    first = set(grid_cells(GRID_PRESETS["confirm"]))
    assert GRID_PRESETS["reselect"]["replicates"] == 2000
    assert "confirm" not in GRID_PRESETS["reselect"] and GRID_PRESETS["confirm-fresh"]["confirm"]
    # The re-selection evaluates every candidate in the first confirmation's designs of the
    # flagged regimes; the fresh confirmation's designs are new to both.
    assert set(reselect) <= first and not set(fresh) & first
    for cells in (reselect, fresh):
        regimes = {(c[0], regime(c[1], c[2])) for c in cells}
        flagged = {
            (m, regime({"4-7": 4, ">= 8": 8}[s], per))
            for m, rs in FLAGGED_BY_CONFIRMATION.items()
            for s, per in rs
        }
        assert regimes == flagged
    # Each regime's fewest sites and the ICC 0.2 corner are in the fresh confirmation, and 7
    # sites x 8 subjects reaches the goal's 40 test subjects.
    ba = [c for c in fresh if c[0] == "balanced_accuracy"]
    assert {(c[1], c[2]) for c in ba} == {(4, 8), (7, 8)}
    assert any(c[1] == 4 and c[4] == 0.2 for c in ba) and max(c[1] * c[2] for c in ba) >= 40


def test_grid_resamples_option_is_recorded_and_used(tmp_path):
    out = tmp_path / "grid.json"
    args = ["calibrate", "--grid", "quick", "--replicates", "10", "--resamples", "99"]
    r = CliRunner().invoke(cli, [*args, "--format", "json", "-o", str(out)])
    assert r.exit_code == 0, r.output
    res = json.loads(out.read_text())
    assert res["grid"]["resamples"] == 99
    assert (
        res["command"]
        == "brainbench calibrate --grid quick --seed 2024 --replicates 10 --resamples 99"
    )
    # Fewer resamples, other intervals: the option reaches the bootstrap.
    again = run_interval_grid("quick", replicates=10, resamples=199)
    assert [x["coverage"] for x in again["coverage"]] != [
        x["coverage"] for x in res["coverage"]
    ] or [x["mean_width"] for x in again["coverage"]] != [x["mean_width"] for x in res["coverage"]]


def test_goal_scope_judges_only_designs_with_40_test_subjects():
    se = float(np.sqrt(0.95 * 0.05 / 2000))
    run = {
        "command": "precise",
        "grid": {"replicates": 2000},
        "coverage": [
            # 4 x 5 = 20 test subjects: below the goal's scope, and under-covering.
            _row("cr2", 4, 0.90, se, subjects_per_site=5),
            _row("cr2", 7, 0.95, se, subjects_per_site=8),
            _row("percentile", 4, 0.85, se, subjects_per_site=5),
            _row("percentile", 7, 0.99, se, subjects_per_site=8),
        ],
    }
    (e,) = choose_defaults([run])["choices"]
    assert e["method"] == "cr2" and not e["consistent_with_goal"]  # the engine still flags
    assert e["goal_scope"] == {"designs": 1, "consistent_with_goal": True}
    md = render_defaults_markdown(choose_defaults([run]))
    assert "| mae | 4-7 sites | 1-9 subjects per site | **cr2** | no | yes (1) | 2 |" in md
    # Nothing in scope: no verdict.
    small = run | {"coverage": run["coverage"][::2]}
    assert choose_defaults([small])["choices"][0]["goal_scope"]["consistent_with_goal"] is None


def test_confirmation_reads_the_table_named_by_the_environment(tmp_path, monkeypatch):
    # A table as it stood before a later selection run: the confirmation confirms its choice.
    from brainbench.stats._calibrate_grid import CONFIRM_TABLE_ENV
    from brainbench.stats._interval_defaults import load_table

    table = json.loads(json.dumps(load_table()))
    (entry,) = [
        e
        for e in table["choices"]
        if (e["metric"], e["sites"], e["subjects_per_site"])
        == ("balanced_accuracy", "4-7 sites", "10-39 subjects per site")
    ]
    entry["method"] = "bca" if entry["method"] != "bca" else "cr2"
    table["generated_by"] = ["brainbench calibrate --grid partial --seed 11"]
    path = tmp_path / "table-1.json"
    path.write_text(json.dumps(table))
    monkeypatch.setenv(CONFIRM_TABLE_ENV, str(path))
    res = run_interval_grid("confirm-quick", seed=2024, replicates=10, resamples=99)
    assert res["confirms"] == table["generated_by"]
    assert [x["method"] for x in res["coverage"] if x["chosen"] and x["sites"] == 4] == [
        entry["method"]
    ]
    with pytest.raises(UserError, match="seed 11"):
        run_interval_grid("confirm-quick", seed=11, replicates=10)


def test_early_selection_presets_evaluate_the_candidates_their_committed_runs_had():
    from brainbench.stats._calibrate_grid import EARLY_CANDIDATES

    for name, preset in [
        ("extended", "extended"),
        ("extended-specificity", "extended"),
        ("large-sites", "large-sites"),
    ]:
        committed = json.loads((RESULTS / f"interval-grid-{name}.json").read_text())
        assert {x["method"] for x in committed["coverage"]} == set(EARLY_CANDIDATES)
        assert GRID_PRESETS[preset]["methods"] == EARLY_CANDIDATES
    res = run_interval_grid("large-sites", replicates=2, resamples=19, metrics=["mae"])
    assert {x["method"] for x in res["coverage"]} == set(EARLY_CANDIDATES)
    # The table renders the columns the run had (the committed Markdown, byte for byte).
    for run in sorted(RESULTS.glob("interval-*.json")):
        md = render_grid_markdown(json.loads(run.read_text()))
        assert run.with_suffix(".md").read_text() == md + "\n", run.name


def test_confirmation_table_renders_a_design_where_the_chosen_method_gave_no_interval():
    res = json.loads((RESULTS / "interval-confirm-mae.json").read_text())
    first = res["coverage"][0]
    design = ("sites", "subjects_per_site", "sessions", "icc", "prevalence")
    res["coverage"] = [
        x
        for x in res["coverage"]
        if not (
            x["chosen"] and x["method"] != "percentile" and all(x[d] == first[d] for d in design)
        )
    ]
    row = render_grid_markdown(res).splitlines()[4]
    assert row.startswith("| mae | 4 | 5 | 1 | 0.2 | 0.5 | - | - |")
    assert row.endswith(f" | 0 | {res['cell_seconds'][0]:.0f} |")


def test_only_the_runs_that_evaluated_the_choice_confirm_it():
    se = float(np.sqrt(0.95 * 0.05 / 2000))
    selection = {
        "command": "select",
        "grid": {"replicates": 2000},
        "coverage": [_row("cr2", 8, 0.95, se), _row("percentile", 8, 0.90, se)],
    }
    old = {
        "command": "confirm-old",
        "confirms": [],
        "grid": {"replicates": 2000},
        "coverage": [
            _row("bca", 16, 0.99, se, chosen=True),
            _row("percentile", 16, 0.80, se, chosen=False),
        ],
    }
    new = {
        "command": "confirm-new",
        "confirms": [],
        "grid": {"replicates": 2000},
        "coverage": [
            _row("cr2", 24, 0.951, se, chosen=True),
            _row("percentile", 24, 0.97, se, chosen=False),
        ],
    }
    (e,) = choose_defaults([selection, old, new])["choices"]
    c = e["confirmation"]
    assert (c["source"], c["cells"]) == ("confirm-new", 1)
    assert c["percentile"]["min"] == c["percentile"]["max"] == 0.97
    assert e["consistent_with_goal"]

"""The run-time audit of the model entries, before any unit runs.

``validate`` sees the spec; the runner also knows which registry entries run, with which
hyper-parameters, on which cohort rows. For each entry it re-checks (the entry's input unit
against ``task.input.unit`` is checked just before, by
:func:`brainbench.registry.loading.check_task_fits`):

* rule L104 with the entry's declared pretraining data (``pretraining.cohorts`` of its
  ``model.yaml``) against the ids and dataset names of the cohorts that reach a test partition;
* rule L107: covariates that carry the target are withheld from every model, and the
  withholding is recorded as a deviation (``deviations`` of ``plan.json`` and
  ``provenance.json``), naming the entries that declare they read such a covariate.

A waiver of L104 in the spec whose scope covers a conflicting cohort turns the refusal into a
deviation, as ``validate`` would have silenced the finding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from brainbench.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

    from brainbench.spec import LoadedSpec


@dataclass
class Audit:
    """What the audit hands the plan: covariates to withhold, deviations to record."""

    withheld_covariates: list[str] = field(default_factory=list)
    deviations: list[dict[str, Any]] = field(default_factory=list)


def tested_names(loaded: LoadedSpec, cohort_table: pd.DataFrame) -> list[str]:
    """Cohort ids and dataset names whose rows reach a test partition."""
    from brainbench.validate.spec_rules import tested_cohorts

    ids = tested_cohorts(loaded.spec)
    names = dict.fromkeys(sorted(ids))
    if "dataset" in cohort_table.columns and "cohort" in cohort_table.columns:
        rows = cohort_table[cohort_table["cohort"].astype(str).isin(ids)]
        names.update(dict.fromkeys(sorted(rows["dataset"].dropna().astype(str).unique())))
    return list(names)


def audit_entries(
    loaded: LoadedSpec,
    cohort_table: pd.DataFrame,
    models: list[str],
    registry_root: Path | None,
    hyperparameters: dict[str, dict[str, Any]] | None = None,
) -> Audit:
    """Audit each entry against the benchmark; UserError (before any unit runs) for a model
    pretrained on tested data."""
    from brainbench.registry.entries import find_entry, pretraining_conflicts
    from brainbench.validate.engine import waiver_covers
    from brainbench.validate.target_proxies import entry_covariates, leaking_covariates

    spec = loaded.spec
    audit = Audit()
    tested = tested_names(loaded, cohort_table)
    readers: dict[str, list[str]] = {}
    leaking = leaking_covariates(spec)
    problems: list[str] = []
    for model in models:
        entry = find_entry(model, registry_root)
        for cohort in pretraining_conflicts(entry, tested):
            waiver = waiver_covers(spec, "L104", cohorts=(cohort,))
            if waiver is None:
                problems.append(
                    f"model '{model}' declares pretraining on '{cohort}' (pretraining.cohorts "
                    f"in {entry.file}), and '{cohort}' reaches a test partition of this "
                    "benchmark: its test subjects may have been seen before (rule L104, biased "
                    "transfer learning). Use an entry pretrained on other data."
                )
            else:
                audit.deviations.append(
                    {
                        "rule": "L104",
                        "kind": "pretraining-on-tested-data",
                        "models": [model],
                        "cohorts": [cohort],
                        "message": f"model '{model}' was pretrained on the tested cohort "
                        f"'{cohort}'; allowed by the spec's waiver: {waiver.reason}",
                    }
                )
        for cov in entry_covariates(entry.entry, (hyperparameters or {}).get(model)):
            if cov in leaking:
                readers.setdefault(cov, []).append(model)
    if problems:
        raise UserError(
            "The run-time audit of the model entries failed (nothing was run):\n  - "
            + "\n  - ".join(problems)
        )
    target = spec.task.target
    declared = {c.name for c in getattr(spec, "covariates", ())}
    for cov, columns in leaking.items():
        waiver = waiver_covers(spec, "L107") if cov in declared else None
        if waiver is not None:
            # A declared covariate kept on purpose (L107 waived): handed over, and recorded.
            audit.deviations.append(
                {
                    "rule": "L107",
                    "kind": "covariate-kept",
                    "covariates": [cov],
                    "models": sorted(readers.get(cov, [])),
                    "message": f"covariate '{cov}' carries the target '{target}' and was "
                    f"handed to every model; allowed by the spec's waiver: {waiver.reason}",
                }
            )
            continue
        audit.withheld_covariates.append(cov)
        who = readers.get(cov, [])
        audit.deviations.append(
            {
                "rule": "L107",
                "kind": "covariate-withheld",
                "covariates": [cov],
                "models": who,
                "message": f"covariate '{cov}' carries the target '{target}' (column "
                f"{', '.join(sorted(columns))}) and was withheld from every model"
                + (f"; {', '.join(who)} declare(s) reading it and ran without it" if who else ""),
            }
        )
    return audit


__all__ = ["Audit", "audit_entries", "tested_names"]

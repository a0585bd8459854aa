"""Which cohort columns carry the target, and which covariates would hand them to a model.

Rule L107 (``validate``) and the runner (which withholds such covariates) share these
functions. A column "carries" the target when it is the target column itself or a column the
target is derived from (a regression target's source, the dates of a time-derived label):
:func:`target_source_columns` is the one place that lists them, so a new way of deriving a
target extends it there and both the rule and the runner follow.

The covariates a model may receive are :data:`brainbench.registry.interface.COVARIATE_COLUMNS`
(hierarchy ids, ``age``, ``sex``) and the spec's declared ``covariates``;
:func:`covariate_sources` says which cohort columns each of them is read from under a spec's
``hierarchy``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from brainbench.registry.interface import COVARIATE_COLUMNS, HIERARCHY_COLUMNS

if TYPE_CHECKING:
    from brainbench.spec.models import Spec


#: Clinical scores that define a dementia diagnosis: ADNI's diagnostic criteria are ranges of
#: the MMSE and the CDR (Petersen et al. 2010, Neurology 74:201-209), so either score hands a
#: diagnosis label (or a conversion label derived from it) to a model.
DIAGNOSIS_SCORES = frozenset(
    {"mmse", "mmscore", "cdr", "cdr_sb", "cdrsb", "cdglobal", "cdr_global"}
)
#: Target columns that hold a clinical diagnosis (ClinicaDL's and BIDS conventions).
DIAGNOSIS_TARGETS = frozenset({"diagnosis", "dx", "dx_bl", "diagnosis_bl", "group", "label"})


def target_source_columns(spec: Spec) -> set[str]:
    """Every cohort column the target is, or is derived from (never a model covariate).

    A time-derived label (``labels:``) adds the diagnosis column it reads and its months
    column; a diagnosis target (or a label derived from one) adds the clinical scores that
    define the diagnosis (:data:`DIAGNOSIS_SCORES`, as the spec spells them in ``covariates``).
    """
    target = spec.task.target
    if target is None:  # segmentation: the masks are the target; a mask column is its source
        reference = spec.task.reference
        return {reference.column} if reference is not None and reference.column else set()
    out = {target}
    label = next((lb for lb in getattr(spec, "labels", ()) if lb.name == target), None)
    if label is not None:
        out |= {label.from_, *([label.months] if label.months else [])}
    if label is not None or target.lower() in DIAGNOSIS_TARGETS:
        out |= set(DIAGNOSIS_SCORES)
        out |= {
            c.name for c in getattr(spec, "covariates", ()) if c.name.lower() in DIAGNOSIS_SCORES
        }
    return out


def covariate_sources(spec: Spec) -> dict[str, set[str]]:
    """For each covariate a model may receive, the cohort columns it is read from.

    A hierarchy level's id comes from the column (or sidecar fields) ``hierarchy`` maps it to,
    and from a column of the level's own name when the table has one; ``age``, ``sex`` and the
    declared covariates are read from the columns of those names.
    """
    out: dict[str, set[str]] = {}
    for name in COVARIATE_COLUMNS:
        ref = getattr(spec.hierarchy, name, None) if name in HIERARCHY_COLUMNS else None
        fields = [] if ref is None else [ref] if isinstance(ref, str) else list(ref)
        out[name] = {name, *fields}
    # The clinical covariates the spec declares reach every model from their own column.
    for cov in getattr(spec, "covariates", ()):
        out.setdefault(cov.name, set()).add(cov.name)
    return out


def leaking_covariates(spec: Spec) -> dict[str, set[str]]:
    """Covariates that would carry the target: covariate -> the target columns it reads."""
    sources = target_source_columns(spec)
    return {cov: cols & sources for cov, cols in covariate_sources(spec).items() if cols & sources}


def entry_covariates(entry: Any, overrides: Mapping[str, Any] | None = None) -> list[str]:
    """The covariates a registry entry (:class:`~brainbench.registry.schema.ModelEntry`)
    declares it reads: its ``covariates`` hyper-parameter, the run's override first; empty for
    an entry that declares none (image models)."""
    value = (overrides or {}).get("covariates")
    if value is None and "covariates" in entry.hyperparameters:
        value = entry.hyperparameters["covariates"].default
    if value is None:
        return []
    return [str(v) for v in ([value] if isinstance(value, str) else value)]


def read_leaks(spec: Spec, covariates: Iterable[str]) -> dict[str, set[str]]:
    """The covariates among ``covariates`` (what a model reads) that carry the target."""
    leaking = leaking_covariates(spec)
    return {c: leaking[c] for c in covariates if c in leaking}


__all__ = [
    "covariate_sources",
    "entry_covariates",
    "leaking_covariates",
    "read_leaks",
    "target_source_columns",
]

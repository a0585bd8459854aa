"""The one table of claims the conclusions and the key findings are drawn from.

Each claim is a statement about the models with its evidence and exactly one status:

* ``supported``: the pre-registered decision (or the interval against chance) backs it;
* ``not supported``: the interval is estimable but does not back it;
* ``not estimable``: the interval cannot carry a conclusion (see :func:`not_estimable`).

A claim is built once, so the sheet cannot list it both as supported and as not supported, and
a deviation from the protocol that touches a claim's models (an epoch cap, failed units...) is
attached to it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from brainbench.report import _stats
from brainbench.report._context import interval, metric_label, num, pval
from brainbench.report._model import Table

SUPPORTED = "supported"
NOT_SUPPORTED = "not supported"
NOT_ESTIMABLE = "not estimable"
STATUSES = (SUPPORTED, NOT_SUPPORTED, NOT_ESTIMABLE)


@dataclass
class Claim:
    """One statement, its status and the numbers behind it."""

    kind: str  # best, chance, comparison, baseline
    statement: str
    status: str
    evidence: str
    models: tuple[str, ...]
    partition: str | None = None
    affected_by: list[str] = field(default_factory=list)
    #: Shown in the key findings box (the confound-baseline claims always are).
    key: bool = False

    def sentence(self) -> str:
        out = f"{self.statement}: {self.evidence}"
        if self.affected_by:
            out += f" Affected by: {'; '.join(self.affected_by)} (section 2)."
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "statement": self.statement,
            "status": self.status,
            "evidence": self.evidence,
            "models": list(self.models),
            "partition": self.partition,
            "affected_by": list(self.affected_by),
            "key": self.key,
            "sentence": self.sentence(),
        }


def claims_tables(claims: list[Claim], limits: list[str]) -> list[Table]:
    """The claims table and the limits table of a sheet's conclusions section."""
    return [
        Table(
            "claims",
            "Claims, their evidence and status",
            ["#", "Claim", "Status", "Evidence", "Affected by"],
            [
                [str(i + 1), c.statement, c.status, c.evidence, "; ".join(c.affected_by)]
                for i, c in enumerate(claims)
            ],
        ),
        Table(
            "cannot",
            "Limits of the evidence",
            ["#", "Limitation"],
            [[str(i + 1), t] for i, t in enumerate(limits)],
        ),
    ]


def distinct_resamples(n: int) -> float:
    """Distinct bootstrap resamples of ``n`` units, C(2n-1, n) (Hall 1992, *The Bootstrap and
    Edgeworth Expansion*, Springer, appendix I)."""
    return math.comb(2 * n - 1, n) if n > 0 else 0


def not_estimable(r: Any, unit: str) -> str | None:
    """Why an interval cannot carry a conclusion, or None.

    * no finite interval, or a zero-width one (a degenerate bootstrap: every resample gave
      the same value, e.g. 0.500 [0.500, 0.500] from 2 subjects), float rounding aside;
    * fewer distinct bootstrap resamples of the units than 2 / (1 - level), so that the
      percentile interval's tails (1 - level) / 2 cannot be placed (4 units at 95%: 35);
    * 2 clusters or more, but fewer than the engine's ``MIN_ESTIMABLE_CLUSTERS`` (4), at the
      outer resampled level: the cluster bootstrap has only C(2G-1, G) distinct outer draws
      (10 for G = 3). The engine makes a metric's interval conditional on such clusters
      instead (``conditional_on``; its outer level is then the unit, so this does not apply);
      a paired comparison that still resampled them is not estimable.
    """
    if r is None:
        return "no result"
    if not (_stats.finite(r.estimate) and _stats.finite(r.ci_low) and _stats.finite(r.ci_high)):
        return "no interval could be computed"
    n = int(getattr(r, "n_units", 0) or 0)
    # Every resample giving the same value can still leave float rounding between the two
    # percentiles (1e-13 apart): that interval is degenerate, not a narrow one.
    if r.ci_high - r.ci_low <= 0 or math.isclose(r.ci_low, r.ci_high, rel_tol=1e-9, abs_tol=1e-12):
        return f"zero-width interval from {n} {unit}s (a degenerate bootstrap)"
    if n and distinct_resamples(n) < 2 / (1 - r.level):
        return (
            f"only {n} {unit}s: {distinct_resamples(n)} distinct bootstrap resamples cannot "
            f"place the tails of a {r.level:.0%} interval"
        )
    g = int(getattr(r, "n_clusters", 0) or 0)
    # One cluster resamples only its units (an interval for that cluster); two or more but
    # fewer than the engine's minimum mix a handful of outer draws into the interval.
    if 1 < g < _stats.min_estimable_clusters() and g < n:
        return f"only {g} top-level clusters: the between-cluster variance is not estimable"
    return None


def _conditional(c: Any) -> str:
    """', conditional on these 3 sites' for a result that held too few outer clusters fixed
    (a metric's ``conditional_on``, a paired comparison's ``extra["conditional_on"]``): it
    describes those sites, not new ones."""
    fixed = (
        getattr(c, "conditional_on", None)
        or (getattr(c, "extra", None) or {}).get("conditional_on")
        or {}
    )
    return "".join(
        f", conditional on this one {level}" if n == 1 else f", conditional on these {n} {level}s"
        for level, n in fixed.items()
    )


def _ci(r: Any) -> str:
    return f"{num(r.estimate)} {interval(r.ci_low, r.ci_high)}"


def decision_text(r: Any) -> str:
    """A comparison's decision in words, oriented by the metric's direction."""
    d = r.decision or "inconclusive"
    ci = interval(r.ci_low, r.ci_high)
    lvl = f"{r.level:.0%}"
    margin = r.margin
    metric = metric_label(r.metric)
    p = r.p_adjusted if r.p_adjusted is not None else r.p_value
    ptxt = (
        f" ({r.correction}-adjusted p = {pval(p)})"
        if p is not None and r.correction != ("none")
        else (f" (p = {pval(p)})" if p is not None else "")
    )
    up = f"above {'the margin ' + num(margin) if margin else '0'}"
    down = f"below {'-' + num(margin) if margin else '0'}"
    if not r.higher_is_better:  # lower is better: a better model has a negative difference
        up, down = down, up
    if d == "superior":
        return (
            f"{r.a} is shown better than {r.b} on {metric}: the {lvl} CI of the difference, "
            f"{ci}, lies {up}{ptxt}."
        )
    if d == "inferior":
        return (
            f"{r.a} is shown worse than {r.b} on {metric}: the {lvl} CI of the difference, "
            f"{ci}, lies {down}{ptxt}."
        )
    if d == "non-inferior":
        return (
            f"{r.a} is shown non-inferior to {r.b} on {metric} (margin {num(margin)}): the "
            f"{lvl} CI of the difference, {ci}, lies "
            + (f"above -{num(margin)}." if r.higher_is_better else f"below {num(margin)}.")
        )
    if d == "equivalent":
        return (
            f"{r.a} and {r.b} are shown equivalent on {metric} within ±{num(margin)}: the "
            f"{lvl} CI of the difference is {ci}."
        )
    if d == "different":
        return f"{r.a} and {r.b} differ on {metric}: the {lvl} CI of the difference is {ci}."
    includes_zero = _stats.finite(r.ci_low) and r.ci_low <= 0 <= r.ci_high
    if d == "not-superior":
        return (
            f"{r.a} is not shown better than {r.b} by more than the margin {num(margin)}: "
            f"the {lvl} CI of the difference, {ci}, does not exceed it{ptxt}."
        )
    if not _stats.finite(r.ci_low):
        return f"{r.a} vs {r.b}: no interval could be computed; nothing can be concluded."
    if includes_zero:
        return (
            f"{r.a} is not shown better than {r.b} on {metric}: the {lvl} CI of the "
            f"difference, {ci}, includes 0{ptxt}."
        )
    return (
        f"{r.a} is not shown better than {r.b} on {metric}"
        + (f" by the margin {num(margin)}" if margin else "")
        + f": the {lvl} CI of the difference is {ci}{ptxt}."
    )


class ClaimBuilder:
    """Builds the claims of one report from its :class:`~brainbench.report._analysis.Analysis`."""

    def __init__(self, an: Any) -> None:
        self.an = an
        self.info = _stats.metric_info(an.primary)
        self.label = metric_label(an.primary)
        self.lvl = f"{an.level:.0%}"
        self.claims: list[Claim] = []

    def _add(self, claim: Claim) -> None:
        claim.affected_by = [
            d.short or d.kind for d in self.an.deviations if d.touches(claim.models)
        ]
        self.claims.append(claim)

    def _why(self, r: Any) -> str | None:
        return not_estimable(r, self.an.unit)

    def build(self) -> list[Claim]:
        an = self.an
        for part in an.endpoints:
            self._best(part)
            self._chance(part, key=True)
            self._comparisons(part)
        for part in an.partitions:
            if part not in an.endpoints:
                self._chance(part, key=part in an.external)
        got = an.baseline_comparisons
        for r in got.results:
            self._baseline(r)
        self._baseline_missing(got)
        return self.claims

    # -- claims ---------------------------------------------------------------------------
    def _ranked(self, part: str) -> list[str]:
        an = self.an

        def est(m: str) -> float | None:
            r = an.result(m, an.primary, part)
            return r.estimate if r is not None and _stats.finite(r.estimate) else None

        have = [m for m in an.models if est(m) is not None]
        return sorted(have, key=lambda m: -self.info.gain(est(m)))

    def _pair(self, a: str, b: str, part: str) -> Any:
        for r in self.an.comparisons.results:
            if r.partition == part and {r.a, r.b} == {a, b}:
                return r
        return None

    def _best(self, part: str) -> None:
        an = self.an
        ranked = self._ranked(part)
        if len(ranked) < 2:
            return
        top = ranked[0]
        r = an.result(top, an.primary, part)
        statement = f"{top} is the best model on {part} ({self.label}, {self.info.direction})"
        evidence = [f"{self.info.best_word} {self.label}, {_ci(r)}"]
        why = self._why(r)
        lost = undecided = False  # a comparison estimable but not won / not estimable
        for other in ranked[1:]:
            c = self._pair(top, other, part)
            if c is None:
                undecided = True
                evidence.append(f"no comparison with {other}")
                continue
            wins = c.decision == ("superior" if c.a == top else "inferior")
            sign = 1 if c.a == top else -1
            diff = (
                f"{num(sign * c.estimate)} {interval(*sorted((sign * c.ci_low, sign * c.ci_high)))}"
                + _conditional(c)
            )
            if wins:
                evidence.append(f"shown better than {other} (difference {diff})")
            else:
                c_why = self._why(c)
                evidence.append(
                    f"not shown better than {other} (difference {diff}"
                    + (f"; not estimable: {c_why})" if c_why else ")")
                )
                undecided = undecided or bool(c_why)
                lost = lost or not c_why
        # One estimable comparison not won settles it; otherwise any undecided one leaves the
        # claim not estimable.
        status = NOT_SUPPORTED if lost else (NOT_ESTIMABLE if undecided else SUPPORTED)
        if why:
            status, evidence = NOT_ESTIMABLE, [f"{why}; point estimate {num(r.estimate)}"]
        self._add(
            Claim(
                "best", statement, status, "; ".join(evidence) + ".", tuple(ranked), part, key=True
            )
        )

    def _chance(self, part: str, key: bool) -> None:
        an = self.an
        chance = self.info.chance(len(an.task.classes) if an.is_classification else 2)
        if chance is None:
            return
        for m in self._ranked(part):
            if m == an.baseline:
                continue
            r = an.result(m, an.primary, part)
            statement = f"{m} performs above chance on {part} ({self.label} {num(chance, 2)})"
            why = self._why(r)
            if why:
                status, evidence = NOT_ESTIMABLE, f"{why}; point estimate {num(r.estimate)}."
            else:
                above = self.info.better(
                    r.ci_low if self.info.higher_is_better else r.ci_high, chance
                )
                status = SUPPORTED if above else NOT_SUPPORTED
                evidence = (
                    f"{self.label} {_ci(r)} ({self.lvl} CI, {r.n_units} {an.unit}s"
                    f"{_conditional(r)})"
                    + ("." if above else f", which includes {num(chance, 2)}.")
                )
            self._add(Claim("chance", statement, status, evidence, (m,), part, key=key))

    def _comparisons(self, part: str) -> None:
        an = self.an
        for r in an.comparisons.results:
            if r.partition != part or an.baseline in (r.a, r.b):
                continue
            statement = {
                "non-inferiority": f"{r.a} is non-inferior to {r.b} on {part}",
                "equivalence": f"{r.a} and {r.b} are equivalent on {part}",
            }.get(r.hypothesis, f"{r.a} is better than {r.b} on {part}")
            backs = {
                "non-inferiority": ("non-inferior",),
                "equivalence": ("equivalent",),
            }.get(r.hypothesis, ("superior",))
            status = SUPPORTED if r.decision in backs else NOT_SUPPORTED
            why = self._why(r)
            if why:
                status = NOT_ESTIMABLE
            self._add(
                Claim(
                    "comparison",
                    statement,
                    status,
                    decision_text(r) + (f" ({why})" if why else ""),
                    (r.a, r.b),
                    part,
                )
            )

    def _baseline_missing(self, got: Any) -> None:
        """A confound-baseline comparison that could not be made is a claim too (not
        estimable): the box must never go silent about it."""
        an = self.an
        if an.baseline is None:
            return
        done = {(r.a, r.partition) for r in got.results}
        why = "; ".join(dict.fromkeys(got.errors)) or "no result"
        for part in an.partitions:
            for m in an.models:
                if m == an.baseline or (m, part) in done:
                    continue
                if an.result(m, an.primary, part) is None:
                    continue
                self._add(
                    Claim(
                        "baseline",
                        f"{m} learns more than demographics ({an.baseline}) on {part}",
                        NOT_ESTIMABLE,
                        f"the comparison could not be computed: {why}.",
                        (m, an.baseline),
                        part,
                        key=True,
                    )
                )

    def _baseline(self, r: Any) -> None:
        an = self.an
        statement = f"{r.a} learns more than demographics ({r.b}) on {r.partition}"
        why = self._why(r)
        status = SUPPORTED if r.decision == "superior" else NOT_SUPPORTED
        if why:
            status = NOT_ESTIMABLE
        p = r.p_adjusted if r.p_adjusted is not None else r.p_value
        evidence = (
            f"{self.label} difference (model − baseline; {self.info.direction}) "
            f"{num(r.estimate)}, {self.lvl} CI {interval(r.ci_low, r.ci_high)}"
            + _conditional(r)
            + (f", adjusted p = {num(p, 3)}" if p is not None else "")
            + (f"; {why}" if why else "")
            + (
                "."
                if status == SUPPORTED
                else ": its performance may come from age, sex or site alone."
            )
        )
        self._add(
            Claim(
                "baseline",
                statement,
                status,
                evidence,
                (r.a, r.b),
                r.partition,
                key=r.partition in an.endpoints or r.partition in an.external,
            )
        )

"""Metrics as sufficient statistics, so that one code path serves point estimates and resamples.

Most metrics of docs/design.md are smooth functions of *sums* of per-prediction quantities: the
confusion matrix, squared errors, the moments behind Pearson's r or R^2, the per-bin sums of the
expected calibration error. Each such ("linear") metric gives

* ``suff(cols) -> X`` with one row of sufficient statistics per prediction, and
* ``finish(S) -> value`` mapping summed statistics ``S = w @ X`` to the metric (vectorised over
  leading axes; ``NaN`` where the metric is undefined, e.g. sensitivity without positives).

A bootstrap resample is then a vector of multiplicities ``w`` and its value ``finish(w @ X)``:
the hierarchical bootstrap never materialises resampled tables. The two rank metrics (AUROC and
average precision) take the multiplicities directly (``weighted(cols, W)``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from brainbench.registry_base import Registry

CLASSIFICATION = "classification"
REGRESSION = "regression"
SEGMENTATION = "segmentation"

#: Probabilities are clipped to [EPS, 1 - EPS] before taking logarithms (log loss).
EPS = 1e-15
#: Equal-width bins of the expected calibration error.
ECE_BINS = 10
#: What a metric measures (Steyerberg et al. 2010, Epidemiology 21:128-138,
#: doi:10.1097/EDE.0b013e3181c30fb2): how well predictions separate or order the outcomes
#: (discrimination), whether predicted probabilities match observed frequencies (calibration),
#: or both at once (overall: proper scoring rules, errors of a regression).
KINDS = ("discrimination", "calibration", "overall")
#: ``Metric.units`` of metrics expressed in the units of the regression target.
TARGET_UNITS = "target"


@dataclass(frozen=True)
class Columns:
    """The prediction columns a metric reads, at the unit of analysis.

    Attributes
    ----------
    y
        Classification: integer class codes ``0..K-1`` (``positive`` is the positive class).
        Regression: true values.
    pred
        Predicted class codes, or predicted values for regression; ``None`` when absent.
    score
        Score (probability for ``brier``, ``log_loss``, ``ece``) of the positive class, or
        ``None``.
    n_classes
        Number of classes ``K`` (classification).
    positive
        Code of the positive class (classification).
    """

    y: np.ndarray
    pred: np.ndarray | None = None
    score: np.ndarray | None = None
    n_classes: int = 2
    positive: int = 1

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, index: np.ndarray) -> Columns:
        return Columns(
            y=self.y[index],
            pred=None if self.pred is None else self.pred[index],
            score=None if self.score is None else self.score[index],
            n_classes=self.n_classes,
            positive=self.positive,
        )

    @property
    def is_pos(self) -> np.ndarray:
        return (self.y == self.positive).astype(float)


@dataclass(frozen=True)
class Metric:
    """One metric: how to compute it, from what, and what it needs.

    Attributes
    ----------
    name
        Name in specs and on the command line.
    task
        ``classification`` or ``regression``.
    needs
        ``pred`` (predicted labels/values), ``score`` (any ranking score) or ``probability``
        (a score in [0, 1]).
    higher_is_better
        Direction, used by comparisons, margins and rankings.
    suff, finish
        Linear metrics: per-prediction sufficient statistics and their summary (see module doc).
    weighted
        Rank metrics: ``weighted(cols, W, atoms=None)`` with multiplicities ``W`` of shape
        ``(B, n)`` (or per atom, with ``atoms`` mapping rows to atoms).
    per_unit
        For tests on per-unit outcomes (mixed model, McNemar): ``per_unit(cols)`` returns the
        contribution of each unit and a mask of the units that enter, such that the metric is
        the mean of the contributions over the masked units; ``None`` when not decomposable.
    binary_outcome
        ``True`` when the per-unit contribution is correctness (0/1), as McNemar's test needs.
    reference
        Where the formula comes from.
    bounds
        The range of the metric.
    kind
        ``discrimination``, ``calibration`` or ``overall`` (see :data:`KINDS`).
    units
        ``target`` when the metric is in the units of a regression target (MAE, RMSE), else
        what a value is (``proportion``, ``probability``, ``correlation``, ``nats``...).
    chance
        ``chance(K)``: the value of a predictor that ignores its input, where it does not
        depend on the class balance (balanced accuracy 1/K, AUROC 0.5, MCC and r 0, R^2 0 for
        the test-set mean); ``None`` otherwise.
    """

    name: str
    task: str
    needs: str
    higher_is_better: bool
    description: str
    suff: Callable[[Columns], np.ndarray] | None = None
    finish: Callable[[np.ndarray], np.ndarray] | None = None
    weighted: Callable[..., np.ndarray] | None = None
    per_unit: Callable[[Columns], tuple[np.ndarray, np.ndarray]] | None = None
    binary_outcome: bool = False
    reference: str = ""
    bounds: tuple[float, float] = field(default=(-np.inf, np.inf))
    kind: str = ""
    units: str = ""
    chance: Callable[[int], float] | None = None

    def __post_init__(self) -> None:
        # Every metric must declare what it measures: wording, ranks, baseline captions and
        # the planning rules read it (see MetricInfo).
        if self.kind not in KINDS:
            raise ValueError(f"metric {self.name!r}: kind must be one of {KINDS}")
        if not self.units:
            raise ValueError(f"metric {self.name!r} declares no units")

    @property
    def linear(self) -> bool:
        return self.suff is not None

    def __call__(self, cols: Columns) -> float:
        """The metric on all predictions (every weight 1); ``NaN`` when undefined."""
        if self.linear:
            with np.errstate(divide="ignore", invalid="ignore"):
                return float(self.finish(self.suff(cols).sum(axis=0)))
        return float(self.weighted(cols, np.ones((1, len(cols))))[0])

    def on_weights(
        self, cols: Columns, W: np.ndarray, atoms: np.ndarray | None = None
    ) -> np.ndarray:
        """The metric for each row of multiplicities ``W`` (shape ``(B, n)``); with ``atoms``
        (the atom of each row), ``W`` holds multiplicities per atom instead."""
        if self.linear:
            Wr = W if atoms is None else W[:, atoms]
            with np.errstate(divide="ignore", invalid="ignore"):
                return self.finish(Wr @ self.suff(cols))
        return self.weighted(cols, W, atoms)


METRICS: Registry[Metric] = Registry("metric")


def _add(metric: Metric) -> Metric:
    return METRICS.add(metric.name, metric)


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1.0), np.nan)


# --------------------------------------------------------------------------------------------
# Confusion-matrix metrics (binary: the positive class against the rest)
# --------------------------------------------------------------------------------------------
def _confusion(cols: Columns) -> np.ndarray:
    """Columns tp, fn, fp, tn (one-hot per prediction)."""
    pos = cols.y == cols.positive
    ppos = cols.pred == cols.positive
    return np.column_stack([pos & ppos, pos & ~ppos, ~pos & ppos, ~pos & ~ppos]).astype(float)


def _tp_fn_fp_tn(S: np.ndarray) -> tuple[np.ndarray, ...]:
    return S[..., 0], S[..., 1], S[..., 2], S[..., 3]


def _sensitivity(S):
    tp, fn, _, _ = _tp_fn_fp_tn(S)
    return _div(tp, tp + fn)


def _specificity(S):
    _, _, fp, tn = _tp_fn_fp_tn(S)
    return _div(tn, tn + fp)


def _ppv(S):
    tp, _, fp, _ = _tp_fn_fp_tn(S)
    return _div(tp, tp + fp)


def _npv(S):
    _, fn, _, tn = _tp_fn_fp_tn(S)
    return _div(tn, tn + fn)


def _f1(S):
    tp, fn, fp, _ = _tp_fn_fp_tn(S)
    return _div(2 * tp, 2 * tp + fp + fn)


def _mcc(S):
    tp, fn, fp, tn = _tp_fn_fp_tn(S)
    den = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
    return _div(tp * tn - fp * fn, np.sqrt(np.maximum(den, 0.0)))


def _correct(cols: Columns) -> np.ndarray:
    return (cols.pred == cols.y).astype(float)


def _per_class(cols: Columns) -> np.ndarray:
    """Columns: correct predictions of class k (K columns), then count of class k (K columns)."""
    K = cols.n_classes
    onehot = (cols.y[:, None] == np.arange(K)[None, :]).astype(float)
    return np.hstack([onehot * _correct(cols)[:, None], onehot])


def _balanced_accuracy(S):
    K = S.shape[-1] // 2
    recall = _div(S[..., :K], S[..., K:])
    # Undefined when a class of the full data is absent from the (re)sample.
    return recall.mean(axis=-1)


def _pu_balanced_accuracy(cols: Columns):
    K = cols.n_classes
    counts = np.bincount(cols.y, minlength=K).astype(float)
    present = counts > 0
    w = len(cols) / (present.sum() * np.where(present, counts, 1.0))
    return _correct(cols) * w[cols.y], np.ones(len(cols), bool)


_CM_REF = (
    "Confusion-matrix definitions as in Maier-Hein et al. 2024, Metrics Reloaded, "
    "Nat. Methods 21:195-212, doi:10.1038/s41592-023-02151-z."
)

_add(
    Metric(
        "balanced_accuracy",
        CLASSIFICATION,
        "pred",
        True,
        "Mean recall over the classes: (1/K) sum_k TP_k / n_k.",
        suff=_per_class,
        finish=_balanced_accuracy,
        per_unit=_pu_balanced_accuracy,
        reference="Brodersen et al. 2010, ICPR, doi:10.1109/ICPR.2010.764.",
        bounds=(0.0, 1.0),
        kind="discrimination",
        units="proportion",
        chance=lambda k: 1.0 / k,
    )
)
_add(
    Metric(
        "accuracy",
        CLASSIFICATION,
        "pred",
        True,
        "Fraction of correct predictions.",
        suff=lambda c: np.column_stack([_correct(c), np.ones(len(c))]),
        finish=lambda S: _div(S[..., 0], S[..., 1]),
        per_unit=lambda c: (_correct(c), np.ones(len(c), bool)),
        binary_outcome=True,
        reference=_CM_REF,
        bounds=(0.0, 1.0),
        kind="discrimination",
        units="proportion",
    )
)
_add(
    Metric(
        "sensitivity",
        CLASSIFICATION,
        "pred",
        True,
        "TP / (TP + FN): recall of the positive class.",
        suff=_confusion,
        finish=_sensitivity,
        per_unit=lambda c: (_correct(c), c.y == c.positive),
        binary_outcome=True,
        reference=_CM_REF,
        bounds=(0.0, 1.0),
        kind="discrimination",
        units="proportion",
    )
)
_add(
    Metric(
        "specificity",
        CLASSIFICATION,
        "pred",
        True,
        "TN / (TN + FP): recall of the negative class(es).",
        suff=_confusion,
        finish=_specificity,
        per_unit=lambda c: (_correct(c), c.y != c.positive),
        binary_outcome=True,
        reference=_CM_REF,
        bounds=(0.0, 1.0),
        kind="discrimination",
        units="proportion",
    )
)
_add(
    Metric(
        "ppv",
        CLASSIFICATION,
        "pred",
        True,
        "TP / (TP + FP): positive predictive value (precision).",
        suff=_confusion,
        finish=_ppv,
        reference=_CM_REF,
        bounds=(0.0, 1.0),
        kind="discrimination",
        units="proportion",
    )
)
_add(
    Metric(
        "npv",
        CLASSIFICATION,
        "pred",
        True,
        "TN / (TN + FN): negative predictive value.",
        suff=_confusion,
        finish=_npv,
        reference=_CM_REF,
        bounds=(0.0, 1.0),
        kind="discrimination",
        units="proportion",
    )
)
_add(
    Metric(
        "f1",
        CLASSIFICATION,
        "pred",
        True,
        "2 TP / (2 TP + FP + FN).",
        suff=_confusion,
        finish=_f1,
        reference=_CM_REF,
        bounds=(0.0, 1.0),
        kind="discrimination",
        units="proportion",
    )
)
_add(
    Metric(
        "mcc",
        CLASSIFICATION,
        "pred",
        True,
        "Matthews correlation: (TP TN - FP FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)); "
        "undefined (NaN) when a margin is empty.",
        suff=_confusion,
        finish=_mcc,
        reference="Matthews 1975, Biochim. Biophys. Acta 405:442-451, "
        "doi:10.1016/0005-2795(75)90109-9; Chicco & Jurman 2020, BMC Genomics 21:6, "
        "doi:10.1186/s12864-019-6413-7.",
        bounds=(-1.0, 1.0),
        kind="discrimination",
        units="correlation",
        chance=lambda k: 0.0,
    )
)


# --------------------------------------------------------------------------------------------
# Probability metrics
# --------------------------------------------------------------------------------------------
def _brier_suff(c: Columns) -> np.ndarray:
    return np.column_stack([(c.score - c.is_pos) ** 2, np.ones(len(c))])


def _log_loss_terms(c: Columns) -> np.ndarray:
    p = np.clip(c.score, EPS, 1 - EPS)
    y = c.is_pos
    return -(y * np.log(p) + (1 - y) * np.log1p(-p))


def _ece_suff(c: Columns) -> np.ndarray:
    b = np.minimum((c.score * ECE_BINS).astype(int), ECE_BINS - 1)
    onehot = (b[:, None] == np.arange(ECE_BINS)[None, :]).astype(float)
    return np.hstack([onehot, onehot * c.is_pos[:, None], onehot * c.score[:, None]])


def _ece_finish(S: np.ndarray) -> np.ndarray:
    n_b = S[..., :ECE_BINS]
    gap = np.abs(S[..., ECE_BINS : 2 * ECE_BINS] - S[..., 2 * ECE_BINS :])
    return _div(gap.sum(axis=-1), n_b.sum(axis=-1))


def _ece_debiased_finish(S: np.ndarray) -> np.ndarray:
    """Sum_b (n_b/n) [2 |ybar_b - pbar_b| - E|Z_b - pbar_b|], Z_b ~ N(ybar_b, ybar_b (1 - ybar_b)
    / n_b): the plug-in minus its bias under the normal approximation of each bin's frequency,
    with the folded-normal mean E|X| = s sqrt(2/pi) exp(-m^2 / 2s^2) + m (1 - 2 Phi(-m/s)) for
    X ~ N(m, s^2) in closed form instead of Kumar et al.'s Monte Carlo average."""
    from scipy.special import ndtr

    n_b = S[..., :ECE_BINS]
    with np.errstate(divide="ignore", invalid="ignore"):
        ybar = np.where(n_b > 0, S[..., ECE_BINS : 2 * ECE_BINS] / np.where(n_b > 0, n_b, 1), 0.0)
        pbar = np.where(n_b > 0, S[..., 2 * ECE_BINS :] / np.where(n_b > 0, n_b, 1), 0.0)
        m = ybar - pbar
        sd = np.sqrt(np.maximum(ybar * (1 - ybar), 0.0) / np.where(n_b > 0, n_b, 1))
        safe = np.where(sd > 0, sd, 1.0)
        folded = np.where(
            sd > 0,
            safe * np.sqrt(2 / np.pi) * np.exp(-(m**2) / (2 * safe**2))
            + m * (1 - 2 * ndtr(-m / safe)),
            np.abs(m),
        )
    per_bin = n_b * (2 * np.abs(m) - folded)
    return _div(per_bin.sum(axis=-1), n_b.sum(axis=-1))


_add(
    Metric(
        "brier",
        CLASSIFICATION,
        "probability",
        False,
        "Mean squared difference between the positive-class probability and the outcome.",
        suff=_brier_suff,
        finish=lambda S: _div(S[..., 0], S[..., 1]),
        per_unit=lambda c: ((c.score - c.is_pos) ** 2, np.ones(len(c), bool)),
        reference="Brier 1950, Mon. Weather Rev. 78:1-3, "
        "doi:10.1175/1520-0493(1950)078<0001:VOFEIT>2.0.CO;2.",
        bounds=(0.0, 1.0),
        kind="overall",
        units="squared probability",
    )
)
_add(
    Metric(
        "log_loss",
        CLASSIFICATION,
        "probability",
        False,
        "Mean negative log-likelihood of the outcome, -[y log p + (1-y) log(1-p)], with p "
        "clipped to [1e-15, 1 - 1e-15].",
        suff=lambda c: np.column_stack([_log_loss_terms(c), np.ones(len(c))]),
        finish=lambda S: _div(S[..., 0], S[..., 1]),
        per_unit=lambda c: (_log_loss_terms(c), np.ones(len(c), bool)),
        reference="Good 1952, J. R. Stat. Soc. B 14:107-114, "
        "doi:10.1111/j.2517-6161.1952.tb00104.x.",
        bounds=(0.0, np.inf),
        kind="overall",
        units="nats",
    )
)
_add(
    Metric(
        "ece",
        CLASSIFICATION,
        "probability",
        False,
        f"Expected calibration error of the positive-class probability, {ECE_BINS} equal-width "
        "bins: sum_b (n_b / n) |mean(y)_b - mean(p)_b|.",
        suff=_ece_suff,
        finish=_ece_finish,
        reference="Naeini, Cooper & Hauskrecht 2015, AAAI 29:2901-2907, "
        "doi:10.1609/aaai.v29i1.9602; Guo et al. 2017, ICML, PMLR 70:1321-1330.",
        bounds=(0.0, 1.0),
        kind="calibration",
        units="probability",
    )
)
_add(
    Metric(
        "ece_debiased",
        CLASSIFICATION,
        "probability",
        False,
        f"Debiased expected calibration error ({ECE_BINS} equal-width bins): the plug-in ECE "
        "is biased upward (sampling noise in each bin's frequency adds to |gap|), and more so "
        "in bootstrap resamples; this subtracts the bias estimated under a normal "
        "approximation of each bin's frequency, so the point estimate sits inside the "
        "percentile interval of the same estimator. Can be slightly negative.",
        suff=_ece_suff,
        finish=_ece_debiased_finish,
        reference="Kumar, Liang & Ma 2019, Verified Uncertainty Calibration, NeurIPS 32, "
        "arXiv:1909.10155 (debiased estimator, section 5); Roelofs et al. 2022, AISTATS, PMLR "
        "151:4036-4054 (bias of binned ECE).",
        bounds=(-1.0, 1.0),
        kind="calibration",
        units="probability",
    )
)


# --------------------------------------------------------------------------------------------
# Rank metrics: AUROC and average precision with multiplicities
# --------------------------------------------------------------------------------------------
#: Integer multiplicities whose total per resample stays below this are summed in int32: the
#: sum of two cumulative sums (AUROC's tie half) still fits, and integer prefix sums run
#: several times faster than floating-point ones (no add-latency chain).
_INT32_TOTAL = 2**30


@dataclass(frozen=True)
class _RankIndex:
    """The positives, grouped by distinct score, placed once among the negatives.

    ``pos`` and ``neg`` are the rows of the positives and of the negatives in score order
    (ascending for AUROC, descending for AP). Group ``g`` of tied positives holds positions
    ``starts[g]:ends[g]`` of ``pos``; ``lo[g]`` negatives come strictly before it and ``hi[g]``
    before it or tied with it. ``grouped`` is False when every positive score is distinct (the
    groups are then the positives themselves) and ``ties`` False when no positive ties a
    negative (``lo == hi``).
    """

    pos: np.ndarray
    neg: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    grouped: bool
    ties: bool


_PREP: dict[tuple[int, bool], tuple[Columns, _RankIndex]] = {}


def _rank_index(cols: Columns, descending: bool) -> _RankIndex:
    """The :class:`_RankIndex` of ``cols``, cached per Columns object (a bootstrap calls the
    metric once per chunk of resamples on the same rows)."""
    key = (id(cols), descending)
    hit = _PREP.get(key)
    if hit is not None and hit[0] is cols:
        return hit[1]
    s = -cols.score if descending else cols.score
    order = np.argsort(s, kind="mergesort")
    is_pos = cols.is_pos[order].astype(bool)
    pos, neg = order[is_pos], order[~is_pos]
    s_pos, s_neg = s[pos], s[neg]
    first = np.ones(len(pos), dtype=bool)
    first[1:] = s_pos[1:] != s_pos[:-1]
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], len(pos)]
    lo = np.searchsorted(s_neg, s_pos[starts], "left")
    hi = np.searchsorted(s_neg, s_pos[starts], "right")
    index = _RankIndex(
        pos, neg, starts, ends, lo, hi, len(starts) < len(pos), bool(np.any(lo != hi))
    )
    if len(_PREP) > 256:
        _PREP.clear()
    _PREP[key] = (cols, index)
    return index


def _prefix(W: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Cumulative sums of ``W[:, columns]`` with a leading 0: ``out[:, k]`` sums the first
    ``k`` columns."""
    out = np.empty((W.shape[0], len(columns) + 1), dtype=W.dtype)
    out[:, 0] = 0
    np.take(W, columns, axis=1, out=out[:, 1:])
    np.cumsum(out[:, 1:], axis=1, out=out[:, 1:])
    return out


def _rank_weights(
    index: _RankIndex, W: np.ndarray, atoms: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Per resample (rows of ``W``): the weight of each group of tied positives, the cumulative
    weight of the negatives (``C[:, k]`` = weight of the first ``k``) and, when positives tie,
    the cumulative weight of the positives (same layout).

    Integer multiplicities stay integers (exact); other weights are summed in float64.
    """
    W = np.asarray(W)
    if W.dtype.kind in "iub":
        small = W.size == 0 or W.sum(axis=1).max() < _INT32_TOTAL
        W = W.astype(np.int32 if small else np.int64, copy=False)
    else:
        W = W.astype(np.float64, copy=False)
    pos, neg = index.pos, index.neg
    if atoms is not None:
        atoms = np.asarray(atoms)
        pos, neg = atoms[pos], atoms[neg]
    C = _prefix(W, neg)
    if not index.grouped:
        return np.take(W, pos, axis=1), C, None
    Cp = _prefix(W, pos)
    return Cp[:, index.ends] - Cp[:, index.starts], C, Cp


def _auroc_weighted(cols: Columns, W: np.ndarray, atoms: np.ndarray | None = None) -> np.ndarray:
    """Weighted Mann-Whitney statistic ``sum_g P_g (N_<(g) + N_=(g) / 2) / (W_pos W_neg)``.

    ``P_g`` is the weight of the positives tied at score ``s_g``, ``N_<`` and ``N_=`` the
    negative weight below and tied with ``s_g`` (Mann & Whitney 1947,
    doi:10.1214/aoms/1177730491; Hanley & McNeil 1982). The positives are ranked among the
    negatives once; a resample then costs cumulative sums and lookups:
    ``2 N_< + N_= = C[lo] + C[hi]``. With integer multiplicities the numerator is an exact
    integer (int64 accumulation) unless ``W_pos W_neg`` exceeds 2^61.
    """
    index = _rank_index(cols, descending=False)
    P, C, _ = _rank_weights(index, W, atoms)
    twice_below = C[:, index.lo]
    if index.ties:
        twice_below += C[:, index.hi]
    else:
        twice_below *= 2
    pairs = P.sum(axis=1, dtype=np.float64) * C[:, -1]
    # The numerator is at most 2 W_pos W_neg: exact in int64 below 2^62 (float64 beyond).
    exact = P.dtype.kind == "i" and (pairs.size == 0 or pairs.max() < 2.0**61)
    acc = np.int64 if exact else np.float64
    num = 0.5 * np.einsum("ij,ij->i", P, twice_below, dtype=acc).astype(np.float64)
    return _div(num, pairs)


def _ap_weighted(cols: Columns, W: np.ndarray, atoms: np.ndarray | None = None) -> np.ndarray:
    """Weighted average precision ``sum_g P_g TP_g / (TP_g + FP_g) / W_pos``.

    ``P_g`` is the weight of the positives tied at score ``s_g`` and ``TP_g``, ``FP_g`` the
    positive and negative weight scoring at least ``s_g``: scikit-learn's step-wise AP without
    interpolation (Boyd, Eng & Page 2013), from cumulative sums in descending score order.
    """
    index = _rank_index(cols, descending=True)
    P, C, Cp = _rank_weights(index, W, atoms)
    tp = np.cumsum(P, axis=1) if Cp is None else Cp[:, index.ends]
    tp = tp.astype(np.float64)
    den = tp + C[:, index.hi]
    # tp + fp = 0 only where the group itself has weight 0: its term is 0.
    precision = np.divide(tp, den, out=np.zeros_like(tp), where=den > 0)
    # Pairwise summation (numpy's sum), as scikit-learn and the previous implementation.
    return _div((P * precision).sum(axis=1), P.sum(axis=1, dtype=np.float64))


_add(
    Metric(
        "auroc",
        CLASSIFICATION,
        "score",
        True,
        "Area under the ROC curve: P(score of a positive > score of a negative), ties 1/2 "
        "(the Mann-Whitney statistic).",
        weighted=_auroc_weighted,
        reference="Hanley & McNeil 1982, Radiology 143:29-36, doi:10.1148/radiology.143.1.7063747.",
        bounds=(0.0, 1.0),
        kind="discrimination",
        units="probability",
        chance=lambda k: 0.5,
    )
)
_add(
    Metric(
        "average_precision",
        CLASSIFICATION,
        "score",
        True,
        "Average precision: sum over distinct thresholds of (R_k - R_{k-1}) P_k "
        "(no interpolation, as scikit-learn).",
        weighted=_ap_weighted,
        reference="Boyd, Eng & Page 2013, ECML PKDD, doi:10.1007/978-3-642-40994-3_29.",
        bounds=(0.0, 1.0),
        kind="discrimination",
        units="proportion",
    )
)


# --------------------------------------------------------------------------------------------
# Regression
# --------------------------------------------------------------------------------------------
def _centred(c: Columns) -> tuple[np.ndarray, np.ndarray]:
    # One common shift (the mean of y) keeps the sums well conditioned and leaves R^2 and r
    # unchanged (both are invariant to adding the same constant to y and the prediction).
    y = c.y.astype(float)
    p = c.pred.astype(float)
    shift = y.mean() if len(y) else 0.0
    return y - shift, p - shift


def _moments(c: Columns) -> np.ndarray:
    y, p = _centred(c)
    return np.column_stack([np.ones(len(c)), y, p, y * y, p * p, y * p])


def _r2(S):
    n, sy, _sp, syy, spp, syp = (S[..., i] for i in range(6))
    sse = syy - 2 * syp + spp
    sst = syy - sy * sy / np.where(n > 0, n, 1)
    return 1 - _div(sse, np.where(sst > 1e-12 * np.maximum(syy, 1e-300), sst, 0.0))


def _pearson(S):
    n, sy, sp, syy, spp, syp = (S[..., i] for i in range(6))
    nn = np.where(n > 0, n, 1)
    cov = syp - sy * sp / nn
    vy = syy - sy * sy / nn
    vp = spp - sp * sp / nn
    den = np.sqrt(np.maximum(vy, 0) * np.maximum(vp, 0))
    return np.clip(_div(cov, np.where(den > 1e-12 * np.sqrt(syy * spp + 1e-300), den, 0)), -1, 1)


_add(
    Metric(
        "mae",
        REGRESSION,
        "pred",
        False,
        "Mean absolute error.",
        suff=lambda c: np.column_stack([np.abs(c.pred - c.y), np.ones(len(c))]),
        finish=lambda S: _div(S[..., 0], S[..., 1]),
        per_unit=lambda c: (np.abs(c.pred - c.y).astype(float), np.ones(len(c), bool)),
        reference="Willmott & Matsuura 2005, Clim. Res. 30:79-82, doi:10.3354/cr030079.",
        bounds=(0.0, np.inf),
        kind="overall",
        units="target",
    )
)
_add(
    Metric(
        "rmse",
        REGRESSION,
        "pred",
        False,
        "Root mean squared error.",
        suff=lambda c: np.column_stack([(c.pred - c.y) ** 2, np.ones(len(c))]),
        finish=lambda S: np.sqrt(_div(S[..., 0], S[..., 1])),
        reference="Willmott & Matsuura 2005, Clim. Res. 30:79-82, doi:10.3354/cr030079.",
        bounds=(0.0, np.inf),
        kind="overall",
        units="target",
    )
)
_add(
    Metric(
        "r2",
        REGRESSION,
        "pred",
        True,
        "Coefficient of determination 1 - SSE / SST (SST around the mean of the true values).",
        suff=_moments,
        finish=_r2,
        reference="Kvalseth 1985, Am. Stat. 39:279-285, doi:10.1080/00031305.1985.10479448.",
        bounds=(-np.inf, 1.0),
        kind="overall",
        units="fraction of variance",
        chance=lambda k: 0.0,
    )
)
_add(
    Metric(
        "pearson_r",
        REGRESSION,
        "pred",
        True,
        "Pearson correlation between true and predicted values.",
        suff=_moments,
        finish=_pearson,
        reference="Pearson 1895, Proc. R. Soc. Lond. 58:240-242, doi:10.1098/rspl.1895.0041.",
        bounds=(-1.0, 1.0),
        kind="discrimination",
        units="correlation",
        chance=lambda k: 0.0,
    )
)


@dataclass(frozen=True)
class MetricInfo:
    """What a metric is, for everything that words, orders or limits it (no formulas).

    The single source of a metric's direction and scale: report wording ("highest"/"lowest"),
    ranks, the sign of comparisons and baseline captions, forest-plot captions, the planning
    rule D306 and the spec's limits (``units == "target"``: in the target's units, else on the
    metric's own bounded scale).
    """

    name: str
    task: str
    higher_is_better: bool
    kind: str
    units: str
    bounds: tuple[float, float]
    description: str
    reference: str
    chance_of: Callable[[int], float] | None = field(default=None, repr=False)
    #: For signed errors whose best value is a target (the signed volume error: 0), the
    #: target; ``None`` for metrics whose best value is an extreme. Such a metric orders by
    #: ``|value - closest_to|`` (see :meth:`order_key`); its ``higher_is_better`` is ``False``
    #: and speaks of that distance, never of the signed value.
    closest_to: float | None = None

    @property
    def is_calibration(self) -> bool:
        return self.kind == "calibration"

    @property
    def in_target_units(self) -> bool:
        """True when values (and limits such as a CI half-width or a margin) are in the units
        of the regression target, not on a fixed scale."""
        return self.units == TARGET_UNITS

    @property
    def bounded(self) -> bool:
        """Both ends of the range are finite (a proportion, a correlation...)."""
        return bool(np.isfinite(self.bounds[0]) and np.isfinite(self.bounds[1]))

    @property
    def best_word(self) -> str:
        """``highest`` or ``lowest``: the extreme that is best (``closest to 0`` for signed
        errors with a target, see ``closest_to``)."""
        if self.closest_to is not None:
            return f"closest to {self.closest_to:g}"
        return "highest" if self.higher_is_better else "lowest"

    @property
    def direction(self) -> str:
        if self.closest_to is not None:
            return f"closer to {self.closest_to:g} is better"
        return "higher is better" if self.higher_is_better else "lower is better"

    def order_key(self, value: float | np.ndarray) -> float | np.ndarray:
        """A value mapped so that larger is better (``value``, ``-value``, or
        ``-|value - closest_to|``): what rankings sort on."""
        if self.closest_to is not None:
            return -np.abs(np.asarray(value, dtype=float) - self.closest_to)
        return value if self.higher_is_better else -np.asarray(value, dtype=float)

    def chance(self, n_classes: int = 2) -> float | None:
        """Value of a predictor that ignores its input (``None`` when it depends on the data)."""
        return None if self.chance_of is None else float(self.chance_of(n_classes))

    def gain(self, difference: float | np.ndarray) -> float | np.ndarray:
        """A difference ``a - b`` signed so that positive means ``a`` is better."""
        if self.closest_to is not None:
            # A difference of signed errors does not say which is closer to the target.
            raise ValueError(
                f"metric {self.name!r} is best {self.best_word}: compare the two values "
                "with better() or order_key(), not their difference"
            )
        return difference if self.higher_is_better else -difference

    def better(self, a: float, b: float) -> bool:
        """``a`` is strictly better than ``b``."""
        return bool(self.order_key(a) > self.order_key(b))


def metric_info(name: str) -> MetricInfo:
    """Direction, kind, units and range of the metric ``name`` (UserError when unknown).

    Examples
    --------
    >>> info = metric_info("mae")
    >>> info.higher_is_better, info.kind, info.in_target_units, info.best_word
    (False, 'overall', True, 'lowest')
    >>> metric_info("balanced_accuracy").chance(3)
    0.3333333333333333
    """
    if name in SEGMENTATION_INFO:
        return SEGMENTATION_INFO.get(name)
    m = get_metric(name)
    return MetricInfo(
        name=m.name,
        task=m.task,
        higher_is_better=m.higher_is_better,
        kind=m.kind,
        units=m.units,
        bounds=m.bounds,
        description=m.description,
        reference=m.reference,
        chance_of=m.chance,
    )


def get_metric(name: str) -> Metric:
    """The metric registered as ``name`` (UserError with a "did you mean" hint otherwise)."""
    return METRICS.get(name)


def metric_names(task: str | None = None) -> list[str]:
    """Registered metric names, optionally those of one task type."""
    return [n for n in METRICS if task is None or METRICS.get(n).task == task]


# --------------------------------------------------------------------------------------------
# Segmentation metrics: metadata only. They are computed per case from masks by
# brainbench.segmentation.metrics (MONAI's implementations), not from prediction columns, so
# they live beside METRICS rather than in it; metric_info() reads both.
# --------------------------------------------------------------------------------------------
#: What a segmentation metric measures, in the categories of Metrics Reloaded (Maier-Hein et
#: al. 2024, Nat. Methods 21:195-212, doi:10.1038/s41592-023-02151-z).
SEGMENTATION_KINDS = ("overlap", "boundary", "volume", "detection")
SEGMENTATION_INFO: Registry[MetricInfo] = Registry("segmentation metric")
_MR = "Maier-Hein et al. 2024, Nat. Methods 21:195-212, doi:10.1038/s41592-023-02151-z"


def _seg(name: str, kind: str, units: str, bounds: tuple[float, float], **kw) -> None:
    SEGMENTATION_INFO.add(
        name,
        MetricInfo(name=name, task=SEGMENTATION, kind=kind, units=units, bounds=bounds, **kw),
    )


_seg(
    "dice",
    "overlap",
    "proportion",
    (0.0, 1.0),
    higher_is_better=True,
    description="Dice similarity coefficient 2|A∩B|/(|A|+|B|) of one label's masks",
    reference=f"Dice 1945, Ecology 26:297-302, doi:10.2307/1932409; {_MR}.",
)
_seg(
    "iou",
    "overlap",
    "proportion",
    (0.0, 1.0),
    higher_is_better=True,
    description="Intersection over union |A∩B|/|A∪B| (Jaccard index) of one label's masks",
    reference=f"Jaccard 1912, New Phytol. 11:37-50, doi:10.1111/j.1469-8137.1912.tb05611.x; {_MR}.",
)
_seg(
    "hd95",
    "boundary",
    "mm",
    (0.0, np.inf),
    higher_is_better=False,
    description="95th percentile of the symmetric surface distances (Hausdorff distance 95%)",
    reference=f"Huttenlocher et al. 1993, IEEE TPAMI 15:850-863, doi:10.1109/34.232073; {_MR}.",
)
_seg(
    "hd",
    "boundary",
    "mm",
    (0.0, np.inf),
    higher_is_better=False,
    description="Hausdorff distance: the largest surface distance (sensitive to one outlier)",
    reference=f"Huttenlocher et al. 1993, IEEE TPAMI 15:850-863, doi:10.1109/34.232073; {_MR}.",
)
_seg(
    "assd",
    "boundary",
    "mm",
    (0.0, np.inf),
    higher_is_better=False,
    description="Average symmetric surface distance: mean of the surface distances both ways",
    reference=f"Yeghiazaryan and Voiculescu 2018, J. Med. Imaging 5:015006, "
    f"doi:10.1117/1.JMI.5.1.015006; {_MR}.",
)
_seg(
    "nsd",
    "boundary",
    "proportion",
    (0.0, 1.0),
    higher_is_better=True,
    description="Normalised surface distance (surface Dice) at a tolerance in mm: the share "
    "of both surfaces within the tolerance of the other",
    reference=f"Nikolov et al. 2021, J. Med. Internet Res. 23:e26151, doi:10.2196/26151; {_MR}.",
)
_seg(
    "volume-error",
    "volume",
    "mL",
    (-np.inf, np.inf),
    higher_is_better=False,
    closest_to=0.0,
    description="Signed volume error, predicted minus reference volume (mL): positive means "
    "over-segmentation; best at 0, ordered by its absolute value",
    reference=f"{_MR}.",
)
_seg(
    "abs-volume-error",
    "volume",
    "mL",
    (0.0, np.inf),
    higher_is_better=False,
    description="Absolute volume error |predicted - reference| (mL)",
    reference=f"{_MR}.",
)
_seg(
    "relative-volume-error",
    "volume",
    "fraction of the reference volume",
    (-1.0, np.inf),
    higher_is_better=False,
    closest_to=0.0,
    description="Signed relative volume error (predicted - reference)/reference; best at 0, "
    "ordered by its absolute value; undefined for an empty reference",
    reference=f"{_MR}.",
)
_seg(
    "lesion-f1",
    "detection",
    "proportion",
    (0.0, 1.0),
    higher_is_better=True,
    description="Lesion-wise detection F1 over connected components (26-connectivity): "
    "harmonic mean of lesion-wise sensitivity and precision",
    reference=f"Commowick et al. 2018, Sci. Rep. 8:13650, doi:10.1038/s41598-018-31911-7; {_MR}.",
)

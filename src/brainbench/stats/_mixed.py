"""REML fit of the nested random-intercepts model and Satterthwaite degrees of freedom.

The model of ``compare --method mixed`` (paired per-unit differences ``y``):

    y_i = beta + u_1[g_1(i)] + u_2[g_2(i)] + ... + u_K[g_K(i)] + e_i,

with independent ``u_k ~ N(0, tau_k^2)`` per group of level ``k`` (level 1 the outer cluster,
e.g. site; each deeper level nested in the one above, e.g. subject within site) and
``e_i ~ N(0, sigma^2)``. ``V = sigma^2 I + sum_k tau_k^2 Z_k Z_k'`` is block diagonal with
one block per outer cluster.

**Fit without an n x n matrix.** A group's block is its children's blocks plus ``tau_k^2 11'``,
so by the matrix determinant lemma and Sherman-Morrison (Harville 1977, JASA 72:320-338,
doi:10.1080/01621459.1977.10480998, section 3; Searle, Casella & McCulloch 1992, *Variance
Components*, doi:10.1002/9780470316856, ch. 6) the four quantities ``log|V|``, ``a = 1'V^-1 1``,
``b = 1'V^-1 y``, ``c = y'V^-1 y`` of a group follow from the sums of its children's:

    t = 1 + tau_k^2 a,  log|V| += log t,  a /= t,  b /= t,  c -= tau_k^2 b^2 / t,

starting from the innermost groups' ``n_g log sigma^2``, ``n_g / sigma^2``, ``sum y / sigma^2``
and ``sum y^2 / sigma^2``. The REML deviance (Patterson & Thompson 1971, Biometrika
58:545-554, doi:10.1093/biomet/58.3.545) of the intercept-only model is then

    D = log|V| + log a + c - b^2 / a  (+ (n - 1) log 2 pi),

``beta_hat = b / a`` and ``Var(beta_hat) = 1 / a``: O(n) once for the groups' sums, then
O(number of groups) per evaluation. The recursion is differentiated exactly (forward-mode,
second order, :class:`_Jet`), which gives the gradient and the observed Hessian of ``D``
without finite differences. ``sigma^2`` is profiled out (``sigma^2 = (c - b^2/a) / (n - 1)``
at ``sigma^2 = 1``); the variance ratios ``tau_k^2 / sigma^2`` are found by Newton's method
on their logarithms.

**Satterthwaite degrees of freedom** for ``beta`` (Satterthwaite 1946, Biometrics Bull.
2:110-114, doi:10.2307/3002019; Giesbrecht & Burns 1985, Biometrics 41:477-486,
doi:10.2307/2530872; as in lmerTest, Kuznetsova, Brockhoff & Christensen 2017, J. Stat.
Softw. 82(13):1-26, doi:10.18637/jss.v082.i13, section 3.2):

    df = 2 Var(beta_hat)^2 / (g' A g),

``g`` the gradient of ``Var(beta_hat) = 1/a`` in the variance parameters ``(sigma^2,
tau_1^2, ...)`` and ``A = 2 H^-1`` their asymptotic covariance, ``H`` the Hessian of the REML
deviance at the optimum (lmerTest uses the same observed Hessian, by numerical
differentiation). The interval is ``beta_hat +- t_(df) SE``. In a balanced nested design
with positive ANOVA estimates this is exactly the t-test on the outer clusters' means
(df = clusters - 1). ``MixedFit.mean`` does the same for the plain mean of ``y`` (the metric
itself, ``mixed-satterthwaite``), whose variance under the fitted model is linear in the
variance parameters: ``1'V 1 / n^2 = sum_k phi_k sum_g n_g^2 / n^2``.

**Boundary.** A variance component estimated at 0 (below ``BOUNDARY`` times the largest
variance, or whose removal leaves ``D`` unchanged to rounding) is dropped and the model
refitted without it (the REML optimum is the same; the df come from the remaining
parameters, as SAS's ``DDFM=SATTERTHWAITE`` does for components fixed at the bound);
``MixedFit.at_boundary`` names it. A level whose groups coincide with its parent's (one
child each) or are single observations cannot be told apart from that level or from the
residual and is dropped likewise (``MixedFit.not_identifiable``). Kenward-Roger's
adjustment (Kenward & Roger 1997) is not implemented.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from brainbench.stats._resample import nested_codes

#: A variance below this fraction of the largest (residual included) is taken as 0 (a
#: boundary estimate).
BOUNDARY = 1e-8
#: The range searched for log(tau^2 / sigma^2).
LOG_RANGE = (float(np.log(BOUNDARY / 100)), float(np.log(1e12)))


class _Jet:
    """Per-group values with their gradient and Hessian in ``m`` parameters.

    ``v`` has shape ``S``, ``g`` ``S + (m,)`` and ``h`` ``S + (m, m)``: exact second-order
    forward-mode differentiation of the arithmetic below (sum, product, reciprocal, log)."""

    __slots__ = ("g", "h", "v")

    def __init__(self, v, g, h) -> None:
        self.v, self.g, self.h = np.asarray(v, float), np.asarray(g, float), np.asarray(h, float)

    @classmethod
    def variable(cls, value: float, i: int | None, m: int) -> _Jet:
        g = np.zeros(m)
        if i is not None:
            g[i] = 1.0
        return cls(value, g, np.zeros((m, m)))

    def _lift(self, o) -> _Jet:
        if isinstance(o, _Jet):
            return o
        m = self.g.shape[-1]
        return _Jet(o, np.zeros(m), np.zeros((m, m)))

    def __add__(self, o) -> _Jet:
        o = self._lift(o)
        return _Jet(self.v + o.v, self.g + o.g, self.h + o.h)

    __radd__ = __add__

    def __neg__(self) -> _Jet:
        return _Jet(-self.v, -self.g, -self.h)

    def __sub__(self, o) -> _Jet:
        return self + (-self._lift(o))

    def __mul__(self, o) -> _Jet:
        o = self._lift(o)
        a, b = self.v[..., None], o.v[..., None]
        cross = np.einsum("...i,...j->...ij", self.g, o.g)
        return _Jet(
            self.v * o.v,
            a * o.g + b * self.g,
            a[..., None] * o.h + b[..., None] * self.h + cross + np.swapaxes(cross, -1, -2),
        )

    __rmul__ = __mul__

    def _chain(self, f, d1, d2) -> _Jet:
        return _Jet(
            f,
            d1[..., None] * self.g,
            d1[..., None, None] * self.h
            + d2[..., None, None] * np.einsum("...i,...j->...ij", self.g, self.g),
        )

    def reciprocal(self) -> _Jet:
        x = self.v
        return self._chain(1 / x, -1 / x**2, 2 / x**3)

    def log(self) -> _Jet:
        x = self.v
        return self._chain(np.log(x), 1 / x, -1 / x**2)

    def __truediv__(self, o) -> _Jet:
        return self * self._lift(o).reciprocal()

    def sum_by(self, parent: np.ndarray, size: int) -> _Jet:
        """Sums over the groups of each parent."""

        def add(x: np.ndarray) -> np.ndarray:
            flat = x.reshape(len(parent), -1)
            cols = [np.bincount(parent, flat[:, j], size) for j in range(flat.shape[1])]
            return np.stack(cols, axis=1).reshape((size, *x.shape[1:]))

        return _Jet(np.bincount(parent, self.v, size), add(self.g), add(self.h))

    def reshape(self, m: int) -> _Jet:
        return _Jet(self.v, self.g.reshape(-1, m), self.h.reshape(-1, m, m))


@dataclass(frozen=True)
class _Design:
    """The groups' sums and the nesting: ``parents[k]`` maps each group of level ``k`` (0 =
    outer) to its group of level ``k - 1`` (one group above level 0)."""

    n: int
    count: np.ndarray
    total: np.ndarray
    squares: np.ndarray
    parents: tuple[np.ndarray, ...]
    sizes: tuple[int, ...]
    shift: float


def _design(y: np.ndarray, codes: list[np.ndarray]) -> _Design:
    inner = codes[-1] if codes else np.zeros(len(y), np.int64)  # no level: one group
    size = int(inner.max()) + 1
    shift = float(y.mean())
    yc = y - shift  # REML is invariant to the shift; centring avoids cancellation in c - b^2/a
    parents, sizes = [], []
    for k in range(len(codes)):
        above = codes[k - 1] if k else np.zeros(len(y), np.int64)
        g = int(codes[k].max()) + 1
        par = np.zeros(g, np.int64)
        par[codes[k]] = above
        parents.append(par)
        sizes.append(int(above.max()) + 1)
    return _Design(
        n=len(y),
        count=np.bincount(inner, minlength=size).astype(float),
        total=np.bincount(inner, yc, size),
        squares=np.bincount(inner, yc * yc, size),
        parents=tuple(parents),
        sizes=tuple(sizes),
        shift=shift,
    )


def _quantities(design: _Design, phi: Sequence[_Jet]) -> tuple[_Jet, _Jet, _Jet, _Jet]:
    """``log|V|, 1'V^-1 1, 1'V^-1 y, y'V^-1 y`` (y centred) as jets; ``phi[0]`` is sigma^2,
    ``phi[k + 1]`` tau^2 of level ``k``."""
    inv = phi[0].reciprocal()
    logdet = phi[0].log() * design.count
    a, b, c = inv * design.count, inv * design.total, inv * design.squares
    for k in range(len(design.parents) - 1, -1, -1):
        tau = phi[k + 1]
        t = tau * a + 1.0
        logdet = logdet + t.log()
        c = c - tau * b * b / t
        a, b = a / t, b / t
        par, size = design.parents[k], design.sizes[k]
        logdet, a, b, c = (x.sum_by(par, size) for x in (logdet, a, b, c))
    return logdet, a, b, c


def _phi(values: Sequence[float], free: Sequence[int]) -> list[_Jet]:
    """Jets of the variance parameters, differentiated in the ``free`` ones."""
    m = len(free)
    return [_Jet.variable(v, free.index(i) if i in free else None, m) for i, v in enumerate(values)]


def _profiled(design: _Design, ratios: np.ndarray, keep: list[int]) -> _Jet:
    """The REML deviance with sigma^2 profiled out, in the kept levels' variance ratios."""
    values = [1.0] + [ratios[k] if k in keep else 0.0 for k in range(len(design.parents))]
    logdet, a, b, c = _quantities(design, _phi(values, [k + 1 for k in keep]))
    q = c - b * b / a
    return (q.log() * (design.n - 1) + logdet + a.log()).reshape(len(keep))


def _at(
    design: _Design, ratios: np.ndarray, keep: list[int], x: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    r = ratios.copy()
    r[keep] = x
    j = _profiled(design, r, keep)
    return float(j.v[0]), j.g[0], j.h[0]


def _optimise(design: _Design, keep: list[int]) -> tuple[np.ndarray, bool]:
    """Variance ratios of the kept levels at the REML optimum (0 for the others)."""
    ratios = np.zeros(len(design.parents))
    if not keep:
        return ratios, True

    # Newton's method in u = log(tau^2 / sigma^2) on the exact Hessian (the deviance is
    # close to quadratic in u where it is flat in the ratio), its eigenvalues made positive
    # where the deviance is not convex, with a backtracking (Armijo) line search; u is kept
    # in LOG_RANGE; a variance that ends below BOUNDARY times the largest is a boundary
    # estimate (projected Newton, Bertsekas 1982, SIAM J. Control Optim. 20:221-246,
    # doi:10.1137/0320018).
    def at(u: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        x = np.exp(u)
        f, g, h = _at(design, ratios, keep, x)
        return f, x * g, x[:, None] * h * x[None, :] + np.diag(x * g)

    u = np.zeros(len(keep))
    value, grad, hess = at(u)
    converged = False
    jumps = np.ones(len(keep), dtype=bool)  # may a ratio jump to the lower bound?
    for _ in range(200):
        # a ratio at a bound stays there while the deviance grows beyond it
        at_low = u <= LOG_RANGE[0]
        free = ~((at_low & (grad > 0)) | ((u >= LOG_RANGE[1]) & (grad < 0)))
        step = np.zeros_like(u)
        if free.any():
            w, q = np.linalg.eigh(hess[np.ix_(free, free)])
            w = np.maximum(np.abs(w), 1e-12 * max(float(np.abs(w).max()), 1e-300))
            step[free] = -q @ ((q.T @ grad[free]) / w)
            step *= min(1.0, 5.0 / float(np.abs(step).max(initial=1e-300)))  # e^5 at most
        # Converged: the step is tiny, or the predicted decrease of D is below its rounding.
        if np.all(np.abs(step) <= 1e-10) or -float(grad @ step) <= 1e-11 * max(1.0, abs(value)):
            # ... unless a ratio that jumped to the bound wants to grow (D falls as it rises:
            # the optimum is inside, small): it starts again from 1, without jumping.
            back = (u < np.log(BOUNDARY)) & (grad < 0) & jumps
            if not back.any():
                u = np.clip(u + step, *LOG_RANGE)
                converged = True
                break
            u[back], jumps[back] = 0.0, False
            value, grad, hess = at(u)
            continue
        t = 1.0
        for _ in range(60):
            new_u = np.clip(u + t * step, *LOG_RANGE)
            new = at(new_u)
            # (the last term: rounding of D at the optimum)
            if new[0] <= value + 1e-4 * float(grad @ (new_u - u)) + 1e-14 * abs(value):
                break
            t /= 2
        else:  # no decrease left at double precision: the optimum
            converged = bool(np.all(np.abs(grad[free]) <= 1e-6 * max(1.0, abs(value))))
            break
        u = new_u
        value, grad, hess = new
        # Newton in log(ratio) creeps towards a boundary optimum (about e^-1 per step): a
        # small ratio whose removal does not raise D jumps to the bound.
        small = (u < np.log(1e-3) + max(0.0, float(u.max()))) & (grad > 0) & jumps
        for i in np.flatnonzero(small & (u > LOG_RANGE[0])):
            low = u.copy()
            low[i] = LOG_RANGE[0]
            new = at(low)
            if new[0] <= value:
                u = low
                value, grad, hess = new
    x = np.exp(u)
    x[x < BOUNDARY * max(1.0, float(x.max()))] = 0.0
    # The search in log(ratio) slows down towards 0, where D flattens: a component whose
    # removal does not raise D beyond rounding is at the boundary (D is minimal at 0).
    for i in np.flatnonzero(x > 0):
        at_zero = x.copy()
        at_zero[i] = 0.0
        if _at(design, ratios, keep, at_zero)[0] <= value + 1e-10 * max(1.0, abs(value)):
            x = at_zero
    ratios[keep] = x
    return ratios, converged


@dataclass(frozen=True)
class TTest:
    """An estimate, its standard error and Satterthwaite df: the t test of 0 and t interval."""

    estimate: float
    se: float
    df: float

    @property
    def statistic(self) -> float:
        return self.estimate / self.se if self.se > 0 else float("nan")

    @property
    def p_value(self) -> float:
        """Two-sided p of the t test of 0."""
        t = self.statistic
        return float(2 * sps.t.sf(abs(t), self.df)) if np.isfinite(t) else float("nan")

    def interval(self, level: float = 0.95) -> tuple[float, float]:
        q = float(sps.t.ppf(0.5 + level / 2, self.df))
        return self.estimate - q * self.se, self.estimate + q * self.se


@dataclass(frozen=True)
class MixedFit:
    """A REML fit of the nested random-intercepts model.

    ``beta``: the REML (GLS) estimate of the intercept, ``SE = (1'V^-1 1)^-1/2``, Satterthwaite
    df. ``mean``: the plain mean of ``y`` with its variance under the fitted model,
    ``1'V 1 / n^2 = sum_k phi_k sum_g n_g^2 / n^2`` (``n_g`` the rows of group g of level k, the
    residual's groups single rows), and Satterthwaite's df for that linear combination of
    variance components, ``2 Var^2 / (s' A s)`` (``s`` its coefficients; Satterthwaite 1946);
    both are the t test of the cluster means in a balanced design.
    ``variances`` holds ``residual`` and each level's tau^2 (0 for a dropped level);
    ``at_boundary`` the levels estimated 0 and dropped; ``not_identifiable`` the levels
    dropped because their groups equal their parent's or are single observations."""

    beta: TTest
    mean: TTest
    variances: dict[str, float]
    groups: dict[str, int]
    n_obs: int
    converged: bool
    at_boundary: tuple[str, ...] = ()
    not_identifiable: tuple[str, ...] = ()


def _satterthwaite(var: float, grad: np.ndarray, cov: np.ndarray) -> float:
    """``2 Var^2 / (g' A g)``; NaN where the information is singular."""
    spread = float(grad @ cov @ grad)
    return 2 * var**2 / spread if spread > 0 else float("nan")


def fit_mixed(y: np.ndarray, levels: Sequence[np.ndarray], names: Sequence[str]) -> MixedFit:
    """REML fit of ``y = beta + u_1 + ... + u_K + e`` (see the module docstring).

    ``levels`` are the group ids per observation, outer first (``names`` their names); each
    level's groups are nested in the previous level's groups (ids are combined with the
    levels above, so subject ``"1"`` of two sites is two subjects). ValueError when ``y`` is
    constant or has fewer than 2 values."""
    y = np.asarray(y, float)
    if len(y) < 2 or not np.all(np.isfinite(y)) or np.ptp(y) == 0:
        raise ValueError("the mixed model needs at least two finite, not all equal, values")
    names = list(names)
    codes = nested_codes(levels)
    counts = [1] + [int(c.max()) + 1 for c in codes] + [len(y)]
    usable = [k for k in range(len(codes)) if counts[k] < counts[k + 1] < counts[k + 2]]
    not_identifiable = tuple(names[k] for k in range(len(codes)) if k not in usable)
    design = _design(y, [codes[k] for k in usable])
    keep = list(range(len(usable)))
    while True:
        ratios, converged = _optimise(design, keep)
        low = [k for k in keep if ratios[k] == 0.0]
        if not low:
            break
        keep = [k for k in keep if k not in low]
    at_boundary = tuple(names[usable[k]] for k in range(len(usable)) if k not in keep)
    _, a1, b1, c1 = _quantities(design, _phi([1.0, *ratios], [0]))
    sigma2 = float((c1.v - b1.v**2 / a1.v)[0]) / (design.n - 1)
    values = [sigma2, *(sigma2 * ratios)]
    free = [0] + [k + 1 for k in keep]
    logdet, a, b, c = _quantities(design, _phi(values, free))
    deviance = (logdet + a.log() + c - b * b / a).reshape(len(free))
    var_beta = a.reciprocal().reshape(len(free))
    try:
        cov = 2 * np.linalg.inv(deviance.h[0])
    except np.linalg.LinAlgError:
        cov = np.full((len(free), len(free)), np.nan)
    vb = float(var_beta.v[0])
    rows = design.n
    shares = np.array(
        [1.0 / rows] + [np.sum(np.bincount(codes[usable[k]]) ** 2.0) / rows**2 for k in keep]
    )
    var_mean = float(shares @ np.asarray(values)[free])
    variances = {"residual": sigma2}
    variances.update({n: 0.0 for n in names})
    for k, lvl in enumerate(usable):
        variances[names[lvl]] = float(values[k + 1])
    return MixedFit(
        beta=TTest(
            design.shift + float(b.v[0] / a.v[0]),
            float(np.sqrt(vb)),
            _satterthwaite(vb, var_beta.g[0], cov),
        ),
        mean=TTest(
            float(y.mean()), float(np.sqrt(var_mean)), _satterthwaite(var_mean, shares, cov)
        ),
        variances=variances,
        groups={n: counts[k + 1] for k, n in enumerate(names)},
        n_obs=design.n,
        converged=converged,
        at_boundary=at_boundary,
        not_identifiable=not_identifiable,
    )


__all__ = ["MixedFit", "TTest", "fit_mixed"]

"""Synthetic predictions with site, subject and session random effects and a known truth.

An image of subject j (session k) at site s, class c, is classified correctly with probability

    P(correct) = expit(mu_c + u_s + v_j + w_k),  u ~ N(0, sd_site^2), v ~ N(0, sd_subject^2),
                                                 w ~ N(0, sd_session^2)

realised as ``margin = mu_c + u_s + v_j + w_k + e`` with logistic noise e, ``correct =
margin > 0`` and the positive-class probability ``expit((2y - 1) margin)``. The population
(super-population of sites) recall of class c is therefore
``E[expit(mu_c + sigma Z)]``, sigma^2 = sd_site^2 + sd_subject^2 + sd_session^2, computed by
Gauss-Hermite quadrature; the true balanced accuracy is the mean of the two recalls.

Several models share the effects above and add their own site and subject effects
(``model_sd_site``, ``model_sd_subject``, with the same variance for every model), so that
under ``mu`` equal across models their true metrics are equal while their errors are
correlated and clustered: the setting in which image-level tests are anti-conservative.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.special import expit

_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(101)


def logit_normal_mean(mu: float, sigma: float) -> float:
    """E[expit(mu + sigma Z)] for Z ~ N(0, 1), by Gauss-Hermite quadrature (101 nodes)."""
    return float((_GH_W * expit(mu + sigma * _GH_X)).sum() / _GH_W.sum())


def true_balanced_accuracy(
    mu_neg: float,
    mu_pos: float,
    sd_site: float,
    sd_subject: float,
    sd_session: float = 0.0,
    model_sd_site: float = 0.0,
    model_sd_subject: float = 0.0,
) -> float:
    """Population balanced accuracy of :func:`simulate_predictions`'s data."""
    sigma = float(
        np.sqrt(sd_site**2 + sd_subject**2 + sd_session**2 + model_sd_site**2 + model_sd_subject**2)
    )
    return 0.5 * (logit_normal_mean(mu_neg, sigma) + logit_normal_mean(mu_pos, sigma))


def simulate_arrays(
    rng: np.random.Generator,
    *,
    n_sites: int,
    subjects_per_site: int | Sequence[int],
    sessions_per_subject: int = 1,
    images_per_session: int = 1,
    prevalence: float = 0.5,
    mu: dict[str, tuple[float, float]],
    sd_site: float = 0.5,
    sd_subject: float = 0.8,
    sd_session: float = 0.0,
    model_sd_site: float = 0.0,
    model_sd_subject: float = 0.0,
) -> dict[str, np.ndarray]:
    """The arrays behind :func:`simulate_predictions` (integer ids, one score per model)."""
    sizes = (
        np.full(n_sites, subjects_per_site)
        if np.isscalar(subjects_per_site)
        else np.asarray(subjects_per_site)
    )
    site_of_subj = np.repeat(np.arange(n_sites), sizes)
    n_subj = len(site_of_subj)
    y_subj = (rng.random(n_subj) < prevalence).astype(int)
    u = rng.normal(0, sd_site, n_sites)
    v = rng.normal(0, sd_subject, n_subj)
    n_ses = n_subj * sessions_per_subject
    subj_of_ses = np.repeat(np.arange(n_subj), sessions_per_subject)
    w = rng.normal(0, sd_session, n_ses)
    subj = np.repeat(subj_of_ses, images_per_session)
    ses = np.repeat(np.arange(n_ses), images_per_session)
    site = site_of_subj[subj]
    y = y_subj[subj]
    shared = u[site] + v[subj] + w[ses]
    out = {"site": site, "subject": subj, "session": ses, "y": y}
    for name, (mu_neg, mu_pos) in mu.items():
        a_site = rng.normal(0, model_sd_site, n_sites)
        a_subj = rng.normal(0, model_sd_subject, n_subj)
        margin = np.where(y == 1, mu_pos, mu_neg) + shared + a_site[site] + a_subj[subj]
        margin = margin + rng.logistic(0, 1, len(y))
        out[f"score_{name}"] = expit(np.where(y == 1, margin, -margin))
    return out


def simulate_predictions(
    *,
    n_sites: int = 10,
    subjects_per_site: int | Sequence[int] = 20,
    sessions_per_subject: int = 1,
    images_per_session: int = 1,
    prevalence: float = 0.5,
    mu: dict[str, tuple[float, float]] | None = None,
    sd_site: float = 0.5,
    sd_subject: float = 0.8,
    sd_session: float = 0.0,
    model_sd_site: float = 0.0,
    model_sd_subject: float = 0.0,
    seed: int | np.random.Generator = 0,
    classes: tuple[str, str] = ("CN", "AD"),
) -> pd.DataFrame:
    """A predictions table (docs/design.md) of one test set, with known population metrics.

    Parameters
    ----------
    mu
        Per model, the logits ``(mu_negative, mu_positive)`` of correct classification
        (default ``{"A": (1.0, 1.0)}``).
    subjects_per_site
        One number, or one per site (unbalanced sites).
    prevalence
        Probability that a subject is positive (labels are per subject).

    Returns
    -------
    pandas.DataFrame
        Columns model, repeat, fold, seed, partition, site, subject, session, image, y_true,
        y_pred, score.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    mu = mu or {"A": (1.0, 1.0)}
    arr = simulate_arrays(
        rng,
        n_sites=n_sites,
        subjects_per_site=subjects_per_site,
        sessions_per_subject=sessions_per_subject,
        images_per_session=images_per_session,
        prevalence=prevalence,
        mu=mu,
        sd_site=sd_site,
        sd_subject=sd_subject,
        sd_session=sd_session,
        model_sd_site=model_sd_site,
        model_sd_subject=model_sd_subject,
    )
    n_img = len(arr["y"])
    labels = np.array(classes)
    frames = []
    for name in mu:
        score = arr[f"score_{name}"]
        frames.append(
            pd.DataFrame(
                {
                    "model": name,
                    "repeat": 0,
                    "fold": 0,
                    "seed": 0,
                    "partition": "test",
                    "site": [f"site{s:02d}" for s in arr["site"]],
                    "subject": [f"sub{j:05d}" for j in arr["subject"]],
                    "session": [f"ses{k % sessions_per_subject}" for k in arr["session"]],
                    "image": np.arange(n_img).astype(str),
                    "y_true": labels[arr["y"]],
                    "y_pred": labels[(score >= 0.5).astype(int)],
                    "score": score,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)

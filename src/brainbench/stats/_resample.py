"""The vectorised hierarchical (cluster) bootstrap: multiplicities of nested clusters.

A two-stage bootstrap (Davison & Hinkley 1997, *Bootstrap Methods and their Application*,
Cambridge University Press, section 3.8, doi:10.1017/CBO9780511802843; Field & Welsh 2007,
J. R. Stat. Soc. B 69:369-390, doi:10.1111/j.1467-9868.2007.00593.x; Saravanan et al. 2020,
Neurons Behav. Data Anal. Theory 3(5), PMC7906290) draws the outer clusters with replacement and,
within each drawn cluster, its children with replacement, down to the innermost declared level
(the *atom*, e.g. the subject); an atom's rows are kept together.

Instead of building resampled tables, we draw the *multiplicity* of each atom. If a parent
cluster was drawn ``k`` times and has ``n`` children, its children are drawn ``k n`` times in
total, uniformly: their multiplicities are Multinomial(``k n``; 1/n, ..., 1/n). Two exact
algorithms produce them, vectorised over a chunk of resamples:

* *index draws*: ``k n`` uniform child indices per parent, counted with ``bincount``;
* *type draws* (linear statistics only): atoms of one parent with identical sufficient
  statistics are interchangeable, so only the counts per distinct row ("type") matter. They are
  Multinomial(``k n``; m_t / n) and are drawn by sequential conditional binomials
  (c_t ~ Binomial(remaining, m_t / remaining mass)), one numpy call per type rank. With class
  labels per subject and a handful of images each, 10,000 subjects collapse to a few hundred
  types, which is what makes 10,000 resamples of 100,000 predictions take well under 2 s.

Stratification (by class, for metrics that need both classes) applies at the innermost level:
children are drawn within (parent, stratum) groups, so each drawn parent keeps its class counts.
The flat, unstratified case draws ``rng.integers(0, n, (chunk, n))`` exactly as
``scipy.stats.bootstrap`` does, so the two agree resample for resample given the same seed and
batch size.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Upper bound on ``chunk * atoms`` (elements of one block of multiplicities).
BLOCK_ELEMENTS = 4_000_000


@dataclass
class _Level:
    n: int  # clusters at this level
    group: np.ndarray  # group (parent, or (parent, stratum)) of each cluster
    n_groups: int
    group_parent: np.ndarray  # parent cluster (previous level) of each group
    members: np.ndarray  # clusters sorted by group
    start: np.ndarray  # first position of each group in members
    size: np.ndarray  # clusters in each group


def nested_codes(levels: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Per level, each row's group code: ids are read within the groups of the levels above
    (the key (outer code, id)), codes numbered in order of first appearance; a missing id is a
    group of its own."""
    codes = []
    key = np.zeros(len(levels[0]), dtype=np.int64)
    for ids in levels:
        i_codes, uniques = pd.factorize(np.asarray(ids), use_na_sentinel=False)
        key = pd.factorize(key * max(len(uniques), 1) + i_codes)[0].astype(np.int64)
        codes.append(key)
    return codes


class ClusterDesign:
    """Nested clusters over the rows of a table, outer level first.

    Parameters
    ----------
    levels
        One array of ids per declared level, each of length ``n_rows``, outer first (e.g.
        ``[site, subject]``). Ids nest: a subject id is interpreted within its site. The
        innermost level defines the atoms, whose rows are always resampled together. An empty
        list means each row is its own atom (the flat bootstrap).
    strata
        Optional stratum per row (e.g. the class): the innermost level is resampled within
        (parent, stratum). Every atom must fall in one stratum.
    names
        Level names, for messages and results.
    """

    def __init__(
        self,
        levels: list[np.ndarray],
        strata: np.ndarray | None = None,
        names: list[str] | None = None,
    ) -> None:
        n_rows = len(levels[0]) if levels else (len(strata) if strata is not None else 0)
        if not levels:
            raise ValueError("ClusterDesign needs at least one level (use the row index)")
        self.names = list(names) if names else [f"level{k}" for k in range(len(levels))]
        self.n_rows = n_rows
        codes = nested_codes(levels)
        #: Per level, each row's cluster code (nested: numbered within the levels above).
        self.row_codes = codes
        self.row_atom = codes[-1]
        self.n_atoms = int(self.row_atom.max()) + 1 if n_rows else 0
        self.stratified = strata is not None
        atom_stratum = None
        if strata is not None:
            s_codes = pd.factorize(np.asarray(strata))[0]
            atom_stratum = np.full(self.n_atoms, -1)
            atom_stratum[self.row_atom] = s_codes
            check = np.zeros(self.n_atoms, dtype=bool)
            np.logical_or.at(check, self.row_atom, s_codes != atom_stratum[self.row_atom])
            if check.any():
                raise ValueError("an atom spans several strata")
        self.levels: list[_Level] = []
        parent = np.zeros(n_rows, dtype=np.int64)
        n_parent = 1
        for k, code in enumerate(codes):
            n = int(code.max()) + 1
            cluster_parent = np.zeros(n, dtype=np.int64)
            cluster_parent[code] = parent
            if k == len(codes) - 1 and atom_stratum is not None:
                g_frame = pd.DataFrame({"p": cluster_parent, "s": atom_stratum})
                group = g_frame.groupby(["p", "s"], sort=True).ngroup().to_numpy()
            else:
                group = cluster_parent
            n_groups = int(group.max()) + 1
            group_parent = np.zeros(n_groups, dtype=np.int64)
            group_parent[group] = cluster_parent
            members = np.argsort(group, kind="stable")
            size = np.bincount(group, minlength=n_groups)
            start = np.r_[0, np.cumsum(size)[:-1]]
            self.levels.append(_Level(n, group, n_groups, group_parent, members, start, size))
            parent, n_parent = code, n
        del n_parent
        self.top_of_atom = np.zeros(self.n_atoms, dtype=np.int64)
        self.top_of_atom[self.row_atom] = codes[0]
        self.flat = len(levels) == 1 and not self.stratified
        self.atom_group = self.levels[-1].group

    # ------------------------------------------------------------------ descriptions
    @property
    def n_clusters(self) -> dict[str, int]:
        """Clusters per level (outer first)."""
        return {name: lvl.n for name, lvl in zip(self.names, self.levels, strict=True)}

    @property
    def n_top(self) -> int:
        return self.levels[0].n

    def atom_sums(self, X: np.ndarray) -> np.ndarray:
        """Sum the rows of ``X`` (``n_rows x m``) within each atom."""
        out = np.zeros((self.n_atoms, X.shape[1]))
        np.add.at(out, self.row_atom, X)
        return out

    # ------------------------------------------------------------------ multiplicities
    def _draw_level(self, lvl: _Level, parent_counts: np.ndarray, rng, flat: bool) -> np.ndarray:
        c = parent_counts.shape[0]
        if flat:
            idx = rng.integers(0, lvl.n, (c, lvl.n))
            offs = (np.arange(c)[:, None] * lvl.n + idx).ravel()
            return np.bincount(offs, minlength=c * lvl.n).reshape(c, lvl.n)
        draws = (parent_counts[:, lvl.group_parent] * lvl.size[None, :]).ravel()  # (c * G)
        # Children are counted in group-sorted positions (groups contiguous), then put back
        # in cluster order: a draw lands at base(b, g) + floor(u * size(g)).
        base = (np.arange(c)[:, None] * lvl.n + lvl.start[None, :]).ravel()
        size = np.broadcast_to(lvl.size.astype(float), (c, lvl.n_groups)).ravel()
        u = rng.random(int(draws.sum()))
        u *= np.repeat(size, draws)
        pos = np.repeat(base, draws) + u.astype(np.int64)
        counts = np.bincount(pos, minlength=c * lvl.n).reshape(c, lvl.n)
        out = np.empty_like(counts)
        out[:, lvl.members] = counts
        return out

    def _parent_counts(self, c: int, rng) -> np.ndarray:
        """Counts of the clusters one level above the atoms (the root when single-level)."""
        counts = np.ones((c, 1), dtype=np.int64)
        for lvl in self.levels[:-1]:
            counts = self._draw_level(lvl, counts, rng, flat=False)
        return counts

    def weights(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Multiplicities of the atoms in ``n`` resamples, shape ``(n, n_atoms)``."""
        parent = self._parent_counts(n, rng)
        return self._draw_level(self.levels[-1], parent, rng, flat=self.flat)

    def chunk_size(self, width: int | None = None) -> int:
        return max(1, BLOCK_ELEMENTS // max(1, width or self.n_atoms))

    def iter_weights(
        self, n_resamples: int, rng: np.random.Generator, chunk: int | None = None
    ) -> Iterator[np.ndarray]:
        chunk = chunk or self.chunk_size()
        done = 0
        while done < n_resamples:
            c = min(chunk, n_resamples - done)
            yield self.weights(c, rng)
            done += c

    # ------------------------------------------------------------------ linear statistics
    def types(self, X_atoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Distinct atom rows within each innermost group: (X_types, group, multiplicity)."""
        lvl = self.levels[-1]
        frame = pd.DataFrame(X_atoms)
        frame.insert(0, "_g", lvl.group)
        key = frame.groupby(list(frame.columns), sort=True).ngroup().to_numpy()
        n_types = int(key.max()) + 1
        first = np.zeros(n_types, dtype=np.int64)
        first[key[::-1]] = np.arange(len(key))[::-1]
        mult = np.bincount(key, minlength=n_types)
        return X_atoms[first], lvl.group[first], mult

    def sums(
        self,
        X_atoms: np.ndarray,
        n_resamples: int,
        rng: np.random.Generator,
        chunk: int | None = None,
        engine: str = "auto",
    ) -> np.ndarray:
        """Resampled column sums ``w @ X_atoms`` for ``n_resamples`` resamples.

        ``engine`` is ``types``, ``index`` or ``auto`` (types when there are at most a quarter
        as many distinct atom rows as atoms, and the design is not the scipy-compatible flat
        one).
        """
        X_atoms = np.asarray(X_atoms, dtype=float)
        t = None
        if engine == "auto":
            engine = "index"
            if not self.flat and self.n_atoms >= 64:
                t = self.types(X_atoms)
                if len(t[2]) * 4 <= self.n_atoms:
                    engine = "types"
        out = np.empty((n_resamples, X_atoms.shape[1]))
        if engine == "types":
            X_t, g_t, m_t = t if t is not None else self.types(X_atoms)
            chunk = chunk or max(1, BLOCK_ELEMENTS // max(len(m_t), 1))
            done = 0
            while done < n_resamples:
                c = min(chunk, n_resamples - done)
                counts = self._type_counts(g_t, m_t, c, rng)
                out[done : done + c] = counts @ X_t
                done += c
            return out
        done = 0
        if self.flat and X_atoms.shape[1] <= 8:
            # Same draws as scipy.stats.bootstrap; gathering a few columns beats bincount.
            chunk = chunk or self.chunk_size()
            n = self.n_atoms
            while done < n_resamples:
                c = min(chunk, n_resamples - done)
                idx = rng.integers(0, n, (c, n))
                for k in range(X_atoms.shape[1]):
                    out[done : done + c, k] = X_atoms[:, k][idx].sum(axis=1)
                done += c
            return out
        for W in self.iter_weights(n_resamples, rng, chunk):
            out[done : done + len(W)] = W @ X_atoms
            done += len(W)
        return out

    def _type_counts(self, g_t: np.ndarray, m_t: np.ndarray, c: int, rng) -> np.ndarray:
        lvl = self.levels[-1]
        parent = self._parent_counts(c, rng)
        remaining = parent[:, lvl.group_parent] * lvl.size[None, :]  # draws left per group
        mass = lvl.size.astype(np.int64).copy()  # atoms left per group
        counts = np.zeros((c, len(m_t)), dtype=np.int64)
        order = np.argsort(g_t, kind="stable")
        rank = np.empty(len(m_t), dtype=np.int64)
        starts = np.r_[0, np.flatnonzero(np.diff(g_t[order])) + 1]
        for s, e in zip(starts, np.r_[starts[1:], len(order)], strict=True):
            rank[order[s:e]] = np.arange(e - s)
        for j in range(int(rank.max()) + 1):
            t = np.flatnonzero(rank == j)
            g = g_t[t]
            last = m_t[t] >= mass[g]  # the last type of its group takes what remains
            if last.any():
                counts[:, t[last]] = remaining[:, g[last]]
            t, g = t[~last], g[~last]
            if len(t):
                draw = rng.binomial(remaining[:, g], (m_t[t] / mass[g])[None, :])
                counts[:, t] = draw
                remaining[:, g] -= draw
                mass[g] -= m_t[t]
        return counts

    # ------------------------------------------------------------------ jackknife
    def jackknife_groups(self, max_groups: int = 2000, seed: int = 0) -> np.ndarray:
        """Delete-a-group jackknife over the top-level clusters: group index of each atom.

        With more than ``max_groups`` top-level clusters they are split at random into
        ``max_groups`` groups of (nearly) equal size (delete-d jackknife; Shao & Tu 1995, *The
        Jackknife and Bootstrap*, Springer, section 2.3, doi:10.1007/978-1-4612-0795-5).
        """
        n = self.n_top
        if n <= max_groups:
            return self.top_of_atom
        perm = np.random.default_rng(seed).permutation(n)
        group_of_top = np.empty(n, dtype=np.int64)
        group_of_top[perm] = np.arange(n) % max_groups
        return group_of_top[self.top_of_atom]

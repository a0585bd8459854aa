"""Data rules D300-D307: they read the cohort table and the split table.

pandas and numpy are imported inside ``check`` only: spec-only commands import this module to
list the catalogue and must stay fast. ``load_data_context(loaded_spec)`` reads the cohorts,
applies the include filters and reads the pinned split file (or, when none is pinned yet,
generates the splits in memory exactly as ``brainbench split`` would), so the rules check the
protocol that will actually run.

Statistical formulas (D302, D303, D306) are given in each rule's docstring with references.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from brainbench.validate.findings import Finding, Severity
from brainbench.validate.rule import DataContext, Rule, register_rule

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from brainbench.spec import LoadedSpec

WEN_2020 = "Wen et al. 2020, Medical Image Analysis 63:101694, doi:10.1016/j.media.2020.101694"
BERGSMA_2013 = (
    "Bergsma 2013, A bias-correction for Cramér's V and Tschuprow's T, Journal of the Korean "
    "Statistical Society 42:323-328, doi:10.1016/j.jkss.2012.10.002"
)
WACHINGER_2021 = (
    "Wachinger et al. 2021, Detect and correct bias in multi-site neuroimaging datasets, "
    "Medical Image Analysis 67:101879, doi:10.1016/j.media.2020.101879"
)
AUSTIN_2009 = (
    "Austin 2009, Balance diagnostics for comparing the distribution of baseline covariates, "
    "Statistics in Medicine 28:3083-3107, doi:10.1002/sim.3697"
)
KOHAVI_1995 = "Kohavi 1995, A study of cross-validation and bootstrap, IJCAI 2:1137-1143"
HANLEY_MCNEIL_1982 = (
    "Hanley & McNeil 1982, The meaning and use of the area under a ROC curve, Radiology "
    "143:29-36, doi:10.1148/radiology.143.1.7063747"
)
BRODERSEN_2010 = (
    "Brodersen et al. 2010, The balanced accuracy and its posterior distribution, ICPR, "
    "doi:10.1109/ICPR.2010.764"
)
KISH_1965 = "Kish 1965, Survey Sampling, Wiley (design effect, section 5.4)"
VAROQUAUX_2018 = (
    "Varoquaux 2018, Cross-validation failure: small sample sizes lead to large error bars, "
    "NeuroImage 180:68-77, doi:10.1016/j.neuroimage.2017.06.061"
)
BOLKER_2009 = (
    "Bolker et al. 2009, Generalized linear mixed models: a practical guide, Trends in Ecology "
    "and Evolution 24:127-135, doi:10.1016/j.tree.2008.10.008"
)
METRICS_RELOADED = (
    "Maier-Hein et al. 2024, Metrics Reloaded, Nature Methods 21:195-212, "
    "doi:10.1038/s41592-023-02151-z"
)
FIELD_WELSH_2007 = (
    "Field & Welsh 2007, Bootstrapping clustered data, JRSS B 69:369-390, "
    "doi:10.1111/j.1467-9868.2007.00593.x"
)

PLANNING_VALUE = 0.80
"""Assumed true value of a [0, 1] metric when protocol.planning.value is not given."""
PLANNING_R = 0.5
"""Assumed Pearson r (pearson_r, r2) when protocol.planning.value is not given."""
DEFAULT_HALF_WIDTH = 0.10
MIN_RANDOM_EFFECT_GROUPS = 5
#: From this many outer clusters on, D307 no longer compares the interval with the
#: calibration table's choice (the regimes below it: 2-3 sites not estimable, 4-7 sites).
CALIBRATED_SITES = 8
#: The engine's minimum (brainbench.stats._evaluate.MIN_ESTIMABLE_CLUSTERS; not imported so
#: that spec-only commands need not import the statistics engine; a test checks they agree).
MIN_ESTIMABLE_CLUSTERS = 4
CALIBRATED_HINT = (
    "set protocol.confidence.interval: calibrated (the method chosen from the calibration "
    "grid for the metric and this number of sites; docs/statistics.md)"
)
#: D307's hint for a spec already on `interval: calibrated` in a regime flagged below the goal.
FLAGGED_HINT = (
    "report the interval as approximate, or plan more sites or subjects per site to reach a "
    "regime where the calibrated method met 94-96% (brainbench plan SPEC; docs/statistics.md)"
)
MIN_CONFOUND_SUBJECTS = 30
"""Below this many subjects, a large Cramér's V (D302) is a warning, not an error."""


@dataclass
class CohortDataContext(DataContext):
    """A :class:`DataContext` that also carries what reading found.

    ``findings``: reading and hierarchy findings (re-emitted by rule D300);
    ``split_file``: where ``splits`` came from (None: generated in memory, or no splits);
    ``splits_generated``: True when the splits were generated because none is pinned.
    """

    findings: list[Finding] = field(default_factory=list)
    split_file: Path | None = None
    splits_generated: bool = False


def load_data_context(loaded: LoadedSpec) -> CohortDataContext:
    """Read a spec's cohorts (include filters applied) and its split table.

    The pinned split file is read when it exists (its hash is checked by ``validate`` itself,
    rule E002); otherwise the splits are generated in memory from the spec. A split that cannot
    be made (too few groups for the folds...) becomes a finding, not an exception.
    """
    from brainbench._memory import release_freed_memory, use_system_allocator
    from brainbench.cohort import load_cohorts
    from brainbench.cohort._findings import cohort_finding
    from brainbench.errors import UserError
    from brainbench.split import make_splits, read_split_file

    use_system_allocator()
    cohort = load_cohorts(loaded)
    release_freed_memory()  # reading's temporaries: the peak is the split's and the rules'
    findings = list(cohort.findings)
    splits = None
    split_file = None
    generated = False
    pinned = loaded.spec.splits.file
    if pinned is not None and loaded.resolve_path(pinned.path).is_file():
        split_file = loaded.resolve_path(pinned.path)
        try:
            splits = read_split_file(split_file)
        except UserError as exc:
            findings.append(
                cohort_finding("unreadable-split-file", exc.message, file=str(split_file))
            )
            split_file = None
    elif not cohort.table.empty:
        try:
            splits = make_splits(loaded, cohort)
            generated = True
        except UserError as exc:
            line, col = loaded.locate("splits")
            findings.append(
                Finding(
                    rule="cohort/cannot-split",
                    severity=Severity.ERROR,
                    message=exc.message,
                    file=str(loaded.file),
                    path="splits",
                    line=line,
                    column=col,
                )
            )
    release_freed_memory()
    return CohortDataContext(
        loaded=loaded,
        cohort=cohort.table,
        splits=splits,
        findings=findings,
        split_file=split_file,
        splits_generated=generated,
    )


# ----------------------------------------------------------------------------- helpers


def _label_text(s: pd.Series) -> pd.Series:
    """Labels as text, integral numbers without ``.0`` (so 1.0 matches class '1')."""
    if s.dtype.kind == "f":
        return s.astype("string").str.replace(r"\.0$", "", regex=True)
    return s.astype("string")


def _subjects(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (cohort, subject): its first session's row."""
    from brainbench.cohort._codes import first_units

    return first_units(table, ["cohort", "subject"], "session_index")


def _where(rows: pd.DataFrame) -> tuple[str | None, int | None, str]:
    """File and first line of some cohort rows, and a "lines 2, 5, 9" text."""
    from brainbench.cohort._findings import lines_text

    if rows.empty or "cohort_file" not in rows.columns:
        return None, None, ""
    import numpy as np

    file = rows["cohort_file"].iloc[0]
    same = (rows["cohort_file"] == file).to_numpy(dtype=bool, na_value=False)
    lines = rows["cohort_row"][same].dropna().to_numpy(dtype=np.int64)
    return (
        None if file is None or file != file else str(file),
        int(lines[0]) if len(lines) else None,
        lines_text(lines) if len(lines) else "",
    )


def _sides(partition: pd.Series) -> np.ndarray:
    """Which side of a split a partition is on: 'train' (train, validation) or 'test' (test,
    external-test cohorts)."""
    import numpy as np

    return np.where(_is_in(partition, ["train", "validation"]), "train", "test")


def _is_in(col: pd.Series, values: list[str]) -> np.ndarray:
    """``col.astype("string").isin(values)`` as a boolean array; a categorical column (a
    split table's) compares its integer codes, not millions of strings."""
    import numpy as np
    import pandas as pd

    if isinstance(col.dtype, pd.CategoricalDtype):
        wanted = np.flatnonzero(col.cat.categories.astype("string").isin(values))
        return np.isin(col.cat.codes.to_numpy(), wanted)
    return col.astype("string").isin(values).to_numpy(dtype=bool, na_value=False)


def _codes(col: pd.Series) -> np.ndarray:
    """Integer codes of a categorical or text column (missing: -1 -> its own code)."""
    import numpy as np
    import pandas as pd

    if isinstance(col.dtype, pd.CategoricalDtype):
        codes = col.cat.codes.to_numpy().astype(np.int64)
    else:
        codes = pd.factorize(col, use_na_sentinel=True)[0].astype(np.int64)
    return codes + 1


def _mixed(key: np.ndarray, part: np.ndarray) -> np.ndarray:
    """The keys, sorted, whose rows have more than one ``part`` value (hashing, no sort of
    every row: a split table has millions)."""
    import numpy as np
    import pandas as pd

    small = part.astype(np.int16) if len(part) and part.max() < 2**15 else part
    span = int(key.max()) + 1 if len(key) else 0
    dense = int(key.min(initial=0)) >= 0 and span <= 4 * len(key) + 1024
    # keys spanning a range not much larger than their number index arrays directly (no
    # hash table of millions of entries); others are factorised first
    code, keys = (key, None) if dense else pd.factorize(key)
    n = span if dense else len(keys)
    low = np.full(n, np.iinfo(small.dtype).max, dtype=small.dtype)
    high = np.full(n, np.iinfo(small.dtype).min, dtype=small.dtype)
    np.minimum.at(low, code, small)
    np.maximum.at(high, code, small)
    mixed = np.flatnonzero(low < high)  # absent keys keep low > high
    return mixed if keys is None else np.sort(keys[mixed])


def _examples(values: Any, limit: int = 3) -> str:
    items = [str(v) for v in list(values)[:limit]]
    more = len(list(values)) - limit
    return ", ".join(items) + (f" and {more} more" if more > 0 else "")


def _z(level: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 2))


class DataRule(Rule):
    """A data rule: a finding about cohort rows starts at column 1 of the row it names."""

    kind = "data"

    def finding(self, ctx: Any, message: str, **kwargs: Any) -> Finding:
        if kwargs.get("line") is not None and kwargs.get("column") is None:
            kwargs["column"] = 1
        return super().finding(ctx, message, **kwargs)


# ----------------------------------------------------------------------------- D300


@register_rule
class CohortInconsistent(DataRule):
    id = "D300"
    name = "cohort-data-inconsistent"
    summary = "Reading the cohorts found inconsistent data (duplicates, conflicting values...)."
    what = (
        "Reports what reading the cohorts and checking their hierarchy found: duplicate rows, "
        "a per-subject value (sex) that changes between sessions, a subject in several sites, "
        "a scanner in several sites, session dates out of order, a sidecar that is not JSON, "
        "a cohort left empty by its include filter, a split that cannot be made. The message "
        "starts with the check's name (cohort/duplicate-row...)."
    )
    why = (
        "Splits, strata and cluster bootstraps rely on the hierarchy: a subject whose sex "
        "changes, or who appears in two sites, makes stratification and leave-site-out "
        "ambiguous, and duplicate rows weigh some subjects twice in every metric."
    )
    example = (
        "participants.tsv / sessions:\n"
        "participant_id  session_id  sex\n"
        "sub-01          ses-M00     F\n"
        "sub-01          ses-M12     M"
    )
    use_instead = (
        "participant_id  session_id  sex\n"
        "sub-01          ses-M00     F\n"
        "sub-01          ses-M12     F"
    )
    references = ("https://bids-specification.readthedocs.io/en/stable/",)
    hint = "fix the cohort files at the rows named"

    def check(self, ctx: DataContext) -> Iterator[Finding]:
        for f in getattr(ctx, "findings", []):
            yield Finding(
                rule=self.id,
                severity=f.severity,
                message=f"{f.rule}: {f.message}",
                file=f.file,
                path=f.path,
                line=f.line,
                column=f.column if f.column is not None or f.line is None else 1,
                hint=f.hint or self.hint,
                reference=f.reference or self.references[0],
            )


# ----------------------------------------------------------------------------- D301


def _hash_images(table: pd.DataFrame) -> tuple[pd.Series, int, str | None]:
    """sha256 of image files that share their size with another subject's non-empty file.

    Files are compared by size first (:func:`~brainbench.validate._paths.file_sizes`: a stat,
    or a listing of a folder holding many of them), so only candidates are read. Empty files
    carry no content and are never matched; missing files are counted. Returns (hashes indexed like
    the table, number of missing files, one missing path).
    """
    import hashlib

    import numpy as np
    import pandas as pd

    from brainbench._memory import release_freed_memory
    from brainbench.validate._paths import file_sizes

    if "image_path" not in table.columns:
        return pd.Series(dtype="string"), 0, None
    paths = table["image_path"].dropna()
    if not isinstance(paths.dtype, pd.StringDtype):  # text already: no copy of 1M paths
        paths = paths.astype(str)
    sizes = file_sizes(paths.array)
    release_freed_memory()  # the path walk's components, not under the hashing's
    missing = sizes < 0
    example = paths.iloc[int(np.flatnonzero(missing)[0])] if missing.any() else None
    keep = sizes > 0
    if not keep.any():
        return pd.Series(dtype="string"), int(missing.sum()), example
    idx = paths.index[keep]
    df = pd.DataFrame(
        {
            "size": sizes[keep],
            "unit": table.loc[idx, "cohort"].astype(str)
            + "/"
            + table.loc[idx, "subject"].astype(str),
        },
        index=idx,
    )
    shared = df.groupby("size")["unit"].transform("nunique").to_numpy() > 1
    out = {}
    for i in df.index[shared]:
        digest = hashlib.sha256()
        with open(paths.loc[i], "rb") as fh:
            for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                digest.update(block)
        out[i] = digest.hexdigest()
    return pd.Series(out, dtype="string"), int(missing.sum()), example


@register_rule
class SubjectInTrainAndTest(DataRule):
    id = "D301"
    name = "subject-in-train-and-test"
    summary = "A subject (or split group) is on both sides of a split, or in two cohorts."
    what = (
        "In every (repeat, fold) of the split table, checks that no subject, and no unit of "
        "the split group (site, dataset), has rows in two partitions (train or validation vs "
        "test or an external-test cohort; train vs validation too). Across cohorts, flags "
        "subject ids found in two cohorts on different sides of a split, and image files with "
        "the same content (sha256 of the bytes) under different subjects or cohorts placed on "
        "different sides. Empty image files are never matched."
    )
    why = (
        "Images of one subject are nearly identical: a model tested on a subject it was "
        "trained on recognises the person, not the disease. Wen et al. found such 'wrong "
        "splits' in a large share of Alzheimer's CNN papers. The same scan is also often "
        "redistributed in two public datasets under different ids (ADNI images inside other "
        "collections), which a split by id cannot see."
    )
    example = (
        "split table:\ncohort subject session  repeat fold partition\n"
        "adni   sub-01  ses-M00  0      0    train\nadni   sub-01  ses-M12  0      0    test"
    )
    use_instead = "splits:\n  group: subject          # never session or image"
    references = (WEN_2020,)
    hint = "split by subject (or a coarser level) and regenerate the split file"

    def check(self, ctx: DataContext) -> Iterator[Finding]:
        table, splits = ctx.cohort, ctx.splits
        split_file = str(getattr(ctx, "split_file", None) or ctx.loaded.file)
        located = getattr(ctx, "split_file", None) is not None
        if splits is not None and len(splits):
            yield from self._within(ctx, table, splits, split_file, located)
        yield from self._across_ids(ctx, table, splits)
        yield from self._across_content(ctx, table, splits)

    def _within(self, ctx, table, splits, split_file, located) -> Iterator[Finding]:
        import numpy as np

        spec = ctx.loaded.spec
        # Integer codes throughout: millions of split rows are checked in a few passes.
        # Intermediates are freed as soon as used: each is 8 bytes x millions of rows.
        unit = _codes(splits["cohort"])
        subject_c = _codes(splits["subject"])
        unit *= int(subject_c.max()) + 1
        unit += subject_c
        del subject_c
        key = splits["repeat"].to_numpy(np.int64) * (int(splits["fold"].max()) + 1)
        key += splits["fold"].to_numpy(np.int64)
        key *= int(unit.max()) + 1
        key += unit
        leaking = _mixed(key, _codes(splits["partition"]))
        if len(leaking):
            rows = np.flatnonzero(key == leaking[0])
            first = splits.iloc[rows]
            r, f = int(first["repeat"].iloc[0]), int(first["fold"].iloc[0])
            cohort, subject = first["cohort"].iloc[0], first["subject"].iloc[0]
            parts = sorted(set(first["partition"].astype(str)))
            n_subj = len(np.unique(leaking % (int(unit.max()) + 1)))
            involved = splits.iloc[np.flatnonzero(np.isin(key, leaking))]
            yield self.finding(
                ctx,
                f"{n_subj} subject(s) have rows in several partitions of one split; e.g. "
                f"subject {subject} of cohort {cohort} is in {', '.join(parts)} "
                f"(repeat {r}, fold {f})",
                file=split_file,
                line=int(rows[0]) + 2 if located else None,
                path=None if located else "splits",
                cohorts=involved["cohort"].astype(str).unique(),
                ids=involved["subject"].astype(str).unique(),
            )
        group = spec.splits.group
        coarser = [lvl for lvl in ("dataset", "site", "scanner") if lvl == group]
        if coarser and group in table.columns:
            from brainbench.split import group_keys

            key = table[["cohort", "subject", "session", "image"]].astype("string")
            key = key.assign(_g=group_keys(table, group).to_numpy())
            key = key.drop_duplicates(["cohort", "subject", "session", "image"])
            sk = splits[["cohort", "subject", "session", "image", "repeat", "fold", "partition"]]
            sk = sk.astype({c: "string" for c in ("cohort", "subject", "session", "image")})
            m = sk.merge(key, on=["cohort", "subject", "session", "image"], how="left")
            m = m[m["partition"].isin(["train", "validation", "test"])]
            g = m.drop_duplicates(["repeat", "fold", "_g", "partition"])
            n = g.groupby(["repeat", "fold", "_g"], sort=True)["partition"].nunique()
            bad = n[n > 1]
            if len(bad):
                r, f, gid = bad.index[0]
                cut = m[m["_g"].isin(bad.index.get_level_values(2))]
                yield self.finding(
                    ctx,
                    f"{len(bad)} {group} unit(s) are split across partitions although "
                    f"splits.group is '{group}'; e.g. {gid} (repeat {r}, fold {f})",
                    path="splits.group",
                    cohorts=cut["cohort"].astype(str).unique(),
                )

    def _across_ids(self, ctx, table, splits) -> Iterator[Finding]:
        from brainbench.cohort._codes import varies

        if not varies(table, ["subject"], "cohort"):
            return  # no subject id in several cohorts (asked on codes: the common case)
        subj = table[["cohort", "subject", "role"]].drop_duplicates(["cohort", "subject"])
        counts = subj.groupby("subject")["cohort"].nunique()
        shared = counts[counts > 1].index
        if len(shared) == 0:
            return
        if splits is not None and len(splits):
            s = splits[splits["subject"].isin(shared)][["subject", "repeat", "fold", "partition"]]
            s = s.assign(side=_sides(s["partition"]))
            n = s.drop_duplicates().groupby(["subject", "repeat", "fold"])["side"].nunique()
            crossing = sorted(set(n[n > 1].index.get_level_values(0)))
        else:
            roles = subj[subj["subject"].isin(shared)].groupby("subject")["role"].nunique()
            crossing = sorted(roles[roles > 1].index)
        if not crossing:
            return
        cohorts = sorted(set(subj[subj["subject"].isin(crossing)]["cohort"].astype(str)))
        rows = table[table["subject"].isin(crossing[:1])]
        file, line, _ = _where(rows)
        yield self.finding(
            ctx,
            f"{len(crossing)} subject id(s) appear in several cohorts ({', '.join(cohorts)}) on "
            f"different sides of the split (e.g. {_examples(crossing)}); if they are the same "
            "people, their data leaks into the test",
            file=file,
            line=line,
            severity=Severity.WARNING,
            hint="check whether the cohorts share participants; exclude them from one cohort, "
            "or, for ids reused by different people, waive D301 for those ids only",
            cohorts=cohorts,
            ids=crossing,
        )

    def _across_content(self, ctx, table, splits) -> Iterator[Finding]:
        hashes, n_missing, example_missing = _hash_images(table)
        if n_missing:
            rows = table[table["image_path"].astype("string") == example_missing]
            file, line, _ = _where(rows)
            yield self.finding(
                ctx,
                f"{n_missing} image file(s) of the cohort table do not exist (e.g. "
                f"{example_missing}); their content could not be compared across subjects",
                file=file,
                line=line,
                severity=Severity.WARNING,
                hint="fix the image paths (relative to the manifest file), or mount the data",
            )
        if hashes.empty:
            return
        t = table.loc[hashes.index, ["cohort", "subject", "session", "image", "role"]].copy()
        t["sha256"] = hashes.to_numpy()
        t = t[t.groupby("sha256")["subject"].transform("size") > 1]
        if t.empty:
            return
        t["unit"] = t["cohort"].astype(str) + "/" + t["subject"].astype(str)
        multi = t.groupby("sha256")["unit"].nunique()
        t = t[t["sha256"].isin(multi[multi > 1].index)]
        if t.empty:
            return
        if splits is not None and len(splits):
            sk = splits[["cohort", "subject", "session", "image", "repeat", "fold", "partition"]]
            sk = sk.astype({c: "string" for c in ("cohort", "subject", "session", "image")})
            tk = t.astype({c: "string" for c in ("cohort", "subject", "session", "image")})
            m = tk.merge(sk, on=["cohort", "subject", "session", "image"], how="inner")
            m = m.assign(side=_sides(m["partition"]))
            n = m.drop_duplicates(["sha256", "repeat", "fold", "side"])
            n = n.groupby(["sha256", "repeat", "fold"])["side"].nunique()
            bad = sorted(set(n[n > 1].index.get_level_values(0)))
        else:
            roles = t.groupby("sha256")["role"].nunique()
            bad = sorted(roles[roles > 1].index)
        if not bad:
            return
        example = t[t["sha256"] == bad[0]]
        involved = t[t["sha256"].isin(bad)]
        file, line, _ = _where(table.loc[example.index])
        yield self.finding(
            ctx,
            f"{len(bad)} image file(s) have identical content under different subjects or "
            f"cohorts on different sides of the split; e.g. {_examples(example['unit'])} share "
            f"sha256 {bad[0][:12]}... ({_examples(example['image'], 2)})",
            file=file,
            line=line,
            cohorts=involved["cohort"].astype(str).unique(),
            ids=involved["image"].astype(str).unique(),
        )


# ----------------------------------------------------------------------------- D302


def cramers_v_corrected(counts: np.ndarray) -> float:
    """Bias-corrected Cramér's V of an r x k contingency table of counts (Bergsma 2013).

    With ``phi2 = chi2 / n`` (Pearson's chi-square on the counts, no continuity correction),
    ``phi2+ = max(0, phi2 - (k-1)(r-1)/(n-1))``, ``r~ = r - (r-1)^2/(n-1)``,
    ``k~ = k - (k-1)^2/(n-1)``: ``V~ = sqrt(phi2+ / min(k~ - 1, r~ - 1))``.
    Rows or columns that sum to zero are dropped; NaN when fewer than 2 remain either way.
    """
    import numpy as np

    c = np.asarray(counts, dtype=float)
    c = c[c.sum(axis=1) > 0][:, c.sum(axis=0) > 0]
    r, k = c.shape if c.ndim == 2 else (0, 0)
    n = c.sum()
    if r < 2 or k < 2 or n < 2:
        return float("nan")
    expected = np.outer(c.sum(axis=1), c.sum(axis=0)) / n
    chi2 = float(((c - expected) ** 2 / expected).sum())
    phi2 = chi2 / n
    phi2c = max(0.0, phi2 - (k - 1) * (r - 1) / (n - 1))
    rc = r - (r - 1) ** 2 / (n - 1)
    kc = k - (k - 1) ** 2 / (n - 1)
    denom = min(kc - 1, rc - 1)
    if denom <= 0:
        return float("nan")
    return float(math.sqrt(phi2c / denom))


@register_rule
class SiteConfoundedWithLabel(DataRule):
    id = "D302"
    name = "site-confounded-with-label"
    severity = Severity.WARNING
    summary = "Site, scanner or dataset is associated with the label (Cramér's V, absent class)."
    what = (
        "For each declared level among dataset, site and scanner with at least two values, "
        "cross-tabulates subjects (their first session) by level and class and computes the "
        "bias-corrected Cramér's V (Bergsma 2013) on the counts. V >= 0.3 is a warning, V >= 0.5 "
        "an error (a warning below 30 subjects, where V is too noisy to block a design). A "
        "class absent from a level holding at least 5 subjects is a warning, and an error "
        "when that level is held out by leave-group-out (its test fold lacks the class)."
    )
    why = (
        "When acquisition site predicts the diagnosis, a network can reach high accuracy by "
        "recognising scanners (intensity, noise, field of view) instead of anatomy, and the "
        "score collapses on new sites (Wachinger et al. 2021). The uncorrected V is biased "
        "upwards in small tables, hence the correction."
    )
    example = "site  CN  AD\nS1    80   2\nS2     3  75"
    use_instead = (
        "Recruit both classes at every site, or match them per site; if site effects are the "
        "point of the study, waive the rule with a reason:\n"
        "waivers:\n  - {rule: D302, reason: site effects are the object of this benchmark}"
    )
    references = (BERGSMA_2013, WACHINGER_2021)
    hint = "balance classes within sites, or harmonise and report per-site results"

    def check(self, ctx: DataContext) -> Iterator[Finding]:
        import pandas as pd

        spec = ctx.loaded.spec
        if spec.task.type != "classification" or spec.task.target not in ctx.cohort.columns:
            return
        dev = ctx.cohort[ctx.cohort["role"] == "development"]
        if dev.empty:
            return
        subj = _subjects(dev)
        labels = _label_text(subj[spec.task.target])
        classes = [str(c) for c in spec.task.classes or []]
        keep = labels.isin(classes).fillna(False).to_numpy()
        subj, labels = subj[keep], labels[keep]
        # A class no development subject has is one D304 error, not a warning per site.
        classes = [c for c in classes if (labels == c).any()]
        logo = spec.splits.test.group if spec.splits.test.method == "leave-group-out" else None
        for level in ("dataset", "site", "scanner"):
            values = subj[level]
            if values.dropna().nunique() < 2:
                continue
            tab = pd.crosstab(values, labels)
            v = cramers_v_corrected(tab.to_numpy())
            if v == v and v >= 0.3:
                top = tab.div(tab.sum(axis=1), axis=0).max(axis=1).sort_values(ascending=False)
                worst = top.index[0]
                file, line, _ = _where(dev[dev[level] == worst])
                n_subjects = int(tab.to_numpy().sum())
                large = n_subjects >= MIN_CONFOUND_SUBJECTS
                severity = Severity.ERROR if v >= 0.5 and large else Severity.WARNING
                counts = ", ".join(f"{c} {int(tab.loc[worst].get(c, 0))}" for c in tab.columns)
                yield self.finding(
                    ctx,
                    f"{level} is associated with {spec.task.target}: bias-corrected Cramér's V "
                    f"= {v:.2f} over {tab.shape[0]} {level}s and {int(tab.to_numpy().sum())} "
                    f"subjects (e.g. {level} {worst}: {counts})",
                    file=file,
                    line=line,
                    severity=severity,
                    path=f"hierarchy.{level}" if file is None else None,
                    cohorts=dev.loc[dev[level] == worst, "cohort"].astype(str).unique(),
                )
            sizes = tab.sum(axis=1)
            for value in tab.index:
                absent = [c for c in classes if c not in tab.columns or tab.loc[value, c] == 0]
                if not absent or sizes.loc[value] < 5:
                    continue
                file, line, _ = _where(dev[dev[level] == value])
                held_out = logo == level
                yield self.finding(
                    ctx,
                    f"{level} {value} has no subject of class {', '.join(absent)} "
                    f"({int(sizes.loc[value])} subjects)"
                    + (
                        "; as a held-out test fold its per-class metrics are undefined"
                        if held_out
                        else ""
                    ),
                    file=file,
                    line=line,
                    severity=Severity.ERROR if held_out else Severity.WARNING,
                    cohorts=dev.loc[dev[level] == value, "cohort"].astype(str).unique(),
                )


# ----------------------------------------------------------------------------- D303


@register_rule
class DemographicsDifferBetweenClasses(DataRule):
    id = "D303"
    name = "demographics-differ-between-classes"
    severity = Severity.WARNING
    summary = "Age, sex or another covariate differs between classes (|SMD| >= 0.2)."
    what = (
        "At the subject level (first session), computes the standardised mean difference "
        "(Austin 2009) of each covariate between each class and the first (negative) class: "
        "age, sex/gender, and the columns in splits.stratify and reporting.breakdown that are "
        "not hierarchy levels. Continuous: (m1 - m0) / sqrt((s1^2 + s0^2) / 2); each level "
        "of a category: (p1 - p0) / sqrt((p1(1-p1) + p0(1-p0)) / 2). |SMD| >= 0.2 is "
        "flagged. The SMD does not depend on the sample size, unlike a chi-square or t-test "
        "p-value, which calls large cohorts unbalanced and small ones balanced."
    )
    why = (
        "If patients are older than controls, a model can score well by estimating brain age; "
        "the benchmark then measures age, not disease. Reports must show the imbalance and "
        "models should be compared on age-matched subsets or with the covariate adjusted."
    )
    example = "AD: age 76 +/- 7, CN: age 68 +/- 6  ->  SMD(age) = 1.2"
    use_instead = (
        "Age- and sex-match the classes (include filter or matching), or stratify and report "
        "per-age-band results (reporting.breakdown: [age, sex])."
    )
    references = (AUSTIN_2009,)
    hint = "match the classes on the covariate, or report results adjusted for it"
    threshold = 0.2

    def check(self, ctx: DataContext) -> Iterator[Finding]:
        from brainbench.cohort import LEVELS
        from brainbench.split import smd_continuous, smd_proportion

        spec = ctx.loaded.spec
        target = spec.task.target
        if spec.task.type != "classification" or target not in ctx.cohort.columns:
            return
        dev = ctx.cohort[ctx.cohort["role"] == "development"]
        subj = _subjects(dev)
        labels = _label_text(subj[target])
        classes = [str(c) for c in spec.task.classes or []]
        candidates = ["age", "sex", "gender", *spec.splits.stratify, *spec.reporting.breakdown]
        covariates = [
            c
            for c in dict.fromkeys(candidates)
            if c in subj.columns and c != target and c not in LEVELS
        ]
        ref = classes[0]
        ref_mask = (labels == ref).fillna(False).to_numpy()
        for cls in classes[1:]:
            mask = (labels == cls).fillna(False).to_numpy()
            if mask.sum() < 2 or ref_mask.sum() < 2:
                continue
            for col in covariates:
                s = subj[col]
                if s.dtype.kind in "if" and s.nunique() > 2:
                    d = smd_continuous(s.to_numpy()[mask], s.to_numpy()[ref_mask])
                    detail = f"mean {s[mask].mean():.1f} vs {s[ref_mask].mean():.1f}"
                else:
                    text = s.astype("string")
                    a, b = text[mask].dropna(), text[ref_mask].dropna()
                    if a.empty or b.empty:
                        continue
                    best = (0.0, "", 0.0, 0.0)
                    for level in sorted(set(a.unique()) | set(b.unique())):
                        pa, pb = float((a == level).mean()), float((b == level).mean())
                        dd = smd_proportion(pa, pb)
                        if abs(dd) > abs(best[0]):
                            best = (dd, level, pa, pb)
                    d = best[0]
                    detail = f"{col} = {best[1]}: {best[2]:.0%} vs {best[3]:.0%}"
                if d == d and abs(d) >= self.threshold:
                    file, _, _ = _where(dev)
                    yield self.finding(
                        ctx,
                        f"'{col}' differs between {cls} and {ref}: SMD = {d:+.2f} ({detail}; "
                        f"{int(mask.sum())} vs {int(ref_mask.sum())} subjects)",
                        file=file,
                        line=None,
                    )


# ----------------------------------------------------------------------------- D304


@register_rule
class LabelsMissingOrUnknown(DataRule):
    id = "D304"
    name = "labels-missing-or-unknown"
    summary = "Labels are missing or outside task.classes (or not numeric, for regression)."
    what = (
        "Checks the target column in every cohort: it must exist, every row needs a label, and "
        "a classification label must be one of task.classes (a regression target a number), "
        "and every declared class needs development subjects (one error names the empty "
        "classes; D302 then leaves them out). Rows are named in their cohort file."
    )
    why = (
        "Rows with an unknown label are silently dropped or mis-encoded by many training "
        "scripts (a class 'MCI' read as negative), and the evaluated population is no longer the "
        "declared one."
    )
    example = "task: {target: diagnosis, classes: [CN, AD]}\nparticipants.tsv: diagnosis = MCI"
    use_instead = "cohorts:\n  - include: \"diagnosis in ['CN', 'AD']\""
    references = (METRICS_RELOADED,)
    hint = "filter the rows with the cohort's include, or fix the labels"

    def check(self, ctx: DataContext) -> Iterator[Finding]:
        import pandas as pd

        spec = ctx.loaded.spec
        target = spec.task.target
        if target is None:
            return  # segmentation: images without a reference mask are cohort findings (D300)
        table = ctx.cohort
        yield from self._empty_classes(ctx)
        read = [c for c in (target, "cohort_file", "cohort_row") if c in table.columns]
        # the columns read, grouped: each group of a million-row table is a copy
        for cohort, part in table[read].groupby(table["cohort"], sort=True):
            file, _, _ = _where(part)
            if target not in part.columns or part[target].isna().all():
                yield self.finding(
                    ctx,
                    f"cohort '{cohort}' has no value in the target column '{target}'",
                    file=file or str(ctx.loaded.file),
                    line=1 if file else None,
                    path=None if file else "task.target",
                    cohorts=(str(cohort),),
                )
                continue
            values = part[target]
            missing = values.isna()
            if missing.any():
                f2, line, lines = _where(part[missing.to_numpy()])
                yield self.finding(
                    ctx,
                    f"cohort '{cohort}': {int(missing.sum())} row(s) have no '{target}' ({lines})",
                    file=f2,
                    line=line,
                    cohorts=(str(cohort),),
                )
            if spec.task.type == "classification":
                classes = [str(c) for c in spec.task.classes or []]
                text = _label_text(values)
                unknown = ~text.isin(classes).fillna(True).to_numpy() & ~missing.to_numpy()
                if unknown.any():
                    found = sorted(set(text[unknown].astype(str)))
                    f2, line, lines = _where(part[unknown])
                    yield self.finding(
                        ctx,
                        f"cohort '{cohort}': {int(unknown.sum())} row(s) have a '{target}' "
                        f"outside task.classes [{', '.join(classes)}]: {_examples(found, 5)} "
                        f"({lines})",
                        file=f2,
                        line=line,
                        cohorts=(str(cohort),),
                    )
            else:
                num = pd.to_numeric(values, errors="coerce")
                bad = (num.isna() & ~missing).to_numpy()
                if bad.any():
                    f2, line, lines = _where(part[bad])
                    yield self.finding(
                        ctx,
                        f"cohort '{cohort}': {int(bad.sum())} row(s) have a non-numeric "
                        f"regression target '{target}' ({lines})",
                        file=f2,
                        line=line,
                        cohorts=(str(cohort),),
                    )

    def _empty_classes(self, ctx: DataContext) -> Iterator[Finding]:
        """One error for the classes of task.classes that no development subject has."""
        spec = ctx.loaded.spec
        target = spec.task.target
        dev = ctx.cohort[ctx.cohort["role"] == "development"]
        if spec.task.type != "classification" or dev.empty or target not in dev.columns:
            return
        labels = _label_text(_subjects(dev)[target])
        classes = [str(c) for c in spec.task.classes or []]
        counts = {c: int((labels == c).sum()) for c in classes}
        empty = [c for c in classes if counts[c] == 0]
        if not empty or len(empty) == len(classes):
            return  # no label at all: the per-cohort checks below say so
        shown = ", ".join(f"{c} {n}" for c, n in counts.items())
        yield self.finding(
            ctx,
            f"task.classes declares {', '.join(empty)}, but no development subject has that "
            f"'{target}' (subjects per class: {shown}): the class can be neither learned nor "
            "tested, and its per-class metrics are undefined",
            path="task.classes",
            hint="remove the class from task.classes, or fix the include filter that drops it",
            cohorts=dev["cohort"].astype(str).unique(),
        )


# ----------------------------------------------------------------------------- D305


@register_rule
class StrataTooSmall(DataRule):
    id = "D305"
    name = "strata-too-small"
    severity = Severity.WARNING
    summary = "Some strata of splits.stratify hold too few groups to be split as asked."
    what = (
        "Forms the strata of splits.stratify over development groups (numeric columns in "
        "quartile bins, as `brainbench split` does) and flags strata with fewer groups than "
        "the split needs: k for k-fold, 1/size for a holdout (so the expected test share "
        "reaches one group), and the same for validation inside training."
    )
    why = (
        "A stratum smaller than the number of folds cannot appear in every fold, so the "
        "stratification silently fails for it; many tiny strata (label x sex x age x site) "
        "make per-fold class balance no better than random. Kohavi (1995) showed stratified "
        "folds reduce the variance of CV estimates only when strata are well populated."
    )
    example = "splits:\n  stratify: [diagnosis, sex, site, age]   # 3 x 2 x 12 x 4 strata"
    use_instead = "splits:\n  stratify: [diagnosis, sex]"
    references = (KOHAVI_1995,)
    hint = "stratify on fewer columns (the label first), or merge rare categories"

    def check(self, ctx: DataContext) -> Iterator[Finding]:
        from brainbench.errors import UserError
        from brainbench.split import SplitPlan, group_strata

        spec = ctx.loaded.spec
        splits = spec.splits
        if not splits.stratify:
            return
        plan = SplitPlan.from_spec(splits)
        try:
            groups = group_strata(ctx.cohort, plan)
        except UserError:
            return  # reported by D300 (cannot split)
        needs = []
        test = splits.test
        if test.method == "kfold" and test.folds:
            needs.append((test.folds, f"{test.folds} test folds"))
        if test.method == "holdout" and test.size:
            needs.append((math.ceil(1 / test.size), f"a test holdout of {test.size:g}"))
        val = splits.validation
        if val.method == "kfold" and val.folds:
            needs.append((val.folds, f"{val.folds} validation folds"))
        if val.method == "holdout" and val.size:
            needs.append((math.ceil(1 / val.size), f"a validation holdout of {val.size:g}"))
        if not needs:
            return
        need, why = max(needs)
        sizes = groups.groupby("stratum").size().sort_values()
        small = sizes[sizes < need]
        if small.empty:
            return
        shown = ", ".join(f"'{k}' ({v})" for k, v in small.head(4).items())
        more = f" and {len(small) - 4} more" if len(small) > 4 else ""
        yield self.finding(
            ctx,
            f"{len(small)} of {len(sizes)} strata of [{', '.join(splits.stratify)}] have fewer "
            f"than {need} {splits.group} groups, the least that {why} needs: {shown}{more}",
            path="splits.stratify",
        )


# ----------------------------------------------------------------------------- D306


def design_effect(cluster_sizes: Any, icc: float) -> float:
    """Kish's design effect ``1 + (m - 1) * icc`` with ``m = sum(m_i^2) / sum(m_i)``, the
    size-weighted mean cluster size (unequal clusters; Kish 1965)."""
    import numpy as np

    m = np.asarray(cluster_sizes, dtype=float)
    m = m[m > 0]
    if len(m) == 0:
        return 1.0
    m_eff = float((m**2).sum() / m.sum())
    return 1.0 + (m_eff - 1.0) * icc


def metric_standard_error(
    metric: str,
    n_per_class: list[int],
    n: int,
    value: float | None = None,
    error_sd: float = 1.0,
) -> tuple[float, str]:
    """Planned standard error of a metric on ``n`` independent units, and the formula used.

    ``value``: the assumed true value (for pearson_r and r2, the assumed r); None: 0.80, or
    r = 0.5 for pearson_r and r2.

    - balanced accuracy: mean of per-class recalls, each binomial:
      ``SE^2 = sum_c v(1-v) / n_c / C^2`` (Brodersen et al. 2010, normal approximation);
    - accuracy: ``v(1-v)/n``; sensitivity / specificity / PPV / NPV: ``v(1-v)/n_c`` of the
      class concerned (positive: last class; negative: first);
    - AUROC (and, approximately, average precision): Hanley & McNeil 1982,
      ``SE^2 = (A(1-A) + (n1-1)(Q1-A^2) + (n0-1)(Q2-A^2)) / (n1 n0)``, ``Q1 = A/(2-A)``,
      ``Q2 = 2A^2/(1+A)``;
    - Pearson r and R2: Fisher's z, ``SE_z = 1/sqrt(n-3)`` mapped back at the assumed r;
    - MAE, RMSE, in the target's units, for normal errors of SD ``error_sd`` (sigma): the
      absolute error has SD ``sigma sqrt(1 - 2/pi)``, so ``SE(MAE) = sigma sqrt((1 - 2/pi)/n)``;
      ``SE(RMSE) = sigma / sqrt(2n)`` (delta method on ``Var(s^2) = 2 sigma^4 / n``);
    - other metrics (F1, MCC, Brier, log loss, ECE): the balanced-accuracy formula, as an
      approximation.
    """
    if value is None:
        value = PLANNING_R if metric in ("pearson_r", "r2") else PLANNING_VALUE
    v = value
    pos = n_per_class[-1] if n_per_class else n / 2
    neg = n_per_class[0] if n_per_class else n / 2
    if metric == "accuracy":
        return math.sqrt(v * (1 - v) / max(n, 1)), "binomial"
    if metric in ("sensitivity", "ppv"):
        return math.sqrt(v * (1 - v) / max(pos, 1)), "binomial on the positive class"
    if metric in ("specificity", "npv"):
        return math.sqrt(v * (1 - v) / max(neg, 1)), "binomial on the negative class"
    if metric in ("auroc", "average_precision"):
        a = v
        q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
        n1, n0 = max(pos, 1), max(neg, 1)
        var = (a * (1 - a) + (n1 - 1) * (q1 - a * a) + (n0 - 1) * (q2 - a * a)) / (n1 * n0)
        return math.sqrt(max(var, 0.0)), "Hanley & McNeil 1982"
    if metric in ("pearson_r", "r2"):
        r = v
        se_z = 1 / math.sqrt(max(n - 3, 1))
        z = math.atanh(r)
        lo, hi = math.tanh(z - 1.959964 * se_z), math.tanh(z + 1.959964 * se_z)
        se = (hi - lo) / (2 * 1.959964)
        if metric == "r2":
            se = (hi**2 - lo**2) / (2 * 1.959964)
        return se, f"Fisher z at r = {r:g}"
    if metric == "mae":
        se = error_sd * math.sqrt((1 - 2 / math.pi) / max(n, 1))
        return se, "SE of the MAE for normal errors"
    if metric == "rmse":
        return error_sd / math.sqrt(2 * max(n, 1)), "SE of the RMSE for normal errors"
    counts = [c for c in n_per_class if c > 0] or [max(n, 1)]
    var = sum(v * (1 - v) / c for c in counts) / len(counts) ** 2
    label = "per-class binomial (balanced accuracy)"
    if metric != "balanced_accuracy":
        label += f", as an approximation for {metric}"
    return math.sqrt(var), label


def planned_value(metric: str, value: float | None) -> float:
    """The assumed true value of ``metric``: protocol.planning.value, or its default."""
    if value is not None:
        return value
    return PLANNING_R if metric in ("pearson_r", "r2") else PLANNING_VALUE


@dataclass
class PlannedTestSet:
    """The planned precision of one test set (rule D306 and ``brainbench plan``).

    ``half_width = z_(1+level)/2 * SE * sqrt(deff)`` and
    ``mdd = (z_(1-alpha/2) + z_power) * SE * sqrt(deff) * sqrt(2 (1 - rho))``: the normal
    approximation of a two-sided test of a paired difference whose two arms have the same
    variance and correlation rho (Hanley & McNeil 1983, doi:10.1148/radiology.148.3.6878708),
    with Kish's design effect deff (Kish 1965).
    """

    name: str
    size: str
    se: float
    formula: str
    assumed: str
    deff: float
    deff_text: str
    half_width: float
    mdd: float
    mdd_text: str
    cohorts: list[str]
    metric: str

    def describe(self, level: float) -> str:
        return (
            f"{self.name}: {self.size}, expected {level:.0%} CI half-width of {self.metric} = "
            f"{self.half_width:.3g} ({self.formula}, {self.assumed}; design effect "
            f"{self.deff:.2f}{self.deff_text})"
        )


def plan_test_set(
    spec: Any,
    name: str,
    n: int,
    n_per_class: list[int],
    deff: float,
    deff_text: str,
    error_sd: float,
    cohorts: list[str],
) -> PlannedTestSet:
    """The :class:`PlannedTestSet` of ``n`` units (``n_per_class`` per class, empty for a
    regression) with design effect ``deff``, under ``spec.protocol``'s assumptions."""
    from scipy.stats import norm

    from brainbench.stats import metric_info

    protocol = spec.protocol
    planning = protocol.planning
    metric = protocol.primary_metric
    info = metric_info(metric)
    value = planned_value(metric, planning.value)
    se, formula = metric_standard_error(metric, n_per_class, n, value, error_sd=error_sd)
    unit = protocol.unit_of_analysis
    size = f"{n} {unit}s"
    if n_per_class:
        size += f" ({'/'.join(str(c) for c in n_per_class)} per class)"
    if info.in_target_units:
        target = spec.task.target
        if planning.error_sd is not None:
            assumed = f"in the units of '{target}'; error SD {error_sd:.3g} (planning.error_sd)"
        else:
            assumed = (
                f"in the units of '{target}'; error SD {error_sd:.3g}, the SD of "
                f"'{target}' over development subjects: the error of predicting the mean, "
                "so an upper bound for any useful model (the half-width scales with it)"
            )
    elif metric in ("pearson_r", "r2"):
        assumed = f"assumed r = {value:g}"
    else:
        assumed = f"assumed value {value:g}"
    se_clustered = se * math.sqrt(deff)
    alpha = protocol.comparison.alpha if protocol.comparison is not None else 0.05
    rho = planning.model_correlation
    factor = float(norm.ppf(1 - alpha / 2) + norm.ppf(planning.power))
    return PlannedTestSet(
        name=name,
        size=size,
        se=se,
        formula=formula,
        assumed=assumed,
        deff=deff,
        deff_text=deff_text,
        half_width=_z(protocol.confidence.level) * se_clustered,
        mdd=factor * se_clustered * math.sqrt(2 * (1 - rho)),
        mdd_text=f"alpha {alpha:g}, power {planning.power:.0%}, model correlation {rho:g}",
        cohorts=cohorts,
        metric=metric,
    )


def plan_from_spec(loaded: LoadedSpec) -> PlannedTestSet:
    """The :class:`PlannedTestSet` of the design that protocol.planning declares
    (``test_subjects`` spread equally over ``test_sites``, ``sessions_per_subject``, positive
    fraction ``prevalence``), without reading any data. The design effect takes the levels of
    protocol.confidence.clusters as D306 does with data: sites (site ICC) and, for
    session- or image-level units, subjects (subject ICC)."""
    from brainbench.errors import UserError

    spec = loaded.spec
    protocol = spec.protocol
    planning = protocol.planning
    metric = protocol.primary_metric
    line, _ = loaded.locate("protocol.planning")
    where = f"{loaded.file}" + (f", line {line}" if line else "")
    if planning.test_subjects is None:
        raise UserError(
            f"{where}: protocol.planning.test_subjects is not set, so there is no design to "
            "plan. Give the planned test set there (test_subjects, and optionally test_sites, "
            "sessions_per_subject, prevalence), or run `brainbench plan SPEC --data` to use "
            "the cohorts' actual counts."
        )
    from brainbench.stats import metric_info

    error_sd = 1.0
    if metric_info(metric).in_target_units:
        if planning.error_sd is None:
            raise UserError(
                f"{where}: {metric} is in the units of '{spec.task.target}': without --data "
                "give protocol.planning.error_sd, the expected SD of the prediction errors "
                "(with --data it defaults to the SD of the target over development subjects)."
            )
        error_sd = planning.error_sd
    subjects = planning.test_subjects
    per_subject = planning.sessions_per_subject
    unit = protocol.unit_of_analysis
    n = subjects * (per_subject if unit != "subject" else 1)
    n_per_class: list[int] = []
    if spec.task.type == "classification":
        classes = spec.task.classes or []
        if len(classes) > 2:
            n_per_class = [round(n / len(classes))] * len(classes)
        else:
            pos = round(n * planning.prevalence)
            n_per_class = [n - pos, pos]
        empty = [str(c) for c, k in zip(classes, n_per_class, strict=False) if k == 0]
        if empty:
            raise UserError(
                f"{where}: protocol.planning plans {n} {unit}s with prevalence "
                f"{planning.prevalence:g}: 0 {unit}s of class {', '.join(empty)}, so {metric} "
                "cannot be computed on that test set. Raise test_subjects, or set prevalence "
                "to the planned fraction of the positive (last) class."
            )
    clusters = list(protocol.confidence.clusters)
    deff, parts = 1.0, []
    if planning.test_sites and "site" in clusters:
        d = design_effect([n / planning.test_sites] * planning.test_sites, planning.site_icc)
        deff *= d
        parts.append(f"site: {planning.test_sites} clusters, ICC {planning.site_icc:g}")
    if unit != "subject" and per_subject > 1 and {"subject", "session"} & set(clusters):
        deff *= design_effect([per_subject] * subjects, planning.subject_icc)
        parts.append(f"subject: {subjects} clusters, ICC {planning.subject_icc:g}")
    text = ("; " + "; ".join(parts)) if parts else ""
    return plan_test_set(spec, "planned test set", n, n_per_class, deff, text, error_sd, [])


@register_rule
class TestSetTooSmall(DataRule):
    id = "D306"
    name = "test-set-too-small"
    summary = "The test set is too small for the protocol: CI too wide, or margin undetectable."
    what = (
        "For each test set (the test partition over a repeat, each external-test cohort) counts "
        "the units of analysis per class and computes the expected half-width of the "
        "confidence interval of the primary metric, z * SE * sqrt(deff), with SE from the "
        "metric's formula (per-class binomial for balanced accuracy, Hanley & McNeil 1982 for "
        "AUROC...) at the assumed value protocol.planning.value (default 0.80; r = 0.5 for "
        "correlations; for MAE and RMSE, in the target's units, normal errors of SD "
        "planning.error_sd, default the SD of the target over development subjects, an upper "
        "bound), and deff Kish's design effect 1 + (m - 1) ICC for the clusters of "
        "protocol.confidence.clusters (planning.site_icc, default 0.05, within "
        "sites/scanners/datasets; planning.subject_icc, default 0.5, within subjects). An "
        "error when it exceeds protocol.ci_half_width, a warning above 0.10 when none is "
        "declared (bounded metrics only). The minimal detectable difference of two models on "
        "the same test set, (z_(1-alpha/2) + z_power) * SE * sqrt(2(1-rho)) * sqrt(deff) with "
        "rho = planning.model_correlation (0.5) and planning.power (0.8), must not exceed "
        "comparison.margin (an error; an explicit margin of 0 fails too, a margin left out is "
        "a warning naming the MDD). `brainbench plan SPEC [--data]` prints the same figures. "
        "Not applied to segmentation benchmarks (per-case metrics, no binomial or target SD)."
    )
    why = (
        "Varoquaux (2018) showed that error bars on small test sets are about +/-10% at "
        "n = 100: differences between models that papers report are often within noise. A "
        "protocol that promises a precision or a margin the data cannot deliver is unsound "
        "before any training starts."
    )
    example = (
        "test set: 40 subjects (20 AD, 20 CN)\nprotocol: {primary_metric: balanced_accuracy, "
        "ci_half_width: 0.05}\n-> expected half-width 0.12"
    )
    use_instead = (
        "Enlarge the test set (k-fold over all subjects instead of a holdout, more external "
        "data), or declare a precision the data supports."
    )
    references = (VAROQUAUX_2018, HANLEY_MCNEIL_1982, BRODERSEN_2010, KISH_1965)
    hint = "enlarge the test set or relax protocol.ci_half_width / comparison.margin"

    def check(self, ctx: DataContext) -> Iterator[Finding]:
        from brainbench.stats import metric_info

        protocol = ctx.loaded.spec.protocol
        if ctx.loaded.spec.task.type == "segmentation":
            return  # the planning formulas are those of image-level metrics, not per-case ones
        info = metric_info(protocol.primary_metric)
        for plan in self.plans(ctx):
            what = plan.describe(protocol.confidence.level)
            declared = protocol.ci_half_width
            if declared is not None and plan.half_width > declared:
                yield self.finding(
                    ctx,
                    f"{what} exceeds protocol.ci_half_width = {declared:g}",
                    path="protocol.ci_half_width",
                    cohorts=plan.cohorts,
                )
            elif (
                declared is None
                and not info.in_target_units
                and plan.half_width > DEFAULT_HALF_WIDTH
            ):
                yield self.finding(
                    ctx,
                    f"{what} exceeds {DEFAULT_HALF_WIDTH:g}",
                    path="protocol.primary_metric",
                    severity=Severity.WARNING,
                    cohorts=plan.cohorts,
                )
            yield from self._margin(ctx, plan)

    def plans(self, ctx: DataContext) -> list[PlannedTestSet]:
        """The planned precision of each test set, from the cohort's actual counts and the
        assumptions of protocol.planning (``brainbench plan --data`` prints these)."""
        from brainbench.stats import metric_info

        spec = ctx.loaded.spec
        protocol = spec.protocol
        planning = protocol.planning
        metric = protocol.primary_metric
        error_sd = 1.0
        if metric_info(metric).in_target_units:
            error_sd = planning.error_sd or self._target_sd(ctx)
            if not error_sd > 0:
                return []  # no spread in the target: D304 names unusable values
        out = []
        for name, units, n_per_class, clusters in self._test_sets(ctx):
            n = len(units)
            if n == 0:
                continue
            tested = sorted(units["cohort"].dropna().astype(str).unique())
            deff, deff_text = self._deff(ctx, units, clusters)
            out.append(plan_test_set(spec, name, n, n_per_class, deff, deff_text, error_sd, tested))
        return out

    def _margin(self, ctx: DataContext, plan: PlannedTestSet) -> Iterator[Finding]:
        """The minimal detectable difference against comparison.margin.

        A margin of 0 declared explicitly says that any difference matters: no test set
        detects every difference, so it fails like any margin below the MDD. A margin left
        out is a warning that names the MDD. Non-inferiority and equivalence need a margin.
        """
        comparison = ctx.loaded.spec.protocol.comparison
        if comparison is None:
            return
        margin = comparison.margin
        if margin == 0 and comparison.hypothesis != "superiority":
            yield self.finding(
                ctx,
                f"a {comparison.hypothesis} claim is declared with comparison.margin = 0: the "
                "claim is defined only against a margin > 0",
                path="protocol.comparison.margin",
                hint="declare the largest difference that does not matter (comparison.margin)",
            )
            return
        mdd = plan.mdd
        detect = (
            f"{plan.name}: the minimal detectable difference in "
            f"{ctx.loaded.spec.protocol.primary_metric} between two models is {mdd:.3g} "
            f"({plan.mdd_text})"
        )
        tested = plan.cohorts
        if margin > 0 and mdd > margin:
            yield self.finding(
                ctx,
                f"{detect}, larger than comparison.margin = {margin:g}: the declared margin "
                "cannot be detected",
                path="protocol.comparison.margin",
                cohorts=tested,
            )
        elif margin == 0 and "margin" in comparison.model_fields_set:
            yield self.finding(
                ctx,
                f"{detect}, while comparison.margin = 0 declares that any difference matters: "
                "differences below it will mostly go undetected",
                path="protocol.comparison.margin",
                hint=f"declare the smallest difference that matters (at least {mdd:.3g}), "
                "or enlarge the test set",
                cohorts=tested,
            )
        elif margin == 0:
            yield self.finding(
                ctx,
                f"{detect}; no comparison.margin is declared, so smaller differences will "
                "mostly go undetected and a 'no difference' cannot be read as equivalence",
                path="protocol.comparison",
                severity=Severity.WARNING,
                hint=f"declare the smallest difference that matters (comparison.margin, at "
                f"least {mdd:.3g})",
                cohorts=tested,
            )

    @staticmethod
    def _target_sd(ctx: DataContext) -> float:
        """SD of the regression target over development subjects (their first session)."""
        import pandas as pd

        target = ctx.loaded.spec.task.target
        dev = ctx.cohort[ctx.cohort["role"] == "development"]
        if dev.empty:
            dev = ctx.cohort
        if target not in dev.columns:
            return float("nan")
        values = pd.to_numeric(_subjects(dev)[target], errors="coerce").dropna()
        return float(values.std(ddof=1)) if len(values) > 1 else float("nan")

    @staticmethod
    def _keys(ctx: DataContext) -> list[str]:
        unit = ctx.loaded.spec.protocol.unit_of_analysis
        return {
            "subject": ["cohort", "subject"],
            "session": ["cohort", "subject", "session"],
            "image": ["cohort", "subject", "session", "image"],
        }[unit]

    def _units(self, ctx: DataContext, rows: pd.DataFrame) -> pd.DataFrame:
        from brainbench.cohort._codes import first_units

        return first_units(rows, self._keys(ctx), "session_index")

    def _test_sets(self, ctx: DataContext) -> list[tuple[str, pd.DataFrame, list[int], list]]:
        """(name, units, units per class, clusters) of each test set; cached on the context
        (D306 and D307 share it)."""
        cached = ctx.__dict__.get("_brainbench_test_sets")
        if cached is not None:
            return cached
        out = list(self._compute_test_sets(ctx))
        ctx.__dict__["_brainbench_test_sets"] = out
        return out

    def _compute_test_sets(
        self, ctx: DataContext
    ) -> Iterator[tuple[str, pd.DataFrame, list[int], list]]:
        spec = ctx.loaded.spec
        table = ctx.cohort
        target = spec.task.target
        classes = [str(c) for c in spec.task.classes or []]
        clusters = list(spec.protocol.confidence.clusters)
        keys = self._keys(ctx)

        def per_class(units: pd.DataFrame) -> list[int]:
            if spec.task.type != "classification" or target not in units.columns:
                return []
            text = _label_text(units[target])
            return [int((text == c).sum()) for c in classes]

        splits = ctx.splits
        if splits is not None and len(splits):
            # the columns D306 and D307 read: a million-row table is not copied whole
            read = ["cohort", "dataset", "site", "scanner", "subject", "session", "image"]
            read = [c for c in dict.fromkeys([*read, target, "session_index"]) if c in table]
            first = self._units(ctx, table[read]).astype({c: "string" for c in keys})
            repeat = splits["repeat"].to_numpy()
            tested = ~_is_in(splits["partition"], ["train", "validation"])
            # rows picked before columns: no copy of the whole split table (millions of rows)
            s = splits.loc[(repeat == repeat.min()) & tested, [*keys, "partition"]]
            s = s.drop_duplicates().astype({c: "string" for c in [*keys, "partition"]})
            for part in sorted(set(s["partition"].astype(str).unique())):
                rows = s[s["partition"] == part][keys].drop_duplicates()
                units = rows.merge(first, on=keys, how="left")
                name = "test set" if part == "test" else f"external-test cohort '{part}'"
                yield name, units, per_class(units), clusters
            return
        # No split: estimate from the spec (development x holdout size, external cohorts).
        test = spec.splits.test
        dev = table[table["role"] == "development"]
        if test.method == "holdout" and test.size:
            units = self._units(ctx, dev)
            frac = test.size
            sub = units.iloc[: max(1, round(len(units) * frac))]
            yield (
                f"test set (about {frac:g} of development)",
                sub,
                [round(c * frac) for c in per_class(units)],
                clusters,
            )
        for cohort, part in table[table["role"] == "external-test"].groupby("cohort"):
            units = self._units(ctx, part)
            yield f"external-test cohort '{cohort}'", units, per_class(units), clusters

    def _deff(self, ctx: DataContext, units: pd.DataFrame, clusters: list) -> tuple[float, str]:
        unit = ctx.loaded.spec.protocol.unit_of_analysis
        order = ["dataset", "site", "scanner", "subject", "session", "image"]
        deff, parts = 1.0, []
        for level in clusters:
            if level not in order or order.index(level) >= order.index(unit):
                continue
            if level not in units.columns or units[level].isna().all():
                continue
            sizes = units.groupby(["cohort", level] if level != "dataset" else [level]).size()
            planning = ctx.loaded.spec.protocol.planning
            icc = planning.subject_icc if level in ("subject", "session") else planning.site_icc
            d = design_effect(sizes.to_numpy(), icc)
            if d > 1.0:
                deff *= d
                parts.append(f"{level}: {len(sizes)} clusters, ICC {icc}")
        return deff, ("; " + "; ".join(parts)) if parts else ""


# ----------------------------------------------------------------------------- D307


@register_rule
class TooFewRandomEffectGroups(DataRule):
    id = "D307"
    name = "too-few-random-effect-groups"
    severity = Severity.WARNING
    summary = "A random-effect or cluster level has too few groups in the test data."
    what = (
        "For a mixed-effects comparison (random effects for the levels of "
        "protocol.confidence.clusters, site and subject by default) counts the groups of each "
        "level in each test set: fewer than 5 is a warning, fewer than 2 an error. For a "
        "hierarchical bootstrap, counts the outer level's groups: fewer than 4 says that a "
        "site-level interval is not estimable and the engine reports the interval conditional "
        "on those sites (fewer than 2: an error); 4-7 compares the chosen "
        "protocol.confidence.interval with the calibration table's choice for the primary "
        "metric and the sites' size (brainbench calibrate --write-defaults); with "
        "interval: calibrated, from 4 sites on, flags a regime where the chosen method missed "
        "94-96% coverage."
    )
    why = (
        "A random-effect variance estimated from 3 sites is essentially unidentified: mixed "
        "models then report singular fits or over-precise fixed effects (Bolker et al. 2009), "
        "and a cluster bootstrap over a handful of clusters under-covers (Field & Welsh 2007; "
        "the calibration grid of benchmarks/stats/README.md: balanced accuracy's percentile "
        "intervals covered 77-98% with 4-7 sites)."
    )
    example = (
        "protocol:\n  confidence: {method: hierarchical-bootstrap, clusters: [site, subject]}\n"
        "test set: 3 sites"
    )
    use_instead = (
        "protocol:\n  confidence: {method: hierarchical-bootstrap, clusters: [subject]}\n"
        "  # and report per-site results (reporting.breakdown: [site]) instead"
    )
    references = (BOLKER_2009, FIELD_WELSH_2007)
    hint = "drop the level from protocol.confidence.clusters, or add groups (sites) to the test"

    def check(self, ctx: DataContext) -> Iterator[Finding]:
        protocol = ctx.loaded.spec.protocol
        clusters = list(protocol.confidence.clusters)
        mixed = protocol.comparison is not None and protocol.comparison.method == "mixed"
        bootstrap = protocol.confidence.method == "hierarchical-bootstrap"
        if mixed and not clusters:
            clusters = ["site", "subject"]
        if not clusters or not (mixed or bootstrap):
            return
        helper = TestSetTooSmall()
        for name, units, _, _ in helper._test_sets(ctx):
            if units.empty:
                continue
            for level in clusters:
                if level not in units.columns or units[level].isna().all():
                    continue
                groups = units[["cohort", level]].dropna().drop_duplicates()
                n = int(groups.shape[0])
                where = dict(
                    path="protocol.confidence.clusters",
                    cohorts=units["cohort"].dropna().astype(str).unique(),
                )
                outer = bootstrap and level == protocol.confidence.clusters[0]
                if outer and n < MIN_ESTIMABLE_CLUSTERS:
                    yield self.finding(
                        ctx,
                        f"{name}: {n} {level} group(s) for the hierarchical bootstrap: a "
                        f"{level}-level interval is not estimable (at least "
                        f"{MIN_ESTIMABLE_CLUSTERS} are needed to estimate a {level} variance); "
                        f"evaluate and the report give the interval conditional on these {n} "
                        f"{level}s (subjects resampled within each), which describes them, not "
                        f"a new {level}",
                        severity=Severity.ERROR if n < 2 else None,
                        **where,
                    )
                elif outer and (
                    n < CALIBRATED_SITES or protocol.confidence.interval == "calibrated"
                ):
                    # From 8 sites on only a calibrated regime flagged below the goal is said.
                    advice = self._calibration(ctx, units, level, n)
                    hint = (
                        FLAGGED_HINT
                        if protocol.confidence.interval == "calibrated"
                        else CALIBRATED_HINT
                    )
                    if advice:
                        yield self.finding(ctx, f"{name}: {advice}", hint=hint, **where)
                elif mixed and n < MIN_RANDOM_EFFECT_GROUPS:
                    yield self.finding(
                        ctx,
                        f"{name}: {n} {level} group(s) for the mixed-effects comparison (at "
                        f"least {MIN_RANDOM_EFFECT_GROUPS} are needed to estimate a {level} "
                        "variance)",
                        severity=Severity.ERROR if n < 2 else None,
                        **where,
                    )

    @staticmethod
    def _calibration(ctx: DataContext, units: pd.DataFrame, level: str, n: int) -> str | None:
        """What the calibration table says of the chosen interval at ``n`` sites (4-7), or
        None when the choice is the table's and met the goal there."""
        from brainbench.stats._interval_defaults import calibrated_choice

        protocol = ctx.loaded.spec.protocol
        interval = protocol.confidence.interval
        inner = "subject" if "subject" in units.columns else None
        per = units.groupby(["cohort", level])[inner].nunique().mean() if inner else len(units) / n
        choice = calibrated_choice(protocol.primary_metric, n, float(per), level)
        e = choice.entry
        if e is None:
            return None
        regime = f"{choice.chosen_for} ({protocol.primary_metric})"
        if interval == "calibrated":
            if e["consistent_with_goal"]:
                return None
            return (
                f"{n} {level}s: in the calibration grid's designs of {regime} {e['why']}; "
                f"`calibrated` uses {choice.method}: the interval is approximate"
            )
        # The confirmation run's figures (the chosen method and percentile on the same fresh
        # data sets) where it has the interval asked for, else the selection runs'.
        conf = e.get("confirmation") or {}
        cov, grid = e["coverage"], "calibration grid's"
        if interval == "percentile" and conf.get("percentile"):
            cov = {interval: conf["percentile"], choice.method: conf["coverage"]}
            grid = "confirmation run's"
        mine, chosen = cov.get(interval), cov[choice.method]
        if interval == choice.method or mine is None:
            return None
        return (
            f"{n} {level}s: the {interval} interval covered {100 * mine['min']:.1f}-"
            f"{100 * mine['max']:.1f}% of nominal 95% intervals in the {grid} "
            f"designs of {regime}; `interval: calibrated` uses {choice.method} there "
            f"({100 * chosen['min']:.1f}-{100 * chosen['max']:.1f}%)"
        )

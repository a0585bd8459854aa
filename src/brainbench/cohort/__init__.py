"""Reading cohorts (BIDS folders, ClinicaDL-style TSVs, TSV/CSV manifests) into one table.

>>> from brainbench.cohort import read_cohort
>>> cohort = read_cohort("bids-examples/7t_trt")            # doctest: +SKIP
>>> cohort.table[["subject", "session", "image"]].head()    # doctest: +SKIP

The cohort table has one row per image (one per session for a TSV without image paths). Its
columns are described in :mod:`brainbench.cohort._table`: the hierarchy ids ``dataset``,
``site``, ``scanner``, ``subject``, ``session``, ``image``, then ``cohort``, ``role``,
``image_path``, ``session_index``, the source's own columns, and ``cohort_file``/``cohort_row``
(the file and 1-based line each row came from), which every finding about a row names.
Problems in the data are findings (``cohort.findings``); only unreadable input raises
:class:`~brainbench.errors.UserError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from brainbench.cohort._bids import SCANNER_FIELDS
from brainbench.cohort._caps import BidsImages, CapsLayout, resolve_images
from brainbench.cohort._checks import PER_SUBJECT_COLUMNS, check_hierarchy
from brainbench.cohort._findings import cohort_finding, lines_text
from brainbench.cohort._table import (
    LEVELS,
    CohortTable,
    Hierarchy,
    build_cohort_table,
    natural_key,
    read_source,
)
from brainbench.errors import UserError
from brainbench.validate.findings import Finding, Severity

if TYPE_CHECKING:
    import pandas as pd

    from brainbench.spec import LoadedSpec

TARGET_CANDIDATES = ("diagnosis", "dx", "group", "label", "class")


def read_cohort(
    path: str | Path,
    *,
    format: str | None = None,
    cohort_id: str | None = None,
    role: str = "development",
    hierarchy: Hierarchy | None = None,
    image_column: str | None = None,
    suffixes: Sequence[str] | None = None,
    include: str | None = None,
    check: bool = True,
    images: CapsLayout | BidsImages | None = None,
    labels: Sequence[Any] = (),
    target: str | None = None,
    entities: dict[str, str] | None = None,
) -> CohortTable:
    """Read one cohort into a cohort table.

    Parameters
    ----------
    path
        A BIDS folder, or a TSV/CSV file (ClinicaDL-style, or a manifest with image paths).
    format
        ``'bids'``, ``'tsv'`` or ``'csv'``; default: guessed from the path.
    cohort_id
        Value of the ``cohort`` column; default: the folder or file name.
    role
        ``'development'`` or ``'external-test'``.
    hierarchy
        Where each level's id comes from; default :class:`Hierarchy` (conventional columns).
    image_column
        Manifests: the column of image paths (default: ``image``, ``image_path``, ``path``...).
    suffixes
        BIDS: keep only images with these suffixes (``['T1w']``); default: every image.
    include
        Row filter in the spec's filter language (``"diagnosis in ['CN', 'AD']"``).
    check
        Run the hierarchy checks (:func:`check_hierarchy`) and add their findings.
    images
        Where the images are when ``path`` only lists the sessions (a label TSV, or the BIDS
        companion of a CAPS): a CAPS folder or a BIDS root, looked up
        (:mod:`~brainbench.cohort._caps`) for the rows left after the labels and the include
        filter.
    labels
        Derived labels (``ConversionLabel`` of the spec) added as columns; the table keeps each
        subject's baseline row (:mod:`~brainbench.cohort._labels`).
    target
        The task's target: subjects that a derived label of this name excludes are dropped.
    entities
        BIDS: keep only images with these entities (``{"space": ..., "desc": ..., "res": ...}``).
    """
    from brainbench.cohort._codes import no_repeats_kept
    from brainbench.cohort._labels import derive_conversion_label

    path = Path(path)
    hierarchy = hierarchy or Hierarchy()
    fields = hierarchy.fields()
    raw, findings, files, source = read_source(
        path,
        format=format,
        image_column=image_column,
        suffixes=suffixes,
        sidecar_fields=fields,
        id_columns=fields,
        entities=entities,
    )
    cid = cohort_id or (path.name if path.is_dir() else path.stem)
    if images is not None:
        # The session list's own image columns (a BIDS raw image) are replaced by the lookup's.
        raw = raw.drop(columns=[c for c in ("image", "image_path") if c in raw.columns])
        raw = raw.drop_duplicates([c for c in ("participant_id", "session_id") if c in raw])
    table, more = build_cohort_table(
        raw, hierarchy=hierarchy, cohort_id=cid, role=role, source=source
    )
    del raw  # the table holds what it needs: one copy of the rows, not two
    findings.extend(more)
    table, more = _drop_exact_duplicates(table)
    findings.extend(more)
    for rule in labels:
        derived, more = derive_conversion_label(
            table, rule, cohort_id=cid, source=source, keep_excluded=rule.name != target
        )
        findings.extend(more)
        table = derived
    if include is not None:
        from brainbench.spec.filter import parse_filter

        keep = parse_filter(include).mask(table, source=f"cohort '{cid}' ({source})").to_numpy()
        # every row kept: no copy of the table (a million rows are hundreds of MB)
        before = table
        table = (table if keep.all() else table[keep]).reset_index(drop=True)
        if "image" in table.columns:
            no_repeats_kept(before["image"], table["image"])
        del before
        if table.empty:
            findings.append(
                cohort_finding(
                    "empty-cohort",
                    f"cohort '{cid}': no row left after the include filter '{include}'",
                    file=source,
                    hint="Check the filter's values against the data (case, spelling, units).",
                )
            )
    if images is not None:
        table, more = resolve_images(table, images, cohort_id=cid)
        findings.extend(more)
    if check:
        findings.extend(check_hierarchy(table))
    return CohortTable(table=table, findings=findings, files=files)


def load_cohorts(loaded: LoadedSpec, *, check: bool = True) -> CohortTable:
    """Read every cohort of a spec, map the spec's hierarchy, apply the include filters.

    A BIDS cohort keeps the images whose suffix is ``task.input.modality``. With several cohorts,
    site ids are qualified by the cohort id (``adni/1``) unless ``hierarchy.shared_sites``.
    Problems in the data
    are findings located in the cohort files; an include filter that names an unknown column,
    or a cohort path that does not exist, raises :class:`UserError` naming the spec line.
    """
    import pandas as pd

    spec = loaded.spec
    hierarchy = Hierarchy.from_spec(spec.hierarchy)
    modality = getattr(getattr(spec.task, "input", None), "modality", None)
    parts: list[pd.DataFrame] = []
    findings: list[Finding] = []
    files: list[str] = []
    for i, c in enumerate(spec.cohorts):
        path = _existing(loaded, i, "path")
        fmt: str = c.source.format
        images: CapsLayout | BidsImages | None = None
        if fmt == "caps":
            images = _caps_layout(path, c.source)
            key = "labels" if c.source.labels is not None else "bids"
            path = _existing(loaded, i, key)
            fmt = "tsv" if key == "labels" else "bids"
        elif fmt == "bids" and c.source.labels is not None:
            images = BidsImages(path, suffix=modality or "T1w", entities=_entities(c.source))
            path, fmt = _existing(loaded, i, "labels"), "tsv"
        try:
            ct = read_cohort(
                path,
                format=fmt,
                cohort_id=c.id,
                role=c.role,
                hierarchy=hierarchy,
                image_column=c.source.image_column,
                suffixes=_suffixes(c.source, modality),
                include=c.include,
                check=False,
                images=images,
                labels=getattr(spec, "labels", ()),
                target=spec.task.target,
                entities=_entities(c.source),
            )
        except UserError as exc:
            where = "include" if "include filter" in exc.message else "source"
            line, _ = loaded.locate(f"cohorts.{i}.{where}")
            raise UserError(f"{loaded.file}:{line}: cohort '{c.id}': {exc.message}") from None
        for f in ct.findings:
            if f.rule == "cohort/empty-cohort":
                line, col = loaded.locate(f"cohorts.{i}.include")
                f = Finding(**{**f.__dict__, "file": str(loaded.file), "line": line,
                               "column": col, "path": f"cohorts.{i}.include"})  # fmt: skip
            findings.append(f)
        findings.extend(_covariate_findings(loaded, i, ct.table))
        reference = getattr(spec.task, "reference", None)
        if reference is not None:  # segmentation: each image's reference mask
            from brainbench.cohort._reference import attach_reference_masks
            from brainbench.spec.loading import expand_env

            source_path = loaded.resolve_path(c.source.path)
            root = source_path if source_path.is_dir() else source_path.parent

            def expand(text: str) -> Path:  # relative paths stay relative to the cohort
                return Path(expand_env(text, where=str(loaded.file)))

            ct.table, more = attach_reference_masks(ct.table, reference, root, expand)
            findings.extend(more)
        if images is None and len(ct.table) and ct.table["image_path"].isna().all():
            findings.append(_no_images(loaded, i, path))
        if len(spec.cohorts) > 1 and not getattr(spec.hierarchy, "shared_sites", True):
            # Site 1 of ADNI is not site 1 of AIBL: ids are qualified unless declared shared.
            site = ct.table["site"]
            ct.table["site"] = (c.id + "/" + site).where(site.notna(), site)
        parts.append(ct.table)
        files.extend(ct.files)
    if len(parts) == 1:  # no copy of a table that can hold millions of rows
        table = parts.pop().reset_index(drop=True)
    else:
        table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(LEVELS))
        parts.clear()
    if check:
        findings.extend(check_hierarchy(table))
    return CohortTable(table=table, findings=findings, files=files)


def _existing(loaded: LoadedSpec, i: int, key: str) -> Path:
    """The resolved path of ``cohorts.<i>.source.<key>``; UserError naming the line if absent."""
    source = loaded.spec.cohorts[i].source
    raw = getattr(source, key)
    path = loaded.resolve_path(raw)
    if not path.exists():
        line, _ = loaded.locate(f"cohorts.{i}.source.{key}")
        raise UserError(
            f"{loaded.file}:{line}: cohort '{loaded.spec.cohorts[i].id}': source {key} {path} "
            f"does not exist (from '{raw}'). Set the environment variable or fix the path."
        )
    return path


def _caps_layout(root: Path, source: Any) -> CapsLayout:
    return CapsLayout(
        root=root,
        preprocessing=source.preprocessing,
        crop=source.crop,
        tracer=source.tracer,
        suvr_region=source.suvr_region,
    )


def _entities(source: Any) -> dict[str, str] | None:
    """The BIDS entities a source chooses (derivatives: space, desc, res), or None."""
    chosen = {k: getattr(source, k, None) for k in ("space", "desc", "res")}
    return {k: v for k, v in chosen.items() if v} or None


def _suffixes(source: Any, modality: str | None) -> tuple[str, ...] | None:
    """BIDS suffixes read: the task's modality; a CAPS's companion BIDS lists its sessions
    from the raw images of the pipeline's modality."""
    if source.format == "caps":
        return ("T1w",) if source.preprocessing == "t1-linear" else ("pet",)
    return (modality,) if source.format == "bids" and modality else None


def _no_images(loaded: LoadedSpec, i: int, path: Path) -> Finding:
    """A session list without image paths (a get-labels TSV read as a manifest)."""
    cohort = loaded.spec.cohorts[i]
    line, _ = loaded.locate(f"cohorts.{i}.source")
    return cohort_finding(
        "no-images",
        f"cohort '{cohort.id}': {path.name} names no image file (no image column): every unit "
        "would fail to load its images",
        file=str(loaded.file),
        line=line,
        path=f"cohorts.{i}.source",
        hint="For a ClinicaDL label TSV give the images' folder: source {format: caps, path: "
        "CAPS, preprocessing: t1-linear, labels: TSV} or {format: bids, path: BIDS, labels: "
        "TSV}; for a manifest, name its image_column.",
    )


def _covariate_findings(loaded: LoadedSpec, i: int, table: pd.DataFrame) -> list[Finding]:
    """A declared covariate that a cohort lacks, or a numeric one holding text, is an error."""
    import pandas as pd

    out = []
    cid = loaded.spec.cohorts[i].id
    for k, cov in enumerate(getattr(loaded.spec, "covariates", ())):
        line, _ = loaded.locate(f"covariates.{k}.name")
        where = {"file": str(loaded.file), "line": line, "path": f"covariates.{k}"}
        if cov.name not in table.columns:
            out.append(
                cohort_finding(
                    "missing-column",
                    f"covariate '{cov.name}' is not a column of cohort '{cid}'",
                    hint="Add the column to the cohort's table (participants.tsv, sessions.tsv, "
                    "the label TSV) or remove the covariate.",
                    **where,
                )
            )
            continue
        if cov.type != "numeric":
            continue
        values = table[cov.name]
        bad = values.notna() & pd.to_numeric(values, errors="coerce").isna()
        if bad.any():
            row = table[bad.to_numpy()].iloc[0]
            line = row.get("cohort_row")
            out.append(
                cohort_finding(
                    "not-numeric",
                    f"numeric covariate '{cov.name}' of cohort '{cid}' holds text in "
                    f"{int(bad.sum())} row(s) (e.g. '{row[cov.name]}')",
                    file=None if pd.isna(row.get("cohort_file")) else str(row["cohort_file"]),
                    line=None if line is None or pd.isna(line) else int(line),
                    hint="Fix the values, write missing ones as n/a, or declare it categorical.",
                )
            )
    return out


def _drop_exact_duplicates(table: pd.DataFrame) -> tuple[pd.DataFrame, list[Finding]]:
    from brainbench.cohort._codes import duplicated

    cols = [c for c in table.columns if c != "cohort_row"]
    dup = duplicated(table, cols, keep="first")
    if not dup.any():
        return table, []
    lines = [int(x) for x in table.loc[dup, "cohort_row"].dropna().tolist()]
    file = table.loc[dup, "cohort_file"].iloc[0]
    finding = cohort_finding(
        "duplicate-row",
        f"{int(dup.sum())} row(s) repeat an earlier row exactly and are ignored "
        f"({lines_text(lines)})",
        file=None if file is None else str(file),
        line=lines[0] if lines else None,
        severity=Severity.WARNING,
        hint="Remove the repeated rows from the file.",
    )
    return table[~dup].reset_index(drop=True), [finding]


def guess_target(table: pd.DataFrame) -> str | None:
    """The label column by convention (diagnosis, dx, group...), or None."""
    return next((c for c in TARGET_CANDIDATES if c in table.columns), None)


def summarize_cohort(table: pd.DataFrame, *, target: str | None = None) -> dict[str, Any]:
    """Counts of the hierarchy: ``subjects``, ``sessions``, ``images``, ``sites``, ``scanners``.

    Also ``datasets``, ``cohorts`` (the same counts per cohort) and, with a target column,
    ``classes`` (subjects per class) and ``classes_per_site`` (subjects per class and site;
    a subject's class is the one of its first session).
    """

    def counts(t: pd.DataFrame) -> dict[str, Any]:
        subj = t[["cohort", "subject"]].drop_duplicates()
        ses = t[["cohort", "subject", "session"]].drop_duplicates()
        return {
            "subjects": len(subj),
            "sessions": len(ses),
            "images": int(t["image"].notna().sum()),
            "sites": int(t[["cohort", "site"]].dropna().drop_duplicates().shape[0]),
            "scanners": int(t[["cohort", "scanner"]].dropna().drop_duplicates().shape[0]),
            "datasets": int(t["dataset"].dropna().nunique()),
        }

    out: dict[str, Any] = counts(table)
    out["cohorts"] = {
        str(cid): {"role": str(part["role"].iloc[0]), **counts(part)}
        for cid, part in table.groupby("cohort", sort=True)
    }
    if target and target in table.columns:
        first = table.sort_values(["cohort", "subject", "session_index"], kind="stable")
        first = first.drop_duplicates(["cohort", "subject"])
        labels = first[target].astype("string").fillna("n/a")
        out["target"] = target
        out["classes"] = {str(k): int(v) for k, v in labels.value_counts().sort_index().items()}
        site = first["site"].astype("string").fillna("n/a")
        per_site: dict[str, dict[str, int]] = {}
        for (s, lab), n in labels.groupby([site, labels]).size().sort_index().items():
            per_site.setdefault(str(s), {})[str(lab)] = int(n)
        out["classes_per_site"] = per_site
    return out


__all__ = [
    "LEVELS",
    "PER_SUBJECT_COLUMNS",
    "SCANNER_FIELDS",
    "BidsImages",
    "CapsLayout",
    "CohortTable",
    "Hierarchy",
    "check_hierarchy",
    "guess_target",
    "load_cohorts",
    "natural_key",
    "read_cohort",
    "summarize_cohort",
]

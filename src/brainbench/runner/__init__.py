"""The runner: registered models on a benchmark's frozen splits, locally, on a GPU or on SLURM.

>>> from brainbench.runner import run_benchmark                       # doctest: +SKIP
>>> result = run_benchmark("spec/demo/ad-vs-cn-synthetic.yaml",       # doctest: +SKIP
...                        ["voxel-linear", "cnn3d-small"], out="runs/demo", seeds=3)
>>> result.summary()                                                  # doctest: +SKIP
'6/6 unit(s) ok; run folder: runs/demo'

A **unit** is one training run: (model, repeat, fold, seed). ``brainbench run`` validates the
spec with its data (spec rules, cohort checks and data rules, waivers applied: the leakage audit)
and refuses to run when an error remains or when a pinned split file's sha256 does not match;
it freezes the splits, expands the units, executes them (``local``: N model processes on this
machine; ``slurm``: one submitit array task per unit) and finalises the run folder.

The run folder (the contract the statistics and the report read)
------------------------------------------------------------------
``predictions.parquet``
    The predictions table of docs/design.md, one row per (model, repeat, fold, seed, image) and
    partition.
    Columns: ``model`` (registry id), ``repeat``, ``fold``, ``seed`` (int64; ``seed`` is the seed
    index 0..N-1, the same for every model so runs pair across models), ``partition``
    (``validation``, ``test`` or the id of an external-test cohort), ``cohort``, ``dataset``,
    ``site``, ``scanner``, ``subject``, ``session``, ``image`` (text, missing as null),
    ``y_true`` and ``y_pred`` (class names for classification, floats for regression), and for
    classification ``score_<class>`` per class in the spec's class order (probabilities, rows sum
    to 1) and ``score`` (= the positive, last, class's probability). Rows are sorted by model,
    repeat, fold, seed, partition, cohort, subject, session, image. Only complete units
    contribute; a failed unit contributes no row (see ``provenance.json``).
``case_metrics.parquet`` and ``masks/`` (segmentation runs, instead of the predictions)
    The per-case metrics the runner computed from each predicted mask, one row per (model,
    repeat, fold, seed, partition, image, label, metric), columns in docs/design.md ("The
    case-metrics table"); the predicted masks as
    ``masks/<model>/r<repeat>-f<fold>-s<seed>/<image stem>_pred.nii.gz`` (uint8, the image's
    affine), hashed in ``provenance.json`` (``masks``, ``case_metrics_sha256``).
``cohort.parquet``
    The cohort table used (every cohort, after the include filters): ``row``, the hierarchy ids,
    ``cohort``, ``role``, ``image_path``, ``session_index``, the target and covariates (age,
    sex, diagnosis...) and every source column (mixed columns as text), ``cohort_file`` /
    ``cohort_row``. The report's Table 1 reads it.
``splits.tsv``
    The frozen split table (columns cohort, subject, session, image, repeat, fold, partition),
    byte for byte as :func:`brainbench.split.write_split_file` writes it.
``spec.yaml`` / ``spec.resolved.json``
    A copy of the spec file, and the resolved spec (``extends`` merged, defaults filled) as
    ``loaded.spec.model_dump(mode="json")``. When the spec uses ``extends``, ``spec.yaml`` is
    the merged spec (so it loads in the run folder alone, with the same sha256),
    ``spec.parts/`` holds a copy of every file merged and ``spec.parts.json`` their original
    paths and sha256 (:meth:`brainbench.spec.LoadedSpec.snapshot`).
``validation.json``
    ``CheckResult.to_dict()`` of the validation with data (findings, waived findings).
``provenance.json``
    ``brainbench_version``, ``git_commit`` (``+dirty`` when the source tree is modified),
    ``spec`` {id, version, sha256, file}, ``split_sha256`` (of ``splits.tsv``), ``split_origin``
    (``generated`` or the pinned file), ``cohort_sha256`` (of the cohort table as canonical
    TSV), ``predictions_sha256``, ``models`` [{id, version}], ``registry_root``, ``task``,
    ``packages`` {python, numpy, scipy, pandas, pyarrow, scikit-learn, torch, monai, nibabel,
    statsmodels, submitit, pydantic}, ``device`` {type, name, cuda, cudnn, cpu_count...},
    ``executor``, ``seal`` {summary, layers, level} (the sandbox layers that held for every
    unit), ``integrity`` {ok, problems} (unit outputs re-checked against the journal),
    ``host`` (the driver), ``unit_hosts`` (where units ran), ``platform``,
    ``seeds`` {count, split_seed, per_unit},
    ``deterministic``, ``amp``, ``max_epochs``, ``hyperparameters``, ``deviations`` (what the
    run-time audit of the entries changed or allowed, each {rule, kind, models, message, and
    ``covariates`` or ``cohorts``}: a covariate carrying the target withheld from every model
    (L107), a pretraining overlap allowed by a scoped L104 waiver), ``started``, ``finished``
    and ``units``: one record per planned unit {id, model, repeat, fold, seed, rng_seed,
    status (ok | failed | skipped), seconds, log, error, error_kind (image | model |
    model-load | cuda-oom | memory | crash | timeout | bad-output | protocol | tampered | runner
    | job),
    output_sha256, started, finished, n_rows, images_sent, host, device (its name), seal,
    seal_layers}. With the slurm executor,
    ``device`` is the compute nodes' (from the first complete unit), not the driver's.
``units/<unit>.parquet`` and ``units/<unit>.json``
    Each unit's prediction rows and record, each written atomically (temporary file, fsync,
    ``os.replace``); the JSON is written last and holds the Parquet file's sha256, so a unit is
    complete exactly when its JSON says ``ok`` and the hash matches. ``--resume`` skips those.
    The JSON also keeps the model's ``history`` (losses per epoch, best epoch), ``epoch_times``
    ([wall s, CPU s] per epoch, measured in the model process), ``images_sent`` (volumes sent
    to the unit's model process) and ``images_decoded`` (of those, decoded for this unit; 0
    when the runner had them cached).
``journal.jsonl``
    One line per unit output the runner wrote: unit id, status, sha256 of the Parquet and
    JSON files. Finalisation fails a unit whose files differ (``tampered``).
``logs/<unit>.log``
    The model's stdout, stderr and log messages, then the runner's notes (image errors, the
    traceback of a failure) and the unit's status.
``plan.json``
    The units to run and the options that produced them (read by workers and ``--resume``).
``slurm/``
    submitit's job folders (slurm executor only).
``cache/``
    Decoded, checked images as ``.npy`` (keyed by a hash of the resolved path, size, mtime and
    expected shape), every executor, so that SLURM array tasks, parallel model hosts and a
    resumed run decode each image once; images only, no label. Capped at 16 GiB (or half the
    free disk space if less; ``--cache-gb`` to change): past the cap images are decoded but
    not stored. ``--no-cache`` turns it off. Delete the folder freely (it only saves time);
    it holds image data, so leave it out when sharing a run folder. The runner also keeps
    decoded images in its memory for the next units (model processes last one unit).

Seeds, determinism, devices
---------------------------
Each unit trains from ``rng_seed = sha256("split_seed:repeat:fold:seed") mod 2^31-1``: the same
for every model of one (repeat, fold, seed), so runs pair across models. The model process seeds
python's ``random``, numpy and torch (CPU and CUDA) with it before ``fit`` and passes it in
``FitContext``; there are no data-loader worker processes to seed (images come over the data
channel into the model process's cache). ``--deterministic`` sets
``torch.use_deterministic_algorithms``, cuDNN deterministic mode and
``CUBLAS_WORKSPACE_CONFIG`` (on CPU the same unit already gives bit-identical predictions:
``tests/runner/test_reproducible.py``). ``--device auto`` picks CUDA when torch sees a GPU;
mixed precision (float16 autocast + GradScaler) is on for CUDA only.
Images are read in the runner process (:func:`brainbench.runner._data.read_image`): the NIfTI
header first (shape, voxel type, decoded size and orientation checked before any voxel is
decoded, so a small file announcing a huge volume costs nothing), then the voxels with nibabel
(channel first, float32, the same arrays as MONAI's ``LoadImage``; no random transform), NaN
and infinity checked, each image decoded once per run. Every image must share the modal
orientation of the run's images (axis codes of the affine, stored in ``plan.json``).

Sealed labels: the threat model
-------------------------------
Model code (a registry entry) runs in a fresh *model process* per unit
(:mod:`brainbench.runner._host`) inside :mod:`brainbench.sandbox`: a whitelisted environment,
an empty scratch folder as working directory, Landlock rules (read the Python installation and
the entry's folder, write only scratch, no network), PID and network namespaces, no-new-privs.
It talks to the runner through :mod:`brainbench.sandbox.channel` (JSON headers and numeric
arrays; nothing from the model side is unpickled) and receives images as decoded arrays keyed
by anonymous integers, covariates reduced to the whitelist of
:func:`brainbench.registry.interface.covariate_frame` (hierarchy ids, with image ids reduced to
file names, age, sex; minus any covariate that carries the target, rule L107), and labels for
the training and validation partitions only; test and external-test labels stay in the runner
process, which joins them to the scores after ``predict`` returns. The runner alone writes the
run folder and re-checks every unit output against ``journal.jsonl`` and its own record at
finalisation (``provenance.json``: ``integrity``). ``provenance.json`` (``seal``) says which
sandbox layers held. ``docs/security.md`` is the threat model, with what is *not* sealed;
``tests/runner/test_sealed.py`` and ``tests/security/`` run hostile entries against it.
"""

import importlib
from typing import Any

# Names load on first use (PEP 562): a model process imports brainbench.runner._host without
# the runner's own dependencies (pydantic profiles, submitit, MONAI), which keeps its start fast.
_EXPORTS = {
    "RunResult": "_api",
    "run_benchmark": "_api",
    "ImageError": "_data",
    "ImageLoader": "_data",
    "RunState": "_execute",
    "run_units": "_execute",
    "unit_complete": "_execute",
    "Profile": "_executors",
    "SlurmProfile": "_executors",
    "load_profile": "_executors",
    "finalize_run": "_finalize",
    "InvalidSpec": "_prepare",
    "RunOptions": "_prepare",
    "prepare_run": "_prepare",
    "Unit": "_units",
    "expand_units": "_units",
    "parse_unit_id": "_units",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'brainbench.runner' has no attribute '{name}'")
    return getattr(importlib.import_module(f"brainbench.runner.{module}"), name)


__all__ = [
    "ImageError",
    "ImageLoader",
    "InvalidSpec",
    "Profile",
    "RunOptions",
    "RunResult",
    "RunState",
    "SlurmProfile",
    "Unit",
    "expand_units",
    "finalize_run",
    "load_profile",
    "parse_unit_id",
    "prepare_run",
    "run_benchmark",
    "run_units",
    "unit_complete",
]

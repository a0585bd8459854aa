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
    ``executor``, ``host`` (the driver), ``unit_hosts`` (where units ran), ``platform``,
    ``seeds`` {count, split_seed, per_unit},
    ``deterministic``, ``amp``, ``max_epochs``, ``hyperparameters``, ``deviations`` (what the
    run-time audit of the entries changed or allowed, each {rule, kind, models, message, and
    ``covariates`` or ``cohorts``}: a covariate carrying the target withheld from every model
    (L107), a pretraining overlap allowed by a scoped L104 waiver), ``started``, ``finished``
    and ``units``: one record per planned unit {id, model, repeat, fold, seed, rng_seed,
    status (ok | failed | skipped), seconds, log, error, error_kind (image | model |
    model-load | cuda-oom | crash | timeout | bad-output | runner | job), output_sha256, started,
    finished, n_rows, images_sent, host, device (its name)}. With the slurm executor,
    ``device`` is the compute nodes' (from the first complete unit), not the driver's.
``units/<unit>.parquet`` and ``units/<unit>.json``
    Each unit's prediction rows and record, each written atomically (temporary file, fsync,
    ``os.replace``); the JSON is written last and holds the Parquet file's sha256, so a unit is
    complete exactly when its JSON says ``ok`` and the hash matches. ``--resume`` skips those.
    The JSON also keeps the model's ``history`` (losses per epoch, best epoch), ``epoch_times``
    ([wall s, CPU s] per epoch, measured in the model process) and ``images_sent`` (volumes
    decoded for this unit; 0 when the model process had them cached already).
``logs/<unit>.log``
    The model's stdout, stderr and log messages, then the runner's notes (image errors, the
    traceback of a failure) and the unit's status.
``plan.json``
    The units to run and the options that produced them (read by workers and ``--resume``).
``slurm/``
    submitit's job folders (slurm executor only).
``cache/``
    slurm executor only: decoded, checked images as ``.npy`` (keyed by path, size and mtime),
    so that every array task reuses what another decoded; images only, no label. The local
    executor caches in memory (in each model process, and in the runner with ``--workers``).

Seeds, determinism, devices
---------------------------
Each unit trains from ``rng_seed = sha256("split_seed:repeat:fold:seed") mod 2^31-1``: the same
for every model of one (repeat, fold, seed), so runs pair across models. The model process seeds
python's ``random``, numpy and torch (CPU and CUDA) with it before ``fit`` and passes it in
``FitContext``; there are no data-loader worker processes to seed (images come from the model
process's cache). ``--deterministic`` sets ``torch.use_deterministic_algorithms``, cuDNN
deterministic mode and ``CUBLAS_WORKSPACE_CONFIG`` (on CPU the same unit already gives
bit-identical predictions: ``tests/runner/test_reproducible.py``). ``--device auto`` picks CUDA
when torch sees a GPU; mixed precision (float16 autocast + GradScaler) is on for CUDA only.
Images are decoded by MONAI's ``LoadImage`` (nibabel reader, channel first, float32; no random
transform) in the runner process, checked (shape, NaN/inf), and decoded once per run.

Sealed labels: the threat model
-------------------------------
Model code (a registry entry) runs in a separate *model host* process
(:mod:`brainbench.runner._host`), started with a scrubbed environment (no ``BRAINBENCH_*``
variable, no variable naming the spec, the run folder, a cohort file or an image folder) and an
empty scratch folder as working directory. The host receives images as decoded arrays keyed by
anonymous integers, covariates reduced to the whitelist of
:func:`brainbench.registry.interface.covariate_frame` (hierarchy ids, with image ids reduced to
file names, age, sex; minus any covariate that carries the target, rule L107), and labels for
the training and validation partitions only; test and external-test labels stay in the runner
process, which joins them to the scores after ``predict`` returns. The host's memory therefore
never holds a test label, a cohort table, an image path or the spec, whatever the model does with
its inputs, the dataset objects, the interpreter (stack frames, ``gc``) or its environment
(``tests/runner/test_sealed.py`` runs a malicious entry that tries all of these).

What this does **not** stop: code that searches the file system on its own (it runs as the
same user, so it could find a ``participants.tsv`` by crawling the disk, or read the runner's
command line from ``/proc``). Against an adversarial entry, run the model hosts in a container
or sandbox that mounts only the code (see ``runner/README.md``); registry review by pull request
is the other line of defence.
"""

from brainbench.runner._api import RunResult, run_benchmark
from brainbench.runner._data import ImageError, ImageLoader
from brainbench.runner._execute import RunState, run_units, unit_complete
from brainbench.runner._executors import Profile, SlurmProfile, load_profile
from brainbench.runner._finalize import finalize_run
from brainbench.runner._prepare import InvalidSpec, RunOptions, prepare_run
from brainbench.runner._units import Unit, expand_units, parse_unit_id

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

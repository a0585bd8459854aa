"""``run_benchmark``: prepare, execute and finalise a run (what ``brainbench run`` calls)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from brainbench.errors import UserError
from brainbench.runner._execute import check_seal, resolve_device, unit_complete
from brainbench.runner._executors import Profile, load_profile, run_local, run_slurm
from brainbench.runner._finalize import finalize_run
from brainbench.runner._prepare import RunOptions, plan_units, prepare_run
from brainbench.runner._progress import make_progress


@dataclass
class RunResult:
    """What a run produced: its folder, provenance and unit counts."""

    run_dir: Path
    provenance: dict[str, Any]
    executed: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0

    @property
    def units(self) -> list[dict[str, Any]]:
        return self.provenance["units"]

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [u for u in self.units if u["status"] != "ok"]

    @property
    def tampered(self) -> list[str]:
        """Unit outputs changed after the runner wrote them (the run is void)."""
        return list((self.provenance.get("integrity") or {}).get("problems") or [])

    @property
    def ok(self) -> bool:
        return not self.failed and not self.tampered

    def summary(self) -> str:
        n = len(self.units)
        ok = n - len(self.failed)
        text = f"{ok}/{n} unit(s) ok"
        if self.skipped:
            text += f" ({self.skipped} already complete, skipped)"
        if self.failed:
            text += f", {len(self.failed)} failed"
        return text


def run_benchmark(
    spec: str | Path,
    models: list[str],
    *,
    out: str | Path,
    seeds: int | None = None,
    device: str | None = None,
    executor: str | None = None,
    workers: int | None = None,
    profile: str | Path | Profile | None = None,
    resume: bool = False,
    quiet: bool = True,
    max_epochs: int | None = None,
    deterministic: bool = False,
    amp: bool = True,
    unit_timeout_min: float | None = None,
    image_cache_gb: float | None = None,
    model_memory_gb: float | None = None,
    hyperparameters: dict[str, dict[str, Any]] | None = None,
    registry_root: str | Path | None = None,
    progress: Any = None,
    seal: bool = True,
    require_seal: str | None = None,
) -> RunResult:
    """Run ``models`` on the benchmark ``spec``; write the run folder ``out``.

    Raises :class:`~brainbench.runner._prepare.InvalidSpec` when the spec does not validate with
    its data, :class:`~brainbench.spec.SpecError` when it does not follow the schema, and
    :class:`~brainbench.errors.UserError` for unreadable input, a run folder in use, or a
    ``require_seal`` level (``none``, ``fs``, ``full``) the model processes cannot get here.
    ``seal=False`` runs them without the sandbox (the run then says ``unsealed``).
    """
    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    require_seal = require_seal or prof.require_seal
    device = device or prof.device
    executor = executor or prof.executor
    if executor == "local":  # SLURM: each array task checks on its compute node
        check_seal(require_seal, seal)
    workers = workers or prof.workers
    if device == "cuda" and executor == "local" and resolve_device("auto") != "cuda":
        raise UserError(
            "--device cuda: torch sees no CUDA device here (torch.cuda.is_available() is "
            "False). Use --device auto or cpu, or run on a GPU machine."
        )
    options = RunOptions(
        models=list(models),
        seeds=seeds,
        device=device,
        max_epochs=max_epochs,
        deterministic=deterministic,
        amp=amp,
        unit_timeout_s=None if unit_timeout_min is None else 60.0 * unit_timeout_min,
        image_cache_gb=image_cache_gb,
        model_memory_gb=model_memory_gb,
        hyperparameters=hyperparameters or {},
        registry_root=str(registry_root) if registry_root else None,
        seal=seal,
        require_seal=require_seal,
    )
    run_dir, plan, _ = prepare_run(spec, out, options, resume=resume)
    units = plan_units(plan)
    todo = [u for u in units if not unit_complete(run_dir, u)]
    skipped = len(units) - len(todo)
    bar = progress or make_progress(len(todo), quiet=quiet, max_epochs=max_epochs)
    with bar:
        if executor == "slurm":
            executed = run_slurm(run_dir, [u.id for u in todo], profile=prof.slurm, progress=bar)
        else:
            executed = run_local(run_dir, [u.id for u in todo], workers=workers, progress=bar)
    resolved = resolve_device(device) if executor == "local" else device
    # the runner's own record of the units it ran here (SLURM: the array tasks' journal only)
    expected = {r["id"]: r.get("output_sha256") for r in executed} if executor == "local" else None
    provenance = finalize_run(run_dir, device=resolved, executor=executor, expected=expected)
    return RunResult(run_dir=run_dir, provenance=provenance, executed=executed, skipped=skipped)


__all__ = ["RunResult", "run_benchmark"]

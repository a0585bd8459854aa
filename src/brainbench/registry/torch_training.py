"""A training loop shared by the torch entries of the registry.

Entries stay small: an entry builds its network and hands it to :class:`TorchImageModel`,
which implements the :class:`~brainbench.registry.interface.Model` protocol:

* seeds python, numpy and torch from ``FitContext.seed`` (and asks for deterministic algorithms
  when ``FitContext.deterministic``);
* fits the intensity normalisation on the training partition only;
* trains with Adam/AdamW/SGD, cross-entropy (optionally class-balanced, weights from the training
  labels) or mean squared error on standardised targets (statistics from the training labels);
  segmentation: Dice + cross-entropy per voxel (MONAI ``DiceCELoss``) against the reference
  masks, and ``predict`` returns the arg-max label per voxel as ``uint8`` masks;
* stops early on the validation loss with a patience, and restores the best epoch's weights;
* uses mixed precision on CUDA when ``FitContext.amp``;
* reports every epoch through ``FitContext.on_epoch``.

Importing this module imports torch: entries import it inside their factory, never at the top
of a module that ``brainbench registry list`` reads.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from brainbench.registry.interface import (
    FitContext,
    ImageSet,
    LabelledImageSet,
    TaskInfo,
    UnlabelledImageSet,
)
from brainbench.registry.normalisation import IntensityNormaliser

AUGMENTATIONS = ("flip-x",)


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed python, numpy and torch (CPU and CUDA); optionally deterministic algorithms."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


@dataclass(frozen=True)
class TrainConfig:
    """The training recipe as the loop uses it (built from the factory's hyper-parameters)."""

    epochs: int = 20
    batch_size: int = 8
    optimiser: str = "adamw"
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    patience: int | None = None
    class_weight: str | None = "balanced"
    augmentation: tuple[str, ...] = ()
    intensity_normalisation: str = "zscore-image"
    predict_batch_size: int | None = None

    @classmethod
    def from_hyperparameters(cls, hp: dict[str, Any], **overrides: Any) -> TrainConfig:
        """Pick the recipe keys out of a factory's flat hyper-parameter dict."""
        names = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in hp.items() if k in names}
        values.update(overrides)
        if "augmentation" in values:
            values["augmentation"] = tuple(values["augmentation"] or ())
        config = cls(**values)
        config.validate()
        return config

    def validate(self) -> None:
        if self.optimiser not in ("adam", "adamw", "sgd"):
            raise ValueError(f"unknown optimiser {self.optimiser!r}; choose adam, adamw or sgd")
        if self.class_weight not in (None, "balanced"):
            raise ValueError(f"class_weight must be None or 'balanced', got {self.class_weight!r}")
        bad = [a for a in self.augmentation if a not in AUGMENTATIONS]
        if bad:
            raise ValueError(f"unknown augmentation(s) {bad}; available: {list(AUGMENTATIONS)}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be at least 1")


@dataclass
class FitHistory:
    """What happened during a fit (kept on the model as ``history_``)."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "train_loss": self.train_loss,
            "val_loss": self.val_loss,
            "best_epoch": self.best_epoch,
            "stopped_early": self.stopped_early,
            "seconds": self.seconds,
        }


def _batches(n: int, batch_size: int, order: np.ndarray) -> list[np.ndarray]:
    """Index batches; a trailing batch of one joins the previous (BatchNorm needs two)."""
    chunks = [order[i : i + batch_size] for i in range(0, n, batch_size)]
    if len(chunks) > 1 and len(chunks[-1]) == 1:
        chunks[-2] = np.concatenate([chunks[-2], chunks[-1]])
        chunks.pop()
    return chunks


def _make_optimiser(net: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in net.parameters() if p.requires_grad]
    if cfg.optimiser == "adam":
        return torch.optim.Adam(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    if cfg.optimiser == "adamw":
        return torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(
        params, lr=cfg.learning_rate, momentum=0.9, weight_decay=cfg.weight_decay, nesterov=True
    )


class TorchImageModel:
    """A :class:`~brainbench.registry.interface.Model` around a torch network.

    Parameters
    ----------
    task
        The task (output width, class order).
    build_network
        ``build_network(task) -> nn.Module`` mapping ``(b, C, X, Y, Z)`` to ``(b, n_outputs)``
        logits (classification) or values (regression). Called in ``fit``, after seeding, so
        that initial weights depend on the seed only.
    config
        Training recipe.
    """

    def __init__(
        self,
        task: TaskInfo,
        build_network: Callable[[TaskInfo], nn.Module],
        config: TrainConfig,
    ) -> None:
        config.validate()
        if task.type == "segmentation" and config.augmentation:
            raise ValueError(
                f"augmentation {list(config.augmentation)} transforms the images only: it would "
                "misalign them with their masks (use none for segmentation)"
            )
        self.task = task
        self.build_network = build_network
        self.config = config
        self.net_: nn.Module | None = None
        self.normaliser_: IntensityNormaliser | None = None
        self.history_: FitHistory | None = None
        self._device = torch.device("cpu")
        self._amp = False
        self._target_mean = 0.0
        self._target_std = 1.0

    # -- helpers -------------------------------------------------------------------------------
    def _to_tensor(self, batch: np.ndarray, rng: np.random.Generator | None = None) -> torch.Tensor:
        """Host batch -> normalised (and, in training, augmented) tensor on the device.

        Normalisation and augmentation run on the device: on a GPU the host only stacks and
        copies (pinned memory, asynchronous copy).
        """
        assert self.normaliser_ is not None
        x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
        if self._device.type == "cuda":
            x = x.pin_memory().to(self._device, non_blocking=True)
        x = self.normaliser_.apply_torch(x)
        if rng is not None and "flip-x" in self.config.augmentation:
            flip = torch.from_numpy(rng.random(len(batch)) < 0.5).to(x.device)
            if bool(flip.any()):
                x = torch.where(flip.view(-1, *([1] * (x.ndim - 1))), x.flip(2), x)
        return x

    def _batch_targets(self, data: Any, idx: np.ndarray) -> torch.Tensor:
        """The targets of images ``idx`` of ``data``: labels, or (segmentation) the masks as
        class indices ``(b, 1, X, Y, Z)`` (0 background, k for ``label_values[k - 1]``)."""
        if self.task.type != "segmentation":
            return self._targets(data.labels[idx])
        lookup = np.zeros(256, dtype=np.int64)
        lookup[list(self.task.label_values)] = np.arange(1, len(self.task.label_values) + 1)
        masks = np.stack([lookup[np.asarray(data.masks[int(i)])] for i in idx])[:, None]
        return torch.as_tensor(masks, device=self._device)

    def _targets(self, labels: np.ndarray) -> torch.Tensor:
        if self.task.type == "classification":
            return torch.as_tensor(labels, dtype=torch.long, device=self._device)
        y = (np.asarray(labels, dtype=np.float64) - self._target_mean) / self._target_std
        return torch.as_tensor(y, dtype=torch.float32, device=self._device)

    def _loss_fn(self, train: LabelledImageSet) -> Callable[[torch.Tensor, torch.Tensor], Any]:
        if self.task.type == "regression":
            mse = nn.MSELoss()
            return lambda out, y: mse(out.reshape(-1).float(), y)
        if self.task.type == "segmentation":
            from monai.losses import DiceCELoss

            dice_ce = DiceCELoss(to_onehot_y=True, softmax=True)
            return lambda out, y: dice_ce(out.float(), y)
        weight = None
        if self.config.class_weight == "balanced":
            counts = np.bincount(train.labels, minlength=self.task.n_classes).astype(np.float64)
            w = np.where(counts > 0, len(train.labels) / (self.task.n_classes * counts), 0.0)
            weight = torch.as_tensor(w, dtype=torch.float32, device=self._device)
        ce = nn.CrossEntropyLoss(weight=weight)
        return lambda out, y: ce(out.float(), y)

    def _autocast(self):
        if self._amp:
            return torch.autocast(device_type="cuda", dtype=torch.float16)
        return torch.autocast(device_type=self._device.type, enabled=False)

    def _eval_loss(self, data: LabelledImageSet, loss_fn: Callable) -> float:
        assert self.net_ is not None
        self.net_.eval()
        total, n = 0.0, 0
        bs = self.config.predict_batch_size or self.config.batch_size
        with torch.no_grad():
            for idx, batch in data.iter_batches(bs):
                with self._autocast():
                    out = self.net_(self._to_tensor(batch))
                loss = loss_fn(out, self._batch_targets(data, idx))
                total += float(loss) * len(idx)
                n += len(idx)
        return total / max(n, 1)

    # -- the Model protocol --------------------------------------------------------------------
    def fit(
        self, train: LabelledImageSet, validation: LabelledImageSet | None, ctx: FitContext
    ) -> None:
        """Train on ``train``, early-stop on ``validation`` (see the module doc)."""
        if len(train) < 2:
            raise ValueError(f"need at least 2 training images, got {len(train)}")
        start = time.perf_counter()
        seed_everything(ctx.seed, ctx.deterministic)
        if ctx.num_threads is not None:
            torch.set_num_threads(ctx.num_threads)
        self._device = torch.device(ctx.device)
        self._amp = bool(ctx.amp and self._device.type == "cuda")
        rng = np.random.default_rng(ctx.seed)

        self.normaliser_ = IntensityNormaliser(self.config.intensity_normalisation).fit(
            train.images
        )
        if self.task.type == "regression":
            y = np.asarray(train.labels, dtype=np.float64)
            self._target_mean = float(y.mean())
            self._target_std = float(y.std()) or 1.0
        self.net_ = self.build_network(self.task).to(self._device)
        optimiser = _make_optimiser(self.net_, self.config)
        scaler = torch.amp.GradScaler("cuda", enabled=self._amp)
        loss_fn = self._loss_fn(train)
        history = FitHistory()
        best_state: dict[str, torch.Tensor] | None = None
        best_loss = float("inf")
        bad_epochs = 0
        epochs = ctx.epochs(self.config.epochs)

        for epoch in range(1, epochs + 1):
            self.net_.train()
            order = rng.permutation(len(train))
            running, seen = 0.0, 0
            for idx in _batches(len(train), self.config.batch_size, order):
                batch = np.stack([train.images[int(i)] for i in idx])
                x = self._to_tensor(batch, rng)
                y = self._batch_targets(train, idx)
                optimiser.zero_grad(set_to_none=True)
                with self._autocast():
                    out = self.net_(x)
                loss = loss_fn(out, y)
                scaler.scale(loss).backward()
                scaler.step(optimiser)
                scaler.update()
                running += float(loss.detach()) * len(idx)
                seen += len(idx)
            train_loss = running / max(seen, 1)
            history.train_loss.append(train_loss)

            val_loss = None
            if validation is not None and len(validation) > 0:
                val_loss = self._eval_loss(validation, loss_fn)
                history.val_loss.append(val_loss)
                if val_loss < best_loss:
                    best_loss, bad_epochs, history.best_epoch = val_loss, 0, epoch
                    best_state = {
                        k: v.detach().to("cpu", copy=True)
                        for k, v in self.net_.state_dict().items()
                    }
                else:
                    bad_epochs += 1
            ctx.report_epoch(epoch, train_loss, val_loss)
            if self.config.patience is not None and bad_epochs >= self.config.patience:
                history.stopped_early = True
                break

        if best_state is not None:
            self.net_.load_state_dict(best_state)
        history.seconds = time.perf_counter() - start
        self.history_ = history

    def predict(self, inputs: UnlabelledImageSet | ImageSet) -> np.ndarray:
        """Probabilities ``(n, n_classes)`` or values ``(n,)`` (see the Model protocol)."""
        if self.net_ is None:
            raise RuntimeError("predict() called before fit()")
        self.net_.eval()
        outs: list[np.ndarray] = []
        bs = self.config.predict_batch_size or self.config.batch_size
        with torch.no_grad():
            for _, batch in inputs.iter_batches(bs):
                with self._autocast():
                    out = self.net_(self._to_tensor(batch))
                outs.append(out.float().cpu().numpy())
        n_out = self.task.n_outputs
        if self.task.type == "segmentation":  # arg-max class per voxel, as label values
            values = np.array([0, *self.task.label_values], dtype=np.uint8)
            shape = (0, *self.task.spatial_shape)
            return (
                values[np.concatenate([o.argmax(axis=1) for o in outs])]
                if outs
                else (np.zeros(shape, np.uint8))
            )
        raw = np.concatenate(outs) if outs else np.zeros((0, n_out), np.float32)
        raw = raw.astype(np.float64).reshape(len(raw), n_out)
        if self.task.type == "regression":
            return raw[:, 0] * self._target_std + self._target_mean
        raw -= raw.max(axis=1, keepdims=True)
        prob = np.exp(raw)
        return prob / prob.sum(axis=1, keepdims=True)

    def __repr__(self) -> str:
        return f"TorchImageModel(task={self.task.type}, config={self.config})"


def count_parameters(net: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def infer_output_shape(net: nn.Module, image_shape: Sequence[int]) -> tuple[int, ...]:
    """Output shape of ``net`` on one random image (a quick sanity check for entry authors)."""
    net.eval()
    with torch.no_grad():
        return tuple(net(torch.randn(1, *image_shape)).shape)


__all__ = [
    "AUGMENTATIONS",
    "FitHistory",
    "TorchImageModel",
    "TrainConfig",
    "count_parameters",
    "infer_output_shape",
    "seed_everything",
]

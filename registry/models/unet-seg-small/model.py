"""unet-seg-small: a small 3D U-Net (MONAI ``UNet``) trained with Dice + cross-entropy.

Three resolution levels (8, 16, 32 channels, strides 2), one residual unit per block, as
MONAI's 3D segmentation tutorials build it, on the shared torch training loop
(:class:`brainbench.registry.torch_training.TorchImageModel`): z-scored images, Dice +
cross-entropy loss on the training masks, early stopping on the validation loss, arg-max
labels per voxel. The input is zero-padded to a multiple of the total stride and the output
cropped back, so any image shape works. Small enough for a CPU on tiny volumes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from brainbench.registry.interface import TaskInfo


def network(task: TaskInfo, channels: Sequence[int] = (8, 16, 32), res_units: int = 1):
    """``(b, C, X, Y, Z)`` -> ``(b, labels + 1, X, Y, Z)`` logits."""
    import torch.nn.functional as F
    from monai.networks.nets import UNet
    from torch import nn

    factor = 2 ** (len(channels) - 1)

    class Padded(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.unet = UNet(
                spatial_dims=3,
                in_channels=task.channels,
                out_channels=task.n_outputs,
                channels=tuple(int(c) for c in channels),
                strides=(2,) * (len(channels) - 1),
                num_res_units=res_units,
            )

        def forward(self, x):
            size = x.shape[2:]
            pad = [(-n) % factor for n in size]
            # F.pad takes the last axis first: (z_before, z_after, y_before, ...)
            x = F.pad(x, [v for p in reversed(pad) for v in (0, p)])
            out = self.unet(x)
            return out[:, :, : size[0], : size[1], : size[2]]

    return Padded()


def build(task: TaskInfo, hyperparameters: dict[str, Any]):
    """Factory: the small U-Net in the shared torch training loop (segmentation only)."""
    from brainbench.registry.torch_training import TorchImageModel, TrainConfig

    if task.type != "segmentation":
        raise ValueError(f"unet-seg-small segments images; the task is {task.type}")
    channels = tuple(int(c) for c in hyperparameters.get("channels", (8, 16, 32)))
    if len(channels) < 2:
        raise ValueError("channels must list at least two levels")
    res_units = int(hyperparameters.get("res_units", 1))
    config = TrainConfig.from_hyperparameters(hyperparameters, class_weight=None)
    return TorchImageModel(task, lambda t: network(t, channels, res_units), config)

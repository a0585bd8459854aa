"""cnn3d-small: a small 3D CNN in the spirit of Wen et al. 2020's image-level baseline.

Four blocks of 3x3x3 convolution, batch normalisation and ReLU (MONAI ``Convolution``
blocks), each halving the resolution (the first by a stride-2 convolution, the others by 2x max
pooling), then global average pooling, dropout and a linear layer. Global pooling makes it
accept any spatial shape. Small enough to train on CPU in seconds at 4 mm.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from brainbench.registry.interface import TaskInfo


def network(
    task: TaskInfo,
    channels: Sequence[int] = (8, 16, 32, 64),
    dropout: float = 0.3,
    first_stride: int = 2,
):
    """The network for ``task``: ``(b, C, X, Y, Z)`` -> ``(b, n_outputs)``."""
    from monai.networks.blocks import Convolution
    from torch import nn

    layers: list[nn.Module] = []
    c_in = task.channels
    for i, c in enumerate(channels):
        stride = first_stride if i == 0 else 1
        layers.append(
            Convolution(
                3, c_in, int(c), strides=stride, kernel_size=3, act="RELU", norm="BATCH", bias=False
            )
        )
        if stride == 1:
            layers.append(nn.MaxPool3d(2, ceil_mode=True))
        c_in = int(c)
    return nn.Sequential(
        *layers,
        nn.AdaptiveAvgPool3d(1),
        nn.Flatten(),
        nn.Dropout(dropout),
        nn.Linear(c_in, task.n_outputs),
    )


def build(task: TaskInfo, hyperparameters: dict[str, Any]):
    """Factory: the small CNN in the shared torch training loop."""
    from brainbench.registry.torch_training import TorchImageModel, TrainConfig

    channels = tuple(int(c) for c in hyperparameters.get("channels", (8, 16, 32, 64)))
    dropout = float(hyperparameters.get("dropout", 0.3))
    first_stride = int(hyperparameters.get("first_stride", 2))
    if not channels:
        raise ValueError("channels must list at least one block width")
    config = TrainConfig.from_hyperparameters(hyperparameters)
    return TorchImageModel(task, lambda t: network(t, channels, dropout, first_stride), config)

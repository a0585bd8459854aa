"""resnet3d: MONAI's 3D ResNet (10 or 18 layers) on whole images.

3D ResNets (He et al. 2016, made 3D by Hara et al. 2018) from ``monai.networks.nets``, trained
from scratch with the shared brainbench loop (early stopping on the validation partition,
intensity normalisation fitted on training images only, AMP on CUDA).
"""

from __future__ import annotations

from typing import Any

from brainbench.registry.interface import TaskInfo


def network(task: TaskInfo, depth: int = 10, widen_factor: float = 1.0):
    """The MONAI ResNet for ``task`` (``conv1`` with stride 2, as for whole-brain input)."""
    from monai.networks.nets import resnet10, resnet18

    nets = {10: resnet10, 18: resnet18}
    if depth not in nets:
        raise ValueError(f"depth must be 10 or 18, got {depth}")
    return nets[depth](
        spatial_dims=3,
        n_input_channels=task.channels,
        num_classes=task.n_outputs,
        conv1_t_stride=2,
        widen_factor=widen_factor,
    )


def build(task: TaskInfo, hyperparameters: dict[str, Any]):
    """Factory: a 3D ResNet in the shared torch training loop."""
    from brainbench.registry.torch_training import TorchImageModel, TrainConfig

    depth = int(hyperparameters.get("depth", 10))
    widen = float(hyperparameters.get("widen_factor", 1.0))
    config = TrainConfig.from_hyperparameters(hyperparameters)
    network(task, depth, widen)  # fail early on a bad depth, before any fit
    return TorchImageModel(task, lambda t: network(t, depth, widen), config)

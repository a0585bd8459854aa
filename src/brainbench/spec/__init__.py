"""The spec language: pydantic models, YAML loading with positions, JSON Schema."""

from brainbench.spec.loading import LoadedSpec, SpecError, expand_env, load_spec
from brainbench.spec.models import (
    CLASSIFICATION_METRICS,
    FORMAT_VERSION,
    LEVELS,
    REGRESSION_METRICS,
    Spec,
)

__all__ = [
    "CLASSIFICATION_METRICS",
    "FORMAT_VERSION",
    "LEVELS",
    "REGRESSION_METRICS",
    "LoadedSpec",
    "Spec",
    "SpecError",
    "expand_env",
    "load_spec",
]

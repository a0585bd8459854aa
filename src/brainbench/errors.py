"""Errors and typed warnings shared by every stage.

A user's mistake raises :class:`UserError` (the CLI prints its one-paragraph message and exits 2);
anything else that escapes is a bug and keeps its traceback. Warnings form one family so users
can filter them and reports can list them.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input: printed as one paragraph, never as a traceback.

    Parameters
    ----------
    message
        What is wrong, naming the file, line or field, and what to do about it.
    exit_code
        Process exit status when the CLI stops on this error (2: input cannot be read).
    """

    def __init__(self, message: str, *, exit_code: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class BrainbenchWarning(UserWarning):
    """Base class of every warning brainbench emits or attaches to a result."""


class SmallSampleWarning(BrainbenchWarning):
    """Too few units for the method's asymptotics (CI or test may be miscalibrated)."""


class FewClustersWarning(BrainbenchWarning):
    """Too few clusters (sites, subjects) for a cluster bootstrap or a random effect."""


class DegenerateResampleWarning(BrainbenchWarning):
    """Some bootstrap resamples left the metric undefined (e.g. one class only)."""


class TiesWarning(BrainbenchWarning):
    """Ties in scores or ranks affect the method."""


class ConvergenceWarning(BrainbenchWarning):
    """An iterative fit (mixed model) did not converge."""


__all__ = [
    "BrainbenchWarning",
    "ConvergenceWarning",
    "DegenerateResampleWarning",
    "FewClustersWarning",
    "SmallSampleWarning",
    "TiesWarning",
    "UserError",
]

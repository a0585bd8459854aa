"""brainbench: trustworthy, reproducible validation of deep-learning models in brain imaging."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("brainbench")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]

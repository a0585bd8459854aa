"""brainbench.runner."""

"""brainbench.validate."""

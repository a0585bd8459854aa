"""brainbench.split."""

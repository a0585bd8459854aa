"""brainbench.report."""

"""brainbench.spec."""

"""brainbench.registry."""

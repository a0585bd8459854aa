"""brainbench.stats."""

"""brainbench.synth."""

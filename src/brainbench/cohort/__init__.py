"""brainbench.cohort."""

"""brainbench.experiments: what ignoring brain-imaging specificities costs, in numbers.

Six reproducible experiments (issue 8). Experiments 1-3 are ordinary brainbench benchmarks
(specs in ``spec/experiments/``, run by the runner, reported by the report generator) on
synthetic cohorts whose truth is known; experiments 4-6 are simulation studies of the
statistics engine:

1. wrong split: session-level vs subject-level split of a longitudinal cohort;
2. late split: feature selection fitted on all data vs on the training folds;
3. site confounding: random split vs leave-site-out and an external site, with the confound
   baseline;
4. CI coverage of the naive, subject-cluster and hierarchical bootstraps;
5. type-I error and power of model comparisons over cross-validation folds;
6. CI width vs test-set size (how many subjects a claim needs).

``python -m brainbench.experiments [--preset quick|full] [--only N] -o reports/experiments``
runs them; :func:`run_experiments` is the Python entry point.
"""

from brainbench.experiments._runner import EXPERIMENTS, run_experiment, run_experiments

__all__ = ["EXPERIMENTS", "run_experiment", "run_experiments"]

"""Spec rules L101-L107 (leakage) and S201-S206 (statistics): they read only the spec.

Leakage types follow Wen et al. 2020, "Convolutional neural networks for classification of
Alzheimer's disease: overview and reproducible evaluation", Medical Image Analysis 63:101694,
doi:10.1016/j.media.2020.101694.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from brainbench.spec.models import (
    LEVELS,
    MEAN_FORM_INTERVALS,
    MEAN_FORM_METRICS,
    STUDENTISED_INTERVALS,
    clusters_out_of_order,
)
from brainbench.validate.findings import Finding, Severity
from brainbench.validate.rule import Rule, SpecContext, register_rule

if TYPE_CHECKING:
    from brainbench.registry.entries import LoadedEntry
    from brainbench.spec.models import Spec

WEN_2020 = "Wen et al. 2020, Medical Image Analysis 63:101694, doi:10.1016/j.media.2020.101694"
NADEAU_BENGIO_2003 = (
    "Nadeau & Bengio 2003, Machine Learning 52:239-281, doi:10.1023/A:1024068626366"
)
BOUCKAERT_FRANK_2004 = (
    "Bouckaert & Frank 2004, PAKDD, LNCS 3056:3-12, doi:10.1007/978-3-540-24775-3_3"
)
HOLM_1979 = "Holm 1979, Scandinavian Journal of Statistics 6:65-70"
BH_1995 = "Benjamini & Hochberg 1995, JRSS B 57:289-300, doi:10.1111/j.2517-6161.1995.tb02031.x"
BOUTHILLIER_2021 = "Bouthillier et al. 2021, MLSys 3, arXiv:2103.03098"
SARAVANAN_2020 = (
    "Saravanan et al. 2020, eLife 9:e54880 (hierarchical bootstrap), doi:10.7554/eLife.54880"
)
EFRON_TIBSHIRANI_1993 = "Efron & Tibshirani 1993, An Introduction to the Bootstrap, ch. 13 and 19"
KAUFMAN_2012 = (
    "Kaufman et al. 2012, Leakage in data mining: formulation, detection, and avoidance, ACM "
    "TKDD 6(4):15, doi:10.1145/2382577.2382579"
)
KAPOOR_NARAYANAN_2023 = (
    "Kapoor & Narayanan 2023, Leakage and the reproducibility crisis in machine-learning-based "
    "science, Patterns 4(9):100804, doi:10.1016/j.patter.2023.100804"
)
METRICS_RELOADED = (
    "Maier-Hein et al. 2024, Nature Methods 21:195-212, doi:10.1038/s41592-023-02151-z"
)
NIKOLOV_2021 = (
    "Nikolov et al. 2021, Clinically applicable segmentation of head and neck anatomy for "
    "radiotherapy, Journal of Medical Internet Research 23(7):e26151, doi:10.2196/26151"
)


def _level_index(level: str) -> int:
    return LEVELS.index(level)


@register_rule
class SplitBelowSubject(Rule):
    id = "L101"
    name = "split-below-subject"
    summary = "The split cuts below the subject: one subject's data can fall on both sides."
    what = (
        "Flags `splits.group` finer than subject (session or image), and slice- or patch-level "
        "input split by image."
    )
    why = (
        "Sessions, slices and patches of one subject are nearly identical. When they fall in "
        "train and test, the model recognises the subject rather than the disease; Wen et al. "
        "found this 'wrong split' in many published CNN studies, inflating accuracy."
    )
    example = "splits:\n  group: session"
    use_instead = "splits:\n  group: subject      # or site / dataset"
    references = (WEN_2020,)
    hint = "set splits.group to subject (or a coarser level: scanner, site, dataset)"

    def check(self, ctx: SpecContext) -> Iterator[Finding]:
        spec = ctx.loaded.spec
        group = spec.splits.group
        if _level_index(group) > _level_index("subject"):
            yield self.finding(
                ctx,
                f"splits.group is '{group}', finer than subject: sessions or images of one "
                "subject can be in train and test",
                path="splits.group",
            )
        unit = spec.task.input.unit
        if unit in ("slice", "patch") and group == "image":
            yield self.finding(
                ctx,
                f"{unit}s are split by image: {unit}s of one image can be in train and test",
                path="task.input.unit",
            )
        test = spec.splits.test
        if (
            test.method == "leave-group-out"
            and test.group is not None
            and _level_index(test.group) > _level_index("subject")
        ):
            yield self.finding(
                ctx,
                f"leave-group-out holds out '{test.group}', finer than subject",
                path="splits.test.group",
            )


@register_rule
class LateSplit(Rule):
    id = "L102"
    name = "preprocessing-fitted-before-split"
    summary = "Normalisation, feature selection or augmentation statistics are fitted on all data."
    what = (
        "Flags `training.fit_preprocessing_on: all` or `training.feature_selection_on: all`: "
        "statistics computed with the test images."
    )
    why = (
        "A 'late split' lets the test set shape the features (Wen et al. 2020): selecting voxels "
        "or normalising intensities with test images leaks their labels or distribution into "
        "training and inflates performance."
    )
    example = "training:\n  feature_selection_on: all"
    use_instead = "training:\n  feature_selection_on: train"
    references = (WEN_2020,)
    hint = "fit preprocessing and feature selection on the training partition only"

    def check(self, ctx: SpecContext) -> Iterator[Finding]:
        training = ctx.loaded.spec.training
        for name in ("fit_preprocessing_on", "feature_selection_on"):
            if getattr(training, name) == "all":
                yield self.finding(
                    ctx,
                    f"training.{name} is 'all': the test partition shapes the features",
                    path=f"training.{name}",
                )


@register_rule
class NoIndependentTest(Rule):
    id = "L103"
    name = "model-selection-on-test"
    summary = "Model selection (early stopping, hyper-parameters) may look at the test partition."
    what = (
        "Flags `training.model_selection: test`, and selection declared on a validation "
        "partition that the split protocol does not create."
    )
    why = (
        "Choosing the epoch or the hyper-parameters on the test set makes it a validation set: "
        "the reported performance is optimistically biased, 'no independent test set' in "
        "Wen et al. 2020."
    )
    example = "training:\n  model_selection: test"
    use_instead = (
        "splits:\n  validation: {method: kfold, folds: 5}\ntraining:\n  model_selection: validation"
    )
    references = (WEN_2020,)
    hint = "select models on a validation partition drawn from the training data"

    def check(self, ctx: SpecContext) -> Iterator[Finding]:
        spec = ctx.loaded.spec
        if spec.training.model_selection == "test":
            yield self.finding(
                ctx,
                "training.model_selection is 'test': the test set is used to choose models",
                path="training.model_selection",
            )
        elif (
            spec.training.model_selection == "validation"
            and spec.splits.validation.method == "none"
        ):
            yield self.finding(
                ctx,
                "model selection is declared on validation, but splits.validation.method is "
                "'none': selection would have to look at test",
                path="splits.validation.method",
            )


def _registry_entry(model: str) -> LoadedEntry | None:
    """The registry entry of ``model``; None when unknown (the runner names that error)."""
    from brainbench.errors import UserError
    from brainbench.registry.entries import find_entry

    try:
        return find_entry(model)
    except UserError:
        return None


def tested_cohorts(spec: Spec) -> set[str]:
    """Ids of the cohorts whose subjects reach a test partition: the external-test cohorts, and
    the development cohorts unless the test is external only."""
    tested = {c.id for c in spec.cohorts if c.role == "external-test"}
    if spec.splits.test.method != "external":
        tested |= {c.id for c in spec.cohorts if c.role == "development"}
    return tested


@register_rule
class BiasedTransferLearning(Rule):
    id = "L104"
    name = "pretraining-on-test-data"
    summary = "Pretraining data overlap the test or external-test cohorts."
    what = (
        "Flags pretraining cohorts (`training.pretraining`, and the `pretraining.cohorts` that "
        "the registry entries of `protocol.models` declare) that are external-test cohorts, or "
        "development cohorts from which the test partition is drawn. `brainbench run` checks "
        "the entries it runs again, with the dataset names found in the data."
    )
    why = (
        "A network pretrained on the subjects it is later tested on has seen the test images: "
        "'biased transfer learning' in Wen et al. 2020. Registry entries declare their "
        "pretraining data so that this rule can check them."
    )
    example = "training:\n  pretraining: {cohorts: [ext]}   # ext: an external-test cohort"
    use_instead = "training:\n  pretraining: {cohorts: [ukbiobank]}   # disjoint from any test data"
    references = (WEN_2020,)
    hint = "pretrain on data disjoint from every test and external-test cohort"

    def check(self, ctx: SpecContext) -> Iterator[Finding]:
        from brainbench.registry.entries import pretraining_conflicts

        spec = ctx.loaded.spec
        tested = tested_cohorts(spec)
        for i, cohort in enumerate(spec.training.pretraining.cohorts):
            if cohort in tested:
                yield self.finding(
                    ctx,
                    f"pretraining cohort '{cohort}' is also tested (its subjects reach a test "
                    "partition)",
                    path=f"training.pretraining.cohorts.{i}",
                    cohorts=(cohort,),
                )
        for i, model in enumerate(spec.protocol.models):
            entry = _registry_entry(model)
            if entry is None:
                continue
            for cohort in pretraining_conflicts(entry, sorted(tested)):
                yield self.finding(
                    ctx,
                    f"model '{model}' declares pretraining on '{cohort}' ({entry.file}), a "
                    "cohort this benchmark tests",
                    path=f"protocol.models.{i}",
                    hint="choose an entry pretrained on other data",
                    cohorts=(cohort,),
                )


@register_rule
class CohortBothRoles(Rule):
    id = "L105"
    name = "cohort-both-development-and-external"
    summary = "A cohort is both a development and an external-test cohort."
    what = "Flags two cohorts with the same id or the same source path."
    why = (
        "An 'external' test cohort that is also used for development is not external: its "
        "subjects are trained on, and the claim of generalisation is void."
    )
    example = (
        "cohorts:\n  - {id: adni, role: development, source: {format: bids, path: data/ADNI}}\n"
        "  - {id: adni-ext, role: external-test, source: {format: bids, path: data/ADNI}}"
    )
    use_instead = "Use a cohort acquired independently (another study, other sites) as external."
    references = (WEN_2020,)
    hint = "give each cohort one role and its own data"

    def check(self, ctx: SpecContext) -> Iterator[Finding]:
        cohorts = ctx.loaded.spec.cohorts
        seen_ids: dict[str, int] = {}
        seen_paths: dict[str, int] = {}
        for i, cohort in enumerate(cohorts):
            if cohort.id in seen_ids:
                yield self.finding(
                    ctx,
                    f"cohort id '{cohort.id}' is declared twice (cohorts.{seen_ids[cohort.id]})",
                    path=f"cohorts.{i}.id",
                )
            seen_ids.setdefault(cohort.id, i)
            key = cohort.source.path.rstrip("/")
            if key in seen_paths:
                other = cohorts[seen_paths[key]]
                if other.role != cohort.role:
                    yield self.finding(
                        ctx,
                        f"cohorts '{other.id}' ({other.role}) and '{cohort.id}' ({cohort.role}) "
                        f"read the same source '{cohort.source.path}'",
                        path=f"cohorts.{i}.source.path",
                        cohorts=(other.id, cohort.id),
                    )
            seen_paths.setdefault(key, i)


@register_rule
class TunedOnTest(Rule):
    id = "L106"
    name = "ensemble-or-threshold-tuned-on-test"
    summary = "Ensemble weights or decision thresholds are tuned on the test partition."
    what = "Flags `training.ensemble_tuned_on: test` or `training.thresholds_tuned_on: test`."
    why = (
        "Weights or thresholds chosen with test labels are fitted parameters: the test set "
        "is no longer independent (a leakage type described in the ClinicaDL tutorials of "
        "Wen, Thibeau-Sutre et al.)."
    )
    example = "training:\n  thresholds_tuned_on: test"
    use_instead = "training:\n  thresholds_tuned_on: validation"
    references = (WEN_2020,)
    hint = "tune ensemble weights and thresholds on validation"

    def check(self, ctx: SpecContext) -> Iterator[Finding]:
        training = ctx.loaded.spec.training
        for name in ("ensemble_tuned_on", "thresholds_tuned_on"):
            if getattr(training, name) == "test":
                yield self.finding(ctx, f"training.{name} is 'test'", path=f"training.{name}")


@register_rule
class TargetAsCovariate(Rule):
    id = "L107"
    name = "target-reaches-model-as-covariate"
    summary = "The target, or a column it is derived from, reaches a model as a covariate."
    what = (
        "Flags a model of `protocol.models` whose registry entry declares that it reads a "
        "covariate (its `covariates` hyper-parameter) carrying the target: the target column "
        "itself or a column it is derived from (e.g. `age` in a brain-age regression, the "
        "diagnosis column of a conversion label of `labels`). Warns "
        "when the target is the source of a hierarchy level, whose ids reach every model. "
        "Flags a covariate declared in `covariates` that carries the target: for a diagnosis "
        "target (or a label derived from one) the MMSE and CDR scores that define it, for a "
        "time-derived label its source column and months; a waiver with a reason lets it "
        "reach the models. "
        "The runner withholds such covariates from every model in any case and records a "
        "deviation in provenance.json."
    )
    why = (
        "A model handed its own target as an input predicts it perfectly: the confound "
        "baseline of a brain-age benchmark given `age` reaches MAE 0 and ranks first in every "
        "bootstrap resample. A column the target is computed from (the dates of a conversion "
        "label, the age a 'brain-age gap' is derived from) leaks it just as well. Features "
        "that are proxies of the outcome are leakage in the taxonomies of Kaufman et al. 2012 "
        "and Kapoor & Narayanan 2023."
    )
    example = (
        "task: {type: regression, target: age}\n"
        "protocol:\n  models: [demographics-logreg]   # reads covariates [age, sex]"
    )
    use_instead = (
        "protocol:\n  models: [voxel-linear, resnet3d]   # image models; for a confound "
        "baseline, a model reading only covariates that are not the target"
    )
    references = (KAUFMAN_2012, KAPOOR_NARAYANAN_2023)
    hint = (
        "remove the model from protocol.models; for a confound baseline, use covariates that "
        "do not carry the target"
    )

    def check(self, ctx: SpecContext) -> Iterator[Finding]:
        from brainbench.validate.target_proxies import (
            entry_covariates,
            leaking_covariates,
            read_leaks,
        )

        spec = ctx.loaded.spec
        target = spec.task.target
        for i, model in enumerate(spec.protocol.models):
            entry = _registry_entry(model)
            if entry is None:
                continue
            for cov, columns in read_leaks(spec, entry_covariates(entry.entry)).items():
                yield self.finding(
                    ctx,
                    f"model '{model}' reads covariate '{cov}', which carries the target "
                    f"'{target}' (column {', '.join(sorted(columns))}): it would predict the "
                    "target from itself",
                    path=f"protocol.models.{i}",
                )
        leaking = leaking_covariates(spec)
        for k, cov in enumerate(getattr(spec, "covariates", ())):
            if cov.name in leaking:
                yield self.finding(
                    ctx,
                    f"covariate '{cov.name}' carries the target '{target}' (it defines the "
                    "label: MMSE and CDR ranges define the clinical diagnosis, a derived label "
                    "is read from its source column): every model would receive the label's "
                    "definition. Remove it, or waive L107 with the reason it may stay",
                    path=f"covariates.{k}",
                )
        for cov in leaking:
            if cov in LEVELS:
                yield self.finding(
                    ctx,
                    f"the target '{target}' is the source of the {cov} ids, which every model "
                    "receives as a covariate: the runner withholds them",
                    path=f"hierarchy.{cov}" if getattr(spec.hierarchy, cov) else "task.target",
                    severity=Severity.WARNING,
                )


@register_rule
class NaivePairedTTest(Rule):
    id = "S201"
    name = "naive-paired-t-test-over-folds"
    summary = "Models are compared by a naive paired t-test over cross-validation folds."
    what = "Flags `protocol.comparison.method: paired-t`."
    why = (
        "Training sets of CV folds overlap, so fold scores are correlated and the naive "
        "variance is too small: the test is anti-conservative (type-I error far above alpha). "
        "Nadeau & Bengio's correction multiplies the variance by (1/J + n_test/n_train)."
    )
    example = "protocol:\n  comparison: {method: paired-t}"
    use_instead = "protocol:\n  comparison: {method: corrected-t}   # or corrected-repeated-kfold-t"
    references = (NADEAU_BENGIO_2003, BOUCKAERT_FRANK_2004)
    hint = "use corrected-t, corrected-repeated-kfold-t, bootstrap or mixed"

    def check(self, ctx: SpecContext) -> Iterator[Finding]:
        comparison = ctx.loaded.spec.protocol.comparison
        if comparison is not None and comparison.method == "paired-t":
            yield self.finding(
                ctx,
                "comparison by a naive paired t-test over folds (variance underestimated)",
                path="protocol.comparison.method",
            )


@register_rule
class NoMultiplicityCorrection(Rule):
    id = "S202"
    name = "several-comparisons-uncorrected"
    summary = "Several models are compared without a multiplicity correction."
    what = (
        "Flags `protocol.comparison.correction: none` when more than two models are compared "
        "(or the number of models is not declared)."
    )
    why = (
        "With k models, k(k-1)/2 pairwise tests at alpha each make a false 'significant' "
        "difference likely. Holm controls the family-wise error; Benjamini-Hochberg the FDR."
    )
    example = "protocol:\n  comparison: {method: corrected-t, correction: none}"
    use_instead = "protocol:\n  comparison: {method: corrected-t, correction: holm}"
    references = (HOLM_1979, BH_1995)
    hint = "set protocol.comparison.correction to holm or bh"

    def check(self, ctx: SpecContext) -> Iterator[Finding]:
        protocol = ctx.loaded.spec.protocol
        comparison = protocol.comparison
        if comparison is None or comparison.correction != "none":
            return
        n_models = len(protocol.models)
        if n_models == 2:
            return
        counted = f"{n_models} models" if n_models else "an undeclared number of models"
        yield self.finding(
            ctx,
            f"{counted} compared with correction 'none'",
            path="protocol.comparison.correction",
        )


@register_rule
class TooFewSeeds(Rule):
    id = "S203"
    name = "too-few-seeds-for-comparison"
    summary = "Fewer than 3 seeds per model while models are compared."
    what = "Flags `protocol.seeds` below 3 when `protocol.comparison` is declared."
    why = (
        "Initialisation and data order change a deep model's test score as much as many "
        "architectural changes (Bouthillier et al. 2021); one seed cannot tell the model "
        "from its luck."
    )
    example = "protocol:\n  seeds: 1\n  comparison: {method: corrected-t}"
    use_instead = "protocol:\n  seeds: 5"
    references = (BOUTHILLIER_2021,)
    hint = "train each model with at least 3 seeds (5 or more is better)"
    severity = Severity.ERROR

    def check(self, ctx: SpecContext) -> Iterator[Finding]:
        protocol = ctx.loaded.spec.protocol
        if protocol.comparison is not None and protocol.seeds < 3:
            yield self.finding(
                ctx,
                f"{protocol.seeds} seed(s) per model: training variance is unmeasured",
                path="protocol.seeds",
            )


@register_rule
class ClustersIgnored(Rule):
    id = "S204"
    name = "ci-ignores-clusters"
    summary = "Confidence intervals ignore the nesting of the data."
    what = (
        "Flags intervals that treat sessions or images of one subject as independent (no "
        "`subject` cluster while the unit of analysis is finer than subject), clusters "
        "naming a level the hierarchy does not define, and clusters not listed outer first "
        "(e.g. [subject, site], which the engine refuses)."
    )
    why = (
        "Observations nested in subjects and sites are correlated; ignoring the nesting makes "
        "intervals too narrow (Saravanan et al. 2020 report false-positive rates above 45% at "
        "a nominal 5%). A cluster (hierarchical) bootstrap resamples subjects, then sites."
    )
    example = "protocol:\n  unit_of_analysis: session\n  confidence: {method: bootstrap}"
    use_instead = (
        "protocol:\n  confidence: {method: hierarchical-bootstrap, clusters: [site, subject]}"
    )
    references = (SARAVANAN_2020,)
    hint = "use method hierarchical-bootstrap with clusters including subject (and site)"

    def check(self, ctx: SpecContext) -> Iterator[Finding]:
        spec = ctx.loaded.spec
        confidence = spec.protocol.confidence
        unit = spec.protocol.unit_of_analysis
        nested = unit in ("image", "session")
        if nested and spec.hierarchy.session is None and unit == "session":
            nested = False
        if nested and (
            confidence.method != "hierarchical-bootstrap" or "subject" not in confidence.clusters
        ):
            yield self.finding(
                ctx,
                f"unit of analysis is '{unit}' but the interval does not resample subjects: "
                "repeated measures are treated as independent",
                path="protocol.confidence",
            )
        if confidence.method == "hierarchical-bootstrap" and not confidence.clusters:
            yield self.finding(
                ctx,
                "hierarchical-bootstrap without clusters resamples units independently",
                path="protocol.confidence.clusters",
            )
        yield from self._interval_needs(ctx)
        if order := clusters_out_of_order(confidence.clusters):
            yield self.finding(
                ctx,
                f"clusters are listed outer first, but [{', '.join(confidence.clusters)}] puts a "
                f"finer level before a coarser one (the coarser would be nested in it): give "
                f"[{', '.join(order)}]",
                path="protocol.confidence.clusters",
            )
        for i, level in enumerate(confidence.clusters):
            if level not in ("subject", "image") and getattr(spec.hierarchy, level, None) is None:
                yield self.finding(
                    ctx,
                    f"cluster level '{level}' is not defined in `hierarchy`",
                    path=f"protocol.confidence.clusters.{i}",
                    hint=f"map hierarchy.{level} to a column or sidecar field",
                )

    def _interval_needs(self, ctx: SpecContext) -> Iterator[Finding]:
        """A studentised interval needs clusters to studentise over; the wild cluster
        bootstrap needs metrics that are weighted means of per-unit values."""
        protocol = ctx.loaded.spec.protocol
        confidence = protocol.confidence
        interval = confidence.interval
        if interval in STUDENTISED_INTERVALS and (
            confidence.method != "hierarchical-bootstrap" or not confidence.clusters
        ):
            yield self.finding(
                ctx,
                f"the {interval} interval studentises over the outer cluster level, but no "
                "cluster level is resampled (method hierarchical-bootstrap with clusters, "
                "e.g. [site, subject])",
                path="protocol.confidence.interval",
            )
        if interval in MEAN_FORM_INTERVALS:
            metrics = dict.fromkeys([protocol.primary_metric, *protocol.metrics])
            other = [m for m in metrics if m not in MEAN_FORM_METRICS]
            if other:
                yield self.finding(
                    ctx,
                    f"the {interval} interval applies to weighted-mean metrics "
                    f"({', '.join(MEAN_FORM_METRICS)}), not to {', '.join(other)}",
                    path="protocol.confidence.interval",
                    hint="use interval: calibrated (it picks a method per metric) or "
                    "cluster-bootstrap-t",
                )


def minimum_resamples(level: float) -> int:
    """Smallest bootstrap size for a percentile interval at ``level``.

    At least 1000 resamples (Efron & Tibshirani 1993, ch. 19), and at least 50 resamples beyond
    each percentile, so the tail quantiles are not read from a handful of values:
    ``B >= 50 / ((1 - level) / 2)`` (2000 at 95%, 10000 at 99%).
    """
    tail = (1.0 - level) / 2.0
    return max(1000, round(50.0 / tail))


@register_rule
class TooFewResamples(Rule):
    id = "S205"
    name = "too-few-bootstrap-resamples"
    summary = "Too few bootstrap resamples for the stated confidence level."
    what = (
        "Flags bootstrap intervals with fewer resamples than max(1000, 50 / ((1 - level) / 2)): "
        "2000 at 95%, 10000 at 99%."
    )
    why = (
        "Percentile and BCa limits are tail quantiles of the bootstrap distribution; with few "
        "resamples they rest on a handful of values and vary from run to run."
    )
    example = "protocol:\n  confidence: {method: hierarchical-bootstrap, resamples: 200}"
    use_instead = "protocol:\n  confidence: {method: hierarchical-bootstrap, resamples: 10000}"
    references = (EFRON_TIBSHIRANI_1993,)
    hint = "raise protocol.confidence.resamples (10000 is cheap with brainbench)"

    def check(self, ctx: SpecContext) -> Iterator[Finding]:
        confidence = ctx.loaded.spec.protocol.confidence
        if confidence.method == "delong":
            return
        needed = minimum_resamples(confidence.level)
        if confidence.resamples < needed:
            yield self.finding(
                ctx,
                f"{confidence.resamples} resamples for a {confidence.level:.0%} interval "
                f"(needs at least {needed})",
                path="protocol.confidence.resamples",
            )


@register_rule
class AccuracyAsPrimary(Rule):
    id = "S206"
    name = "accuracy-as-primary-metric"
    summary = "Accuracy is the primary metric of a classification task."
    what = "Flags `protocol.primary_metric: accuracy`."
    why = (
        "Accuracy rewards predicting the majority class and is not comparable across cohorts "
        "with different prevalence; Metrics Reloaded recommends balanced accuracy or expected "
        "cost, with AUROC for discrimination, under class imbalance."
    )
    example = "protocol:\n  primary_metric: accuracy"
    use_instead = "protocol:\n  primary_metric: balanced_accuracy"
    references = (METRICS_RELOADED,)
    hint = "use balanced_accuracy (or auroc) as the primary metric"

    def check(self, ctx: SpecContext) -> Iterator[Finding]:
        if ctx.loaded.spec.protocol.primary_metric == "accuracy":
            yield self.finding(
                ctx, "accuracy is the primary metric", path="protocol.primary_metric"
            )


@register_rule
class CorrectedTWithoutResampledTests(Rule):
    id = "S207"
    name = "corrected-t-without-resampled-test-sets"
    summary = "A corrected resampled t-test is declared, but every run predicts the same test set."
    what = (
        "Flags `corrected-t` or `corrected-repeated-kfold-t` when the test partition is a single "
        "holdout or the external cohorts: there are no train/test resamples to average over."
    )
    why = (
        "Nadeau & Bengio's correction (variance factor 1/J + n_test/n_train) and Bouckaert & "
        "Frank's repeated k-fold version model the variability of J resampled test sets. With one "
        "fixed test set the runs differ only by seed, the correction has no meaning, and the "
        "test would mistake training noise for sampling variance of the test subjects."
    )
    example = (
        "splits:\n  test: {method: holdout, size: 0.2}\n"
        "protocol:\n  comparison: {method: corrected-t}"
    )
    use_instead = (
        "protocol:\n  comparison: {method: bootstrap}   # paired hierarchical bootstrap of the "
        "difference on the one test set (or a kfold test with corrected-t)"
    )
    references = (NADEAU_BENGIO_2003, BOUCKAERT_FRANK_2004)
    hint = (
        "use bootstrap (paired, hierarchical) or mixed on a single test set; corrected-t needs "
        "a kfold test"
    )

    def check(self, ctx: SpecContext) -> Iterator[Finding]:
        spec = ctx.loaded.spec
        comparison = spec.protocol.comparison
        if comparison is None:
            return
        if comparison.method not in ("corrected-t", "corrected-repeated-kfold-t"):
            return
        test = spec.splits.test
        if test.method in ("holdout", "external"):
            yield self.finding(
                ctx,
                f"{comparison.method} needs resampled test sets, but the test partition is "
                f"a single {test.method} set",
                path="protocol.comparison.method",
            )


@register_rule
class SegmentationMetricsUnfit(Rule):
    id = "S208"
    name = "segmentation-metrics-unfit-for-the-problem"
    summary = "The segmentation metrics do not fit the problem (Metrics Reloaded)."
    what = (
        "Flags, for a segmentation task: overlap metrics (dice, iou) without a boundary metric "
        "(hd95, assd, nsd), an error when a label is a lesion (small, instance-like "
        "structures); `hd` (the maximum Hausdorff distance) instead of its 95th percentile "
        "`hd95`; `nsd` without `tolerance_mm` (an error: the metric is undefined without it); "
        "a lesion label (`kind: lesion`) without the detection metric `lesion-f1`."
    )
    why = (
        "Metrics Reloaded (Maier-Hein et al. 2024) chooses segmentation metrics from the "
        "problem's fingerprint: Dice ignores where the boundary is and is unstable for small "
        "structures (one missed voxel of a 10-voxel lesion costs 0.1), so it is paired with a "
        "boundary metric; the maximum Hausdorff distance is decided by a single outlier voxel, "
        "hence its 95th percentile; the normalised surface distance counts boundary points "
        "within a tolerance that must be stated (Nikolov et al. 2021); and for instance-like "
        "targets (lesions) a per-image overlap hides missed and spurious lesions, which a "
        "lesion-wise detection F1 reports."
    )
    example = (
        "task:\n  labels: {4: {name: wmh, kind: lesion}}\n"
        "protocol:\n  primary_metric: dice\n  metrics: [hd, nsd]"
    )
    use_instead = (
        "protocol:\n  primary_metric: dice\n"
        "  metrics: [hd95, {name: nsd, tolerance_mm: 1.0}, abs-volume-error, lesion-f1]"
    )
    references = (METRICS_RELOADED, NIKOLOV_2021)
    hint = "choose overlap, boundary (hd95, nsd with tolerance_mm) and, for lesions, lesion-f1"

    def check(self, ctx: SpecContext) -> Iterator[Finding]:
        spec = ctx.loaded.spec
        if spec.task.type != "segmentation":
            return
        metrics = spec.segmentation_metrics()
        names = {m.name for m in metrics}
        where = self._where(spec)
        listed = "protocol.metrics" if spec.protocol.metrics else "protocol.primary_metric"
        lesions = [x.name for x in spec.task.labels or () if x.kind == "lesion"]
        if names & {"dice", "iou"} and not names & {"hd95", "assd", "nsd"}:
            small = f" and label(s) {', '.join(lesions)} are small lesions" if lesions else ""
            yield self.finding(
                ctx,
                f"overlap metrics ({', '.join(sorted(names & {'dice', 'iou'}))}) without a "
                f"boundary metric{small}: Dice says nothing of where the boundary lies and is "
                "unstable for small structures; add hd95 or {name: nsd, tolerance_mm: ...}",
                path=listed,
                severity=Severity.ERROR if lesions else Severity.WARNING,
            )
        if "hd" in names:
            yield self.finding(
                ctx,
                "hd is the maximum Hausdorff distance, set by a single outlier voxel: use hd95 "
                "(its 95th percentile)",
                path=where["hd"],
                severity=Severity.WARNING,
            )
        for m in metrics:
            if m.name == "nsd" and m.tolerance_mm is None:
                yield self.finding(
                    ctx,
                    "nsd without a tolerance: the normalised surface distance counts boundary "
                    "points within a tolerance that must be declared; write {name: nsd, "
                    "tolerance_mm: <mm>} (e.g. the inter-rater boundary variability)",
                    path=where["nsd"],
                )
        if lesions and "lesion-f1" not in names:
            yield self.finding(
                ctx,
                f"label(s) {', '.join(lesions)} are lesions (instance-like) but no detection "
                "metric is declared: add lesion-f1 so that missed and spurious lesions show",
                path=listed,
                severity=Severity.WARNING,
            )

    @staticmethod
    def _where(spec: Spec) -> dict[str, str]:
        """The spec path of each metric name: its entry in protocol.metrics, else the
        primary metric."""
        out: dict[str, str] = {}
        for i, m in enumerate(spec.protocol.metrics):
            out.setdefault(m if isinstance(m, str) else m.name, f"protocol.metrics.{i}")
        out.setdefault(spec.protocol.primary_metric, "protocol.primary_metric")
        return out

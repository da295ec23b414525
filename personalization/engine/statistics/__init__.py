"""Experiment statistics on aggregates: what the results dashboard and API say about variants.

Pure Python, numpy and scipy, no Django. Every function reads per-variant sums
(``VariantSums``: visitors, the sum of outcomes, the sum of their squares, and optionally the
CUPED covariate's sums), the shape the rollup tables hold, and returns frozen dataclasses.
One module per question: ``frequentist`` (fixed-horizon z and Welch tests, delta-method
lift), ``sequential`` (always-valid confidence sequences), ``bayesian`` (chance to beat,
expected loss), ``cuped``, ``srm`` (sample-ratio mismatch), ``multiple`` (Holm,
Benjamini-Hochberg) and ``results``, which runs them all for one metric and words a verdict.
"""

from .aggregates import METRIC_KINDS, MetricKind, PreExposureSums, VariantSums
from .bayesian import Decision, beta_bernoulli, gaussian_decision, gaussian_means
from .cuped import CupedAdjustment, cuped_adjust
from .frequentist import (
    Effect,
    Moments,
    difference,
    mean_interval,
    moments,
    proportions_test,
    rate_interval,
    relative_difference,
    welch_df,
    welch_test,
)
from .multiple import Correction, benjamini_hochberg, holm, p_values_adjust
from .results import Comparison, ExperimentResults, VariantSummary, experiment_compare, variant_summary, verdict_words
from .sequential import (
    SEQUENTIAL_TUNING_DEFAULT,
    always_valid_p_value,
    confidence_sequence,
    sequential_halfwidth,
    sequential_rho,
)
from .srm import SRM_THRESHOLD, SampleRatio, sample_ratio_check

__all__ = [
    "METRIC_KINDS",
    "SEQUENTIAL_TUNING_DEFAULT",
    "SRM_THRESHOLD",
    "Comparison",
    "Correction",
    "CupedAdjustment",
    "Decision",
    "Effect",
    "ExperimentResults",
    "MetricKind",
    "Moments",
    "PreExposureSums",
    "SampleRatio",
    "VariantSummary",
    "VariantSums",
    "always_valid_p_value",
    "benjamini_hochberg",
    "beta_bernoulli",
    "confidence_sequence",
    "cuped_adjust",
    "difference",
    "experiment_compare",
    "gaussian_decision",
    "gaussian_means",
    "holm",
    "mean_interval",
    "moments",
    "p_values_adjust",
    "proportions_test",
    "rate_interval",
    "relative_difference",
    "sample_ratio_check",
    "sequential_halfwidth",
    "sequential_rho",
    "variant_summary",
    "verdict_words",
    "welch_df",
    "welch_test",
]

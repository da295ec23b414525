"""Tailor's decision engine: pure Python, no Django.

A *policy* receives the live candidates of a slot, the visitor's ``Context`` and
a random source, and returns a ``Choice``: the chosen variant key and the
probability with which it was chosen (its propensity). Everything here is
importable and testable without configuring Django.
"""

from .bandits import Allocation, ArmStats, BanditPolicy, allocation_compute, stats_discount
from .context import Context
from .estimators import (
    DirectMethod,
    DoublyRobust,
    Estimate,
    InversePropensityScoring,
    SelfNormalizedIPS,
    better,
    evaluate_all,
    not_worse,
    paired_difference,
    shown_worse,
)
from .model_policy import ModelPolicy
from .policies import (
    Candidate,
    Choice,
    FixedPolicy,
    NoCandidatesError,
    Policy,
    RulesPolicy,
    WeightedSplitPolicy,
    build_policy,
)
from .segments import SegmentSpec

__all__ = [
    "Allocation",
    "ArmStats",
    "BanditPolicy",
    "allocation_compute",
    "stats_discount",
    "Candidate",
    "Choice",
    "Context",
    "DirectMethod",
    "DoublyRobust",
    "Estimate",
    "InversePropensityScoring",
    "ModelPolicy",
    "SelfNormalizedIPS",
    "better",
    "evaluate_all",
    "not_worse",
    "paired_difference",
    "shown_worse",
    "FixedPolicy",
    "NoCandidatesError",
    "Policy",
    "RulesPolicy",
    "SegmentSpec",
    "WeightedSplitPolicy",
    "build_policy",
]

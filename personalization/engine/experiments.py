"""Experiments and holdouts: which visitors are assigned, and to which arm, by hashing alone.

An experiment takes a sticky ``share`` of a slot's visitors and splits them between its arms
by weight; the rest are served by the slot's own strategy. Two independent hashes of
(experiment salt, visitor id) decide, so the same visitor gets the same answer in every
process and release: one whether they are in the experiment at all, the other which arm.
Being independent, the arm a visitor gets does not depend on the share: raising the share
adds visitors to every arm in proportion and moves nobody between arms. The propensity logged
is the arm's share within the experiment, the probability of that arm for a visitor in it.

A holdout is the same idea with one arm: a sticky share of a slot's visitors always gets the
slot's default, so what personalization adds can be measured against doing nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .hashing import unit_hash
from .policies import Choice

HOLDOUT_MAX_SHARE = 0.5


def holdout_contains(slot_key: str, visitor_id: str, share: float) -> bool:
    """Whether a visitor is in the slot's holdout (sticky); never for an anonymous call."""
    if not visitor_id or share <= 0:
        return False
    return unit_hash("holdout", slot_key, visitor_id) < share


@dataclass(frozen=True, slots=True)
class ExperimentAssignment:
    """One experiment's sticky assignment: ``assign(visitor_id)`` returns the arm, or None if outside it.

    ``starts_at``/``ends_at`` are POSIX seconds (None: open), so a scheduled experiment starts and
    an ended one stops on time without the catalog being rebuilt.
    """

    key: str
    share: float
    arms: tuple[str, ...]
    weights: tuple[float, ...] = ()
    starts_at: float | None = None
    ends_at: float | None = None

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError("key: an experiment needs a key (its hash salt)")
        if not (math.isfinite(self.share) and 0 < self.share <= 1):
            raise ValueError(f"share: must be above 0 and at most 1, got {self.share!r}")
        if len(self.arms) < 2:
            raise ValueError(f"arms: an experiment needs at least two variants, got {list(self.arms)!r}")
        if len(set(self.arms)) != len(self.arms):
            raise ValueError(f"arms: variants must be distinct, got {list(self.arms)!r}")
        if not self.weights:
            object.__setattr__(self, "weights", (1.0,) * len(self.arms))
        if len(self.weights) != len(self.arms):
            raise ValueError(f"weights: {len(self.weights)} weights for {len(self.arms)} variants")
        if any(not (math.isfinite(w) and w > 0) for w in self.weights):
            raise ValueError(f"weights: every weight must be a number above 0, got {list(self.weights)!r}")

    @property
    def control(self) -> str:
        return self.arms[0]

    @property
    def split(self) -> dict[str, float]:
        """Each arm's share within the experiment: what the sample-ratio check expects."""
        total = sum(self.weights)
        return {arm: weight / total for arm, weight in zip(self.arms, self.weights, strict=True)}

    def running(self, at: float) -> bool:
        return (self.starts_at is None or at >= self.starts_at) and (self.ends_at is None or at < self.ends_at)

    def contains(self, visitor_id: str) -> bool:
        return bool(visitor_id) and unit_hash("experiment", self.key, visitor_id) < self.share

    def assign(self, visitor_id: str) -> Choice | None:
        """The visitor's arm with its propensity, or None: anonymous, or outside the experiment's share."""
        if not self.contains(visitor_id):
            return None
        total = sum(self.weights)
        point = unit_hash("experiment-arm", self.key, visitor_id) * total
        cumulative = 0.0
        for arm, weight in zip(self.arms, self.weights, strict=True):
            cumulative += weight
            if point < cumulative:
                return Choice(arm, weight / total, f"experiment:{self.key}")
        # float rounding at the top edge
        return Choice(self.arms[-1], self.weights[-1] / total, f"experiment:{self.key}")

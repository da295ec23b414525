"""Policies: how one variant is chosen among a slot's live candidates.

Every policy has the same shape, after Open Bandit Pipeline: given candidates,
a ``Context`` and an injected ``random.Random``, ``choose`` returns a
``Choice`` with the variant key and the probability with which this policy
would have chosen it. That propensity is logged with every decision; without
it no unbiased learning or offline evaluation is possible later.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from .context import Context
from .hashing import unit_hash
from .segments import SegmentSpec


class NoCandidatesError(ValueError):
    """The slot has no live variant to choose from."""


@dataclass(frozen=True, slots=True)
class Candidate:
    key: str
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class Choice:
    key: str
    propensity: float
    reason: str = ""  # why, in words an editor reads in the log: "segment:mobile", "default"
    version: str = ""  # what the policy chose with, when it changes between calls (a bandit's allocation)


class Policy(Protocol):
    """What serving reads from a policy: its name and version, the model it serves, and ``choose``.

    ``model_version`` is the version of the trained model a policy chooses with ("" for a policy
    without one); serving logs it in place of ``version`` and keys cached scores by it.
    """

    name: ClassVar[str]
    version: ClassVar[str]

    @property
    def model_version(self) -> str: ...

    def choose(self, candidates: Sequence[Candidate], context: Context, rng: random.Random) -> Choice: ...


def _require(candidates: Sequence[Candidate]) -> None:
    if not candidates:
        raise NoCandidatesError("The slot has no live variants.")


def _default_choice(candidates: Sequence[Candidate], default_key: str) -> Choice:
    for candidate in candidates:
        if candidate.key == default_key:
            return Choice(candidate.key, 1.0, "default")
    # The default is paused or gone: fall back to the first live variant, deterministically.
    return Choice(candidates[0].key, 1.0, "first-live")


@dataclass(frozen=True, slots=True)
class FixedPolicy:
    """Always the default variant."""

    name: ClassVar[str] = "fixed"
    version: ClassVar[str] = "1"
    model_version: ClassVar[str] = ""
    default_key: str

    def choose(self, candidates: Sequence[Candidate], context: Context, rng: random.Random) -> Choice:
        _require(candidates)
        return _default_choice(candidates, self.default_key)


@dataclass(frozen=True, slots=True)
class RulesPolicy:
    """The first rule, in the slot's order, whose segment matches; else the default.

    Order is explicit so that a visitor in two segments always gets the same,
    predictable variant.
    """

    name: ClassVar[str] = "rules"
    version: ClassVar[str] = "1"
    model_version: ClassVar[str] = ""
    default_key: str
    rules: tuple[tuple[SegmentSpec, str], ...] = ()

    def choose(self, candidates: Sequence[Candidate], context: Context, rng: random.Random) -> Choice:
        _require(candidates)
        live = {c.key for c in candidates}
        for segment, variant_key in self.rules:
            if variant_key in live and segment.matches(context):
                return Choice(variant_key, 1.0, f"segment:{segment.key}")
        return _default_choice(candidates, self.default_key)


@dataclass(frozen=True, slots=True)
class WeightedSplitPolicy:
    """Split traffic by weight, sticky per visitor and slot.

    The visitor's bucket is a hash of (salt, visitor id), so the same visitor
    sees the same variant on every request and in every process; the
    propensity is the chosen variant's share of the total weight. Anonymous
    calls without a visitor id fall back to the random source.
    """

    name: ClassVar[str] = "split"
    version: ClassVar[str] = "1"
    model_version: ClassVar[str] = ""
    salt: str

    def choose(self, candidates: Sequence[Candidate], context: Context, rng: random.Random) -> Choice:
        _require(candidates)
        weighted = [c for c in candidates if c.weight > 0] or [Candidate(c.key, 1.0) for c in candidates]
        total = sum(c.weight for c in weighted)
        point = (unit_hash(self.salt, context.visitor_id) if context.visitor_id else rng.random()) * total
        cumulative = 0.0
        for candidate in weighted:
            cumulative += candidate.weight
            if point < cumulative:
                return Choice(candidate.key, candidate.weight / total, "split")
        last = weighted[-1]  # float rounding at the top edge
        return Choice(last.key, last.weight / total, "split")


PolicyFactory = Callable[..., Policy]

POLICY_FACTORIES: dict[str, PolicyFactory] = {
    "fixed": lambda *, default_key, **_: FixedPolicy(default_key=default_key),
    "rules": lambda *, default_key, rules=(), **_: RulesPolicy(default_key=default_key, rules=tuple(rules)),
    "split": lambda *, slot_key, **_: WeightedSplitPolicy(salt=slot_key),
}


def build_policy(strategy: str, **config: Any) -> Policy:
    """Build the policy for a strategy name from its configuration.

    New strategies (bandits, models) register a factory in ``POLICY_FACTORIES``.
    """
    try:
        factory = POLICY_FACTORIES[strategy]
    except KeyError:
        raise ValueError(f"Unknown strategy {strategy!r}; known: {', '.join(sorted(POLICY_FACTORIES))}.") from None
    return factory(**config)

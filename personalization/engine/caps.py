"""Saturation: frequency caps and novelty decay, per visitor and variant, applied before a policy chooses.

A visitor's *exposure history* of a slot holds, per variant, how often it was served to them today,
in this visit and since they last clicked or converted on it ("unanswered"). A variant at its daily
or per-visit cap leaves that visitor's candidates before the policy chooses; a variant served
``novelty_after`` times unanswered stays a candidate, but its chance is multiplied by
``novelty_decay`` once per view from then on. The probability logged is that of the final
distribution, so it stays exact. Pure: serving reads and writes the history
(``personalization.serving.exposures``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from .context import Context
from .policies import Candidate, Choice, NoCandidatesError, Policy

RECENT_DECISIONS = 32  # decisions remembered per visitor, for a later click to find its variant


@dataclass(frozen=True, slots=True)
class CapSettings:
    """A slot's saturation settings; 0 switches a cap (or novelty decay) off."""

    per_day: int = 0
    per_visit: int = 0
    novelty_after: int = 0
    novelty_decay: float = 0.5

    def __post_init__(self) -> None:
        for name in ("per_day", "per_visit", "novelty_after"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a whole number of views, 0 or more, got {value!r}.")
        if not (isinstance(self.novelty_decay, int | float) and 0.0 <= self.novelty_decay <= 1.0):
            raise ValueError(f"novelty_decay must lie in [0, 1], got {self.novelty_decay!r}.")

    @property
    def active(self) -> bool:
        """Whether the slot needs its visitors' exposures at all (most slots do not: no cache read for them)."""
        return bool(self.per_day or self.per_visit or self.novelty_after)


@dataclass(frozen=True, slots=True)
class Exposure:
    """One variant's history with one visitor. ``day`` and ``visit`` say which day and visit the counts are of."""

    day: int = 0  # a day number (the site's local date as an ordinal)
    views_day: int = 0
    visit: int = 0  # the visitor's visit count when these views were served (tracking's one definition of a visit)
    views_visit: int = 0
    unanswered: int = 0  # views since the visitor last clicked or converted on this variant

    def views_on(self, day: int) -> int:
        return self.views_day if self.day == day else 0

    def views_in(self, visit: int) -> int:
        return self.views_visit if self.visit == visit else 0

    def viewed(self, *, day: int, visit: int) -> Exposure:
        """The history after one more view on ``day`` in ``visit``."""
        return Exposure(
            day=day,
            views_day=self.views_on(day) + 1,
            visit=visit,
            views_visit=self.views_in(visit) + 1,
            unanswered=self.unanswered + 1,
        )

    def acted(self) -> Exposure:
        return replace(self, unanswered=0)


NEVER_SEEN = Exposure()


def is_capped(exposure: Exposure, caps: CapSettings, *, day: int, visit: int) -> bool:
    return bool(
        (caps.per_day and exposure.views_on(day) >= caps.per_day)
        or (caps.per_visit and exposure.views_in(visit) >= caps.per_visit)
    )


def candidates_allowed(
    candidates: Sequence[Candidate], history: Mapping[str, Exposure], caps: CapSettings, *, day: int, visit: int
) -> tuple[Candidate, ...]:
    """The candidates this visitor may still be shown: those under both caps, in the slot's order."""
    return tuple(c for c in candidates if not is_capped(history.get(c.key, NEVER_SEEN), caps, day=day, visit=visit))


def novelty_weight(exposure: Exposure, caps: CapSettings) -> float:
    """The factor on a variant's chance: 1 until ``novelty_after`` unanswered views, then ``decay`` per view.

    After exactly ``novelty_after`` unanswered views the next showing has ``decay`` times its chance,
    the one after ``decay**2`` times, and so on; a click or conversion brings it back to 1.
    """
    if not caps.novelty_after or exposure.unanswered < caps.novelty_after:
        return 1.0
    return float(caps.novelty_decay ** (exposure.unanswered - caps.novelty_after + 1))


def novelty_weights(
    candidates: Sequence[Candidate], history: Mapping[str, Exposure], caps: CapSettings
) -> dict[str, float]:
    return {c.key: novelty_weight(history.get(c.key, NEVER_SEEN), caps) for c in candidates}


def distribution_reweight(probabilities: Mapping[str, float], weights: Mapping[str, float]) -> dict[str, float]:
    """``p(k) * w(k)``, renormalised; keys left with no chance are dropped. Empty when nothing has any."""
    weighted = {key: p * weights.get(key, 1.0) for key, p in probabilities.items()}
    total = math.fsum(weighted.values())
    if not total > 0.0:
        return {}
    return {key: value / total for key, value in weighted.items() if value > 0.0}


def distribution_draw(distribution: Mapping[str, float], point: float) -> str:
    """The key whose cumulative share covers ``point`` in [0, 1), in the mapping's order."""
    cumulative = 0.0
    key = ""
    for key, probability in distribution.items():
        cumulative += probability
        if point < cumulative:
            return key
    return key  # float rounding at the top edge lands on the last key


def deterministic_chain(
    policy: Policy,
    candidates: Sequence[Candidate],
    weights: Mapping[str, float],
    context: Context,
    rng: random.Random,
) -> tuple[dict[str, float], dict[str, str]]:
    """Novelty for a policy that always makes the same choice (fixed, rules): a chain of its choices.

    Reweighting a certain choice changes nothing, so the policy's choice is kept with its weight
    ``w``, and otherwise the visitor gets what the policy would choose without that variant (kept
    with its own weight, and so on): ``p(c_i) = w_i * prod(1 - w_j, j < i)``, renormalised over the
    chain. A rules slot thus moves a visitor who keeps ignoring their segment's variant on to the
    next matching rule or the default, at the pace the decay sets; with every weight 1 it is the
    policy's own choice, with probability 1.
    """
    remaining = list(candidates)
    chain: dict[str, float] = {}
    reasons: dict[str, str] = {}
    left = 1.0
    while remaining and left > 0.0:
        choice = policy.choose(remaining, context, rng)
        weight = weights.get(choice.key, 1.0)
        chain[choice.key], reasons[choice.key] = left * weight, choice.reason
        left *= 1.0 - weight
        remaining = [c for c in remaining if c.key != choice.key]
    return distribution_reweight(chain, {}), reasons


def policy_distribution(
    policy: Policy,
    candidates: Sequence[Candidate],
    weights: Mapping[str, float],
    context: Context,
    rng: random.Random,
) -> tuple[dict[str, float], dict[str, str]] | None:
    """The policy's distribution over ``candidates`` with the novelty weights applied, renormalised.

    A policy that can state its distribution (``probabilities(candidates, context)``: the model,
    split and bandit policies) has it reweighted; one whose choice is certain (fixed, rules) gets the
    chain of ``deterministic_chain``, with the reason the policy gave for each key of it. None: a
    random policy that cannot state its distribution, whose own choice (and propensity) the caller
    then takes as it is, without novelty.
    """
    probabilities = getattr(policy, "probabilities", None)
    if probabilities is not None:
        return distribution_reweight(probabilities(candidates, context), weights), {}
    if policy.choose(candidates, context, rng).propensity < 1.0:
        return None
    return deterministic_chain(policy, candidates, weights, context, rng)


def capped_choose(
    policy: Policy,
    candidates: Sequence[Candidate],
    weights: Mapping[str, float],
    context: Context,
    rng: random.Random,
) -> Choice | None:
    """Choose among the visitor's allowed ``candidates`` with novelty ``weights``; None when none has a chance.

    Used only when a cap or novelty binds for this visitor (else the policy chooses as usual). The draw
    takes fresh randomness from ``rng`` rather than a sticky per-visitor hash: which variants are
    capped depends on what that same hash chose before, so a sticky draw over the rest would not have
    the probability it logs. The propensity is the chosen key's share of the final distribution.
    """
    if not candidates:
        raise NoCandidatesError("Every variant is capped for this visitor.")
    live = [c for c in candidates if weights.get(c.key, 1.0) > 0.0]
    if not live:
        return None
    found = policy_distribution(policy, live, weights, context, rng)
    if found is None:
        return policy.choose(live, context, rng)
    distribution, reasons = found
    if not distribution:
        return None
    key = distribution_draw(distribution, rng.random())
    labels = getattr(policy, "choice_labels", None)
    if labels is not None:  # a policy whose reason and version say what its choice counts for (the bandit)
        reason, version = labels(context)
        return Choice(key, distribution[key], reason, version=version)
    if any(weights.get(k, 1.0) < 1.0 for k in distribution):
        reason = "novelty"
    else:
        reason = reasons.get(key) or "caps"
    return Choice(key, distribution[key], reason)


@dataclass(frozen=True, slots=True)
class ShownDecision:
    id: str
    slot: str
    variant: str
    at: float  # POSIX seconds


def _frozen(slots: Mapping[str, Mapping[str, Exposure]]) -> Mapping[str, Mapping[str, Exposure]]:
    return MappingProxyType({slot: MappingProxyType(dict(history)) for slot, history in slots.items()})


@dataclass(frozen=True, slots=True)
class ExposureBook:
    """One visitor's exposures in every capped slot, and their recent decisions (for attributing a click).

    Kept in the cache as plain data (``to_value``), so that a release that changes these classes can
    still read what an earlier one wrote.
    """

    slots: Mapping[str, Mapping[str, Exposure]] = field(default_factory=dict)
    # (id, slot, variant, at) as stored: parsed only when a click or conversion needs them, since
    # every capped decision reads and writes the book and only a few events come back.
    recent: tuple[Sequence[Any], ...] = ()

    def history(self, slot: str) -> Mapping[str, Exposure]:
        return self.slots.get(slot, MappingProxyType({}))

    def viewed(self, decision_id: str, slot: str, variant: str, *, day: int, visit: int, at: float) -> ExposureBook:
        history = dict(self.history(slot))
        history[variant] = history.get(variant, NEVER_SEEN).viewed(day=day, visit=visit)
        recent = (*self.recent, (decision_id, slot, variant, at))[-RECENT_DECISIONS:]
        return ExposureBook(slots=_frozen({**self.slots, slot: history}), recent=recent)

    def acted(self, events: Iterable[Mapping[str, Any]], *, window_seconds: float) -> ExposureBook:
        """Reset "unanswered" for the variants these events reward, attributed as ``tracking.rewards`` does.

        A click counts for the decision it names; a conversion for the latest decision of each slot
        shown within ``window_seconds`` before it. Events: ``type``, ``decision_id`` (hex), ``ts``.
        """
        answered: set[tuple[str, str]] = set()
        shown_all = self._recent_parsed()
        by_id = {d.id.replace("-", ""): d for d in shown_all}
        for event in events:
            kind = event.get("type")
            if kind == "click":
                shown = by_id.get(str(event.get("decision_id") or "").replace("-", ""))
                if shown is not None:
                    answered.add((shown.slot, shown.variant))
            elif kind == "conversion":
                at = float(event["ts"])
                latest: dict[str, ShownDecision] = {}
                for shown in shown_all:  # oldest first: the last one of a slot wins
                    if at - window_seconds <= shown.at <= at:
                        latest[shown.slot] = shown
                answered.update((s.slot, s.variant) for s in latest.values())
        answered = {(slot, variant) for slot, variant in answered if variant in self.history(slot)}
        if not answered:
            return self
        slots = {slot: dict(history) for slot, history in self.slots.items()}
        for slot, variant in answered:
            slots[slot][variant] = slots[slot][variant].acted()
        return ExposureBook(slots=_frozen(slots), recent=self.recent)

    def _recent_parsed(self) -> list[ShownDecision]:
        parsed = []
        for entry in self.recent:
            try:
                decision_id, slot, variant, at = entry
                parsed.append(ShownDecision(str(decision_id), str(slot), str(variant), float(at)))
            except (TypeError, ValueError):
                continue  # a foreign entry: it attributes nothing
        return parsed

    def to_value(self) -> dict[str, Any]:
        return {
            "s": {
                slot: {
                    variant: [e.day, e.views_day, e.visit, e.views_visit, e.unanswered]
                    for variant, e in history.items()
                }
                for slot, history in self.slots.items()
            },
            "r": list(self.recent),
        }

    @classmethod
    def from_value(cls, value: Any) -> ExposureBook:
        """The book ``to_value`` wrote; an empty book for anything else (a missing or foreign entry)."""
        if not isinstance(value, dict):
            return cls()
        try:
            slots = {
                str(slot): {str(variant): Exposure(*(int(n) for n in counts)) for variant, counts in history.items()}
                for slot, history in value.get("s", {}).items()
            }
            recent = tuple(value.get("r", ()))
        except (TypeError, ValueError, AttributeError):
            return cls()
        return cls(slots=_frozen(slots), recent=recent[-RECENT_DECISIONS:])

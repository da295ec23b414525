"""The bandit panel of a slot's results dashboard: the allocation it serves now, per segment, with its evidence.

Read from what the fold job persisted (``BanditAllocation`` and ``BanditArm``), so the panel shows what
serving reads (within its check interval) and why: each variant's share of traffic, its trials and
successes (for a value reward, the total value and the mean), faded by the slot's discount as of the last fold.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from content.models import BANDIT_CONTEXT_CHOICES, Slot

from ..learning.bandits import fields_learned_by
from ..models import BanditAllocation, BanditArm, Segment


@dataclass(frozen=True, slots=True)
class BanditArmLine:
    key: str
    name: str
    share: str  # "62.5 %"
    trials: str
    successes: str  # successes (click, conversion) or Σ reward (value, weighted)
    mean: str


@dataclass(frozen=True, slots=True)
class BanditSegmentPanel:
    segment: str  # "" = every visitor no rule's segment matches
    segment_name: str
    version: str
    updated_at: datetime
    method: str  # "closed form" or "Monte Carlo, 38,416 draws"
    counted_as: str  # the heading of the successes column: "Successes" or "Total value"
    lines: tuple[BanditArmLine, ...]


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value - round(value)) < 1e-9 else f"{value:,.1f}"


def bandit_panels(slot: Slot) -> tuple[BanditSegmentPanel, ...]:
    """Every published allocation of a bandit slot, "all visitors" first; empty before the first fold."""
    allocations = sorted(BanditAllocation.objects.filter(slot_key=slot.key), key=lambda a: (a.segment != "", a.segment))
    if not allocations:
        return ()
    arms = {(a.segment, a.variant_key): a for a in BanditArm.objects.filter(slot_key=slot.key)}
    names = {v.key: v.name for v in slot.variants.all()}
    segment_names = dict(Segment.objects.filter(key__in=[a.segment for a in allocations]).values_list("key", "name"))
    counted = "Total value" if slot.reward in ("value", "weighted") else "Successes"
    panels = []
    for allocation in allocations:
        lines = []
        for key, share in sorted(allocation.probabilities.items(), key=lambda item: -item[1]):
            arm = arms.get((allocation.segment, key))
            n, total = (arm.n, arm.total) if arm else (0.0, 0.0)
            lines.append(
                BanditArmLine(
                    key=key,
                    name=names.get(key, key),
                    share=f"{share:.1%}".replace("%", " %"),
                    trials=_number(n),
                    successes=_number(total),
                    mean=f"{total / n:.3g}" if n else "–",
                )
            )
        method = "closed form" if allocation.method == "closed-form" else f"Monte Carlo, {allocation.draws:,} draws"
        panels.append(
            BanditSegmentPanel(
                segment=allocation.segment,
                segment_name=segment_names.get(allocation.segment, allocation.segment) or "All other visitors",
                version=allocation.version,
                updated_at=allocation.updated_at,
                method=method,
                counted_as=counted,
                lines=tuple(lines),
            )
        )
    return tuple(panels)


def bandit_fields_sentence(slot: Slot) -> str:
    """What a bandit learning per context cell learns apart by, and which listed fields it found make no difference."""
    if not slot.bandit_context:
        return ""
    labels = dict(BANDIT_CONTEXT_CHOICES)
    learned, across = fields_learned_by(slot.key)
    kept = " × ".join(labels.get(f, f) for f in learned) or "nothing: every visitor is served alike"
    sentence = f"Learning apart by {kept}."
    if across:
        sentence += (
            f" No difference seen by {', '.join(labels.get(f, f) for f in across)} so far: visitors who differ only"
            " there share their evidence and their allocation (the trials below are each combination's own)."
        )
    return sentence

"""Reads of published content in the shape the decision path needs.

``slot_definitions_live`` returns every published slot as frozen, JSON-ready
data (variants with flattened parameters, the targeting table as segment ids).
It runs when the catalog is (re)built after a publish, never per request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .models import Slot
from .rendering import params_from_block_value


@dataclass(frozen=True, slots=True)
class VariantDefinition:
    key: str
    name: str
    template: str
    params: dict[str, Any]
    weight: int
    is_paused: bool


@dataclass(frozen=True, slots=True)
class SlotDefinition:
    key: str
    name: str
    strategy: str
    default_variant: str
    revision_id: int | None
    variants: tuple[VariantDefinition, ...]
    rules: tuple[tuple[int, str], ...]  # (segment id, variant key), in the editor's order
    trigger: str = ""  # "" (on load) or "scroll:50", "dwell:10", "exit"
    exploration: str = "epsilon"
    exploration_rate: float = 0.1
    temperature: float = 0.05
    reward: str = "click"
    reward_weights: tuple[float, float] = (1.0, 5.0)  # (click, conversion), read when reward is "weighted"
    holdout_share: float = 0.0  # visitors kept on the default, to measure the strategy against doing nothing
    igw_gamma: float = 100.0
    retrain_every: int = 500  # model: retrain after this many new decisions with a known outcome (0: beat only)
    bandit_floor: float = 0.01
    bandit_discount: float = 1.0  # per hour; 1: old evidence never fades
    bandit_top_two: bool = False
    bandit_context: tuple[str, ...] = ()  # context fields learned per combination (bandit context cells)
    guardrail_action: str = "act"  # "act", "report" (dry run) or "off"
    guardrail_metrics: tuple[str, ...] = ("click_rate",)
    guardrail_alpha: float = 0.05
    guardrail_min_drop: float = 0.0
    cap_per_day: int = 0  # 0: no cap
    cap_per_visit: int = 0
    novelty_after: int = 0  # 0: no novelty decay
    novelty_decay: float = 0.5

    @property
    def live_variants(self) -> tuple[VariantDefinition, ...]:
        return tuple(v for v in self.variants if not v.is_paused)

    def variant(self, key: str) -> VariantDefinition | None:
        return next((v for v in self.variants if v.key == key), None)


def slot_definition_from_object(slot: Slot, revision_id: int | None) -> SlotDefinition:
    variants = []
    for variant in slot.variants.all():
        if not variant.params:
            continue
        block = variant.params[0]
        variants.append(
            VariantDefinition(
                key=variant.key,
                name=variant.name,
                template=block.block_type,
                params=params_from_block_value(block.value),
                weight=variant.weight,
                is_paused=variant.is_paused,
            )
        )
    rules = tuple(
        (rule.value["segment"].pk, rule.value["variant"])
        for rule in slot.rules
        if rule.value.get("segment") is not None
    )
    return SlotDefinition(
        key=slot.key,
        name=slot.name,
        strategy=slot.strategy,
        default_variant=slot.default_variant,
        revision_id=revision_id,
        variants=tuple(variants),
        rules=rules,
        trigger=_trigger(slot.trigger, slot.trigger_value),
        exploration=slot.exploration,
        exploration_rate=slot.exploration_rate,
        temperature=slot.temperature,
        reward=slot.reward,
        reward_weights=(slot.click_weight, slot.conversion_weight),
        holdout_share=slot.holdout_share,
        igw_gamma=slot.igw_gamma,
        retrain_every=slot.retrain_every,
        bandit_floor=slot.bandit_floor,
        bandit_discount=slot.bandit_discount,
        bandit_top_two=slot.bandit_top_two,
        bandit_context=tuple(slot.bandit_context or ()),
        guardrail_action=slot.guardrail_action,
        guardrail_metrics=tuple(slot.guardrail_metrics or ()),
        guardrail_alpha=slot.guardrail_alpha,
        guardrail_min_drop=slot.guardrail_min_drop,
        cap_per_day=slot.cap_per_day,
        cap_per_visit=slot.cap_per_visit,
        novelty_after=slot.novelty_after,
        novelty_decay=slot.novelty_decay,
    )


def _trigger(kind: str, value: int) -> str:
    if kind in ("scroll", "dwell"):
        return f"{kind}:{value}"
    return "exit" if kind == "exit" else ""


def slot_definitions_live(*, key: str | None = None) -> dict[str, SlotDefinition]:
    """Every live slot's definition by key, or only the one with ``key`` (an empty dict when it is not live)."""
    slots = Slot.objects.filter(live=True).prefetch_related("variants")
    if key is not None:
        slots = slots.filter(key=key)
    return {slot.key: slot_definition_from_object(slot, slot.live_revision_id) for slot in slots}

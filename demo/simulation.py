"""Simulated traffic with known ground truth, driven through the real decision and ingest path.

Visitors belong to hidden types; each type clicks each variant with a known
probability, and the type shows only through ordinary context (device and
traffic source). Phase one explores, the model is trained on what was logged,
and phase two serves the trained model. Because the truth is known, the report
gives the expected click-through of the choices against uniform random and
the oracle (the best variant for every type), not just a noisy realised rate.
"""

from __future__ import annotations

import itertools
import logging
import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from demo.seed import GOAL_KEY, demo_goals_ensure, demo_hero_strategy_set, demo_slots_ensure
from personalization.engine.experiments import HOLDOUT_MAX_SHARE
from personalization.serving.decide import decide
from tracking.decision_sinks import DecisionBatch
from tracking.event_ingest import events_ingest
from tracking.visitors import VisitorState

logger = logging.getLogger(__name__)

SLOT_KEY = "home-hero"  # the demo's hero: after a simulation the admin shows its model and lift
VARIANTS = ("hero-default", "hero-mobile", "hero-newsletter", "hero-welcome-back")
# Hidden types: (share of traffic, observable context, click probability per variant).
Types = dict[str, tuple[float, dict[str, Any], tuple[float, ...]]]
TYPES: Types = {
    "deal seeker": (0.25, {"device": "mobile", "utm_source": "newsletter"}, (0.05, 0.08, 0.30, 0.05)),
    "browser": (0.25, {"device": "desktop"}, (0.20, 0.05, 0.06, 0.08)),
    "researcher": (0.25, {"device": "desktop", "utm_source": "search"}, (0.06, 0.04, 0.08, 0.25)),
    "commuter": (0.25, {"device": "mobile"}, (0.06, 0.22, 0.05, 0.04)),
}
# The hard world (--world hard): six types whose favourite depends on device and traffic source jointly
# (neither alone predicts it), click rates of 3 to 12 % as on a real site, so learning needs far more
# evidence per type than the default world's 4 to 30 %.
HARD_TYPES: Types = {
    "mobile searcher": (1 / 6, {"device": "mobile", "utm_source": "search"}, (0.11, 0.05, 0.03, 0.06)),
    "mobile subscriber": (1 / 6, {"device": "mobile", "utm_source": "newsletter"}, (0.04, 0.06, 0.12, 0.03)),
    "mobile social": (1 / 6, {"device": "mobile", "utm_source": "social"}, (0.03, 0.10, 0.05, 0.06)),
    "desktop searcher": (1 / 6, {"device": "desktop", "utm_source": "search"}, (0.05, 0.03, 0.10, 0.06)),
    "desktop subscriber": (1 / 6, {"device": "desktop", "utm_source": "newsletter"}, (0.05, 0.04, 0.06, 0.12)),
    "desktop social": (1 / 6, {"device": "desktop", "utm_source": "social"}, (0.11, 0.06, 0.03, 0.05)),
}
WORLDS: dict[str, Types] = {"default": TYPES, "hard": HARD_TYPES}
# Attributes a world's visitors also have that predict nothing: each visitor's drawn uniformly, apart from
# their type. A bandit told to learn by one of them must find out that it does not matter.
WORLD_NOISE: dict[str, dict[str, tuple[str, ...]]] = {"hard": {"browser": ("chrome", "firefox")}}
WORLD_VISITORS = {"default": 20_000, "hard": 6_000}  # the size each world's targets are stated for

# A click on the hero leads to the product page; this share of those visitors reaches the demo's goal.
CONVERSION_AFTER_CLICK = 0.3


# How each hidden type behaves on the page: (scroll depth %, its spread; seconds on the page, its spread).
# Behaviour clusters should find these types again without being told them.
BEHAVIOUR: dict[str, tuple[float, float, float, float]] = {
    "deal seeker": (35.0, 6.0, 25.0, 5.0),
    "browser": (60.0, 6.0, 50.0, 8.0),
    "researcher": (92.0, 4.0, 150.0, 20.0),
    "commuter": (12.0, 4.0, 8.0, 2.0),
}


class SimulationError(ValueError):
    """The slot cannot be simulated as it is configured."""


def simulation_model_ensure() -> str | None:
    """Publish the demo's hero on the model strategy if an editor moved it off (the README tour does); what it left.

    A new revision by the demo admin, variants and targeting kept: the admin's history shows the switch and
    ``seed_demo --hero-strategy rules`` (or the slot's Strategy field) switches back. None when it was on
    the model, or does not exist yet (``simulation_slot_ensure`` creates it on the model).
    """
    from content.models import Slot

    if not Slot.objects.filter(key=SLOT_KEY).exists():
        return None
    try:
        return demo_hero_strategy_set("model")
    except ValueError as exc:
        raise SimulationError(str(exc)) from None


def simulation_slot_ensure() -> None:
    """Create the demo's hero (and its segments, nothing else) when missing; refuse one that is not a model slot."""
    from personalization.serving.catalog import catalog_get

    created = demo_slots_ensure([SLOT_KEY]) + demo_goals_ensure()
    compiled = catalog_get().slots.get(SLOT_KEY)
    if compiled is None:
        raise SimulationError(f"Slot {SLOT_KEY!r} is not published; publish it, then run the simulation again.")
    strategy = compiled.definition.strategy
    if strategy != "model":
        raise SimulationError(
            f"Slot {SLOT_KEY!r} uses the {strategy!r} strategy; the simulation teaches a model. "
            "Set its strategy to Model in the admin and publish, then run the simulation again."
        )
    missing = sorted(set(VARIANTS) - {c.key for c in compiled.candidates})
    if missing:
        raise SimulationError(
            f"Slot {SLOT_KEY!r} lacks the live variant(s) the simulation knows: {', '.join(missing)}."
        )
    if created:
        logger.info("Created %s for the simulation.", ", ".join(created))


def simulation_holdout_set(share: float) -> None:
    """Publish the hero with this holdout share (a new revision, as an editor would) unless it has it already.

    Visitors in the holdout see the default, so the run ends with the live uplift of the model over
    doing nothing: the verdict an editor can act on, where the hero's own variants, chosen by the
    model, cannot be compared as an experiment's.
    """
    from content.models import Slot

    if not 0.0 <= share <= HOLDOUT_MAX_SHARE:
        raise SimulationError(f"--holdout must lie between 0 and {HOLDOUT_MAX_SHARE}, got {share}.")
    slot = Slot.objects.get(key=SLOT_KEY)
    if slot.holdout_share == share:
        return
    slot.holdout_share = share
    slot.save_revision().publish()


def holdout_report() -> dict[str, Any] | None:
    """The hero's live uplift over its holdout in the results window, or None when it keeps no holdout."""
    from content.models import Slot
    from personalization.results.dashboard import lift_words
    from personalization.results.experiments import holdout_uplift
    from personalization.results.selectors import DEFAULT_DAYS, metric_default, window_days

    slot = Slot.objects.get(key=SLOT_KEY)
    if slot.holdout_share <= 0:
        return None
    start, end = window_days(DEFAULT_DAYS)
    results = holdout_uplift(SLOT_KEY, start, end, metric_default(slot))
    comparison = results["comparisons"][0] if results["comparisons"] else None
    return {"share": slot.holdout_share, "lift": lift_words(comparison), "results": results}


@dataclass
class PhaseReport:
    visitors: int
    clicks: int
    realised_ctr: float
    expected_ctr: float
    choices: dict[str, dict[str, int]] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict, repr=False)  # visitor id -> hidden type

    def summary(self) -> dict[str, Any]:
        return {name: value for name, value in self.__dict__.items() if name != "types"}


@dataclass
class Truth:
    uniform: float
    oracle: float


def pipeline_drain() -> None:
    """Write what Redis still buffers (decisions, the event stream), as the workers would, before training."""
    from tracking.conf import setting
    from tracking.event_stream import events_stream_consume
    from tracking.services import decisions_flush

    if setting("DECISION_LOG_BACKEND") == "redis":
        decisions_flush()
    if setting("EVENT_INGEST_BACKEND") == "redis":
        events_stream_consume("simulate-traffic", budget_seconds=0.5, block_ms=100)


def truth(types: Types | None = None) -> Truth:
    types = TYPES if types is None else types
    uniform = sum(share * sum(p) / len(p) for share, _, p in types.values())
    oracle = sum(share * max(p) for share, _, p in types.values())
    return Truth(uniform=uniform, oracle=oracle)


def traffic_run(
    visitors: int,
    rng: random.Random,
    progress: Callable[[int], None] | None = None,
    world: Types | None = None,
) -> PhaseReport:
    """Send ``visitors`` simulated visitors through decide() and event ingest; clicks follow the hidden truth."""
    TYPES = WORLDS["default"] if world is None else world  # noqa: N806 - the module's world, or another
    names = list(TYPES)
    shares = [TYPES[n][0] for n in names]
    clicks = 0
    expected = 0.0
    choices: dict[str, dict[str, int]] = {n: dict.fromkeys(VARIANTS, 0) for n in names}
    types: dict[str, str] = {}
    batch = 500
    for start in range(0, visitors, batch):
        sink = DecisionBatch()  # written in batches, as a page writes its decisions after the response
        shown: list[tuple[str, str, bool]] = []
        for _ in range(min(batch, visitors - start)):
            kind = rng.choices(names, weights=shares)[0]
            _, context, probabilities = TYPES[kind]
            visitor = VisitorState(id=str(uuid.UUID(int=rng.getrandbits(128), version=4)))
            decision = decide(SLOT_KEY, visitor, dict(context), sink=sink, rng=rng)
            p = probabilities[VARIANTS.index(decision.variant.key)]
            clicked = rng.random() < p
            expected += p
            clicks += clicked
            choices[kind][decision.variant.key] += 1
            types[visitor.id] = kind
            shown.append((visitor.id, decision.id, clicked))
        sink.flush()
        now_ms = int(time.time() * 1000)
        for visitor_id, decision_id, clicked in shown:
            events = [_impression(decision_id, now_ms), *_behaviour_events(visitor_id, types[visitor_id], now_ms)]
            if clicked:
                event = {
                    "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "type": "click",
                    "decision_id": decision_id,
                    "ts": now_ms,
                }
                events.append(event)
                events += _conversion(decision_id, now_ms)
            events_ingest(events, visitor_id=visitor_id)
        if progress:
            progress(len(shown))
    return PhaseReport(
        visitors=visitors,
        clicks=clicks,
        realised_ctr=clicks / visitors if visitors else 0.0,
        expected_ctr=expected / visitors if visitors else 0.0,
        choices=choices,
        types=types,
    )


def _impression(decision_id: str, now_ms: int) -> dict[str, Any]:
    """The tracker's report that the hero was seen: results count a visitor once they saw the slot.

    Its id comes from the decision id, not the phase's generator, so every decision and click of
    a seeded run stays as it was.
    """
    rng = random.Random(decision_id)  # noqa: S311 - simulation, not security
    event_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    return {"id": event_id, "type": "impression", "decision_id": decision_id, "ts": now_ms}


def _conversion(decision_id: str, now_ms: int) -> list[dict[str, Any]]:
    """Whether this clicking visitor goes on to the demo's goal (drawn per decision, as ``_impression``'s id)."""
    rng = random.Random(f"conversion:{decision_id}")  # noqa: S311 - simulation, not security
    if rng.random() >= CONVERSION_AFTER_CLICK:
        return []
    event_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    return [{"id": event_id, "type": "conversion", "props": {"goal": GOAL_KEY}, "ts": now_ms + 1000}]


def _behaviour_events(visitor_id: str, kind: str, now_ms: int) -> list[dict[str, Any]]:
    """The page's scroll depth and dwell for this visitor, drawn from its type.

    Drawn from a generator seeded by the visitor id, not the phase's, so adding
    behaviour leaves every decision and click of a seeded run as it was.
    """
    scroll, scroll_sd, dwell, dwell_sd = BEHAVIOUR.get(kind, (50.0, 25.0, 40.0, 20.0))  # the hard world's: alike
    rng = random.Random(visitor_id)  # noqa: S311 - simulation, not security
    return [
        {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "type": "scroll",
            "value": min(max(rng.gauss(scroll, scroll_sd), 0.0), 100.0),
            "ts": now_ms - 2000,
        },
        {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "type": "dwell",
            "value": max(rng.gauss(dwell, dwell_sd), 1.0),
            "ts": now_ms - 1000,
        },
    ]


def clusters_agreement(types: dict[str, str]) -> dict[str, Any]:
    """Cluster the simulated visitors' behaviour and compare the clusters with their hidden types.

    The adjusted Rand index is 1 when the clusters are exactly the types and about 0
    for clusters no better than chance.
    """
    from sklearn.metrics import adjusted_rand_score

    from personalization.behaviour.clustering import visitors_cluster
    from personalization.engine.clustering import CentroidModel
    from personalization.models import ClusteringRun
    from tracking.feature_store import visitors_features_get

    pipeline_drain()  # phase 2's last events may still be in the stream
    report = visitors_cluster()
    centres = CentroidModel.from_dict(ClusteringRun.objects.get(pk=report.run_id).centres)
    ids = sorted(types)
    features = visitors_features_get(ids)
    nearest = [centres.nearest(features[v]) for v in ids]
    assigned = [-1 if cluster is None else cluster for cluster in nearest]  # -1: no behaviour to place them by
    return {
        "k": report.k,
        "silhouette": report.silhouette,
        "visitors": report.visitors,
        "hidden_types": len(set(types.values())),
        "adjusted_rand_index": float(adjusted_rand_score([types[v] for v in ids], assigned)),
    }


# Continuous learning (simulate_traffic --continuous): one run, no phases, the hero's model retraining between
# batches as beat would live, beside baselines on slots cloned from the hero, all shown the same visitors.

ARMS = ("continuous", "explore-first", "thompson", "contextual-thompson")  # uniform random is computed, not served
ARM_CHOICES = (*ARMS, "contextual-thompson-browser")  # the last on request (--arms): the hard world's noise test
# arm -> its bandit_context; the last one also lists the browser, which predicts nothing (WORLD_NOISE).
BANDIT_ARMS = {
    "thompson": [],
    "contextual-thompson": ["device", "utm_source"],
    "contextual-thompson-browser": ["device", "utm_source", "browser"],
}
ARM_SLOT = SLOT_KEY + "-sim-{arm}"  # the baselines' slots: live, placed on no page


@dataclass
class ArmReport:
    arm: str
    slot: str
    expected: float = 0.0  # sum over visitors of the click probability of what this arm showed them
    clicks: int = 0
    trainings: int = 0
    promotions: int = 0
    share_of_oracle: float = 0.0  # cumulative expected reward over the run, as a share of the oracle's
    final_value: float | None = None  # the serving policy's expected reward per visitor at the end, / oracle
    curve: list[float] = field(default_factory=list)  # the cumulative share after each tenth of the run
    note: str = ""


@dataclass
class ContinuousReport:
    world: str
    visitors: int
    batch: int
    uniform: float  # uniform random's expected CTR on these visitors (analytic)
    oracle: float  # the oracle's: the best variant for every visitor
    arms: dict[str, ArmReport]

    def summary(self) -> dict[str, Any]:
        return {
            "world": self.world,
            "visitors": self.visitors,
            "batch": self.batch,
            "uniform_ctr": self.uniform,
            "oracle_ctr": self.oracle,
            "uniform_share_of_oracle": self.uniform / self.oracle if self.oracle else 0.0,
            "arms": {name: arm.__dict__ for name, arm in self.arms.items()},
        }


def _arm_slot_ensure(arm: str) -> str:
    """The arm's own slot, a clone of the hero's variants and settings, reset to no decisions and no model."""
    from content.models import Slot, Variant
    from personalization.models import ModelVersion
    from personalization.serving.catalog import catalog_changed
    from tracking.models import DecisionLog

    key = ARM_SLOT.format(arm=arm)
    hero = Slot.objects.get(key=SLOT_KEY)
    slot = Slot.objects.filter(key=key).first()
    if slot is None:
        slot = Slot(key=key, live=False)
    slot.name = f"{hero.name} (simulation: {arm})"
    slot.description = "A baseline of simulate_traffic --continuous, shown the same visitors as the hero; on no page."
    slot.strategy = "bandit" if arm in BANDIT_ARMS else "model"
    slot.bandit_context = BANDIT_ARMS.get(arm, [])
    slot.default_variant = hero.default_variant
    for name in ("exploration", "exploration_rate", "temperature", "reward", "igw_gamma"):
        setattr(slot, name, getattr(hero, name))
    slot.retrain_every = 0  # explore-first trains once, when the command says; never by the due check
    slot.variants = [
        Variant(key=v.key, name=v.name, weight=v.weight, params=list(v.params.raw_data), sort_order=i)
        for i, v in enumerate(hero.variants.all())
    ]
    slot.save()
    slot.save_revision().publish()
    # A baseline starts from nothing in every run: what an earlier run logged would make it another baseline.
    DecisionLog.objects.filter(slot_key=key).delete()
    ModelVersion.objects.filter(slot_key=key).delete()
    catalog_changed()
    return key


def policy_value(slot_key: str, world: Types, noise: Mapping[str, tuple[str, ...]] | None = None) -> float | None:
    """The expected click probability per visitor of the slot's policy as it serves now, from its probabilities.

    Exact: each type's context, with every combination of the ``noise`` attributes (equally likely), is
    scored as decide() would score a new visitor of that type, and the choice probabilities (exploration
    included) weigh the type's true click rates. None for a policy that states no probabilities.
    """
    from personalization.engine import Context
    from personalization.serving.catalog import catalog_get

    compiled = catalog_get().slots.get(slot_key)
    if compiled is None or not hasattr(compiled.policy, "probabilities"):
        return None
    combinations = [
        dict(zip(noise or {}, values, strict=True)) for values in itertools.product(*(noise or {}).values())
    ]
    value = 0.0
    for share, context, rates in world.values():
        for extra in combinations:
            probabilities = compiled.policy.probabilities(
                compiled.candidates, Context.from_mapping({**context, **extra})
            )
            expected = sum(probabilities.get(key, 0.0) * rate for key, rate in zip(VARIANTS, rates, strict=True))
            value += share * expected / len(combinations)
    return value


def continuous_run(
    visitors: int,
    rng: random.Random,
    *,
    world: str = "default",
    batch: int = 100,
    explore_first: int | None = None,
    arms: tuple[str, ...] = ARMS,
    min_interval_seconds: float = 0.0,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> ContinuousReport:
    """Serve ``visitors`` in batches through decide() and ingest, retraining as beat would between batches.

    The hero learns continuously (``models_retrain_due`` after each batch, its own ``retrain_every``, the
    minimum interval given: simulated time runs far faster than real). Baselines, each on its own slot shown
    the same visitor: ``explore-first`` (uniform for the first ``explore_first`` visitors, one training, then
    its model), ``thompson`` (the ``bandit`` strategy, when this installation has it), ``contextual-thompson``
    (the bandit learning per device and traffic source, ``bandit_context``) and uniform random
    (computed). Every arm's reward is the expected click probability of what it showed, exploration
    included, summed against the oracle's over the same visitors.
    """
    from django.db import transaction

    from personalization.engine.policies import POLICY_FACTORIES
    from personalization.learning.retraining import models_retrain_due
    from personalization.learning.training import TrainingError, model_train
    from personalization.serving.catalog import catalog_get

    types = WORLDS[world]
    noise = WORLD_NOISE.get(world, {})
    noise_rng = random.Random(seed * 7919 + 1)  # noqa: S311 - its own stream: the visitors and their clicks stay as they were
    explore_first = visitors // 5 if explore_first is None else explore_first
    slots = {"continuous": SLOT_KEY}
    reports = {"continuous": ArmReport("continuous", SLOT_KEY)}
    for arm in arms:
        if arm == "continuous":
            continue
        if arm in BANDIT_ARMS and "bandit" not in POLICY_FACTORIES:
            reports[arm] = ArmReport(arm, ARM_SLOT.format(arm=arm), note="no bandit strategy in this installation")
            continue
        key = _arm_slot_ensure(arm)
        reports[arm] = ArmReport(arm, key)
        if key in catalog_get().slots:
            slots[arm] = key
        else:
            reports[arm].note = f"the {arm!r} strategy cannot be compiled in this installation; not run"
    names = list(types)
    shares = [types[n][0] for n in names]
    oracle = uniform = 0.0
    served = 0
    explore_trained = "explore-first" not in slots
    checkpoints = {round(visitors * i / 10) for i in range(1, 11)}
    for start in range(0, visitors, batch):
        sink = DecisionBatch()
        shown: list[tuple[str, str, list[tuple[str, str, bool]]]] = []
        for _ in range(min(batch, visitors - start)):
            kind = rng.choices(names, weights=shares)[0]
            _, context, rates = types[kind]
            context = {**context, **{name: noise_rng.choice(values) for name, values in noise.items()}}
            oracle += max(rates)
            uniform += sum(rates) / len(rates)
            # A first visit: no history to read, as for most visitors of a landing page.
            visitor = VisitorState(id=str(uuid.UUID(int=rng.getrandbits(128), version=4)), is_new=True)
            decisions = []
            for arm, key in slots.items():
                decision = decide(key, visitor, dict(context), sink=sink, rng=rng)
                rate = rates[VARIANTS.index(decision.variant.key)]
                clicked = rng.random() < rate
                reports[arm].expected += rate
                reports[arm].clicks += clicked
                decisions.append((arm, decision.id, clicked))
            shown.append((visitor.id, kind, decisions))
        sink.flush()
        now_ms = int(time.time() * 1000)
        # One commit per batch, as the stream's writer would; each visitor's events are still one ingest call.
        with transaction.atomic():
            for visitor_id, kind, decisions in shown:
                events = _behaviour_events(visitor_id, kind, now_ms)
                for arm, decision_id, clicked in decisions:
                    events.append(_impression(decision_id, now_ms))
                    if clicked:
                        events.append(
                            {"id": str(uuid.uuid4()), "type": "click", "decision_id": decision_id, "ts": now_ms}
                        )
                        if arm == "continuous":
                            events += _conversion(decision_id, now_ms)
                events_ingest(events, visitor_id=visitor_id)
        served += len(shown)
        pipeline_drain()
        if not explore_trained and served >= explore_first:
            explore_trained = True
            try:
                report = model_train(slots["explore-first"], seed=seed)
                reports["explore-first"].trainings += 1
                reports["explore-first"].promotions += report.promoted
            except TrainingError as exc:
                reports["explore-first"].note = f"not trained: {exc}"
        if any(arm in slots for arm in BANDIT_ARMS):
            # Beat folds the bandits' counts into their posteriors every minute; here, between batches.
            from personalization.learning.bandits import bandits_fold

            bandits_fold()
        outcome = models_retrain_due(min_interval_seconds=min_interval_seconds).get(SLOT_KEY)
        if outcome in ("promoted", "candidate"):
            reports["continuous"].trainings += 1
            reports["continuous"].promotions += outcome == "promoted"
        if any(start < c <= served for c in checkpoints):
            for arm in reports.values():
                arm.curve.append(round(arm.expected / oracle, 4) if arm.slot in slots.values() else 0.0)
        if progress:
            progress(len(shown))
    for arm in reports.values():
        arm.share_of_oracle = arm.expected / oracle if oracle else 0.0
        value = policy_value(arm.slot, types, noise) if arm.slot in slots.values() else None
        arm.final_value = value / truth(types).oracle if value is not None else None
    return ContinuousReport(
        world=world, visitors=visitors, batch=batch, uniform=uniform / visitors, oracle=oracle / visitors, arms=reports
    )

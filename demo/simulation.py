"""Simulated traffic with known ground truth, driven through the real decision and ingest path.

Visitors belong to hidden types; each type clicks each variant with a known
probability, and the type shows only through ordinary context (device and
traffic source). Phase one explores, the model is trained on what was logged,
and phase two serves the trained model. Because the truth is known, the report
gives the expected click-through of the choices against uniform random and
the oracle (the best variant for every type), not just a noisy realised rate.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from demo.seed import GOAL_KEY, demo_goals_ensure, demo_slots_ensure
from personalization.serving.decide import decide
from tracking.decision_sinks import DecisionBatch
from tracking.event_ingest import events_ingest
from tracking.visitors import VisitorState

logger = logging.getLogger(__name__)

SLOT_KEY = "home-hero"  # the demo's hero: after a simulation the admin shows its model and lift
VARIANTS = ("hero-default", "hero-mobile", "hero-newsletter", "hero-welcome-back")
# Hidden types: (share of traffic, observable context, click probability per variant).
TYPES: dict[str, tuple[float, dict[str, Any], tuple[float, ...]]] = {
    "deal seeker": (0.25, {"device": "mobile", "utm_source": "newsletter"}, (0.05, 0.08, 0.30, 0.05)),
    "browser": (0.25, {"device": "desktop"}, (0.20, 0.05, 0.06, 0.08)),
    "researcher": (0.25, {"device": "desktop", "utm_source": "search"}, (0.06, 0.04, 0.08, 0.25)),
    "commuter": (0.25, {"device": "mobile"}, (0.06, 0.22, 0.05, 0.04)),
}
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


def truth() -> Truth:
    uniform = sum(share * sum(p) / len(p) for share, _, p in TYPES.values())
    oracle = sum(share * max(p) for share, _, p in TYPES.values())
    return Truth(uniform=uniform, oracle=oracle)


def traffic_run(visitors: int, rng: random.Random, progress: Callable[[int], None] | None = None) -> PhaseReport:
    """Send ``visitors`` simulated visitors through decide() and event ingest; clicks follow the hidden truth."""
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
    scroll, scroll_sd, dwell, dwell_sd = BEHAVIOUR[kind]
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

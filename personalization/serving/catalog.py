"""The catalog: every published slot compiled into a ready-to-run policy.

Built from the database once per publish (slots, variants, segments), kept in
each web process's memory and tagged with a version held in the shared cache.
A process re-reads that version at most every ``CATALOG_CHECK_SECONDS`` (from
the ``signals`` cache: Redis, or a folder in ``var/`` on the embedded default,
which every local process shares where the in-memory cache is not), so
the request path costs no query and, most of the time, no cache read either.
Publishing a slot, an experiment or saving a segment bumps the version. A slot's published
experiments are compiled beside its policy; serving asks which one runs at the moment.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from django.core.cache import caches

from content.selectors import SlotDefinition, VariantDefinition, slot_definitions_live
from personalization.conf import setting
from personalization.engine import Candidate, Policy, SegmentSpec, build_policy
from personalization.engine.caps import CapSettings
from personalization.engine.experiments import ExperimentAssignment
from personalization.serving.bandits import allocations_for
from tracking.outages import outage_guard

if TYPE_CHECKING:
    from personalization.engine.model_cells import CellAllocations
    from personalization.engine.reward_model import RewardModel
from personalization.serving.experiments import experiment_assignments_live
from personalization.serving.segments import segment_specs_all

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CompiledSlot:
    definition: SlotDefinition
    policy: Policy
    candidates: tuple[Candidate, ...]
    variants: dict[str, VariantDefinition]
    needs_features: bool = False  # a behavioural rule reads real-time features
    experiments: tuple[ExperimentAssignment, ...] = ()  # published, not ended, in start order
    caps: CapSettings = CapSettings()  # frequency caps and novelty decay per visitor

    @property
    def key(self) -> str:
        return self.definition.key

    def experiment_running(self, at: float) -> ExperimentAssignment | None:
        """The experiment running at ``at`` (POSIX seconds), if any: at most one does per slot."""
        for experiment in self.experiments:
            if experiment.running(at):
                return experiment
        return None


@dataclass(frozen=True)
class Catalog:
    version: str
    slots: dict[str, CompiledSlot] = field(default_factory=dict)
    segments: dict[int, SegmentSpec] = field(default_factory=dict)
    built_at: float = field(default_factory=time.monotonic)

    @cached_property
    def caps_active(self) -> bool:
        """Whether a live slot counts exposures (frequency caps or novelty decay)."""
        return any(slot.caps.active for slot in self.slots.values())


def exploration_config(definition: SlotDefinition) -> dict[str, Any]:
    """The slot's exploration settings as ``ModelPolicy`` arguments: serving, training and evaluation share them."""
    return {
        "exploration": definition.exploration,
        "rate": definition.exploration_rate,
        "temperature": definition.temperature,
        "gamma": definition.igw_gamma,
    }


def slot_compile(
    definition: SlotDefinition,
    segments: dict[int, SegmentSpec],
    model: tuple[int, RewardModel, CellAllocations | None] | None = None,
    experiments: tuple[ExperimentAssignment, ...] = (),
) -> CompiledSlot:
    live = definition.live_variants
    default_key = definition.default_variant or (definition.variants[0].key if definition.variants else "")
    rules = tuple((segments[sid], variant) for sid, variant in definition.rules if sid in segments)
    config: dict[str, Any] = {"slot_key": definition.key, "default_key": default_key, "rules": rules}
    if definition.strategy == "bandit":
        # The allocation is read per decision from a per-process memo that the fold job's publications refresh.
        config["allocations"] = allocations_for(definition.key)
        config["cells"] = definition.bandit_context
    if definition.strategy == "model":
        # Imported here so that sites without a model slot never load LightGBM.
        from personalization.engine.featurize import variant_features

        config.update(
            model=model[1] if model else None,
            model_version=str(model[0]) if model else "",
            cells=model[2] if model else None,
            variants={v.key: variant_features(v.key, v.template, v.params) for v in definition.variants},
            **exploration_config(definition),
        )
    policy = build_policy(definition.strategy, **config)
    return CompiledSlot(
        definition=definition,
        policy=policy,
        candidates=tuple(Candidate(v.key, float(v.weight)) for v in live),
        variants={v.key: v for v in definition.variants},
        # Model slots read real-time features too: they are model inputs, logged with each decision for training.
        needs_features=definition.strategy == "model" or any(segment.uses_features for segment, _ in rules),
        experiments=experiments,
        caps=CapSettings(
            per_day=definition.cap_per_day,
            per_visit=definition.cap_per_visit,
            novelty_after=definition.novelty_after,
            novelty_decay=definition.novelty_decay,
        ),
    )


def catalog_build(version: str) -> Catalog:
    segments = segment_specs_all()
    definitions = slot_definitions_live()
    models = {}
    if any(d.strategy == "model" for d in definitions.values()):
        from personalization.serving.model_store import model_versions_active

        models = model_versions_active()
    experiments = experiment_assignments_live(definitions)
    slots = {}
    for key, definition in definitions.items():
        try:
            slots[key] = slot_compile(definition, segments, models.get(key), experiments.get(key, ()))
        except ValueError as exc:
            logger.error("Slot %r cannot be compiled (%s); it renders nothing until fixed.", key, exc)
    return Catalog(version=version, slots=slots, segments=segments)


_lock = threading.Lock()


@dataclass
class _ProcessCatalog:
    catalog: Catalog | None = None
    checked_at: float = 0.0


_state = _ProcessCatalog()


def _signals() -> Any:
    return caches[setting("CATALOG_CACHE")]


def _shared_version() -> str | None:
    key = setting("CATALOG_VERSION_KEY")
    with outage_guard("signals cache", "catalog version not read; serving the cached catalog"):
        cache = _signals()
        version = cache.get(key)
        if version is None:
            version = uuid.uuid4().hex
            cache.add(key, version, timeout=None)
            version = cache.get(key, version)
        return str(version)
    return None


def catalog_get() -> Catalog:
    catalog = _state.catalog
    now = time.monotonic()
    if catalog is not None and now - _state.checked_at < setting("CATALOG_CHECK_SECONDS"):
        return catalog
    with _lock:
        version = _shared_version()
        _state.checked_at = now
        if (
            catalog is not None
            and now - catalog.built_at < setting("CATALOG_MAX_AGE_SECONDS")
            and (version is None or version == catalog.version)
        ):
            return catalog
        catalog = catalog_build(version or uuid.uuid4().hex)
        _state.catalog = catalog
        return catalog


def catalog_drop_local() -> None:
    """Rebuild this process's catalog on its next use."""
    with _lock:
        _state.catalog = None
        _state.checked_at = 0.0


def catalog_invalidate() -> None:
    """Make every process rebuild: a new shared version, and this process's copy dropped now."""
    with outage_guard("signals cache", "catalog version not bumped; other processes keep their catalog"):
        _signals().set(setting("CATALOG_VERSION_KEY"), uuid.uuid4().hex, timeout=None)
    catalog_drop_local()


def catalog_changed() -> None:
    """Something the catalog is built from changed in the current transaction.

    This process sees the change at once (its own connection reads it); other
    processes are told only after commit, so they never rebuild from data that
    is not yet visible to them.
    """
    from django.db import transaction

    catalog_drop_local()
    transaction.on_commit(catalog_invalidate)

"""Compiling published experiments into the engine's ``ExperimentAssignment``, once per catalog build.

Every published experiment that has not ended is compiled, by slot and in start order, with
its start and stop as timestamps: serving asks each whether it runs now, so a scheduled
experiment starts and an ended one stops on time without a rebuild. An experiment whose
variants are not all live variants of the published slot is logged and not served (its
visitors get the slot's own strategy): splitting traffic between other arms than configured
would make its sample-ratio check and its results wrong.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping

from django.utils import timezone

from content.selectors import SlotDefinition
from personalization.engine.experiments import ExperimentAssignment
from personalization.models import Experiment

logger = logging.getLogger(__name__)


def experiment_assignment(experiment: Experiment) -> ExperimentAssignment:
    return ExperimentAssignment(
        key=experiment.key,
        share=float(experiment.share),
        arms=tuple(experiment.variants),
        weights=tuple(float(w) for w in experiment.weights or ()),
        starts_at=experiment.starts_at.timestamp(),
        ends_at=experiment.stops_at.timestamp(),
    )


def experiment_assignments_live(
    definitions: Mapping[str, SlotDefinition],
) -> dict[str, tuple[ExperimentAssignment, ...]]:
    """Slot key -> its published experiments not yet ended, in start order (one query)."""
    by_slot: dict[str, list[ExperimentAssignment]] = defaultdict(list)
    now = timezone.now()
    experiments = Experiment.objects.filter(live=True).select_related("slot").order_by("starts_at", "pk")
    for experiment in experiments:
        definition = definitions.get(experiment.slot.key)
        if definition is None or experiment.stops_at <= now:
            continue
        live = {v.key for v in definition.live_variants}
        missing = [arm for arm in experiment.variants if arm not in live]
        if missing:
            logger.error(
                "Experiment %r names variants that are not live in slot %r (%s); it is not served.",
                experiment.key,
                definition.key,
                ", ".join(map(str, missing)),
            )
            continue
        try:
            by_slot[definition.key].append(experiment_assignment(experiment))
        except ValueError as exc:
            logger.error("Experiment %r cannot be compiled (%s); it is not served.", experiment.key, exc)
    return {key: tuple(assignments) for key, assignments in by_slot.items()}

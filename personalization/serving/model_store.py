"""The trained models serving reads: each model slot's active version, loaded once per process.

A version's text never changes, so a loaded model is kept by version id; a corrupt
artefact is logged and leaves its slot exploring instead of taking it down.
Switching versions is ``learning.activation``'s job.
"""

from __future__ import annotations

import logging
from functools import lru_cache

from personalization.engine.model_cells import CellAllocations
from personalization.engine.reward_model import RewardModel
from personalization.models import ModelVersion

logger = logging.getLogger(__name__)


@lru_cache(maxsize=64)
def model_load(version_id: int, text: str) -> RewardModel:
    return RewardModel.from_text(text)


def model_versions_active() -> dict[str, tuple[int, RewardModel, CellAllocations | None]]:
    """Active model per slot key, loaded, with its Thompson allocations if it has them (used when the catalog is built)."""
    active = {}
    for version in ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE):
        try:
            model = model_load(version.pk, version.model_text)
        except Exception:  # a corrupt artefact must not take the slot down: it explores instead
            logger.exception(
                "Model version %s of slot %r cannot be loaded; the slot explores.", version.pk, version.slot_key
            )
            continue
        cells = None
        if version.allocations:
            try:
                cells = CellAllocations.from_dict(version.allocations)
            except (TypeError, ValueError, AttributeError):
                # The model still serves; Thompson falls back to epsilon-greedy on its scores.
                logger.exception(
                    "Model version %s of slot %r has an unreadable cell table.", version.pk, version.slot_key
                )
        active[version.slot_key] = (version.pk, model, cells)
    return active

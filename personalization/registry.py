"""The model registry: which trained version serves each model slot, and switching it.

Versions are rows of ``ModelVersion``; activating one retires the previous
active version of the slot in the same transaction and invalidates the
catalog, so every web process serves the new model within seconds, without a
restart. Loaded models are kept per process by version id, since a version's
text never changes.
"""

from __future__ import annotations

import logging
from functools import lru_cache

from django.db import transaction
from django.utils import timezone

from .engine.reward_model import RewardModel
from .models import ModelVersion

logger = logging.getLogger(__name__)


@lru_cache(maxsize=64)
def model_load(version_id: int, text: str) -> RewardModel:
    return RewardModel.from_text(text)


def model_versions_active() -> dict[str, tuple[int, RewardModel]]:
    """Active model per slot key, loaded (used when the catalog is built)."""
    active = {}
    for version in ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE):
        try:
            active[version.slot_key] = (version.pk, model_load(version.pk, version.model_text))
        except Exception:  # a corrupt artefact must not take the slot down: it explores instead
            logger.exception(
                "Model version %s of slot %r cannot be loaded; the slot explores.", version.pk, version.slot_key
            )
    return active


@transaction.atomic
def model_activate(version: ModelVersion, *, note: str = "") -> ModelVersion:
    """Serve this version for its slot (rollback is activating an older one)."""
    from .catalog import catalog_changed

    ModelVersion.objects.filter(slot_key=version.slot_key, status=ModelVersion.Status.ACTIVE).exclude(
        pk=version.pk
    ).update(status=ModelVersion.Status.RETIRED)
    version.status = ModelVersion.Status.ACTIVE
    version.activated_at = timezone.now()
    if note:
        version.note = note
    version.save(update_fields=["status", "activated_at", "note"])
    catalog_changed()
    logger.info("Model version %s now serves slot %r.", version.pk, version.slot_key)
    return version

"""The model registry: which trained version serves each model slot, and switching it.

Versions are rows of ``ModelVersion``; activating one retires the previous
active version of the slot in the same transaction and invalidates the
catalog, so every web process serves the new model within seconds, without a
restart. Serving loads the active versions through ``serving.model_store``.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from personalization.models import ModelVersion
from personalization.serving.catalog import catalog_changed

logger = logging.getLogger(__name__)


@transaction.atomic
def model_activate(version: ModelVersion, *, note: str = "") -> ModelVersion:
    """Serve this version for its slot (rollback is activating an older one)."""
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

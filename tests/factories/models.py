"""A published model slot serving a real LightGBM model that learned a device × variant effect.

Mobile visitors click variant "b", desktop visitors variant "a" (the model learns it from a synthetic
log), so an explanation of a mobile visitor's decision has a device and a variant to point at.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

from personalization.engine import Context
from personalization.engine.featurize import row_features, variant_features
from personalization.engine.reward_model import reward_model_train
from personalization.models import ModelVersion
from personalization.serving.catalog import catalog_get, catalog_invalidate
from tests.factories.slots import slot_create
from tracking.models import DecisionLog

CLICK_RATES = {"mobile": {"a": 0.05, "b": 0.45, "c": 0.10}, "desktop": {"a": 0.40, "b": 0.05, "c": 0.10}}


def model_slot_trained(key: str = "explained-hero", *, seed: int = 7) -> ModelVersion:
    """Publish ``key`` on the model strategy with variants a, b, c and activate a model trained for it."""
    slot_create(key, strategy="model", variants=[("a", 1), ("b", 1), ("c", 1)], default="a")
    definition = catalog_get().slots[key].definition
    variants = {v.key: variant_features(v.key, v.template, v.params) for v in definition.variants}
    rng = random.Random(seed)
    rows, labels = [], []
    for _ in range(3000):
        device = rng.choice(list(CLICK_RATES))
        variant = rng.choice(list(variants))
        context = Context.from_mapping({"device": device, "hour": rng.randrange(24)})
        rows.append(row_features(context, variants[variant]))
        labels.append(1.0 if rng.random() < CLICK_RATES[device][variant] else 0.0)
    model, _ = reward_model_train(rows, labels, seed=seed, num_boost_round=40)
    version = ModelVersion.objects.create(slot_key=key, status=ModelVersion.Status.ACTIVE, model_text=model.to_text())
    catalog_invalidate()
    return version


def decision_row(**fields: Any) -> DecisionLog:
    """An unsaved decision-log row with plain values (slot "s", variant "a", now), for tests that write the log directly."""
    from django.utils import timezone

    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "created_at": timezone.now(),
        "slot_key": "s",
        "variant_key": "a",
        "policy": "p",
        "policy_version": "1",
        "propensity": 1.0,
    }
    return DecisionLog(**{**values, **fields})

"""Offline evaluation of policies on a slot's logged decisions.

Estimates, from the decision log alone, what the click-through (or conversion
rate) would have been under: the policy that actually logged the data, uniform
random, each variant served to everyone, and the slot's newest model. This is
how a team compares policies before serving them, using the estimators in the
pure engine.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .catalog import catalog_get, exploration_config
from .engine.estimators import Estimate, evaluate_all
from .engine.featurize import variant_features
from .engine.model_policy import ModelPolicy
from .models import ModelVersion
from .registry import model_load
from .training import TrainingError, logged_rows, model_train, predicted_rewards, target_probabilities


def _row(estimates: dict[str, Estimate]) -> dict[str, Any]:
    out: dict[str, Any] = {name: estimate.value for name, estimate in estimates.items()}
    best = estimates.get("dr") or estimates["ips"]
    out["ci95"] = list(best.ci95)
    return out


def policy_evaluate(slot_key: str) -> dict[str, Any]:
    compiled = catalog_get().slots.get(slot_key)
    if compiled is None:
        raise TrainingError(f"No published slot has the key {slot_key!r}.")
    definition = compiled.definition
    keys = [c.key for c in compiled.candidates]
    rows = [r for r in logged_rows(definition) if r.action in keys]
    if not rows:
        raise TrainingError(f"Slot {slot_key!r} has no logged decisions of its live variants.")
    version = ModelVersion.objects.filter(slot_key=slot_key).first()
    if version is None:
        model_train(slot_key, promote=False)
        version = ModelVersion.objects.filter(slot_key=slot_key).first()
    model = model_load(version.pk, version.model_text)
    variants = {v.key: variant_features(v.key, v.template, v.params) for v in definition.variants}
    actions = np.array([keys.index(r.action) for r in rows])
    rewards = np.array([r.reward for r in rows])
    propensities = np.array([r.propensity for r in rows])
    predicted = predicted_rewards(model, rows, variants, keys)
    n, k = len(rows), len(keys)

    # The logging policy is evaluated on-policy: its own choices, weighted 1 (the propensity of its own action).
    logged = np.zeros((n, k))
    logged[np.arange(n), actions] = 1.0
    logged_estimates = evaluate_all(actions, rewards, np.ones(n), logged, predicted)
    policies: dict[str, Any] = {"logged": _row(logged_estimates)}
    policies["uniform"] = _row(evaluate_all(actions, rewards, propensities, np.full((n, k), 1.0 / k), predicted))
    for index, key in enumerate(keys):
        fixed = np.zeros((n, k))
        fixed[:, index] = 1.0
        policies[f"fixed:{key}"] = _row(evaluate_all(actions, rewards, propensities, fixed, predicted))
    model_policy = ModelPolicy(model=model, variants=variants, **exploration_config(definition))
    target = target_probabilities(model_policy, rows, compiled.candidates)
    policies["model"] = {**_row(evaluate_all(actions, rewards, propensities, target, predicted)), "version": version.pk}
    return {"slot": slot_key, "rows": n, "policies": policies}

"""Offline evaluation of policies on a slot's logged decisions.

Estimates, from the decision log alone, what the click-through (or conversion
rate) would have been under: the policy that actually logged the data, uniform
random, each variant served to everyone, and the slot's newest candidate model.
This is how a team compares policies before serving them, using the estimators
in the pure engine.

Every policy is scored on the same decisions, and those are the ones the model
was not trained on (logged after its training window): the direct method and
doubly robust estimates use the model's predictions, which would flatter every
policy on rows the model has already seen. Without a model (too little data
to train one) only the importance-sampling estimates are given.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np

from .catalog import catalog_get, exploration_config
from .engine.estimators import Estimate, evaluate_all
from .engine.featurize import variant_features
from .engine.model_policy import ModelPolicy
from .models import ModelVersion
from .registry import model_load
from .training import LoggedRow, TrainingError, logged_rows, model_train, predicted_rewards, target_probabilities

ESTIMATORS = ("ips", "snips", "dm", "dr")


def _row(estimates: dict[str, Estimate]) -> dict[str, Any]:
    out: dict[str, Any] = {name: estimates[name].value if name in estimates else None for name in ESTIMATORS}
    best = estimates.get("dr") or estimates["ips"]
    out["ci95"] = list(best.ci95)
    return out


def _candidate_get(slot_key: str) -> tuple[ModelVersion | None, str]:
    """The newest candidate trained since the serving model, else one trained now (not promoted); or why none."""
    newest = ModelVersion.objects.filter(slot_key=slot_key).order_by("-created_at", "-pk").first()
    if newest is not None and newest.status == ModelVersion.Status.CANDIDATE:
        return newest, ""  # an older candidate, passed over by a later model, is not what would serve next
    try:
        report = model_train(slot_key, promote=False)
    except TrainingError as exc:
        return None, str(exc)
    return ModelVersion.objects.get(pk=report.version_id), ""


def _unseen(rows: list[LoggedRow], version: ModelVersion) -> list[LoggedRow]:
    trained_until = (version.metrics or {}).get("trained_until")
    # A version from before trained_until was recorded: nothing after its whole window was trained on.
    until = datetime.fromisoformat(trained_until) if trained_until else version.window_end
    if until is None:
        return []
    return [r for r in rows if r.at is not None and r.at > until]


def policy_evaluate(slot_key: str) -> dict[str, Any]:
    compiled = catalog_get().slots.get(slot_key)
    if compiled is None:
        raise TrainingError(f"No published slot has the key {slot_key!r}.")
    definition = compiled.definition
    keys = [c.key for c in compiled.candidates]
    logged = [r for r in logged_rows(definition) if r.action in keys]
    if not logged:
        raise TrainingError(f"Slot {slot_key!r} has no logged decisions of its live variants.")
    version, note = _candidate_get(slot_key)
    model = None
    rows = logged
    if version is not None:
        try:
            model = model_load(version.pk, version.model_text)
        except ValueError as exc:
            raise TrainingError(f"Model version {version.pk} of slot {slot_key!r} cannot be loaded: {exc}") from None
        rows = _unseen(logged, version)
        if not rows:
            rows = logged
            note = f"Every decision was in model {version.pk}'s training window: DM and DR estimates are optimistic."
    variants = {v.key: variant_features(v.key, v.template, v.params) for v in definition.variants}
    actions = np.array([keys.index(r.action) for r in rows])
    rewards = np.array([r.reward for r in rows])
    propensities = np.array([r.propensity for r in rows])
    predicted = predicted_rewards(model, rows, variants, keys) if model is not None else None
    n, k = len(rows), len(keys)

    # The logging policy is evaluated on-policy: its own choices, weighted 1 (the propensity of its own action).
    own = np.zeros((n, k))
    own[np.arange(n), actions] = 1.0
    policies: dict[str, Any] = {"logged": _row(evaluate_all(actions, rewards, np.ones(n), own, predicted))}
    policies["uniform"] = _row(evaluate_all(actions, rewards, propensities, np.full((n, k), 1.0 / k), predicted))
    for index, key in enumerate(keys):
        fixed = np.zeros((n, k))
        fixed[:, index] = 1.0
        policies[f"fixed:{key}"] = _row(evaluate_all(actions, rewards, propensities, fixed, predicted))
    if model is not None and version is not None:
        model_policy = ModelPolicy(model=model, variants=variants, **exploration_config(definition))
        target = target_probabilities(model_policy, rows, compiled.candidates)
        policies["model"] = {
            **_row(evaluate_all(actions, rewards, propensities, target, predicted)),
            "version": version.pk,
        }
    result: dict[str, Any] = {"slot": slot_key, "rows": n, "rows_logged": len(logged), "policies": policies}
    if note:
        result["note"] = note
    return result

"""Offline evaluation of policies on a slot's logged decisions.

Estimates, from the decision log alone, what the click-through (or conversion
rate) would have been under: the policy that actually logged the data, uniform
random, each variant served to everyone, and a reward model trained on the log.
This is how a team compares policies before serving them, using the estimators
in the pure engine. It only reads: models are trained in memory and no model
version is stored.

Every logged decision counts. IPS and SNIPS use each row as logged. DM and DR
lean on a reward model, which would flatter every policy on rows it was trained
on, so the model is cross-fitted: the log is split into k folds, and each fold
is scored by a model trained on the other folds. The model policy is
cross-fitted the same way, so its estimate is the value of what training on
this log produces, judged on decisions it did not learn from. Without a model
(too little data to train one) only the importance-sampling estimates are given.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from personalization.engine.estimators import ESTIMATOR_NAMES, PolicyEstimates, policy_estimates
from personalization.engine.featurize import row_features, variant_features
from personalization.learning.training import MIN_ROWS, LoggedRow, TrainingError, crossfitted, logged_rows
from personalization.serving.catalog import CompiledSlot, catalog_get

ESTIMATORS = ESTIMATOR_NAMES
FOLDS = 5


def _row(result: PolicyEstimates, keys: list[str]) -> dict[str, Any]:
    estimates = result.estimates
    out: dict[str, Any] = {name: e.value if e is not None else None for name, e in estimates.items()}
    best = estimates["dr"] or estimates["ips"]
    out["ci95"] = list(best.ci95) if best is not None else None
    note = result.note
    if not note and result.unlogged_actions:
        unlogged = ", ".join(keys[a] for a in result.unlogged_actions)
        note = (
            f"{result.unlogged_share:.1%} of its choices are variants the log never shows ({unlogged}): IPS counts "
            "them as earning nothing, SNIPS as earning what the logged ones do, DR as the model predicts."
        )
    if note:
        out["note"] = note
    return out


def _crossfitted(
    compiled: CompiledSlot, rows: list[LoggedRow], folds: int, seed: int
) -> tuple[np.ndarray | None, np.ndarray | None, str]:
    """Out-of-fold predicted rewards and the fold models' choice probabilities (rows × live variants each).

    Both None, with the reason, when no model can be trained.
    """
    slot_key, definition = compiled.key, compiled.definition
    needed = max(MIN_ROWS, folds)
    if len(rows) < needed:
        return None, None, f"Slot {slot_key!r} has {len(rows)} usable logged decisions; at least {needed} are needed."
    if not any(r.reward > 0 for r in rows):
        return None, None, f"Slot {slot_key!r} has no rewarded decision among its {len(rows)}; nothing to learn yet."
    variants = {v.key: variant_features(v.key, v.template, v.params) for v in definition.variants}
    features = [row_features(r.context, variants[r.action]) for r in rows]
    try:
        predicted, model_target = crossfitted(definition, compiled.candidates, rows, features, folds=folds, seed=seed)
    except TrainingError as exc:
        return None, None, f"No model for DM and DR: a fold's model cannot be trained ({exc})."
    return predicted, model_target, ""


def policy_evaluate(slot_key: str, *, folds: int = FOLDS, seed: int = 0) -> dict[str, Any]:
    """Estimates of each policy's value on every logged decision of the slot's live variants, as JSON-ready data.

    Per policy: ``ips``, ``snips``, ``dm``, ``dr`` (None where not available), ``ci95`` (DR's, else IPS's;
    None when neither) and a ``note`` when the log cannot judge the policy. ``folds`` is None and the
    top-level ``note`` says why when no model could be trained.
    """
    if not (isinstance(folds, int) and folds >= 2):
        raise TrainingError(
            f"folds must be at least 2 (each fold is scored by a model trained on the others), got {folds!r}."
        )
    compiled = catalog_get().slots.get(slot_key)
    if compiled is None:
        raise TrainingError(f"No published slot has the key {slot_key!r}.")
    keys = [c.key for c in compiled.candidates]
    rows = [r for r in logged_rows(compiled.definition) if r.action in keys]
    if not rows:
        raise TrainingError(f"Slot {slot_key!r} has no logged decisions of its live variants.")
    predicted, model_target, note = _crossfitted(compiled, rows, folds, seed)
    actions = np.array([keys.index(r.action) for r in rows])
    rewards = np.array([r.reward for r in rows])
    propensities = np.array([r.propensity for r in rows])
    n, k = len(rows), len(keys)

    def estimated(target: np.ndarray, logged_propensities: np.ndarray = propensities) -> dict[str, Any]:
        return _row(policy_estimates(actions, rewards, logged_propensities, target, predicted), keys)

    # The logging policy is evaluated on-policy: its own choices, weighted 1 (the propensity of its own action).
    own = np.zeros((n, k))
    own[np.arange(n), actions] = 1.0
    policies: dict[str, Any] = {"logged": estimated(own, np.ones(n)), "uniform": estimated(np.full((n, k), 1.0 / k))}
    for index, key in enumerate(keys):
        fixed = np.zeros((n, k))
        fixed[:, index] = 1.0
        policies[f"fixed:{key}"] = estimated(fixed)
    if model_target is not None:
        policies["model"] = estimated(model_target)
    result: dict[str, Any] = {
        "slot": slot_key,
        "rows": n,
        "rows_logged": n,
        "folds": folds if predicted is not None else None,
        "policies": policies,
    }
    if note:
        result["note"] = note
    return result

"""Training a slot's reward model from the decision log, and deciding whether it may serve.

Rows are the slot's logged decisions joined with their rewards (from
tracking), with the context as it was at decision time and the variant's
current attributes, built by the same ``row_features`` that serving uses. Rows
are weighted by the inverse of their logged propensity (clipped), so data
gathered by one policy trains an unbiased model for another. The newest part
of the log is held out: the candidate is evaluated there by doubly robust
off-policy estimation against the policy that is serving, and promoted if
its estimate is above the serving policy's, or if the 95 % interval of the
paired difference rules out a loss of more than ``PROMOTION_MARGIN`` of the
serving policy's value (non-inferiority), so an equally good retrain replaces
its predecessor; one estimated worse whose interval allows a real loss stays a
candidate.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType
from typing import Any

import numpy as np

from content.selectors import SlotDefinition
from personalization.conf import setting
from personalization.engine import Candidate, Context
from personalization.engine.estimators import evaluate_all, not_worse, paired_difference
from personalization.engine.featurize import VariantFeatures, row_features, variant_features
from personalization.engine.model_policy import ModelPolicy
from personalization.engine.reward_model import RewardModel, TrainingMetrics, reward_model_train
from personalization.learning.activation import ActivateModelVersionAction
from personalization.learning.scoring import logged_context_read
from personalization.models import ModelVersion
from personalization.serving.catalog import catalog_get, exploration_config
from tracking.metrics import ROWS_SKIPPED
from tracking.models import DecisionLog
from tracking.rewards import Reward
from tracking.selectors import decision_rewards

logger = logging.getLogger(__name__)

CHUNK = 5000
WEIGHT_CLIP = 20.0
HOLDOUT = 0.3
NOT_LEARNED_FROM = ("no-consent", "trigger-default", "fallback", "capped")


class TrainingError(ValueError):
    """Not enough (or unusable) data to train this slot, or the training backend failed for it."""


# Called with (decisions read so far, decisions to read).
Progress = Callable[[int, int], None]


@dataclass
class LoggedRow:
    context: Context
    action: str
    reward: float
    propensity: float
    at: datetime | None = None


@dataclass
class TrainingReport:
    slot: str
    rows: int
    positives: int
    auc: float | None
    logloss: float | None
    version_id: int | None
    promoted: bool
    estimates: dict[str, Any] = field(default_factory=dict)
    note: str = ""


def reward_value(definition: SlotDefinition, reward: Reward | None) -> float:
    """The slot's learning target for one decision, in [0, 1]: a click, a conversion, or their weighted mix."""
    if reward is None:
        return 0.0
    if definition.reward == "conversion":
        return float(reward.converted)
    if definition.reward == "weighted":
        click_weight, conversion_weight = definition.reward_weights
        total = click_weight + conversion_weight
        return (click_weight * reward.clicked + conversion_weight * reward.converted) / total if total > 0 else 0.0
    return float(reward.clicked)


def logged_rows(definition: SlotDefinition, progress: Progress | None = None) -> Iterator[LoggedRow]:
    """The slot's learnable decisions with their rewards, read in chunks, oldest first."""
    decisions = (
        DecisionLog.objects.filter(slot_key=definition.key)
        .exclude(visitor_id=None)
        .exclude(policy__in=NOT_LEARNED_FROM)
        .exclude(is_bot=True)  # a crawler never clicks: its decisions would teach that nothing works
        .order_by("created_at")
    )
    total = decisions.count() if progress else 0
    done = 0
    chunk: list[tuple[Any, ...]] = []
    values = decisions.values_list("id", "variant_key", "propensity", "context", "created_at")
    for row in values.iterator(chunk_size=CHUNK):
        chunk.append(row)
        if len(chunk) == CHUNK:
            yield from _with_rewards(chunk, definition)
            done += len(chunk)
            if progress:
                progress(done, max(total, done))
            chunk = []
    if chunk:
        yield from _with_rewards(chunk, definition)
        done += len(chunk)
    if progress:
        progress(done, max(total, done))


def _with_rewards(chunk: list[tuple[Any, ...]], definition: SlotDefinition) -> Iterator[LoggedRow]:
    rewards = decision_rewards([decision_id.hex for decision_id, *_ in chunk])
    unreadable = 0
    for decision_id, variant_key, propensity, context, at in chunk:
        row_context = logged_context_read(context)
        if row_context is None:
            unreadable += 1  # not something to train or evaluate on
            continue
        value = reward_value(definition, rewards.get(decision_id.hex))
        yield LoggedRow(row_context, variant_key, value, float(propensity), at)
    if unreadable:
        ROWS_SKIPPED.labels(job="training").inc(unreadable)
        logger.warning("Slot %r: %d logged decisions have an unreadable context; left out.", definition.key, unreadable)


def target_probabilities(policy: Any, rows: list[LoggedRow], candidates: tuple[Candidate, ...]) -> np.ndarray:
    keys = [c.key for c in candidates]
    out = np.zeros((len(rows), len(keys)))
    contexts = [row.context for row in rows]
    model = getattr(policy, "model", None)
    if rows and isinstance(policy, ModelPolicy) and isinstance(model, RewardModel):
        # One batch prediction instead of one per row (a retrain every few hundred decisions evaluates two
        # policies on thousands of held-out rows); the policy then chooses from these scores, as serving
        # does from cached ones, so the probabilities are the same.
        scores = model.score(contexts, [policy.variants.get(k) or VariantFeatures(key=k, template="") for k in keys])
        contexts = [
            replace(context, scores=MappingProxyType(dict(zip(keys, row_scores, strict=True))))
            for context, row_scores in zip(contexts, scores.tolist(), strict=True)
        ]
    for i, context in enumerate(contexts):
        probabilities = policy.probabilities(candidates, context)
        out[i] = [probabilities.get(k, 0.0) for k in keys]
    return out


def predicted_rewards(
    model: RewardModel, rows: list[LoggedRow], variants: dict[str, VariantFeatures], keys: list[str]
) -> np.ndarray:
    features = [row_features(row.context, variants[k]) for row in rows for k in keys]
    return model.predict(features).reshape(len(rows), len(keys))


def model_train(
    slot_key: str, *, promote: bool = True, progress: Progress | None = None, seed: int = 0
) -> TrainingReport:
    """Train a candidate for the slot, evaluate it offline against what serves, promote it if not worse."""
    share = setting("PROMOTION_MARGIN")
    if not (isinstance(share, int | float) and math.isfinite(share) and share >= 0):
        raise TrainingError(f"TAILOR['PROMOTION_MARGIN'] must be a share of at least 0 (0.02 is 2 %), got {share!r}.")
    compiled = catalog_get().slots.get(slot_key)
    if compiled is None:
        raise TrainingError(f"No published slot has the key {slot_key!r}.")
    definition = compiled.definition
    variants = {v.key: variant_features(v.key, v.template, v.params) for v in definition.variants}
    rows = [r for r in logged_rows(definition, progress) if r.action in variants]
    if len(rows) < 200:
        raise TrainingError(f"Slot {slot_key!r} has {len(rows)} usable logged decisions; at least 200 are needed.")
    split = int(len(rows) * (1 - HOLDOUT))
    train, holdout = rows[:split], rows[split:]
    if not any(r.reward > 0 for r in train):
        raise TrainingError(
            f"Slot {slot_key!r} has no rewarded decision among its {len(train)} oldest; nothing to learn yet."
        )
    try:
        model, metrics = _train(
            [row_features(r.context, variants[r.action]) for r in train],
            [r.reward for r in train],
            [min(1.0 / max(r.propensity, 1e-6), WEIGHT_CLIP) for r in train],
            # A weighted reward is a fraction, which the binary objective refuses.
            params={"objective": "cross_entropy"} if definition.reward == "weighted" else None,
            seed=seed,
        )
    except TrainingError:
        raise
    except ValueError as exc:  # the data cannot train a model (one class, no usable feature, ...)
        raise TrainingError(f"Slot {slot_key!r} cannot be trained: {exc}") from exc
    trained_until = train[-1].at
    candidates = compiled.candidates
    keys = [c.key for c in candidates]
    holdout = [r for r in holdout if r.action in keys]
    if not holdout:
        raise TrainingError(f"Slot {slot_key!r} has no held-out decision of a live variant to evaluate a model on.")
    new_policy = ModelPolicy(model=model, variants=variants, **exploration_config(definition))
    serving = compiled.policy if compiled.policy.name == "model" else None
    if serving is None:
        serving = ModelPolicy(model=None, variants=variants)  # before any model the slot explores uniformly
    actions = np.array([keys.index(r.action) for r in holdout])
    rewards = np.array([r.reward for r in holdout])
    propensities = np.array([r.propensity for r in holdout])
    predicted = predicted_rewards(model, holdout, variants, keys)
    target_new = target_probabilities(new_policy, holdout, candidates)
    target_serving = target_probabilities(serving, holdout, candidates)
    new_estimates = evaluate_all(actions, rewards, propensities, target_new, predicted)
    serving_estimates = evaluate_all(actions, rewards, propensities, target_serving, predicted)
    uniform_estimates = evaluate_all(
        actions, rewards, propensities, np.full(target_new.shape, 1.0 / len(keys)), predicted
    )
    difference = paired_difference(actions, rewards, propensities, target_new, target_serving, predicted)
    margin = share * max(serving_estimates["dr"].value, 0.0)
    # Promoted when its interval rules out losing more than the margin, or when its estimate is above the
    # serving policy's. A candidate learned from everything its predecessor did plus the newest outcomes, so
    # the burden of proof is on keeping the old one: on a few hundred held-out outcomes at 3-12 % click
    # rates the interval is far wider than the margin, and the test alone kept every retrain back (and a
    # slot without a model exploring uniformly) for thousands of visitors. One estimated worse whose
    # interval allows a real loss stays a candidate.
    exploring = getattr(serving, "model", None) is None
    ok = difference.value > 0 or not_worse(difference, margin)
    estimates = {
        "holdout_rows": len(holdout),
        "logged_value": float(rewards.mean()) if len(rewards) else None,
        "candidate": {name: _estimate_dict(e) for name, e in new_estimates.items()},
        "serving": {name: _estimate_dict(e) for name, e in serving_estimates.items()},
        "uniform": {name: _estimate_dict(e) for name, e in uniform_estimates.items()},
        "difference_dr": _estimate_dict(difference),
        "promotion_margin": margin,
    }
    serving_words = "exploring uniformly" if exploring else "the serving model"
    if not ok:
        verdict = (
            f"estimated worse than {serving_words} and could be more than {margin:.4f} worse, kept as a candidate."
        )
    elif not_worse(difference, margin):
        verdict = "not worse, promoted." if promote else "not worse."
    else:
        verdict = (
            f"estimated better than {serving_words}, promoted."
            if promote
            else f"estimated better than {serving_words}."
        )
    note = (
        f"Doubly robust estimate {new_estimates['dr'].value:.4f} vs serving {serving_estimates['dr'].value:.4f}; "
        f"difference 95% CI [{difference.ci95[0]:.4f}, {difference.ci95[1]:.4f}]: {verdict}"
    )
    version = ModelVersion.objects.create(
        slot_key=slot_key,
        model_text=model.to_text(),
        metrics={
            "rows": metrics.rows,
            "positives": metrics.positives,
            "auc": metrics.auc,
            "logloss": metrics.logloss,
            # Decisions logged after this were not trained on: offline evaluation scores the model on those.
            "trained_until": trained_until.isoformat() if trained_until else None,
        },
        estimates=estimates,
        note=note,
        window_start=rows[0].at,
        window_end=rows[-1].at,
    )
    if ok and promote:
        # A system action: no user to check, and the audit entry records the evaluation that promoted it.
        ActivateModelVersionAction(version, source="promotion", reason=note).execute()
    return TrainingReport(
        slot=slot_key,
        rows=len(rows),
        positives=sum(1 for r in rows if r.reward > 0),
        auc=metrics.auc,
        logloss=metrics.logloss,
        version_id=version.pk,
        promoted=ok and promote,
        estimates=estimates,
        note=note,
    )


def model_fit(
    definition: SlotDefinition,
    rows: list[LoggedRow],
    features: list[dict[str, Any]],
    *,
    seed: int = 0,
    threads: int | None = None,
) -> RewardModel:
    """A reward model trained on these rows as ``model_train`` trains one, kept in memory: nothing is stored.

    ``features`` are the rows' ``row_features`` (of the logged variant), built once by a caller that fits
    several models on overlapping rows. ``threads`` caps LightGBM's threads when training locally.
    """
    params: dict[str, Any] = {"objective": "cross_entropy"} if definition.reward == "weighted" else {}
    if threads is not None and setting("TRAINING_BACKEND") == "local":
        params["num_threads"] = threads
    try:
        model, _ = _train(
            features,
            [r.reward for r in rows],
            [min(1.0 / max(r.propensity, 1e-6), WEIGHT_CLIP) for r in rows],
            params=params,
            seed=seed,
        )
    except TrainingError:
        raise
    except ValueError as exc:  # one class, no usable feature, ...
        raise TrainingError(f"Slot {definition.key!r} cannot be trained: {exc}") from exc
    return model


def _train(
    rows: list[dict[str, Any]], labels: list[float], weights: list[float], **options: Any
) -> tuple[RewardModel, TrainingMetrics]:
    """Train locally, or on the Dask cluster when ``TRAINING_BACKEND`` is "dask"; same inputs, same kind of model."""
    import lightgbm as lgb

    backend = setting("TRAINING_BACKEND")
    try:
        if backend == "local":
            return reward_model_train(rows, labels, weights, **options)
        return _train_on_dask(backend, rows, labels, weights, **options)
    except lgb.basic.LightGBMError as exc:
        raise TrainingError(f"LightGBM failed: {exc}") from exc


def _train_on_dask(
    backend: str, rows: list[dict[str, Any]], labels: list[float], weights: list[float], **options: Any
) -> tuple[RewardModel, TrainingMetrics]:
    if backend != "dask":
        raise TrainingError(f"Unknown TAILOR_TRAINING_BACKEND {backend!r}; use 'local' or 'dask'.")
    address = setting("DASK_SCHEDULER_ADDRESS")
    if not address:
        raise TrainingError("TAILOR_TRAINING_BACKEND is 'dask' but DASK_SCHEDULER_ADDRESS is not set.")
    from distributed import Client

    from personalization.engine.dask_training import reward_model_train_dask

    try:
        client = Client(address, timeout=setting("DASK_CONNECT_TIMEOUT_SECONDS"), set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise TrainingError(f"The Dask scheduler at {address} cannot be reached ({exc}).") from exc
    with client:
        return reward_model_train_dask(rows, labels, weights, client=client, **options)


def _estimate_dict(estimate: Any) -> dict[str, Any]:
    return {"value": estimate.value, "ci95": list(estimate.ci95), "n": estimate.n}


def model_slots() -> list[str]:
    return sorted(key for key, slot in catalog_get().slots.items() if slot.definition.strategy == "model")

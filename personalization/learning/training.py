"""Training a slot's reward model from the decision log, and deciding whether it may serve.

Rows are the slot's logged decisions joined with their rewards (from
tracking), with the context as it was at decision time and the variant's
current attributes, built by the same ``row_features`` that serving uses.

The model estimates the chance of a reward given the context and the variant,
which does not depend on which policy chose the variant, so rows are not
importance-weighted: with an exploit-heavy log, weights of up to 20 let a few
explored rows decide whole leaves (on the hard simulated world the weighted
model ended further from the oracle: bench/RESULTS.md, Continuous learning).
Propensities weigh where they must, in the off-policy estimates below.

Every logged decision trains the served model. The candidate is cross-fitted:
the log is split into folds, each scored by a model (and that model's policy)
trained on the other folds, so no decision is judged by a model that learned
from it. The serving model is judged only on the decisions logged since it
was trained, and the candidate on the same decisions. The candidate is kept
back only when the 95 % interval of the paired doubly robust difference
*candidate − serving* lies wholly below −``PROMOTION_MARGIN`` of the serving
policy's value (``shown_worse``), or when nothing was logged since the serving
model was trained (then nothing fair can be said); otherwise it is promoted.
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
from personalization.engine.estimators import crossfit, evaluate_all, folds_assign, paired_difference, shown_worse
from personalization.engine.featurize import VariantFeatures, row_features, variant_features
from personalization.engine.model_cells import CellAllocations, cell_allocations_compute
from personalization.engine.model_policy import ModelPolicy
from personalization.engine.reward_model import (
    RewardModel,
    TrainingMetrics,
    reward_auc,
    reward_logloss,
    reward_model_train,
)
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
FOLDS = 5
MIN_ROWS = 200  # below this a reward model says more about noise than about visitors
# A fixed number of boosting rounds, no early stopping: stopping on a held-out fifth of a few thousand rows at
# click rates of a few percent is noise, and costs the model that fifth (bench/RESULTS.md, Continuous learning).
ROUNDS = 100
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


def crossfitted(
    definition: SlotDefinition,
    candidates: tuple[Candidate, ...],
    rows: list[LoggedRow],
    features: list[dict[str, Any]],
    *,
    folds: int = FOLDS,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold predicted rewards and the fold models' choice probabilities, each rows × candidates.

    Each fold's rows are scored by a model trained on the other folds, and by that model's policy
    (the slot's exploration), so every row is judged by a model that never saw it. ``features`` are
    the rows' ``row_features`` (of the logged variant). Raises ``TrainingError`` when a fold's model
    cannot be trained.
    """
    keys = [c.key for c in candidates]
    variants = {v.key: variant_features(v.key, v.template, v.params) for v in definition.variants}
    ordered = [variants.get(key) or VariantFeatures(key=key, template="") for key in keys]
    exploration = exploration_config(definition)
    rewards = np.array([r.reward for r in rows])

    def fit_predict(train: np.ndarray, held_out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # One thread per fit: training runs beside web workers, and on a busy machine OpenMP's threads spin
        # against them (a fold of the Open Bandit sample: 6.4 s on 2 threads, 0.4 s on 1, under load).
        trained_on = [rows[i] for i in train]
        model = model_fit(definition, trained_on, [features[i] for i in train], seed=seed, threads=1)
        contexts = [rows[i].context for i in held_out]
        predicted = model.score(contexts, ordered)
        # The fold's model policy chooses from the scores just computed, as serving does from cached scores.
        cells = cell_allocations_fit(definition, model, trained_on, ordered, seed=seed)
        policy = ModelPolicy(model=model, variants=variants, cells=cells, **exploration)
        scored = [
            replace(row, context=replace(context, scores=MappingProxyType(dict(zip(keys, scores, strict=True)))))
            for row, context, scores in zip((rows[i] for i in held_out), contexts, predicted.tolist(), strict=True)
        ]
        return predicted, target_probabilities(policy, scored, candidates)

    predicted, target = crossfit(folds_assign(rewards, folds, seed), fit_predict)
    return predicted, target


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
    candidates = compiled.candidates
    keys = [c.key for c in candidates]
    # A paused variant's decisions neither train nor judge: the policies compared can no longer show it.
    rows = [r for r in logged_rows(definition, progress) if r.action in keys]
    if len(rows) < MIN_ROWS:
        raise TrainingError(
            f"Slot {slot_key!r} has {len(rows)} usable logged decisions of its live variants; "
            f"at least {MIN_ROWS} are needed."
        )
    if not any(r.reward > 0 for r in rows):
        raise TrainingError(f"Slot {slot_key!r} has no rewarded decision among its {len(rows)}; nothing to learn yet.")
    features = [row_features(r.context, variants[r.action]) for r in rows]
    model = model_fit(definition, rows, features, seed=seed)
    ordered = [variants.get(key) or VariantFeatures(key=key, template="") for key in keys]
    cells = cell_allocations_fit(definition, model, rows, ordered, seed=seed)
    try:
        predicted, target_new = crossfitted(definition, candidates, rows, features, seed=seed)
    except TrainingError as exc:
        raise TrainingError(
            f"Slot {slot_key!r} cannot be evaluated: a fold's model cannot be trained ({exc})."
        ) from exc
    out_of_fold, all_actions = predicted, np.array([keys.index(r.action) for r in rows])
    serving = compiled.policy if compiled.policy.name == "model" else None
    if serving is None:
        serving = ModelPolicy(model=None, variants=variants)  # before any model the slot explores uniformly
    # The serving model is judged only on decisions logged after it was trained: on its own training rows its
    # policy leans towards what happened to be rewarded there, and would look better than it is.
    fresh = _fresh(rows, getattr(serving, "model_version", ""))
    # Nothing logged since (an operator retrains at once): the candidate is stored, judged on every decision,
    # but never promoted, as nothing fair can be said about it against the serving model.
    unjudged = not fresh
    if unjudged:
        fresh = list(range(len(rows)))
    judged = [rows[i] for i in fresh]
    predicted, target_new = predicted[fresh], target_new[fresh]
    actions = np.array([keys.index(r.action) for r in judged])
    rewards = np.array([r.reward for r in judged])
    propensities = np.array([r.propensity for r in judged])
    target_serving = target_probabilities(serving, judged, candidates)
    new_estimates = evaluate_all(actions, rewards, propensities, target_new, predicted)
    serving_estimates = evaluate_all(actions, rewards, propensities, target_serving, predicted)
    uniform_estimates = evaluate_all(
        actions, rewards, propensities, np.full(target_new.shape, 1.0 / len(keys)), predicted
    )
    difference = paired_difference(actions, rewards, propensities, target_new, target_serving, predicted)
    margin = share * max(serving_estimates["dr"].value, 0.0)
    # Kept back only when the evidence shows it worse: its whole 95 % interval below -margin. A candidate learned
    # from everything its predecessor did plus the newest outcomes, so the burden of proof is on keeping the old
    # one. On a few hundred new outcomes at 3-12 % click rates the interval is far wider than any useful margin:
    # demanding that it rule out a loss (non-inferiority), or even an estimate above the serving one, kept most
    # retrains back on a coin flip and left slots serving stale models (bench/RESULTS.md, Continuous learning).
    exploring = getattr(serving, "model", None) is None
    ok = not shown_worse(difference, margin) and not unjudged
    estimates = {
        "evaluated_rows": len(judged),
        "trained_rows": len(rows),
        "folds": FOLDS,
        "logged_value": float(rewards.mean()),
        "candidate": {name: _estimate_dict(e) for name, e in new_estimates.items()},
        "serving": {name: _estimate_dict(e) for name, e in serving_estimates.items()},
        "uniform": {name: _estimate_dict(e) for name, e in uniform_estimates.items()},
        "difference_dr": _estimate_dict(difference),
        "promotion_margin": margin,
    }
    serving_words = "exploring uniformly" if exploring else "the serving model"
    if unjudged:
        verdict = "no decision was logged since the serving model was trained, so it cannot be judged against it; kept as a candidate."
    elif not ok:
        verdict = f"worse than {serving_words} by more than {margin:.4f}, kept as a candidate."
    elif difference.value > 0:
        verdict = f"estimated better than {serving_words}" + (", promoted." if promote else ".")
    else:
        verdict = f"not shown worse than {serving_words} by more than {margin:.4f}" + (
            ", promoted." if promote else "."
        )
    judged_on = (
        f"all {len(judged)} decisions"
        if len(judged) == len(rows)
        else f"the {len(judged)} decisions logged since the serving model was trained"
    )
    note = (
        f"Doubly robust estimate {new_estimates['dr'].value:.4f} vs serving {serving_estimates['dr'].value:.4f} "
        f"on {judged_on} (the candidate {FOLDS}-fold cross-fitted on all {len(rows)}); "
        f"difference 95% CI [{difference.ci95[0]:.4f}, {difference.ci95[1]:.4f}]: {verdict}"
    )
    # The model's quality as the cross-fit measured it: each decision predicted by a model that never saw it.
    logged_predictions = out_of_fold[np.arange(len(rows)), all_actions]
    all_rewards = np.array([r.reward for r in rows])
    version = ModelVersion.objects.create(
        slot_key=slot_key,
        model_text=model.to_text(),
        metrics={
            "rows": len(rows),
            "positives": int((all_rewards > 0).sum()),
            "auc": reward_auc(all_rewards, logged_predictions),
            "logloss": reward_logloss(all_rewards, logged_predictions, np.ones(len(rows))),
            # Decisions logged after this were not trained on: the next retrain judges this model on those.
            "trained_until": rows[-1].at.isoformat() if rows[-1].at else None,
        },
        estimates=estimates,
        allocations=cells.to_dict() if cells is not None else {},
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
        positives=version.metrics["positives"],
        auc=version.metrics["auc"],
        logloss=version.metrics["logloss"],
        version_id=version.pk,
        promoted=ok and promote,
        estimates=estimates,
        note=note,
    )


def _fresh(rows: list[LoggedRow], model_version: str) -> list[int]:
    """Indices of the rows logged after the model version was trained (all of them without a model)."""
    if not model_version:
        return list(range(len(rows)))
    version = ModelVersion.objects.filter(pk=model_version).only("metrics").first()
    trained_until = (version.metrics or {}).get("trained_until") if version else None
    if not trained_until:
        return list(range(len(rows)))
    since = datetime.fromisoformat(trained_until)
    return [i for i, row in enumerate(rows) if row.at is None or row.at > since]


def cell_allocations_fit(
    definition: SlotDefinition,
    model: RewardModel,
    rows: list[LoggedRow],
    ordered: list[VariantFeatures],
    *,
    seed: int = 0,
) -> CellAllocations | None:
    """Thompson exploration's allocations per context cell for a model trained on ``rows`` (None for the others).

    ``ordered`` are the candidates' features, in the order the table lists them.
    """
    if definition.exploration != "thompson":
        return None
    return cell_allocations_compute(
        [r.context for r in rows],
        [r.action for r in rows],
        [r.reward for r in rows],
        [v.key for v in ordered],
        lambda contexts: model.score(contexts, ordered),
        floor=definition.exploration_rate / len(ordered),
        seed=seed,
    )


def model_fit(
    definition: SlotDefinition,
    rows: list[LoggedRow],
    features: list[dict[str, Any]],
    *,
    seed: int = 0,
    threads: int | None = None,
) -> RewardModel:
    """A reward model trained on these rows as ``model_train`` trains the one it serves, kept in memory.

    ``features`` are the rows' ``row_features`` (of the logged variant), built once by a caller that fits
    several models on overlapping rows. Every row is used ``ROUNDS`` rounds, unweighted (see the module's
    docstring). ``threads`` caps LightGBM's threads when training locally.
    """
    params: dict[str, Any] = {"objective": "cross_entropy"} if definition.reward == "weighted" else {}
    if threads is not None and setting("TRAINING_BACKEND") == "local":
        params["num_threads"] = threads
    try:
        model, _ = _train(
            features,
            [r.reward for r in rows],
            params=params,
            seed=seed,
            valid_fraction=0.0,
            num_boost_round=ROUNDS,
        )
    except TrainingError:
        raise
    except ValueError as exc:  # one class, no usable feature, ...
        raise TrainingError(f"Slot {definition.key!r} cannot be trained: {exc}") from exc
    return model


def _train(rows: list[dict[str, Any]], labels: list[float], **options: Any) -> tuple[RewardModel, TrainingMetrics]:
    """Train locally, or on the Dask cluster when ``TRAINING_BACKEND`` is "dask"; same inputs, same kind of model."""
    import lightgbm as lgb

    backend = setting("TRAINING_BACKEND")
    try:
        if backend == "local":
            return reward_model_train(rows, labels, None, **options)
        return _train_on_dask(backend, rows, labels, **options)
    except lgb.basic.LightGBMError as exc:
        raise TrainingError(f"LightGBM failed: {exc}") from exc


def _train_on_dask(
    backend: str, rows: list[dict[str, Any]], labels: list[float], **options: Any
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
        return reward_model_train_dask(rows, labels, None, client=client, **options)


def _estimate_dict(estimate: Any) -> dict[str, Any]:
    return {"value": estimate.value, "ci95": list(estimate.ci95), "n": estimate.n}


def model_slots() -> list[str]:
    return sorted(key for key, slot in catalog_get().slots.items() if slot.definition.strategy == "model")

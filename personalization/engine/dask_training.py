"""The Dask training backend: the same reward model, boosted on a Dask cluster.

``reward_model_train_dask`` shares everything but the boosting with ``reward_model_train``
(input checks, schema, stratified split, metrics: ``reward_model.TrainingPlan``). It
encodes the training rows chunk by chunk, ships each chunk straight to a worker, and lets
LightGBM's Dask interface train data-parallel across the workers that hold chunks. The
result is LightGBM model text like any other, so the model is stored and served exactly
as a locally trained one. Dask is imported only when this backend runs.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import lightgbm as lgb
import numpy as np

from .reward_model import (
    EARLY_STOPPING_ROUNDS,
    FloatArray,
    RewardModel,
    TrainingMetrics,
    TrainingPlan,
    reward_logloss,
    training_prepare,
)

if TYPE_CHECKING:
    from distributed import Client

DEFAULT_CHUNK_ROWS = 50_000
# Objectives whose raw score becomes a probability through a sigmoid: the iteration is
# picked by validation log-loss, which needs that probability after every iteration.
SIGMOID_OBJECTIVES = frozenset({"binary", "cross_entropy", "xentropy"})
# LightGBM's Dask interface sets each worker's thread count from the worker's own nthreads
# and warns about any thread count passed in; the local default of 2 means nothing there.
_THREAD_PARAMS = frozenset({"num_threads", "num_thread", "nthread", "nthreads", "n_jobs"})
_OBJECTIVE_LINE = re.compile(r"^objective=(.*)$", re.MULTILINE)
# The model text records the ports this training happened to use; left in, two trainings on
# the same data would store different text, and retraining must not look like a change.
_NETWORK_PARAMETER_LINES = (
    (re.compile(r"^\[machines: .*\]$", re.MULTILINE), "[machines: ]"),
    (re.compile(r"^\[local_listen_port: .*\]$", re.MULTILINE), "[local_listen_port: 12400]"),
)


def reward_model_train_dask(
    rows: Sequence[Mapping[str, Any]],
    labels: Sequence[float],
    weights: Sequence[float] | None = None,
    *,
    client: Client,
    params: Mapping[str, Any] | None = None,
    valid_fraction: float = 0.2,
    seed: int = 0,
    num_boost_round: int = 200,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> tuple[RewardModel, TrainingMetrics]:
    """Train a reward model on the Dask cluster behind ``client``; same inputs and result as ``reward_model_train``.

    The training rows are encoded ``chunk_rows`` at a time (fewer when that would leave a
    worker without data) and each chunk, with its labels and weights, is scattered to one
    worker in turn, so this process never holds the whole training matrix (it does hold the
    feature rows it was given: ``model_train`` builds those from the log). LightGBM then
    trains with ``tree_learner="data"`` on every worker holding chunks, each with as many
    threads as the worker has; ``num_threads`` in ``params`` is dropped.

    Early stopping: LightGBM's Dask interface does not support it (each worker would judge
    its own share of the validation rows and stop at a different round, which hangs the
    collective). So the cluster boosts all ``num_boost_round`` rounds on the training split,
    and this process then replays the local backend's rule on the validation rows it kept:
    weighted log-loss after each iteration, stop once it has not improved for
    ``EARLY_STOPPING_ROUNDS`` rounds, keep the best iteration. Later trees never change
    earlier ones, so for these trees this picks the iteration the callback would have picked
    (with the objective's default metric, which is log-loss for both), at the cost of
    boosting the rounds after it. The validation split and the metrics are the local
    backend's (``TrainingPlan``). Only objectives with a sigmoid link (binary, cross_entropy)
    are supported, as the rule reads probabilities.
    """
    import dask.array as da
    from lightgbm.dask import DaskLGBMRegressor

    plan = training_prepare(
        rows,
        labels,
        weights,
        params=params,
        valid_fraction=valid_fraction,
        seed=seed,
        num_boost_round=num_boost_round,
    )
    objective = plan.params.get("objective")
    if objective not in SIGMOID_OBJECTIVES:
        raise ValueError(
            f"The Dask backend supports the objectives {', '.join(sorted(SIGMOID_OBJECTIVES))}; got {objective!r}."
        )
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}.")
    workers = sorted(client.nthreads())
    if not workers:
        raise ValueError("The Dask cluster has no workers to train on.")

    # Every worker gets at least one chunk when there are rows enough: a worker without data
    # would take no part in training.
    chunk_rows = max(1, min(chunk_rows, math.ceil(plan.train_index.size / len(workers))))
    X_parts, y_parts, w_parts = [], [], []
    for i, (X_chunk, y_chunk, w_chunk) in enumerate(plan.train_chunks(chunk_rows)):
        # One worker holds a chunk's matrix, labels and weights, so LightGBM finds them together;
        # hash=False because equal label or weight blocks must not collapse into one key.
        X_future, y_future, w_future = client.scatter(
            [X_chunk, y_chunk, w_chunk], workers=[workers[i % len(workers)]], hash=False
        )
        X_parts.append(da.from_delayed(X_future, shape=X_chunk.shape, dtype=np.float64))
        y_parts.append(da.from_delayed(y_future, shape=y_chunk.shape, dtype=np.float64))
        w_parts.append(da.from_delayed(w_future, shape=w_chunk.shape, dtype=np.float64))

    lgb_params = {name: value for name, value in plan.params.items() if name not in _THREAD_PARAMS}
    # A regressor with the plan's objective: the classifier would re-encode labels as classes,
    # which fractional rewards under cross_entropy are not.
    estimator = DaskLGBMRegressor(client=client, n_estimators=num_boost_round, **lgb_params)
    # LightGBM waits on the parts through the *default* client, which need not be this one.
    with client.as_current(), warnings.catch_warnings():
        # The scikit-learn wrapper always carries n_jobs (None), which the Dask interface then warns it drops.
        warnings.filterwarnings("ignore", message="Parameter n_jobs will be ignored", category=UserWarning)
        estimator.fit(
            da.concatenate(X_parts),
            da.concatenate(y_parts),
            sample_weight=da.concatenate(w_parts),
            feature_name=plan.feature_names,
            categorical_feature=plan.schema.categorical_indices,
        )
    booster = lgb.Booster(model_str=estimator.booster_.model_to_string())
    best = _best_iteration(booster, plan) if plan.stops_early else None
    # model_to_string(num_iteration=...) drops the trees after the best iteration, as the local backend's does.
    model_text = booster.model_to_string(num_iteration=best)
    for pattern, replacement in _NETWORK_PARAMETER_LINES:
        model_text = pattern.sub(replacement, model_text)
    return plan.finish(model_text)


def _best_iteration(booster: lgb.Booster, plan: TrainingPlan) -> int:
    """The iteration ``lgb.early_stopping`` would keep, judged by validation log-loss after each iteration."""
    link = _sigmoid_link(booster.model_to_string(num_iteration=1))
    raw = np.zeros(plan.valid_index.size, dtype=np.float64)
    losses: list[float] = []
    for iteration in range(booster.current_iteration()):
        # One iteration's trees at a time keeps this linear in the number of iterations.
        raw += booster.predict(plan.X_valid, start_iteration=iteration, num_iteration=1, raw_score=True)
        loss = reward_logloss(plan.valid_labels, link(raw), plan.valid_weights)
        losses.append(math.inf if loss is None else loss)
    return early_stopping_iteration(losses, EARLY_STOPPING_ROUNDS)


def early_stopping_iteration(losses: Sequence[float], stopping_rounds: int) -> int:
    """The 1-based iteration ``lgb.early_stopping`` keeps for these per-iteration losses (lower is better).

    Like the callback: strictly lower counts as better, and the search ends at the first
    iteration ``stopping_rounds`` past the best so far.
    """
    if not losses:
        raise ValueError("No iterations to choose from.")
    best, best_loss = 0, math.inf
    for iteration, loss in enumerate(losses):
        if loss < best_loss:
            best, best_loss = iteration, loss
        elif iteration - best >= stopping_rounds:
            break
    return best + 1


def _sigmoid_link(model_text: str) -> Callable[[FloatArray], FloatArray]:
    """Raw score to probability, read from the objective line LightGBM wrote into the model."""
    match = _OBJECTIVE_LINE.search(model_text)
    tokens = match.group(1).split() if match else []
    if not tokens or tokens[0] not in SIGMOID_OBJECTIVES:
        raise ValueError(f"Cannot pick an iteration for a model with objective {' '.join(tokens)!r}.")
    scale = 1.0
    for token in tokens[1:]:
        name, _, value = token.partition(":")
        if name == "sigmoid":
            scale = float(value)

    def link(raw: FloatArray) -> FloatArray:
        return 1.0 / (1.0 + np.exp(-scale * raw))

    return link

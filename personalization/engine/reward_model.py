"""The reward model: LightGBM's estimate of how likely a variant is to be rewarded in a context.

``reward_model_train`` fits a binary gradient-boosted model on feature rows from the
decision log and reports its AUC and log-loss on a held-out split. A ``RewardModel``
carries its ``FeatureSchema`` with it and serialises both into one text artefact, so a
stored model version always encodes features exactly as it was trained to.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .context import Context
from .featurize import FeatureSchema, VariantFeatures, matrix, schema_fit, score_matrix

if TYPE_CHECKING:
    import lightgbm as lgb

# LightGBM is imported where a model is loaded or trained: with scikit-learn, pandas and dask
# installed, its own import takes most of a second, which processes that never score skip.

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

MIN_ROWS = 50
EARLY_STOPPING_ROUNDS = 20
SERVING_ROWS = (
    256  # predictions up to this many rows run on one thread (serving); more use OpenMP's default, every core
)
TEXT_FORMAT = "tailor-reward-model"
TEXT_FORMAT_VERSION = 1
_LOGLOSS_EPS = 1e-15

DEFAULT_PARAMS: Mapping[str, Any] = {
    "objective": "binary",
    "num_leaves": 15,
    "learning_rate": 0.05,
    "min_data_in_leaf": 20,
    # LightGBM's default of 100 rows per category group would forbid most
    # categorical splits on the few thousand rows a young slot has logged.
    "min_data_per_group": 20,
    "feature_fraction": 0.9,
    "verbose": -1,
    "num_threads": 2,
    # Same data and seed give the same model on every machine: retraining must not
    # look like a change in the data.
    "deterministic": True,
    "force_col_wise": True,
    # Otherwise a later change of min_data_in_leaf is silently ignored by a reused Dataset.
    "feature_pre_filter": False,
}


@dataclass(frozen=True, slots=True)
class TrainingMetrics:
    """How a trained model did: ``rows`` and ``positives`` count all training input (a row is
    positive when its label is above 0); ``auc`` and ``logloss`` are measured on the
    ``valid_rows`` held out, and are None when that split is empty (AUC also when it
    lacks either class). Log-loss is weighted by the row weights, AUC is not.
    """

    rows: int
    positives: int
    auc: float | None
    logloss: float | None
    valid_rows: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RewardModel:
    """A trained booster with the schema that turns feature rows into its input matrix."""

    __slots__ = ("_booster", "schema")

    def __init__(self, booster: lgb.Booster, schema: FeatureSchema) -> None:
        if booster.num_feature() != len(schema.columns):
            raise ValueError(
                f"The booster reads {booster.num_feature()} features but the schema has {len(schema.columns)} columns."
            )
        self._booster = booster
        self.schema = schema

    @property
    def num_trees(self) -> int:
        return int(self._booster.num_trees())

    def predict(self, rows: Sequence[Mapping[str, Any]]) -> FloatArray:
        """Probability of reward for each feature row (as built by ``row_features``)."""
        return self.predict_matrix(matrix(rows, self.schema))

    def predict_matrix(self, X: npt.ArrayLike) -> FloatArray:
        """Probability of reward for each row of a matrix already encoded with ``self.schema``."""
        data = np.asarray(X, dtype=np.float64)
        if data.ndim != 2 or data.shape[1] != len(self.schema.columns):
            raise ValueError(f"Expected a matrix with {len(self.schema.columns)} columns, got shape {data.shape}.")
        if data.shape[0] == 0:
            return np.empty(0, dtype=np.float64)
        if data.shape[0] <= SERVING_ROWS:
            # One visitor's few variants: threads cost more than they save, and in a web server every
            # busy worker's OpenMP threads fight for the same cores (bench/predict_threads.py: with 4
            # processes on 2 cores, p99 0.75 ms on one thread against 15.4 ms on the default).
            return np.asarray(self._booster.predict(data, num_threads=1), dtype=np.float64)
        return np.asarray(self._booster.predict(data), dtype=np.float64)

    def contributions(self, rows: Sequence[Mapping[str, Any]]) -> FloatArray:
        """Each feature's contribution to each row's raw score (log-odds), LightGBM's ``pred_contrib``.

        Shape (rows, columns + 1), columns in ``self.schema.columns`` order; the last column is the
        model's expected raw score. A row's contributions add up to its raw score exactly (TreeSHAP),
        so ``predict`` is the logistic of their sum: what ``engine.explain`` reads a choice from.
        """
        data = matrix(rows, self.schema)
        if data.shape[0] == 0:
            return np.empty((0, len(self.schema.columns) + 1), dtype=np.float64)
        return np.asarray(self._booster.predict(data, pred_contrib=True, num_threads=1), dtype=np.float64)

    def score(self, contexts: Sequence[Context], variants: Sequence[VariantFeatures]) -> FloatArray:
        """Probability of reward for every variant for every visitor: shape (len(contexts), len(variants)).

        The same numbers as ``predict`` on ``row_features`` of each pair, in one prediction,
        with each visitor and each variant encoded once (``score_matrix``): the batch path.
        """
        scores = self.predict_matrix(score_matrix(contexts, variants, self.schema))
        return scores.reshape(len(contexts), len(variants))

    def to_text(self) -> str:
        """One string to store: a JSON header line (format and schema), then LightGBM's model text."""
        header = {"format": TEXT_FORMAT, "format_version": TEXT_FORMAT_VERSION, "schema": self.schema.to_dict()}
        # json.dumps escapes newlines inside strings, so the header is always exactly one line.
        return json.dumps(header, sort_keys=True) + "\n" + self._booster.model_to_string()

    @classmethod
    def from_text(cls, text: str) -> RewardModel:
        header_line, separator, model_text = text.partition("\n")
        try:
            header = json.loads(header_line)
        except json.JSONDecodeError as error:
            raise ValueError(f"Not a reward model: the first line is not JSON ({error}).") from None
        if not isinstance(header, dict) or header.get("format") != TEXT_FORMAT:
            raise ValueError(f"Not a reward model: the header does not declare format {TEXT_FORMAT!r}.")
        if header.get("format_version") != TEXT_FORMAT_VERSION:
            raise ValueError(
                f"Unsupported reward model format_version {header.get('format_version')!r}; expected {TEXT_FORMAT_VERSION}."
            )
        if not separator or not model_text.strip():
            raise ValueError("Not a reward model: the LightGBM model text is missing.")
        schema = FeatureSchema.from_dict(header.get("schema") or {})
        import lightgbm as lgb

        try:
            booster = lgb.Booster(model_str=model_text)
        except lgb.basic.LightGBMError as error:
            raise ValueError(f"Not a reward model: LightGBM cannot read the model text ({error}).") from None
        return cls(booster, schema)


def _positive(labels: FloatArray) -> npt.NDArray[np.bool_]:
    return labels > 0


def reward_auc(labels: FloatArray, scores: FloatArray) -> float | None:
    """Area under the ROC curve by the rank-sum (Mann–Whitney) formula, ties at half credit."""
    positive = _positive(labels)
    n_pos = int(positive.sum())
    n_neg = int(positive.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        return None
    unique, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    # Tied scores share the average of the ranks they span (1-based).
    ends = np.cumsum(counts)
    average_rank = ends - (counts - 1) / 2.0
    rank_sum = float(average_rank[inverse][positive].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def reward_logloss(labels: FloatArray, probabilities: FloatArray, weights: FloatArray) -> float | None:
    total = float(weights.sum())
    if labels.size == 0 or total <= 0:
        return None
    p = np.clip(probabilities, _LOGLOSS_EPS, 1 - _LOGLOSS_EPS)
    losses = -(labels * np.log(p) + (1 - labels) * np.log1p(-p))
    return float(np.dot(weights, losses) / total)


def _split(labels: FloatArray, valid_fraction: float, seed: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Stratified train/validation indices: rewards are rare, and a plain random split
    of a small log can leave the validation set without a single positive."""
    rng = np.random.default_rng(seed)
    train_parts: list[npt.NDArray[np.intp]] = []
    valid_parts: list[npt.NDArray[np.intp]] = []
    positive = _positive(labels)
    for mask in (positive, ~positive):
        indices = rng.permutation(np.flatnonzero(mask))
        # Every class keeps at least one training row, or the model cannot learn it.
        n_valid = min(int(indices.size * valid_fraction), max(indices.size - 1, 0))
        valid_parts.append(indices[:n_valid])
        train_parts.append(indices[n_valid:])
    return np.sort(np.concatenate(train_parts)), np.sort(np.concatenate(valid_parts))


def _feature_names(columns: Sequence[str]) -> list[str]:
    """LightGBM rejects JSON special characters in feature names; the schema keeps the real ones."""
    names: list[str] = []
    seen: set[str] = set()
    for i, column in enumerate(columns):
        name = re.sub(r"[^0-9A-Za-z_]", "_", column) or f"column_{i}"
        if name in seen:
            name = f"{name}_{i}"
        seen.add(name)
        names.append(name)
    return names


def _validated_inputs(
    rows: Sequence[Mapping[str, Any]],
    labels: Sequence[float],
    weights: Sequence[float] | None,
    valid_fraction: float,
    num_boost_round: int,
    objective: Any,
) -> tuple[FloatArray, FloatArray]:
    n = len(rows)
    label_array = np.asarray(labels, dtype=np.float64)
    if label_array.shape != (n,):
        raise ValueError(f"labels must have one value per row ({n}), got shape {label_array.shape}.")
    if n < MIN_ROWS:
        raise ValueError(f"Too few rows to train a reward model: {n} (need at least {MIN_ROWS}).")
    if not np.all(np.isfinite(label_array)) or np.any(label_array < 0) or np.any(label_array > 1):
        raise ValueError("labels must be finite rewards in [0, 1].")
    if objective == "binary" and not np.all((label_array == 0) | (label_array == 1)):
        raise ValueError(
            "The binary objective needs labels of 0 or 1; pass params={'objective': 'cross_entropy'} for fractional rewards."
        )
    n_pos = int(_positive(label_array).sum())
    if n_pos in (0, n):
        raise ValueError(
            f"All {n} labels fall in one class ({'rewarded' if n_pos else 'unrewarded'}): nothing to learn."
        )
    if weights is None:
        weight_array = np.ones(n, dtype=np.float64)
    else:
        weight_array = np.asarray(weights, dtype=np.float64)
        if weight_array.shape != (n,):
            raise ValueError(f"weights must have one value per row ({n}), got shape {weight_array.shape}.")
        if not np.all(np.isfinite(weight_array)) or np.any(weight_array < 0) or weight_array.sum() <= 0:
            raise ValueError("weights must be finite, non-negative and not all zero.")
    if not (math.isfinite(valid_fraction) and 0 <= valid_fraction < 1):
        raise ValueError(f"valid_fraction must lie in [0, 1), got {valid_fraction!r}.")
    if num_boost_round < 1:
        raise ValueError(f"num_boost_round must be at least 1, got {num_boost_round}.")
    return label_array, weight_array


@dataclass(frozen=True, slots=True)
class TrainingPlan:
    """What every training backend shares: checked inputs, the fitted schema and the split.

    ``training_prepare`` builds it and ``finish`` turns a backend's LightGBM model text into
    the served ``RewardModel`` and its held-out metrics, so a model trained in-process and
    one trained on a Dask cluster are validated, encoded, split and measured the same way;
    a backend only decides how the boosting runs. The validation matrix is encoded here
    (backends need it to pick the iteration and to measure); the training matrix is left
    to the backend, which may encode it whole or chunk by chunk.
    """

    rows: Sequence[Mapping[str, Any]]
    params: Mapping[str, Any]
    schema: FeatureSchema
    labels: FloatArray
    weights: FloatArray
    train_index: IntArray
    valid_index: IntArray
    X_valid: FloatArray

    @property
    def feature_names(self) -> list[str]:
        return _feature_names(self.schema.columns)

    @property
    def valid_labels(self) -> FloatArray:
        return self.labels[self.valid_index]

    @property
    def valid_weights(self) -> FloatArray:
        return self.weights[self.valid_index]

    @property
    def stops_early(self) -> bool:
        """Early stopping needs a validation split holding both classes, or its log-loss says nothing."""
        positives = int(_positive(self.valid_labels).sum())
        return 0 < positives < self.valid_index.size

    def train_chunks(self, chunk_rows: int) -> Iterator[tuple[FloatArray, FloatArray, FloatArray]]:
        """The training rows as (matrix, labels, weights) blocks of at most ``chunk_rows`` rows, encoded lazily.

        Encoding is cell by cell, so the blocks stacked equal ``matrix`` of all training rows.
        """
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}.")
        for start in range(0, self.train_index.size, chunk_rows):
            index = self.train_index[start : start + chunk_rows]
            yield _encode(self.rows, index, self.schema), self.labels[index], self.weights[index]

    def finish(self, model_text: str) -> tuple[RewardModel, TrainingMetrics]:
        """The served model, read back from LightGBM's text, with its metrics on the validation rows."""
        # Reloading from text makes the in-memory model exactly what to_text()/from_text() restore.
        import lightgbm as lgb

        model = RewardModel(lgb.Booster(model_str=model_text), self.schema)
        valid_labels = self.valid_labels
        valid_predictions = model.predict_matrix(self.X_valid)
        metrics = TrainingMetrics(
            rows=len(self.rows),
            positives=int(_positive(self.labels).sum()),
            auc=reward_auc(valid_labels, valid_predictions),
            logloss=reward_logloss(valid_labels, valid_predictions, self.valid_weights),
            valid_rows=int(self.valid_index.size),
        )
        return model, metrics


def _encode(rows: Sequence[Mapping[str, Any]], index: npt.NDArray[np.intp], schema: FeatureSchema) -> FloatArray:
    return matrix([rows[i] for i in index.tolist()], schema)


def training_prepare(
    rows: Sequence[Mapping[str, Any]],
    labels: Sequence[float],
    weights: Sequence[float] | None = None,
    *,
    params: Mapping[str, Any] | None = None,
    valid_fraction: float = 0.2,
    seed: int = 0,
    num_boost_round: int = 200,
) -> TrainingPlan:
    """Check the inputs, fit the schema, split the rows and encode the validation rows (see ``TrainingPlan``)."""
    merged: dict[str, Any] = {**DEFAULT_PARAMS, "seed": seed, **(params or {})}
    label_array, weight_array = _validated_inputs(
        rows, labels, weights, valid_fraction, num_boost_round, merged.get("objective")
    )
    schema = schema_fit(rows)
    if not schema.columns:
        raise ValueError("The rows hold no feature with a value: nothing to learn from.")
    train_index, valid_index = _split(label_array, valid_fraction, seed)
    return TrainingPlan(
        rows=rows,
        params=merged,
        schema=schema,
        labels=label_array,
        weights=weight_array,
        train_index=train_index,
        valid_index=valid_index,
        X_valid=_encode(rows, valid_index, schema),
    )


def reward_model_train(
    rows: Sequence[Mapping[str, Any]],
    labels: Sequence[float],
    weights: Sequence[float] | None = None,
    *,
    params: Mapping[str, Any] | None = None,
    valid_fraction: float = 0.2,
    seed: int = 0,
    num_boost_round: int = 200,
) -> tuple[RewardModel, TrainingMetrics]:
    """Train a reward model on feature rows and their rewards; return it with held-out metrics.

    ``weights`` (e.g. importance weights from the logging propensities) weight both the
    training loss and the reported log-loss. A stratified ``valid_fraction`` of rows is
    held out; when it holds both classes, training stops early once its log-loss has not
    improved for 20 rounds and the best iteration is kept. The shipped model is the one
    trained on the remaining rows, so the metrics describe exactly what is served.
    ``params`` override ``DEFAULT_PARAMS`` (LightGBM names). This is the in-process
    backend; ``dask_training.reward_model_train_dask`` trains the same model on a cluster.
    """
    import lightgbm as lgb

    plan = training_prepare(
        rows,
        labels,
        weights,
        params=params,
        valid_fraction=valid_fraction,
        seed=seed,
        num_boost_round=num_boost_round,
    )
    train_index = plan.train_index
    train_set = lgb.Dataset(
        _encode(rows, train_index, plan.schema),
        label=plan.labels[train_index],
        weight=plan.weights[train_index],
        feature_name=plan.feature_names,
        categorical_feature=plan.schema.categorical_indices,
        params=dict(plan.params),
        free_raw_data=True,
    )
    valid_sets: list[lgb.Dataset] = []
    callbacks: list[Any] = []
    if plan.stops_early:
        valid_sets.append(
            lgb.Dataset(plan.X_valid, label=plan.valid_labels, weight=plan.valid_weights, reference=train_set)
        )
        callbacks.append(lgb.early_stopping(EARLY_STOPPING_ROUNDS, first_metric_only=True, verbose=False))
    booster = lgb.train(
        dict(plan.params), train_set, num_boost_round=num_boost_round, valid_sets=valid_sets, callbacks=callbacks
    )
    # model_to_string() keeps only the trees up to the best iteration when early stopping found one.
    return plan.finish(booster.model_to_string())

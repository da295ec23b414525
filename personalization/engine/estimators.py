"""Off-policy evaluation: what a policy would have earned, judged from another policy's log.

Every decision is logged with the propensity of the variant shown, so a candidate
policy can be scored on traffic it never served: IPS reweights logged rewards by how
much more often the candidate would have shown the logged variant, DM trusts a reward
model, and DR uses the model and corrects its error with the reweighted residuals.
``paired_difference`` scores two policies on the same rows, which is how a new policy
earns promotion over the live one.

All estimators assume the logging policy gave every variant the candidate might show
a non-zero probability (support); rows outside it are invisible to the log, and no
estimator here can detect that from the logged propensities alone. The one failure
that can be seen is total: a policy that gives zero probability to every logged
action (a variant added after the log was recorded, served to everyone). No logged
row says anything about it, so ``policy_estimates`` leaves IPS, SNIPS and DR out
(None) and says why, rather than report IPS's 0 ± 0 as if it were measured.

A reward model scored on the rows it was trained on flatters DM and DR, so their
model is cross-fitted: ``folds_assign`` splits the log into k folds, and ``crossfit``
fits once per fold on the other folds and predicts that fold's rows. Every row is
then scored by a model that never saw it, and every row is used.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np
import numpy.typing as npt

Z95 = 1.959963984540054  # two-sided 95 % quantile of the standard normal
ROW_SUM_TOLERANCE = 1e-6  # policies built from softmaxes or weight shares round a little

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


@dataclass(frozen=True, slots=True)
class Estimate:
    """A policy value (or a difference of two) with its 95 % confidence interval.

    ``effective_sample_size`` is Kish's (Σw)²/Σw² over the importance weights: how
    many rows logged by the evaluated policy itself would be as informative. Far
    below ``n`` means a few heavily weighted rows carry the estimate.
    """

    value: float
    ci95: tuple[float, float]
    n: int
    effective_sample_size: float


class Estimator(Protocol):
    name: ClassVar[str]

    def estimate(
        self,
        actions: npt.ArrayLike,
        rewards: npt.ArrayLike,
        propensities: npt.ArrayLike,
        target: npt.ArrayLike,
        predicted: npt.ArrayLike | None = None,
    ) -> Estimate: ...


@dataclass(frozen=True, slots=True)
class _Feedback:
    """Logged bandit feedback after validation: one row per logged decision."""

    actions: IntArray
    rewards: FloatArray
    propensities: FloatArray
    target: FloatArray
    predicted: FloatArray | None

    @property
    def n(self) -> int:
        return int(self.actions.shape[0])

    @property
    def rows(self) -> IntArray:
        return np.arange(self.n)


def _float_array(name: str, values: npt.ArrayLike, shape: tuple[int, ...]) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {array.shape}.")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite (no NaN or infinity).")
    return array


def _validated(
    actions: npt.ArrayLike,
    rewards: npt.ArrayLike,
    propensities: npt.ArrayLike,
    target: npt.ArrayLike,
    predicted: npt.ArrayLike | None = None,
) -> _Feedback:
    actions_array = np.asarray(actions)
    if actions_array.ndim != 1:
        raise ValueError(f"actions must be one-dimensional, got shape {actions_array.shape}.")
    n = int(actions_array.shape[0])
    if n == 0:
        raise ValueError("No logged rows: an estimate needs at least one.")
    if not np.issubdtype(actions_array.dtype, np.integer):
        raise ValueError(f"actions must be integer indices into the action list, got dtype {actions_array.dtype}.")

    target_array = np.asarray(target, dtype=np.float64)
    if target_array.ndim != 2 or target_array.shape[0] != n or target_array.shape[1] == 0:
        raise ValueError(f"target must have shape (n, n_actions) with n={n}, got {target_array.shape}.")
    target_array = _float_array("target", target_array, target_array.shape)
    n_actions = int(target_array.shape[1])
    if int(actions_array.min()) < 0 or int(actions_array.max()) >= n_actions:
        raise ValueError(f"actions must lie in [0, {n_actions}), the columns of target.")
    if np.any(target_array < 0):
        raise ValueError("target probabilities must not be negative.")
    row_sums = target_array.sum(axis=1)
    off = np.flatnonzero(np.abs(row_sums - 1.0) > ROW_SUM_TOLERANCE)
    if off.size:
        row = int(off[0])
        raise ValueError(f"target rows must sum to 1 (±{ROW_SUM_TOLERANCE}); row {row} sums to {row_sums[row]:.6g}.")

    rewards_array = _float_array("rewards", rewards, (n,))
    propensities_array = _float_array("propensities", propensities, (n,))
    if np.any(propensities_array <= 0) or np.any(propensities_array > 1):
        raise ValueError("propensities must lie in (0, 1]: the logging policy's probability of the logged action.")

    predicted_array = None
    if predicted is not None:
        predicted_array = _float_array("predicted", predicted, target_array.shape)

    return _Feedback(
        actions=actions_array.astype(np.intp, copy=False),
        rewards=rewards_array,
        propensities=propensities_array,
        target=target_array,
        predicted=predicted_array,
    )


def _require_model(data: _Feedback, estimator: str) -> FloatArray:
    if data.predicted is None:
        raise ValueError(f"{estimator} needs predicted: a reward model's expected reward per (row, action).")
    return data.predicted


def _check_clip(clip: float | None) -> None:
    if clip is not None and not (math.isfinite(clip) and clip > 0):
        raise ValueError(f"clip must be a positive, finite weight cap or None, got {clip!r}.")


def _weights(data: _Feedback, clip: float | None) -> FloatArray:
    weights = data.target[data.rows, data.actions] / data.propensities
    # Capping the weight trades a little (downward, for non-negative rewards) bias
    # for a lot less variance when the logging policy rarely showed what the
    # candidate prefers.
    return np.minimum(weights, clip) if clip is not None else weights


def _kish(weights: FloatArray) -> float:
    squares = float(np.dot(weights, weights))
    return float(weights.sum()) ** 2 / squares if squares > 0 else 0.0


def _interval(value: float, terms: FloatArray) -> tuple[float, float]:
    """Normal-approximation 95 % interval from per-row terms whose mean error drives ``value``."""
    n = terms.shape[0]
    if n < 2:
        # One row says nothing about spread: the honest interval is unbounded, and
        # any comparison made on it fails closed.
        return (-math.inf, math.inf)
    half_width = Z95 * float(terms.std(ddof=1)) / math.sqrt(n)
    return (value - half_width, value + half_width)


def _mean_estimate(terms: FloatArray, effective_sample_size: float) -> Estimate:
    value = float(terms.mean())
    return Estimate(value, _interval(value, terms), int(terms.shape[0]), effective_sample_size)


def _dm_terms(data: _Feedback, predicted: FloatArray) -> FloatArray:
    terms: FloatArray = (data.target * predicted).sum(axis=1)
    return terms


def _dr_terms(data: _Feedback, predicted: FloatArray | None, weights: FloatArray) -> FloatArray:
    if predicted is None:
        # A model that predicts zero everywhere turns DR into plain IPS.
        return weights * data.rewards
    residuals = data.rewards - predicted[data.rows, data.actions]
    return _dm_terms(data, predicted) + weights * residuals


def _ips(data: _Feedback, clip: float | None) -> Estimate:
    weights = _weights(data, clip)
    return _mean_estimate(weights * data.rewards, _kish(weights))


def _snips(data: _Feedback) -> Estimate:
    weights = _weights(data, None)
    total = float(weights.sum())
    if total <= 0:
        raise ValueError("SNIPS is undefined: the target policy gives zero probability to every logged action.")
    value = float(np.dot(weights, data.rewards)) / total
    # Delta method: the ratio's error is, to first order, the mean of these
    # centred terms, so the usual normal interval applies to them.
    influence = weights * (data.rewards - value) / (total / data.n)
    return Estimate(value, _interval(value, influence), data.n, _kish(weights))


def _dm(data: _Feedback) -> Estimate:
    # No reweighting: every row counts fully. The interval covers only the
    # sampling of contexts, not the reward model's error, which DM cannot see.
    return _mean_estimate(_dm_terms(data, _require_model(data, "DM")), float(data.n))


def _dr(data: _Feedback, clip: float | None) -> Estimate:
    weights = _weights(data, clip)
    return _mean_estimate(_dr_terms(data, _require_model(data, "DR"), weights), _kish(weights))


@dataclass(frozen=True, slots=True)
class InversePropensityScoring:
    """IPS: the mean of logged rewards, each weighted by target / logging probability.

    Unbiased under support, whatever the reward; its variance grows with the
    weights. ``clip`` caps each weight to tame that, at the price of some bias.
    """

    name: ClassVar[str] = "ips"
    clip: float | None = None

    def __post_init__(self) -> None:
        _check_clip(self.clip)

    def estimate(
        self,
        actions: npt.ArrayLike,
        rewards: npt.ArrayLike,
        propensities: npt.ArrayLike,
        target: npt.ArrayLike,
        predicted: npt.ArrayLike | None = None,
    ) -> Estimate:
        return _ips(_validated(actions, rewards, propensities, target, predicted), self.clip)


@dataclass(frozen=True, slots=True)
class SelfNormalizedIPS:
    """SNIPS: IPS divided by the mean weight instead of by ``n``.

    Slightly biased but always within the range of the logged rewards, and
    unchanged when every propensity is off by the same factor. The interval
    comes from the delta method (deterministic, no resampling), not a bootstrap.
    """

    name: ClassVar[str] = "snips"

    def estimate(
        self,
        actions: npt.ArrayLike,
        rewards: npt.ArrayLike,
        propensities: npt.ArrayLike,
        target: npt.ArrayLike,
        predicted: npt.ArrayLike | None = None,
    ) -> Estimate:
        return _snips(_validated(actions, rewards, propensities, target, predicted))


@dataclass(frozen=True, slots=True)
class DirectMethod:
    """DM: the reward model's prediction, averaged under the target policy.

    Low variance, but exactly as biased as the model; its interval does not
    include the model's error.
    """

    name: ClassVar[str] = "dm"

    def estimate(
        self,
        actions: npt.ArrayLike,
        rewards: npt.ArrayLike,
        propensities: npt.ArrayLike,
        target: npt.ArrayLike,
        predicted: npt.ArrayLike | None = None,
    ) -> Estimate:
        return _dm(_validated(actions, rewards, propensities, target, predicted))


@dataclass(frozen=True, slots=True)
class DoublyRobust:
    """DR: DM plus IPS applied to the model's residuals on the logged actions.

    Unbiased when either the propensities or the model are right; the better the
    model, the smaller the residuals and the narrower the interval.
    """

    name: ClassVar[str] = "dr"
    clip: float | None = None

    def __post_init__(self) -> None:
        _check_clip(self.clip)

    def estimate(
        self,
        actions: npt.ArrayLike,
        rewards: npt.ArrayLike,
        propensities: npt.ArrayLike,
        target: npt.ArrayLike,
        predicted: npt.ArrayLike | None = None,
    ) -> Estimate:
        return _dr(_validated(actions, rewards, propensities, target, predicted), self.clip)


ESTIMATOR_NAMES = ("ips", "snips", "dm", "dr")
UNSUPPORTED = (
    "IPS, SNIPS and DR are undefined: the policy gives zero probability to every logged action, "
    "so no logged row shows what it would earn"
)


@dataclass(frozen=True, slots=True)
class PolicyEstimates:
    """One policy's value by each estimator (``ESTIMATOR_NAMES``), None where the log cannot give it.

    DM and DR are None without a reward model. ``note`` says why an estimate the
    log should give is missing, and is empty when none is. ``unlogged_actions``
    are the actions no logged row shows that the policy still chooses, with
    ``unlogged_share`` of its probability: IPS counts them as earning nothing,
    SNIPS as earning what the logged ones do, DR as the model predicts. Support
    cannot be checked beyond that, since the log holds only the propensities of
    what was shown.
    """

    estimates: Mapping[str, Estimate | None]
    note: str = ""
    unlogged_actions: tuple[int, ...] = ()
    unlogged_share: float = 0.0


def policy_estimates(
    actions: npt.ArrayLike,
    rewards: npt.ArrayLike,
    propensities: npt.ArrayLike,
    target: npt.ArrayLike,
    predicted: npt.ArrayLike | None = None,
) -> PolicyEstimates:
    """Every estimator on one log, for a policy the log may not be able to judge.

    When the policy gives zero probability to every logged action, IPS would be
    0 with a zero-width interval, SNIPS 0/0 and DR the model's guess with the
    model's confidence: IPS, SNIPS and DR are None and the note says why. DM,
    the model's extrapolation, is still given when there is a model.
    """
    data = _validated(actions, rewards, propensities, target, predicted)
    estimates: dict[str, Estimate | None] = dict.fromkeys(ESTIMATOR_NAMES)
    note = ""
    if float(_weights(data, None).sum()) > 0:
        estimates["ips"] = _ips(data, None)
        estimates["snips"] = _snips(data)
        if data.predicted is not None:
            estimates["dr"] = _dr(data, None)
    else:
        note = UNSUPPORTED + ("; DM is the reward model's extrapolation alone." if data.predicted is not None else ".")
    if data.predicted is not None:
        estimates["dm"] = _dm(data)
    never_logged = np.setdiff1d(np.arange(data.target.shape[1]), data.actions)
    chosen = never_logged[data.target[:, never_logged].sum(axis=0) > 0]
    share = float(data.target[:, chosen].sum(axis=1).mean()) if chosen.size else 0.0
    return PolicyEstimates(estimates, note, tuple(int(a) for a in chosen), share)


def evaluate_all(
    actions: npt.ArrayLike,
    rewards: npt.ArrayLike,
    propensities: npt.ArrayLike,
    target: npt.ArrayLike,
    predicted: npt.ArrayLike | None = None,
) -> dict[str, Estimate]:
    """Every estimator on one log: ``ips`` and ``snips``, plus ``dm`` and ``dr`` given a reward model.

    Raises ValueError for a policy the log cannot judge (see ``policy_estimates``,
    which reports it instead).
    """
    data = _validated(actions, rewards, propensities, target, predicted)
    estimates = {"ips": _ips(data, None), "snips": _snips(data)}
    if data.predicted is not None:
        estimates["dm"] = _dm(data)
        estimates["dr"] = _dr(data, None)
    return estimates


def folds_assign(rewards: npt.ArrayLike, k: int = 5, seed: int = 0) -> IntArray:
    """Each row's fold (0 to k-1) for cross-fitting: random, sizes within one row of each other.

    Rewarded rows are dealt out first, so they too differ by at most one between
    folds: rewards are rare, and a fold whose complement held none could not
    train a model.
    """
    rewards_array = np.asarray(rewards, dtype=np.float64)
    if rewards_array.ndim != 1:
        raise ValueError(f"rewards must be one-dimensional, got shape {rewards_array.shape}.")
    if not isinstance(k, int | np.integer) or isinstance(k, bool) or k < 2:
        raise ValueError(f"k must be a whole number of folds, at least 2, got {k!r}.")
    n = int(rewards_array.shape[0])
    if n < k:
        raise ValueError(f"{n} rows cannot fill {k} folds.")
    rng = np.random.default_rng(seed)
    rewarded = rewards_array > 0
    order = np.concatenate([rng.permutation(np.flatnonzero(rewarded)), rng.permutation(np.flatnonzero(~rewarded))])
    folds = np.empty(n, dtype=np.intp)
    folds[order] = np.arange(n) % k
    return folds


# Called with (training rows, rows to predict), both as indices into the log; returns one or
# more arrays with a leading axis of len(rows to predict).
FitPredict = Callable[[IntArray, IntArray], Sequence[npt.ArrayLike]]


def crossfit(folds: npt.ArrayLike, fit_predict: FitPredict) -> tuple[FloatArray, ...]:
    """Out-of-fold predictions: each fold's rows get what ``fit_predict`` returns when fitted on the other folds.

    ``fit_predict`` may return several arrays (say, predicted rewards and the
    fitted policy's probabilities); each comes back as one array over all rows,
    in log order. Nothing here knows what a model is, so any learner plugs in.
    """
    fold_array = np.asarray(folds)
    if fold_array.ndim != 1 or not np.issubdtype(fold_array.dtype, np.integer):
        raise ValueError(
            f"folds must be a one-dimensional array of fold numbers, got {fold_array.dtype} {fold_array.shape}."
        )
    labels = np.unique(fold_array)
    if labels.size < 2:
        raise ValueError("Cross-fitting needs at least two folds: with one, every row would train its own model.")
    n = int(fold_array.shape[0])
    outputs: list[FloatArray] = []
    for label in labels:
        held_out = np.flatnonzero(fold_array == label)
        parts = [
            np.asarray(part, dtype=np.float64) for part in fit_predict(np.flatnonzero(fold_array != label), held_out)
        ]
        if not parts:
            raise ValueError("fit_predict returned nothing: it must return at least one array of predictions.")
        if not outputs:
            outputs = [np.empty((n, *part.shape[1:]), dtype=np.float64) for part in parts]
        if len(parts) != len(outputs) or any(
            part.shape != (held_out.size, *out.shape[1:]) for part, out in zip(parts, outputs, strict=False)
        ):
            raise ValueError(
                f"fit_predict must return the same {len(outputs)} array(s) for every fold, each with one entry per row "
                f"to predict; fold {label} returned shapes {[part.shape for part in parts]}."
            )
        for part, out in zip(parts, outputs, strict=True):
            out[held_out] = part
    return tuple(outputs)


def paired_difference(
    actions: npt.ArrayLike,
    rewards: npt.ArrayLike,
    propensities: npt.ArrayLike,
    target_a: npt.ArrayLike,
    target_b: npt.ArrayLike,
    predicted: npt.ArrayLike | None = None,
    *,
    clip: float | None = None,
) -> Estimate:
    """V(a) − V(b) by DR, with an interval from the per-row differences.

    Both policies are scored on the same rows, so their errors are correlated;
    differencing row by row cancels the shared part, which two separate intervals
    cannot (they would have to assume independence and come out too wide, or
    too narrow when the correlation is negative). Without ``predicted`` this is
    the paired IPS difference. ``effective_sample_size`` is the smaller of the
    two policies' own.
    """
    _check_clip(clip)
    data_a = _validated(actions, rewards, propensities, target_a, predicted)
    data_b = _validated(actions, rewards, propensities, target_b, predicted)
    if data_a.target.shape != data_b.target.shape:
        raise ValueError(
            f"target_a and target_b must have the same shape, got {data_a.target.shape} and {data_b.target.shape}."
        )
    weights_a = _weights(data_a, clip)
    weights_b = _weights(data_b, clip)
    terms = _dr_terms(data_a, data_a.predicted, weights_a) - _dr_terms(data_b, data_b.predicted, weights_b)
    return _mean_estimate(terms, min(_kish(weights_a), _kish(weights_b)))


def not_worse(difference: Estimate, margin: float = 0.0) -> bool:
    """Whether a paired difference (candidate − baseline) rules out losing more than ``margin``.

    True when the lower end of the 95 % interval is at least ``-margin``: a
    one-sided non-inferiority test at the 2.5 % level. It fails closed: an
    unbounded interval (one row) is never "not worse".
    """
    if not (math.isfinite(margin) and margin >= 0):
        raise ValueError(f"margin must be a finite, non-negative reward difference, got {margin!r}.")
    return difference.ci95[0] >= -margin


def shown_worse(difference: Estimate, margin: float = 0.0) -> bool:
    """Whether a paired difference (candidate − baseline) shows a loss of more than ``margin``.

    True when the upper end of the 95 % interval is below ``-margin``: the candidate
    is worse with 97.5 % one-sided confidence. An unbounded interval (one row) shows nothing.
    """
    if not (math.isfinite(margin) and margin >= 0):
        raise ValueError(f"margin must be a finite, non-negative reward difference, got {margin!r}.")
    return difference.ci95[1] < -margin


def better(difference: Estimate) -> bool:
    """Whether a paired difference (candidate − baseline) is above zero with 97.5 % one-sided confidence."""
    return difference.ci95[0] > 0

"""The bandit strategy: Thompson sampling turned into an allocation, served sticky per visitor.

A background job (serving's, every minute) folds attributed rewards into each arm's
sufficient statistics (``ArmStats``), optionally fades old evidence (``stats_discount``) and
computes an ``Allocation``: the probability that each arm is the best under its posterior
(Beta-Bernoulli for clicks and conversions, a Normal-Inverse-Gamma model of the mean for
values), floored so that every arm keeps some traffic. ``BanditPolicy`` serves that
allocation: a visitor's point in [0, 1) is a hash of the slot, their segment, the allocation's
version and their id, so a reload shows the same variant until the allocation changes, and
the propensity logged is exactly the probability with which the policy chose it, because the
randomness is over visitors. How close the allocation is to true Thompson sampling (closed
form, or Monte Carlo within ±0.005) does not affect that exactness.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np
from scipy import special

from .context import UTM_PARAMS, Context
from .hashing import unit_hash
from .policies import POLICY_FACTORIES, Candidate, Choice, NoCandidatesError
from .segments import SegmentSpec

LIKELIHOODS = ("bernoulli", "gaussian")

# Draws for a Monte Carlo probability to be within ±0.005 of the exact one at 95 %, in the worst
# case p = 0.5: n = z² · p(1 - p) / e² = 1.96² · 0.25 / 0.005² = 38,416.
MONTE_CARLO_DRAWS = 38_416
TOP_TWO_BETA = 0.5  # Russo (2016): how often the leader itself is played; 1/2 is his recommended default
_CLOSED_FORM_MAX_TERMS = 200_000  # the Beta sum costs one term per unit of its integer parameter
_INTEGER_TOLERANCE = 1e-9
_CHUNK_CELLS = 1 << 20  # posterior draws held in memory at once (8 MB of float64), whatever the arm count


@dataclass(frozen=True, slots=True)
class ArmStats:
    """Sufficient statistics of one arm, possibly discounted (hence floats).

    ``n`` counts exposed decisions; ``total`` sums their rewards (successes for Bernoulli,
    value for Gaussian); ``squares`` sums the squared rewards (Gaussian only).
    """

    key: str
    n: float = 0.0
    total: float = 0.0
    squares: float = 0.0


@dataclass(frozen=True, slots=True)
class Allocation:
    """The Thompson-sampling probability of each arm, floored; what ``BanditPolicy`` serves.

    ``version`` changes whenever the allocation is recomputed (serving logs it as the
    decision's ``policy_version``); ``method`` is "closed-form" or "monte-carlo", and
    ``draws`` the posterior draws used (``MONTE_CARLO_DRAWS``, or 0 for a closed form).
    """

    probabilities: Mapping[str, float]
    version: str
    method: str
    draws: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "probabilities", MappingProxyType(dict(self.probabilities)))

    def __hash__(self) -> int:  # a read-only mapping does not hash; its items do
        return hash((tuple(self.probabilities.items()), self.version, self.method, self.draws))


def _finite(value: float, name: str, key: str) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"Arm {key!r}: {name} must be a finite number, got {value!r}.")
    return number


def _checked(arms: Sequence[ArmStats], likelihood: str) -> list[ArmStats]:
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"Unknown likelihood {likelihood!r}; known: {', '.join(LIKELIHOODS)}.")
    if not arms:
        raise ValueError("A bandit needs at least one arm; got no arms.")
    seen: set[str] = set()
    for arm in arms:
        if arm.key in seen:
            raise ValueError(f"Arm {arm.key!r} is given twice.")
        seen.add(arm.key)
        n, total, squares = (_finite(getattr(arm, name), name, arm.key) for name in ("n", "total", "squares"))
        if n < 0:
            raise ValueError(f"Arm {arm.key!r}: n (trials) must not be negative, got {n!r}.")
        slack = _INTEGER_TOLERANCE * max(1.0, n)  # discounting multiplies n and total by the same float
        if likelihood == "bernoulli" and not (-slack <= total <= n + slack):
            raise ValueError(f"Arm {arm.key!r}: total (successes) must lie in [0, n={n}], got {total!r}.")
        if likelihood == "gaussian" and squares < 0:
            raise ValueError(f"Arm {arm.key!r}: squares must not be negative, got {squares!r}.")
    return list(arms)


def _floor_checked(floor: float, arm_count: int) -> float:
    if not (isinstance(floor, int | float) and math.isfinite(floor) and floor >= 0):
        raise ValueError(f"floor must be a finite number >= 0, got {floor!r}.")
    return min(float(floor), 1.0 / arm_count)  # K·floor > 1 would leave nothing to allocate: that is uniform


# Posteriors


def beta_prior(rate: float | None) -> tuple[int, int]:
    """The Beta prior every arm starts from: worth one success (or one failure) at the slot's pooled rate.

    Beta(1, 1), the uniform prior, when no rate is given or the rate is one half; otherwise
    Beta(1, round(1/rate - 1)) below one half and its mirror above, so the prior's mean is close to
    ``rate``. At a 5 % click rate the uniform prior's mean of 50 % makes every barely tried arm look
    far better than the leader, and Thompson sampling keeps paying to try it; centring the prior
    on the pooled rate spends that traffic where the evidence is. The parameters are whole
    numbers so that two arms keep their closed form, and they move only when the pooled rate moves
    noticeably, so the allocation (and every visitor's draw) stays put between folds that learned
    nothing new about an arm.
    """
    if rate is None:
        return 1, 1
    if not (isinstance(rate, int | float) and 0.0 < rate < 1.0):
        raise ValueError(f"prior_rate must lie strictly between 0 and 1, got {rate!r}.")
    if rate <= 0.5:
        return 1, max(1, round(1.0 / rate - 1.0))
    return max(1, round(1.0 / (1.0 - rate) - 1.0)), 1


def pooled_rate(arms: Iterable[ArmStats]) -> float:
    """The success rate of all arms together, with one success and one failure added (never 0 or 1)."""
    arms = list(arms)
    return (math.fsum(arm.total for arm in arms) + 1.0) / (math.fsum(arm.n for arm in arms) + 2.0)


def _beta_parameters(arms: Sequence[ArmStats], prior: tuple[int, int] = (1, 1)) -> tuple[np.ndarray, np.ndarray]:
    """Beta(a0 + successes, b0 + failures) per arm."""
    n = np.array([arm.n for arm in arms], dtype=float)
    total = np.clip(np.array([arm.total for arm in arms], dtype=float), 0.0, n)
    return prior[0] + total, prior[1] + n - total


def _student_parameters(arms: Sequence[ArmStats]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Location, scale and degrees of freedom of each arm's posterior mean (a Student t).

    Normal-Inverse-Gamma with a weak prior worth one observation at the pooled mean: κ0 = 1,
    α0 = 1, β0 = the pooled variance (so a new arm's mean is t with 2 degrees of freedom around
    the pooled mean, at the pooled spread). Taking the prior from the pooled data makes the
    allocation independent of the unit (euros or cents); with no data or no spread at all the
    arms cannot be told apart, and a unit variance keeps the arithmetic defined.
    """
    n = np.array([arm.n for arm in arms], dtype=float)
    total = np.array([arm.total for arm in arms], dtype=float)
    squares = np.array([arm.squares for arm in arms], dtype=float)
    pooled_n = float(n.sum())
    mu0 = float(total.sum()) / pooled_n if pooled_n > 0 else 0.0
    v0 = float(squares.sum()) / pooled_n - mu0 * mu0 if pooled_n > 0 else 0.0
    if not v0 > 1e-12 * max(1.0, mu0 * mu0):
        v0 = max(1.0, mu0 * mu0)
    mean = np.divide(total, n, out=np.zeros_like(n), where=n > 0)
    spread = np.clip(squares - n * mean * mean, 0.0, None)  # Σ(x - x̄)²; rounding can dip below 0
    kappa = 1.0 + n
    alpha = 1.0 + n / 2.0
    beta = v0 + spread / 2.0 + n * (mean - mu0) ** 2 / (2.0 * kappa)
    location = (mu0 + total) / kappa
    scale = np.sqrt(beta / (alpha * kappa))
    return location, scale, 2.0 * alpha


# Probability of being best


def _integer(value: float) -> int | None:
    rounded = round(value)
    return int(rounded) if rounded >= 1 and abs(value - rounded) < _INTEGER_TOLERANCE else None


def _greater(g_alpha: int, g_beta: float, l_alpha: float, l_beta: float) -> float:
    """P(G > L) for G ~ Beta(g_alpha, g_beta) with an integer g_alpha and L ~ Beta(l_alpha, l_beta).

    Evan Miller's sum: Σ_{i<g_alpha} B(l_alpha + i, l_beta + g_beta) / ((g_beta + i)·B(1 + i, g_beta)·B(l_alpha, l_beta)),
    in logs so that large counts do not overflow.
    """
    i = np.arange(g_alpha, dtype=float)
    logs = (
        special.betaln(l_alpha + i, l_beta + g_beta)
        - np.log(g_beta + i)
        - special.betaln(1.0 + i, g_beta)
        - special.betaln(l_alpha, l_beta)
    )
    return float(np.exp(logs).sum())


def _two_beta_closed_form(a: tuple[float, float], b: tuple[float, float]) -> float | None:
    """P(B > A) exactly when any one of the four parameters is a whole number (small enough to sum), else None.

    Swapping the arms (P(B > A) = 1 - P(A > B)) and reflecting them (p > q exactly when 1 - q > 1 - p,
    and 1 - p ~ Beta(β, α)) lets whichever parameter is whole play the summed one; the smallest is used.
    """
    (a_alpha, a_beta), (b_alpha, b_beta) = a, b
    options: list[tuple[int, Callable[[int], float]]] = []
    if (k := _integer(b_alpha)) is not None:
        options.append((k, lambda k: _greater(k, b_beta, a_alpha, a_beta)))
    if (k := _integer(a_alpha)) is not None:
        options.append((k, lambda k: 1.0 - _greater(k, a_beta, b_alpha, b_beta)))
    if (k := _integer(a_beta)) is not None:  # B > A  ⇔  1 - A > 1 - B
        options.append((k, lambda k: _greater(k, a_alpha, b_beta, b_alpha)))
    if (k := _integer(b_beta)) is not None:  # B > A  ⇔  not (1 - B > 1 - A)
        options.append((k, lambda k: 1.0 - _greater(k, b_alpha, a_beta, a_alpha)))
    if not options:
        return None
    terms, formula = min(options, key=lambda option: option[0])
    if terms > _CLOSED_FORM_MAX_TERMS:
        return None
    return min(max(formula(terms), 0.0), 1.0)


def _monte_carlo_best(
    sample: Callable[[np.random.Generator, int], np.ndarray], arm_count: int, seed: int | None
) -> np.ndarray:
    """Share of ``MONTE_CARLO_DRAWS`` joint posterior draws in which each arm is the largest."""
    rng = np.random.default_rng(seed)
    wins = np.zeros(arm_count, dtype=np.int64)
    chunk = max(1, _CHUNK_CELLS // arm_count)
    remaining = MONTE_CARLO_DRAWS
    while remaining:
        size = min(chunk, remaining)
        wins += np.bincount(sample(rng, size).argmax(axis=1), minlength=arm_count)
        remaining -= size
    return wins / MONTE_CARLO_DRAWS


def _identical(*columns: np.ndarray) -> bool:
    return all(bool(np.all(column == column[0])) for column in columns)


def _best_probabilities(
    arms: Sequence[ArmStats], likelihood: str, seed: int | None, prior: tuple[int, int] = (1, 1)
) -> tuple[np.ndarray, str, int]:
    k = len(arms)
    if likelihood == "bernoulli":
        alpha, beta = _beta_parameters(arms, prior)
        if k == 1 or _identical(alpha, beta):
            return np.full(k, 1.0 / k), "closed-form", 0  # by symmetry
        if k == 2:
            exact = _two_beta_closed_form((alpha[0], beta[0]), (alpha[1], beta[1]))
            if exact is not None:
                return np.array([1.0 - exact, exact]), "closed-form", 0
        wins = _monte_carlo_best(lambda rng, m: rng.beta(alpha, beta, size=(m, k)), k, seed)
        return wins, "monte-carlo", MONTE_CARLO_DRAWS
    location, scale, df = _student_parameters(arms)
    if k == 1 or _identical(location, scale, df):
        return np.full(k, 1.0 / k), "closed-form", 0
    wins = _monte_carlo_best(lambda rng, m: location + scale * rng.standard_t(df, size=(m, k)), k, seed)
    return wins, "monte-carlo", MONTE_CARLO_DRAWS


def _top_two(best: np.ndarray) -> np.ndarray:
    """How often top-two Thompson sampling plays each arm, from each arm's probability of being best.

    Russo's procedure: draw a posterior sample and take its best arm I; with probability β play I,
    otherwise draw again until the best arm J differs from I and play J. Since the redraws are
    independent, P(J = i | I = j) = p_i / (1 - p_j), so q_i = β·p_i + (1 - β)·p_i·Σ_{j≠i} p_j / (1 - p_j).
    A leader that is certain (1 - p_j = 0: no sample ever put another arm first) would make the
    redraw loop forever; its challenger half is then shared evenly by the others.
    """
    k = len(best)
    played = TOP_TWO_BETA * best
    for j in range(k):
        if best[j] == 0.0:
            continue
        others = np.delete(np.arange(k), j)
        rest = 1.0 - best[j]
        share = best[others] / rest if rest > 1e-15 else np.full(k - 1, 1.0 / (k - 1))
        played[others] += (1.0 - TOP_TWO_BETA) * best[j] * share
    return played


def _version_derived(
    arms: Sequence[ArmStats], likelihood: str, floor: float, top_two: bool, probabilities: Iterable[float]
) -> str:
    text = repr(
        (
            likelihood,
            floor,
            top_two,
            [(arm.key, float(arm.n), float(arm.total), float(arm.squares)) for arm in arms],
            [round(p, 12) for p in probabilities],
        )
    )
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


def allocation_compute(
    arms: Sequence[ArmStats],
    *,
    likelihood: str = "bernoulli",
    floor: float = 0.01,
    top_two: bool = False,
    seed: int | None = None,
    version: str = "",
    prior_rate: float | None = None,
) -> Allocation:
    """The share of traffic each arm gets: its Thompson-sampling probability, floored.

    p_i = floor + (1 - K·floor)·P(arm i is best), with ``floor`` clipped to 1/K. With
    ``top_two``, P(arm i is best) is replaced by how often top-two Thompson sampling plays it
    (Russo 2016, β = 1/2), which spends more traffic telling the leader from its closest rival.

    Bernoulli arms have Beta(a0 + successes, b0 + failures) posteriors, the prior from
    ``beta_prior(prior_rate)`` (uniform without a rate); Gaussian arms a Student t posterior on
    their mean (see ``_student_parameters``). Two Beta arms with a whole-numbered
    parameter, and arms that are all alike, have a closed form; otherwise the probabilities are
    the share of ``MONTE_CARLO_DRAWS`` (38,416) joint posterior draws each arm wins, within ±0.005
    of the exact value at 95 % in the worst case (p = 0.5), reproducible with ``seed``. Without
    a ``version``, one is derived from the inputs and the result.
    """
    arms = _checked(arms, likelihood)
    floor = _floor_checked(floor, len(arms))
    best, method, draws = _best_probabilities(arms, likelihood, seed, beta_prior(prior_rate))
    shares = _top_two(best) if top_two and len(arms) > 1 else best
    floored = floor + (1.0 - len(arms) * floor) * shares
    floored = floored / floored.sum()  # rounding only: the shares already sum to one
    probabilities = [float(p) for p in floored]
    version = version or _version_derived(arms, likelihood, floor, top_two, probabilities)
    return Allocation(
        probabilities={arm.key: p for arm, p in zip(arms, probabilities, strict=True)},
        version=version,
        method=method,
        draws=draws,
    )


def stats_discount(arms: Iterable[ArmStats], factor_per_hour: float, hours: float) -> tuple[ArmStats, ...]:
    """Fade old evidence: every sum times ``factor_per_hour ** hours``.

    An observation an hour old then counts ``factor_per_hour`` of a new one (0.99: half after
    about three days), so a bandit that has settled can notice that preferences drifted.
    """
    if not (isinstance(factor_per_hour, int | float) and 0.0 < factor_per_hour <= 1.0):
        raise ValueError(f"factor_per_hour must lie in (0, 1], got {factor_per_hour!r}.")
    if not (isinstance(hours, int | float) and math.isfinite(hours) and hours >= 0):
        raise ValueError(f"hours must be a finite number >= 0, got {hours!r}.")
    weight = float(factor_per_hour) ** float(hours)
    if weight == 1.0:
        return tuple(arms)
    return tuple(ArmStats(arm.key, arm.n * weight, arm.total * weight, arm.squares * weight) for arm in arms)


# Serving


def _utm_reader(name: str) -> Callable[[Context], object]:
    return lambda context: context.utm.get(name)


# Context attributes a bandit can learn per combination of ("context cells"), and how each is read.
CELL_FIELDS: Mapping[str, Callable[[Context], object]] = MappingProxyType(
    {
        "device": lambda c: c.device,
        "browser": lambda c: c.browser,
        "os": lambda c: c.os,
        "country": lambda c: c.country,
        "referrer_host": lambda c: c.referrer_host,
        # The campaign's source, medium and name (not its term or content: too fine to learn apart).
        **{f"utm_{name}": _utm_reader(name) for name in UTM_PARAMS[:3]},
        "is_returning": lambda c: "returning" if c.is_returning else "new",
        "is_authenticated": lambda c: "signed-in" if c.is_authenticated else "anonymous",
    }
)
CELL_FIELDS_MAX = 3
COARSER_BAYES_FACTOR = 20.0  # how much likelier a coarser split of the cells must be to be learned by instead
CELL_PREFIX = "@"  # a cell's key starts with it; a segment's key is a slug and never does
_CELL_VALUE_LENGTH = 18  # 3 values and their separators fit the 64 characters a segment key is stored in
_CELL_UNSAFE = re.compile(r"[^a-z0-9-]+")


def cell_key(context: Context, fields: Sequence[str]) -> str:
    """The visitor's context cell over ``fields``: "@mobile.search" for ("device", "utm_source").

    Values are lower-cased and reduced to ``[a-z0-9-]`` and 18 characters, so a key is bounded, safe in a
    cache key and a log, and a visitor's free text (a campaign name) cannot make it long; an absent
    value is "none".
    """
    values = []
    for name in fields:
        raw = CELL_FIELDS[name](context)
        value = _CELL_UNSAFE.sub("-", str(raw).lower()).strip("-")[:_CELL_VALUE_LENGTH] if raw else ""
        values.append(value or "none")
    return CELL_PREFIX + ".".join(values)


def cell_fields_check(fields: Sequence[str]) -> tuple[str, ...]:
    """``fields`` as a tuple, or ``ValueError`` naming what is wrong with them."""
    unknown = [name for name in fields if name not in CELL_FIELDS]
    if unknown:
        raise ValueError(f"unknown context field {unknown[0]!r}; known: {', '.join(CELL_FIELDS)}")
    if len(set(fields)) != len(fields):
        raise ValueError("a context field is named twice")
    if len(fields) > CELL_FIELDS_MAX:
        raise ValueError(f"at most {CELL_FIELDS_MAX} context fields (every combination is learned apart)")
    return tuple(fields)


def cell_values(cell: str) -> tuple[str, ...]:
    """The values a cell's key holds, in the order of its slot's fields: ("mobile", "search") for "@mobile.search"."""
    return tuple(cell.removeprefix(CELL_PREFIX).split("."))


def cell_coarsen(cell: str, kept: Sequence[int]) -> str:
    """The coarser cell ``cell`` falls in when only the fields at ``kept`` matter: "@mobile.*" for (0,)."""
    values = cell_values(cell)
    return CELL_PREFIX + ".".join(value if i in kept else "*" for i, value in enumerate(values))


def cell_fields_select(
    cells: Mapping[str, Sequence[ArmStats]], field_count: int, prior: tuple[int, int] = (1, 1)
) -> tuple[int, ...]:
    """Which of the slot's context fields the rewards depend on: the positions of the fields to learn apart by.

    Every subset of the fields splits the visitors into coarser cells; each is scored by the probability
    of the observed clicks if each arm had one click rate per coarser cell, with the arms' Beta
    ``prior`` (the Beta-Binomial marginal likelihood, in closed form). This is Bayesian model
    selection: a field that predicts nothing splits the evidence and lowers the score, so an editor can
    list the fields that *might* matter and the bandit learns by the ones that do, with the data of a
    cell shared by every cell that differs from it only in a field that does not.

    Learning apart by every field stays the choice unless a coarser subset is at least
    ``COARSER_BAYES_FACTOR`` (20) times as likely: merging cells that differ is the costly mistake,
    because a cell served another cell's favourite gathers too little evidence on its own arms to
    be split again, while keeping apart cells that do not differ only costs some exploration. Cells
    whose key does not hold ``field_count`` values (the slot's fields were changed since) take no part.
    """
    a0, b0 = prior
    rows = [(cell_values(cell), arms) for cell, arms in cells.items() if len(cell_values(cell)) == field_count]
    scores: dict[tuple[int, ...], float] = {}
    for size in range(field_count + 1):
        for kept in itertools.combinations(range(field_count), size):
            sums: dict[tuple[tuple[str, ...], str], list[float]] = {}
            for values, arms in rows:
                group = tuple(values[i] for i in kept)
                for arm in arms:
                    total = sums.setdefault((group, arm.key), [0.0, 0.0])
                    total[0] += arm.n
                    total[1] += min(max(arm.total, 0.0), arm.n)
            n = np.array([t[0] for t in sums.values()], dtype=float)
            clicks = np.array([t[1] for t in sums.values()], dtype=float)
            scores[kept] = float(np.sum(special.betaln(a0 + clicks, b0 + n - clicks) - special.betaln(a0, b0)))
    every = tuple(range(field_count))
    coarser = max(scores, key=lambda kept: (scores[kept], -len(kept)))  # a tie goes to fewer fields
    return coarser if scores[coarser] >= scores[every] + math.log(COARSER_BAYES_FACTOR) else every


def _no_allocations(segment: str) -> Allocation | None:
    return None


@dataclass(frozen=True, slots=True)
class BanditPolicy:
    """Serve a slot's bandit allocation, per segment when the slot targets segments.

    ``allocations`` maps a segment key ("" for the whole slot) to its current allocation and
    must be cheap (serving injects an in-memory lookup). The allocation is restricted to the
    live candidates and renormalized: a variant capped or paused for this visitor leaves, and
    the others' propensities stay exact. A live variant the allocation does not know yet counts
    as the allocation's mean share (1/K) until the next recompute. Without an allocation, every
    candidate gets the same share. Candidate weights are ignored: the posterior decides.

    With ``cells`` (context fields such as ("device", "utm_source")), a visitor no rule segment
    matches is learned for in their context cell: a contextual bandit over every combination of
    those fields, which finds a favourite that depends on two attributes jointly (neither alone
    predicting it) without an editor writing a segment per combination. A cell the fold has not
    published an allocation for yet is served the whole slot's, pooled over every cell.
    """

    name: ClassVar[str] = "bandit"
    version: ClassVar[str] = "1"
    model_version: ClassVar[str] = ""
    salt: str
    rules: tuple[tuple[SegmentSpec, str], ...] = ()
    allocations: Callable[[str], Allocation | None] = field(default=_no_allocations)
    cells: tuple[str, ...] = ()  # context fields learned per combination (``cell_key``) outside rule segments

    def __post_init__(self) -> None:
        object.__setattr__(self, "cells", cell_fields_check(self.cells))

    def segment_of(self, context: Context) -> str:
        """The first of the slot's rule segments the visitor is in, else their context cell, else "" (the whole slot)."""
        for spec, _ in self.rules:
            if spec.matches(context):
                return spec.key
        return cell_key(context, self.cells) if self.cells else ""

    def _allocation(self, segment: str) -> Allocation | None:
        """The segment's allocation; a cell without one yet (new, or rare) is served the whole slot's pooled one."""
        allocation = self.allocations(segment)
        if allocation is None and segment.startswith(CELL_PREFIX):
            allocation = self.allocations("")
        return allocation

    def _distribution(self, candidates: Sequence[Candidate], context: Context) -> tuple[dict[str, float], str, str]:
        if not candidates:
            raise NoCandidatesError("The slot has no live variants.")
        # Sorted, so a visitor keeps their arm however the catalog happens to order the variants.
        keys = sorted({candidate.key for candidate in candidates})
        segment = self.segment_of(context)
        allocation = self._allocation(segment)
        if allocation is None or not allocation.probabilities:
            return {key: 1.0 / len(keys) for key in keys}, segment, ""
        known = allocation.probabilities
        mean_share = 1.0 / len(known)
        weights = [known.get(key, mean_share) for key in keys]
        total = math.fsum(weights)
        if total <= 0.0:  # every live arm has no share (a floor of 0 and certain losers): nothing to prefer
            return {key: 1.0 / len(keys) for key in keys}, segment, allocation.version
        return {key: w / total for key, w in zip(keys, weights, strict=True)}, segment, allocation.version

    def probabilities(self, candidates: Sequence[Candidate], context: Context) -> dict[str, float]:
        """The probability with which ``choose`` picks each candidate for this visitor's segment."""
        return self._distribution(candidates, context)[0]

    def choice_labels(self, context: Context) -> tuple[str, str]:
        """The reason and version ``choose`` gives this visitor's choices: their segment and its allocation.

        A caller that draws from ``probabilities`` itself (frequency caps) labels its choice with these, so
        the decision is still counted for the right segment and tied to the allocation it was drawn from.
        """
        segment = self.segment_of(context)
        allocation = self._allocation(segment)
        version = allocation.version if allocation is not None and allocation.probabilities else ""
        return (f"bandit:{segment}" if segment else "bandit"), version

    def choose(self, candidates: Sequence[Candidate], context: Context, rng: random.Random) -> Choice:
        probabilities, segment, version = self._distribution(candidates, context)
        if context.visitor_id:
            point = unit_hash(self.salt, segment, version, context.visitor_id)
        else:
            point = rng.random()
        reason = f"bandit:{segment}" if segment else "bandit"
        cumulative = 0.0
        chosen = ""
        for key, probability in probabilities.items():
            if probability <= 0.0:
                continue
            chosen = key  # float rounding at the top edge lands on the last arm with a share
            cumulative += probability
            if point < cumulative:
                break
        return Choice(chosen, probabilities[chosen], reason, version=version)


def _bandit_policy_factory(
    *,
    slot_key: str,
    rules: Iterable[tuple[SegmentSpec, str]] = (),
    allocations: Callable[[str], Allocation | None] | None = None,
    cells: Sequence[str] = (),
    **_: Any,
) -> BanditPolicy:
    return BanditPolicy(
        salt=slot_key, rules=tuple(rules), allocations=allocations or _no_allocations, cells=tuple(cells)
    )


POLICY_FACTORIES["bandit"] = _bandit_policy_factory

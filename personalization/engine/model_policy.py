"""The model strategy: show the variant the reward model expects to do best, and keep exploring.

``ModelPolicy`` scores every live candidate for the visitor with a ``RewardModel`` and
turns the scores into choice probabilities: epsilon-greedy (the best variant gets
most traffic, the rest share ``rate``), a softmax floored at ``rate``/K per variant, or
inverse-gap weighting (SquareCB, as Vowpal Wabbit explores), floored the same way, or
Thompson sampling per context cell with the model's predictions as the prior
(``engine.model_cells``).
Exploration keeps every variant's propensity above zero, which is what lets the next
model be trained and evaluated without bias on this policy's log.

Exploration is sticky per visitor: the point that picks a variant from those
probabilities is a hash of (slot, model version, visitor id), so a visitor who reloads
keeps their variant until the model changes, and the logged propensity stays exact
because the randomness is over visitors rather than over requests.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

from .context import Context
from .featurize import VariantBlock, VariantFeatures, variant_block
from .hashing import unit_hash
from .model_cells import CellAllocations
from .policies import POLICY_FACTORIES, Candidate, Choice, NoCandidatesError
from .reward_model import RewardModel

EXPLORATIONS = ("epsilon", "softmax", "igw", "thompson")
MAX_BLOCKS = 32  # sets of candidates whose encoding a policy keeps


@dataclass(frozen=True)
class ModelPolicy:
    """Choose by predicted reward, exploring with ``exploration`` at ``rate``.

    * epsilon: the best-scoring candidate (ties go to the smallest key) gets
      1 - rate + rate/K, every other candidate rate/K.
    * softmax: p = (1 - rate) · softmax(score / temperature) + rate/K, so every
      candidate keeps at least rate/K. Scores are probabilities, so a temperature of
      0.05 separates variants whose click rates differ by a few points.
    * igw (inverse-gap weighting, SquareCB: Foster & Rakhlin 2020): every candidate but
      the best gets max(1 / (K + gamma · (best score - its score)), rate/K) and the best
      the rest (variants tied at the top share it). A variant the model rates close to the best is explored often, one far
      below it seldom, so exploration costs little reward where the model is sure. The
      floor rate/K (0 turns it off) guards against a model that is confidently wrong
      about a variant: IGW alone would starve it at about 1/(gamma · gap), the floor
      keeps enough of its evidence coming for the next retrain to correct the model,
      and it bounds every importance weight training and evaluation use by K/rate.
    * thompson: the visitor's context cell's Thompson-sampling allocation (``engine.model_cells``),
      computed with the model version from the model's predictions and the cell's own outcomes;
      every candidate keeps at least rate/K. A cell the log has not seen falls back to epsilon.

    ``choose`` draws its point from ``unit_hash(salt, model_version, visitor_id)`` when the
    context names a visitor (sticky until the model version changes), else from ``rng``.

    Without a model (a new slot, or a failed load) every candidate gets 1/K. A
    candidate missing from ``variants`` is scored with an empty template and no
    attributes, on its key alone. Candidate weights are ignored: the model decides.
    """

    name: ClassVar[str] = "model"
    version: ClassVar[str] = "1"
    model: RewardModel | None
    variants: Mapping[str, VariantFeatures]
    exploration: str = "epsilon"
    rate: float = 0.1
    temperature: float = 0.05
    model_version: str = ""
    gamma: float = 100.0
    salt: str = ""  # the slot key: another slot draws independently for the same visitor
    cells: CellAllocations | None = None  # thompson's allocations, computed with the model version
    _blocks: dict[tuple[str, ...], VariantBlock] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.exploration not in EXPLORATIONS:
            raise ValueError(f"Unknown exploration {self.exploration!r}; known: {', '.join(EXPLORATIONS)}.")
        if not (isinstance(self.rate, int | float) and 0.0 <= self.rate <= 1.0):
            raise ValueError(f"rate must lie in [0, 1], got {self.rate!r}.")
        if not (isinstance(self.temperature, int | float) and math.isfinite(self.temperature) and self.temperature > 0):
            raise ValueError(f"temperature must be a positive number, got {self.temperature!r}.")
        if not (isinstance(self.gamma, int | float) and math.isfinite(self.gamma) and self.gamma >= 0):
            raise ValueError(f"gamma must be a number of at least 0, got {self.gamma!r}.")
        for key, variant in self.variants.items():
            if not isinstance(variant, VariantFeatures) or variant.key != key:
                raise ValueError(f"variants[{key!r}] must be the VariantFeatures of variant {key!r}.")
        object.__setattr__(self, "variants", MappingProxyType(dict(self.variants)))

    def _keys(self, candidates: Sequence[Candidate]) -> list[str]:
        if not candidates:
            raise NoCandidatesError("The slot has no live variants.")
        # A key listed twice is still one variant; counting it twice would skew the uniform shares.
        return list(dict.fromkeys(candidate.key for candidate in candidates))

    def _variant(self, key: str) -> VariantFeatures:
        variant = self.variants.get(key)
        return variant if variant is not None else VariantFeatures(key=key, template="")

    def _scores(self, keys: Sequence[str], context: Context) -> list[float]:
        if self.model is None:
            raise ValueError("This model policy has no model to score with.")
        if context.scores and all(key in context.scores for key in keys):
            return [float(context.scores[key]) for key in keys]  # scored ahead of time by the same model
        block = self._blocks.get(tuple(keys))
        if block is None:
            # Serving scores the same few variants for visitor after visitor: their half of the matrix is
            # encoded once per set of candidates (a capped variant makes another set).
            if len(self._blocks) >= MAX_BLOCKS:
                self._blocks.clear()
            block = variant_block([self._variant(key) for key in keys], self.model.schema)
            self._blocks[tuple(keys)] = block
        return [float(score) for score in self.model.predict_matrix(block.encode([context]))]

    def scores_needed(self, context: Context) -> bool:
        """Whether choosing in this context reads the model's scores (a Thompson cell in the table does not)."""
        if self.model is None:
            return False
        return not (
            self.exploration == "thompson" and self.cells is not None and self.cells.lookup(context) is not None
        )

    def scores(self, candidates: Sequence[Candidate], context: Context) -> dict[str, float]:
        """Predicted reward of each candidate for this context, from one batch prediction."""
        keys = self._keys(candidates)
        return dict(zip(keys, self._scores(keys, context), strict=True))

    def _distribution(self, candidates: Sequence[Candidate], context: Context) -> tuple[dict[str, float], str | None]:
        """Choice probabilities per key, and the key the model rates best (None without a model)."""
        keys = self._keys(candidates)
        k = len(keys)
        if self.model is None:
            return {key: 1.0 / k for key in keys}, None
        floor = self.rate / k
        if self.exploration == "thompson" and self.cells is not None:
            shares = self.cells.lookup(context)
            if shares is not None:
                # A variant added since the table was computed, or a set narrowed by a cap, keeps the floor;
                # the shares are then renormalised over the candidates actually offered.
                raw = {key: max(shares.get(key, 0.0), floor) for key in keys}
                total = sum(raw.values())
                probabilities = {key: p / total for key, p in raw.items()}
                top = max(probabilities.values())
                return probabilities, min(key for key, p in probabilities.items() if p == top)
        scores = self._scores(keys, context)
        top = max(scores)
        best = min(key for key, score in zip(keys, scores, strict=True) if score == top)
        if self.exploration in ("epsilon", "thompson"):
            return {key: (1.0 - self.rate + floor if key == best else floor) for key in keys}, best
        if self.exploration == "igw":
            # Each non-best share is at most 1/K (its gap is >= 0) and the floor rate/K <= 1/K, so the
            # best keeps at least 1/K: the rest never goes negative.
            # Variants tied at the top share the rest equally, so the smallest key gains nothing from a tie.
            shares = {
                key: max(1.0 / (k + self.gamma * (top - score)), floor)
                for key, score in zip(keys, scores, strict=True)
                if score != top
            }
            rest = (1.0 - sum(shares.values())) / (k - len(shares))
            return {key: shares.get(key, rest) for key in keys}, best
        # Shifting by the top score keeps exp() from overflowing; the ratios are unchanged.
        exponents = [math.exp((score - top) / self.temperature) for score in scores]
        total = sum(exponents)
        return {key: (1.0 - self.rate) * e / total + floor for key, e in zip(keys, exponents, strict=True)}, best

    def probabilities(self, candidates: Sequence[Candidate], context: Context) -> dict[str, float]:
        """The probability with which ``choose`` would pick each candidate in this context."""
        return self._distribution(candidates, context)[0]

    def choose(self, candidates: Sequence[Candidate], context: Context, rng: random.Random) -> Choice:
        probabilities, best = self._distribution(candidates, context)
        if context.visitor_id:
            # Over visitors the hash is uniform, so the propensity is exact; per visitor it is fixed.
            point = unit_hash(self.salt, self.model_version, context.visitor_id)
        else:
            point = rng.random()
        cumulative = 0.0
        chosen = next(reversed(probabilities))  # float rounding at the top edge lands on the last key
        for key, probability in probabilities.items():
            cumulative += probability
            if point < cumulative:
                chosen = key
                break
        if best is None:
            reason = "uniform"
        else:
            reason = "model" if chosen == best else "explore"
        return Choice(chosen, probabilities[chosen], reason)


def _variants_mapping(
    variants: Mapping[str, VariantFeatures] | Iterable[VariantFeatures] | None,
) -> dict[str, VariantFeatures]:
    if variants is None:
        return {}
    if isinstance(variants, Mapping):
        return dict(variants)
    return {variant.key: variant for variant in variants}


def _model_policy_factory(
    *,
    model: RewardModel | None = None,
    variants: Mapping[str, VariantFeatures] | Iterable[VariantFeatures] | None = None,
    exploration: str = "epsilon",
    rate: float = 0.1,
    temperature: float = 0.05,
    model_version: str = "",
    gamma: float = 100.0,
    slot_key: str = "",
    cells: CellAllocations | None = None,
    **_: Any,
) -> ModelPolicy:
    return ModelPolicy(
        model=model,
        variants=_variants_mapping(variants),
        exploration=exploration,
        rate=rate,
        temperature=temperature,
        model_version=model_version,
        gamma=gamma,
        salt=slot_key,
        cells=cells,
    )


# build_policy("model", ...) resolves through this registry; registering on import
# keeps policies.py free of a dependency on LightGBM.
POLICY_FACTORIES["model"] = _model_policy_factory

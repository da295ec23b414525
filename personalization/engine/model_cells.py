"""Thompson sampling for the model strategy: the model's prediction as each variant's prior, per context cell.

Epsilon-greedy, softmax and inverse-gap weighting explore where the model says, and a model trained on
its own exploit-heavy log can be confidently wrong about a kind of visitor: the variant that is in fact
best for them gets only the floor, too little evidence ever reaches the next retrain, and the mistake
stays (bench/RESULTS.md, Continuous learning: the hard world). Thompson sampling explores where the
evidence is thin instead.

At every retrain, ``cell_allocations_compute`` splits the logged decisions into context cells over
the fields the rewards depend on (chosen from the visitor's categorical context by Bayesian model
selection, as the contextual bandit chooses its own: ``engine.bandits.cell_fields_select``). Each
variant in a cell gets a Beta posterior: ``PRIOR_ROWS`` pseudo-decisions at the model's mean
prediction for the cell's visitors, plus the cell's own decisions and rewards. Its share of the cell's
traffic is its probability of being best (``engine.bandits.allocation_compute``), floored. The
model carries what it learned across cells (a field that predicts nothing, a new combination, a
variant that looks like another); the cell's own outcomes correct it where it is wrong.

The table is computed once per model version and served as is: ``ModelPolicy`` looks up the
visitor's cell, so the propensity logged is exactly the allocation's. A cell the log has not seen
falls back to epsilon-greedy on the model's scores.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from .bandits import (
    CELL_FIELDS,
    ArmStats,
    allocation_compute,
    beta_prior,
    cell_fields_select,
    cell_key,
    pooled_rate,
)
from .context import Context

# Pseudo-decisions the model's prediction is worth in each variant's prior. In the hard world of
# bench/continuous.py (a pure-engine replica, 10 seeds), 5, 20 and 60 gave final policies of 92.9 %,
# 94.3 % and 93.9 % of the oracle on average and cumulative rewards of 80.6 %, 82.1 % and 82.1 %.
# Kept small because the model learned from the same decisions: its prior must not outweigh them.
PRIOR_ROWS = 20.0
# A field with more values than this splits visitors too finely to learn apart by (a campaign name).
CELL_VALUES_MAX = 12
TABLE_FORMAT_VERSION = 1

Scorer = Callable[[Sequence[Context]], npt.NDArray[np.float64]]  # contexts → (contexts × variants) predictions


@dataclass(frozen=True)
class CellAllocations:
    """Each context cell's choice probabilities over the model slot's variants, for one model version."""

    fields: tuple[str, ...]
    table: Mapping[str, Mapping[str, float]] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        unknown = [name for name in self.fields if name not in CELL_FIELDS]
        if unknown:
            raise ValueError(f"unknown context field {unknown[0]!r}; known: {', '.join(CELL_FIELDS)}")
        table = {}
        for cell, shares in self.table.items():
            values = {str(key): float(p) for key, p in shares.items()}
            if not values or any(not (0.0 <= p <= 1.0) for p in values.values()):
                raise ValueError(f"cell {cell!r}: probabilities must lie in [0, 1]")
            table[str(cell)] = MappingProxyType(values)
        object.__setattr__(self, "table", MappingProxyType(table))

    def lookup(self, context: Context) -> Mapping[str, float] | None:
        """The visitor's cell's probabilities, or None for a cell the log has not seen."""
        return self.table.get(cell_key(context, self.fields))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": TABLE_FORMAT_VERSION,
            "fields": list(self.fields),
            "cells": {cell: dict(shares) for cell, shares in self.table.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CellAllocations:
        if data.get("format_version") != TABLE_FORMAT_VERSION:
            raise ValueError(f"Unsupported cell table format_version {data.get('format_version')!r}.")
        return cls(fields=tuple(data.get("fields") or ()), table=data.get("cells") or {})


def _candidate_fields(contexts: Sequence[Context]) -> tuple[str, ...]:
    """The categorical context fields that vary between the logged visitors, and not too finely."""
    chosen = []
    for name in CELL_FIELDS:
        values = {cell_key(context, (name,)) for context in contexts}
        if 2 <= len(values) <= CELL_VALUES_MAX:
            chosen.append(name)
    return tuple(chosen)


def _seed(parts: Sequence[object]) -> int:
    return int.from_bytes(hashlib.blake2b(repr(tuple(parts)).encode(), digest_size=4).digest(), "big")


def cell_allocations_compute(
    contexts: Sequence[Context],
    actions: Sequence[str],
    rewards: Sequence[float],
    variants: Sequence[str],
    scorer: Scorer,
    *,
    floor: float,
    prior_rows: float = PRIOR_ROWS,
    seed: int = 0,
) -> CellAllocations:
    """Thompson allocations per context cell from logged decisions and the model trained on them.

    ``contexts``, ``actions`` and ``rewards`` describe each logged decision (rewards in [0, 1]:
    clicks or conversions); ``scorer`` is the model's prediction for every variant, in ``variants``
    order, for each context. Decisions of a variant not in ``variants`` are left out. ``floor`` is
    each variant's least share (clipped to 1/K).
    """
    if not (len(contexts) == len(actions) == len(rewards)):
        raise ValueError("contexts, actions and rewards must be as long as each other.")
    if not variants:
        raise ValueError("A cell table needs at least one variant.")
    index = {key: i for i, key in enumerate(variants)}
    kept_rows = [i for i, action in enumerate(actions) if action in index]
    contexts = [contexts[i] for i in kept_rows]
    actions = [actions[i] for i in kept_rows]
    rewards = [min(max(float(rewards[i]), 0.0), 1.0) for i in kept_rows]
    if not contexts:
        return CellAllocations(fields=())
    candidates = _candidate_fields(contexts)
    # Counts per finest cell, then the coarsest split the evidence supports.
    fine = [cell_key(context, candidates) for context in contexts]
    counts: dict[str, npt.NDArray[np.float64]] = {}
    for cell, action, reward in zip(fine, actions, rewards, strict=True):
        tally = counts.setdefault(cell, np.zeros((len(variants), 2)))
        tally[index[action]] += (1.0, reward)
    arms = {cell: [ArmStats(key, t[i, 0], t[i, 1]) for i, key in enumerate(variants)] for cell, t in counts.items()}
    prior_rate = pooled_rate(arm for cell_arms in arms.values() for arm in cell_arms)
    kept = cell_fields_select(arms, len(candidates), beta_prior(prior_rate)) if candidates else ()
    fields = tuple(candidates[i] for i in kept)

    cells = [cell_key(context, fields) for context in contexts]
    predictions = np.asarray(scorer(contexts), dtype=np.float64)
    members: dict[str, list[int]] = {}
    for i, cell in enumerate(cells):
        members.setdefault(cell, []).append(i)
    shown = np.array([index[action] for action in actions])
    earned = np.array(rewards)
    table: dict[str, dict[str, float]] = {}
    for cell in sorted(members):
        rows = np.array(members[cell])
        prior_mean = np.clip(predictions[rows].mean(axis=0), 0.0, 1.0)
        n = np.bincount(shown[rows], minlength=len(variants)).astype(float)
        total = np.bincount(shown[rows], weights=earned[rows], minlength=len(variants))
        cell_arms = [
            ArmStats(key, n[j] + prior_rows, total[j] + prior_rows * prior_mean[j]) for j, key in enumerate(variants)
        ]
        allocation = allocation_compute(
            cell_arms, floor=floor, prior_rate=prior_rate, seed=_seed((seed, cell)), version="cells"
        )
        table[cell] = dict(allocation.probabilities)
    return CellAllocations(fields=fields, table=table)

"""Hooks on a visitor's export: what other apps add to what tracking exports about a visitor.

Tracking never imports personalization, yet a visitor's export should say why each decision showed
what it did. Personalization registers an explainer here in ``ready()`` (as it registers its
``record_hooks``); ``visitor_export`` hands it the visitor's decision rows and puts what it returns
beside each decision. Without an explainer (tracking alone) a decision's explanation is None.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

logger = logging.getLogger(__name__)

# Called with decision rows (id as 32 hex digits, slot_key, variant_key, policy, policy_version, reason,
# propensity, context); returns an explanation per decision id it explains.
DecisionExplainer = Callable[[Sequence[Mapping[str, Any]]], Mapping[str, Any]]

_explainers: list[DecisionExplainer] = []


def decision_explainer_register(explainer: DecisionExplainer) -> None:
    if explainer not in _explainers:
        _explainers.append(explainer)


def decisions_explain(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Every registered explainer's explanations, by decision id (a later one adds to an earlier one's)."""
    explanations: dict[str, Any] = {}
    if rows:
        for explainer in _explainers:
            try:
                explanations.update(explainer(rows))
            except Exception:  # the visitor gets their data whatever an explainer makes of it
                logger.exception(
                    "Decision explainer %r failed; the export goes out without its explanations.", explainer
                )
    return explanations

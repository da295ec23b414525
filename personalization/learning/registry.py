"""The model registry: which trained version serves each model slot, and switching it.

Versions are rows of ``ModelVersion``; switching is ``ActivateModelVersionAction``
(``learning.activation``), which every caller uses so that each switch is checked,
audited and seen by every web process within seconds, without a restart. Serving
loads the active versions through ``serving.model_store``.
"""

from __future__ import annotations

from typing import Any

from personalization.learning.activation import ActivateModelVersionAction, Source
from personalization.models import ModelVersion


def model_activate(
    version: ModelVersion, *, user: Any = None, source: Source = "command", reason: str = ""
) -> ModelVersion:
    """Serve this version for its slot (rollback is activating an older one), through the one action."""
    return ActivateModelVersionAction(version, user=user, source=source, reason=reason).execute()

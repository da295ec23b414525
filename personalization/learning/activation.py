"""Activating a model version: the one way a trained model starts (or stops) serving its slot.

As Wagtail does with ``PublishRevisionAction``, the change is one action that every
caller goes through, so automatic promotion after training, the Models screen's
Activate button and ``manage.py activate_model`` behave alike: it checks the user's
permission, retires the version serving the slot and activates this one, writes the
audit entry in the same transaction (served and audited together, or neither), and
tells every process to rebuild its catalog once that is committed. A rollback is
activating an older version; the audit entry says so.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from wagtail.actions.base import BaseAction
from wagtail.log_actions import LogFormatter, log

from personalization.models import ModelVersion
from personalization.serving.catalog import catalog_changed

logger = logging.getLogger(__name__)

LOG_ACTION = "tailor.model.activate"

Source = Literal["admin", "promotion", "command"]
# Who or what activated, in the words of the audit log (an entry's user says who, when there is one).
SOURCES: dict[str, str] = {
    "admin": "on the Models screen",
    "promotion": "automatically after training",
    "command": "from the command line",
}


class ModelActivationPermissionError(PermissionDenied):
    """The user may not change which model serves (it takes ``personalization.change_modelversion``)."""


class ActivateModelVersionAction(BaseAction):
    """Serve ``version`` for its slot.

    ``user`` is who asked; without one it is a system action (automatic promotion, a
    command run by whoever has the server's shell) and no permission is checked.
    ``source`` and ``reason`` go into the audit entry with the version's offline
    evaluation and the version it replaces.
    """

    action_name = "activate"
    # The permission the Models screen has always asked of its Activate button.
    permission_policy_action = "change"
    permission_error_class = ModelActivationPermissionError

    def __init__(
        self,
        version: ModelVersion,
        user: Any = None,
        *,
        source: Source = "admin",
        reason: str = "",
        log_action: bool = True,
    ) -> None:
        if source not in SOURCES:
            raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {source!r}.")
        super().__init__(version, user=user)
        self.version = version
        self.source = source
        self.reason = reason
        self.log_action = log_action

    def execute(self, skip_permission_checks: bool = False) -> ModelVersion:
        self.check(skip_permission_checks=skip_permission_checks)
        version = self.version
        with transaction.atomic():
            serving = ModelVersion.objects.filter(slot_key=version.slot_key, status=ModelVersion.Status.ACTIVE)
            # Locking what serves makes two activations of one slot take turns; the read after the
            # lock then sees what the other one activated (PostgreSQL; SQLite writes one at a time).
            list(serving.select_for_update().values_list("pk", flat=True))
            previous = serving.defer("model_text").first()
            if previous is not None and previous.pk == version.pk:
                return version  # already serving: nothing changes, nothing to audit
            if previous is not None:
                ModelVersion.objects.filter(pk=previous.pk).update(status=ModelVersion.Status.RETIRED)
            version.status = ModelVersion.Status.ACTIVE
            version.activated_at = timezone.now()
            version.save(update_fields=["status", "activated_at"])
            if self.log_action:
                self._log(previous)
            # Other processes are told on commit only (a failed audit write tells nobody); last, so that
            # such a failure does not even make this process rebuild.
            catalog_changed()
        logger.info(
            "Model version %s now serves slot %r (%s%s).",
            version.pk,
            version.slot_key,
            SOURCES[self.source],
            f", replacing {previous.pk}" if previous else "",
        )
        return version

    def _log(self, previous: ModelVersion | None) -> None:
        version = self.version
        log(
            instance=version,
            action=LOG_ACTION,
            user=self.user,
            # The entry's name stays true after the version is retired (its str() carries the status).
            title=f"{version.slot_key} model #{version.pk}",
            data={
                "slot": version.slot_key,
                "source": self.source,
                "reason": self.reason,
                "previous_version": previous.pk if previous else None,
                "rollback": previous is not None and version.created_at < previous.created_at,
                "evaluation": evaluation_summary(version.estimates),
            },
        )


def evaluation_summary(estimates: dict[str, Any]) -> dict[str, Any]:
    """The figures of a version's offline evaluation an auditor needs to see why it was activated."""

    def dr(policy: str) -> float | None:
        value = (estimates.get(policy) or {}).get("dr", {}).get("value")
        return float(value) if isinstance(value, int | float) else None

    difference = estimates.get("difference_dr") or {}
    return {
        "candidate_dr": dr("candidate"),
        "serving_dr": dr("serving"),
        "uniform_dr": dr("uniform"),
        "difference_ci95": difference.get("ci95"),
        "promotion_margin": estimates.get("promotion_margin"),
        "evaluated_rows": estimates.get("evaluated_rows", estimates.get("holdout_rows")),
    }


class ModelActivationLogFormatter(LogFormatter):
    """How the audit log (Reports › Site history) words an activation, from the entry's data."""

    label = "Activate model version"

    def format_message(self, log_entry: Any) -> str:
        data = log_entry.data or {}
        previous = data.get("previous_version")
        where = SOURCES.get(data.get("source", ""), "")
        if data.get("rollback"):
            message = f"Rolled back from model #{previous} {where}"
        else:
            message = f"Activated {where}" + (f", replacing model #{previous}" if previous else "")
        evaluation = data.get("evaluation") or {}
        candidate, serving = evaluation.get("candidate_dr"), evaluation.get("serving_dr")
        if candidate is not None and serving is not None:
            message += f"; doubly robust estimate {candidate:.4f} vs {serving:.4f} for what served at training"
        if data.get("reason") and data.get("source") != "promotion":  # promotion's reason repeats the figures
            message += f": {data['reason']}"
        return message

"""Who each decision was shown to: the cache ingest reads to attribute an event without a query.

The decision writer remembers the owners of the decisions it logs; ingest reads them
(falling back to the decision log) to refuse an event for a decision shown to another
visitor; erasure and retention forget them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from django.core.cache import cache
from django.db import DatabaseError

from .conf import setting
from .exceptions import IngestUnavailableError
from .models import DecisionLog
from .outages import outage_guard


def decision_owners_forget(decision_ids: Sequence[str]) -> None:
    with outage_guard("cache", "decision owners not forgotten from the cache"):
        cache.delete_many([decision_owner_key(d) for d in decision_ids])


def decision_owner_key(decision_id: str) -> str:
    return f"tailor:decision-owner:{decision_id}"


def decision_owners_remember(owners: Mapping[str, str]) -> None:
    """Remember who each decision was shown to, so ingest can attribute without a query."""
    if not owners:
        return
    with outage_guard("cache", "decision owners not cached; ingest looks them up in the database"):
        cache.set_many({decision_owner_key(d): v for d, v in owners.items()}, timeout=setting("MAX_EVENT_AGE_SECONDS"))


def decision_owners(decision_ids: set[str], cached: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Who each decision was shown to ("" for no visitor); an unknown decision is left out.

    ``cached`` holds cache entries a caller read already (key to value, None when absent): those
    keys are not read again.
    """
    if not decision_ids:
        return {}
    cached = cached or {}
    owners: dict[str, str] = {}
    keys = {decision_owner_key(d): d for d in decision_ids}
    for key in keys.keys() & cached.keys():
        if cached[key] is not None:
            owners[keys.pop(key)] = cached[key]
        else:
            del keys[key]  # read, and not in the cache: the database is asked below
    if keys:
        with outage_guard("cache", "decision owners not read from the cache; using the database"):
            owners.update({keys[key]: value for key, value in cache.get_many(list(keys)).items()})
    missing = decision_ids - owners.keys()
    if missing:
        rows = DecisionLog.objects.filter(id__in=[uuid.UUID(d) for d in missing]).values_list("id", "visitor_id")
        try:
            for decision_id, visitor_id in rows:
                owners[decision_id.hex] = str(visitor_id) if visitor_id else ""
        except DatabaseError as exc:  # the database is down: a 503 the tracker retries, as for the write
            raise IngestUnavailableError(str(exc)) from exc
    return owners

"""Where ``decide()`` records what it showed: a decision sink.

A sink takes one decision record at a time (``add``). ``DecisionsWriteNow`` writes each
at once (a worker, a command, the default when nobody says otherwise).
``DecisionBatch`` keeps them until ``flush()`` writes them all in one batch: a request
holds one (the visitor middleware writes it with the request's other writes once the page
is built, ``tracking.services.request_writes_flush``), the simulation one per batch of
visitors, and a test or a benchmark reads ``records`` without writing at all.

A decision may also update a per-visitor cache entry (the exposures that frequency caps count):
``cache_set`` hands it to the sink, which writes it with the decisions (the request's one round trip)
and gives it back to a later decision of the same batch through ``cache_pending``, so the slots of one
page read the entry once. A request's batch also knows the entries the visitor's read carried along
(``RequestTailor.read_along``, given to it with ``cache_known``), so an entry asked for then is not read again.

``DISCARD`` records nothing: a Wagtail preview's decisions, and an excluded editor's own visits
(``TAILOR["EXCLUDE_STAFF"]``). What is never logged is never learned from (bandit trials and training read
the log) nor counted in results, and no exposure is kept for frequency caps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from django.core.cache import cache

from .outages import outage_guard
from .services import CacheEntries, DecisionRecord, decision_records_write

NOT_PENDING = object()


class DecisionSink(Protocol):
    def add(self, record: DecisionRecord) -> None: ...

    def cache_set(self, key: str, value: Any, timeout: int) -> None: ...

    # The value set and not yet written, or read already in this request (None: absent); else NOT_PENDING.
    def cache_pending(self, key: str) -> Any: ...


def _cache_write(entries: CacheEntries) -> None:
    with outage_guard("cache", "per-visitor entries of the decisions not written (frequency caps count less)"):
        by_timeout: dict[int, dict[str, Any]] = {}
        for key, (value, timeout) in entries.items():
            by_timeout.setdefault(timeout, {})[key] = value
        for timeout, values in by_timeout.items():
            cache.set_many(values, timeout=timeout)


class DecisionsWriteNow:
    """Writes every decision as it is made."""

    def add(self, record: DecisionRecord) -> None:
        decision_records_write([record])

    def cache_set(self, key: str, value: Any, timeout: int) -> None:
        _cache_write({key: (value, timeout)})

    def cache_pending(self, key: str) -> Any:
        return NOT_PENDING


class DecisionBatch:
    """Holds decisions until ``flush()`` writes them in one batch."""

    def __init__(self) -> None:
        self.records: list[DecisionRecord] = []
        self.cache_entries: CacheEntries = {}
        self._cache_known: dict[str, Any] = {}  # read in this request: given back, never written

    def add(self, record: DecisionRecord) -> None:
        self.records.append(record)

    def cache_set(self, key: str, value: Any, timeout: int) -> None:
        self.cache_entries[key] = (value, timeout)

    def cache_pending(self, key: str) -> Any:
        entry = self.cache_entries.get(key)
        return self._cache_known.get(key, NOT_PENDING) if entry is None else entry[0]

    def cache_known(self, found: dict[str, Any]) -> None:
        """Entries the request read already (key to value, None when absent): ``cache_pending`` gives them back."""
        self._cache_known.update(found)

    def cache_take(self) -> CacheEntries:
        """The cache entries held, which the batch then forgets (the request writes them with its own)."""
        entries, self.cache_entries = self.cache_entries, {}
        return entries

    def __len__(self) -> int:
        return len(self.records)

    def take(self) -> list[DecisionRecord]:
        """The records held, which the batch then forgets."""
        records, self.records = self.records, []
        return records

    def flush(self) -> None:
        entries = self.cache_take()
        if entries:
            _cache_write(entries)
        decision_records_write(self.take())


class DiscardDecisions:
    """Records nothing; empty like a batch that holds nothing, so the request's flush writes nothing."""

    @property
    def cache_entries(self) -> CacheEntries:
        return {}

    def add(self, record: DecisionRecord) -> None:
        pass

    def cache_set(self, key: str, value: Any, timeout: int) -> None:
        pass

    def cache_pending(self, key: str) -> Any:
        return NOT_PENDING

    def cache_take(self) -> CacheEntries:
        return {}

    def __len__(self) -> int:
        return 0

    def take(self) -> list[DecisionRecord]:
        return []

    def flush(self) -> None:
        pass


class DecisionBatchUnless(DecisionBatch):
    """A request's batch that discards everything when ``excluded()`` says so (an editor's own visit).

    ``excluded`` is asked once, at the first decision: a request that decides nothing never loads its user.
    """

    def __init__(self, excluded: Callable[[], bool]) -> None:
        super().__init__()
        self._excluded = excluded
        self._discarding: bool | None = None

    @property
    def discarding(self) -> bool:
        if self._discarding is None:
            self._discarding = bool(self._excluded())
        return self._discarding

    def add(self, record: DecisionRecord) -> None:
        if not self.discarding:
            super().add(record)

    def cache_set(self, key: str, value: Any, timeout: int) -> None:
        if not self.discarding:
            super().cache_set(key, value, timeout)


WRITE_NOW = DecisionsWriteNow()
DISCARD = DiscardDecisions()

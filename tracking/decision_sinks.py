"""Where ``decide()`` records what it showed: a decision sink.

A sink takes one decision record at a time (``add``). ``DecisionsWriteNow`` writes each
at once (a worker, a command, the default when nobody says otherwise).
``DecisionBatch`` keeps them until ``flush()`` writes them all in one batch: a request
holds one (the visitor middleware writes it with the request's other writes once the page
is built, ``tracking.services.request_writes_flush``), the simulation one per batch of
visitors, and a test or a benchmark reads ``records`` without writing at all.
"""

from __future__ import annotations

from typing import Protocol

from .services import DecisionRecord, decision_records_write


class DecisionSink(Protocol):
    def add(self, record: DecisionRecord) -> None: ...


class DecisionsWriteNow:
    """Writes every decision as it is made."""

    def add(self, record: DecisionRecord) -> None:
        decision_records_write([record])


class DecisionBatch:
    """Holds decisions until ``flush()`` writes them in one batch."""

    def __init__(self) -> None:
        self.records: list[DecisionRecord] = []

    def add(self, record: DecisionRecord) -> None:
        self.records.append(record)

    def __len__(self) -> int:
        return len(self.records)

    def take(self) -> list[DecisionRecord]:
        """The records held, which the batch then forgets."""
        records, self.records = self.records, []
        return records

    def flush(self) -> None:
        decision_records_write(self.take())


WRITE_NOW = DecisionsWriteNow()

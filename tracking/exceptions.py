"""Errors the tracking services raise for the edges to turn into answers (a 503 the tracker retries)."""


class IngestUnavailableError(RuntimeError):
    """Neither the stream nor the database could take the batch."""

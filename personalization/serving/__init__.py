"""Serving: what runs inside a request. The catalog of compiled slots, segments, cached scores,
the active models, ``decide()`` and rendering. Never imports learning or admin."""

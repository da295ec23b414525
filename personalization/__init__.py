"""Personalization: segments, the catalog of compiled slots, ``decide()``, template tags and the API."""

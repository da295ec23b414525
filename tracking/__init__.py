"""Tracking: the record of what happened: visitor identity, request context and the decision log."""

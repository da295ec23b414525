"""Guardrails: the hourly job that pauses or rolls back a variant that hurts, and what editors are told.

``checks`` runs the tests and acts, ``notices`` words the audit entries for the admin.
"""

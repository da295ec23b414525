"""Counters operators scrape at ``/metrics``: what fell back, what was down, what was refused.

Counters are prometheus_client's. Under gunicorn or Celery with several processes, set
``PROMETHEUS_MULTIPROC_DIR`` to a shared empty folder before they start, and ``/metrics``
adds up every process's counts (prometheus_client's multiprocess mode).
"""

from __future__ import annotations

from prometheus_client import Counter

FALLBACKS = Counter(
    "tailor_decision_fallbacks",
    "Decisions that served the default variant because the slot's policy failed.",
    ["slot", "policy"],
)
OUTAGES = Counter(
    "tailor_outages",
    "Calls to the cache, Redis or the broker that failed because the service was unreachable.",
    ["service"],
)
DEAD_LETTERS = Counter(
    "tailor_dead_letters",
    "Records the database refused, set aside in the dead-letter table.",
    ["kind"],
)
EVENTS_REJECTED = Counter(
    "tailor_events_rejected",
    "Events refused at ingest, by the field that was wrong.",
    ["field"],
)
TRAINING_OUTCOMES = Counter(
    "tailor_training_outcomes",
    "Model training runs per slot, by outcome (promoted, candidate, not-trained, failed).",
    ["outcome"],
)
ROWS_SKIPPED = Counter(
    "tailor_rows_skipped",
    "Logged decisions that training or scoring skipped because they cannot be featurized.",
    ["job"],
)

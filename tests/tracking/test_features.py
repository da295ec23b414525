"""Real-time visitor features: the pure fold, and what ingest makes of it for serving."""

from __future__ import annotations

import json
import random
import time
import uuid

import pytest

from tracking.features import (
    FEATURE_NAMES,
    MAX_TIMES,
    features_compute,
    state_apply,
    state_apply_many,
    state_from_events,
    state_new,
)

T0 = 1_700_000_000.0
MIN = 60.0
VISIT = 30 * MIN  # the default VISIT_TIMEOUT_SECONDS
HOUR = 3600.0
DAY = 24 * HOUR


def e(kind: str, ts: float, value: float | None = None, **extra) -> dict:
    return {"type": kind, "ts": ts, "value": value, "props": extra.pop("props", {}), **extra}


def features(events: list[dict], now: float) -> dict:
    return features_compute(state_from_events(events), now, visit_timeout=VISIT)


def test_no_state_has_no_features():
    assert features_compute(None, T0, visit_timeout=VISIT) == dict.fromkeys(FEATURE_NAMES)
    assert set(features([], T0)) == set(FEATURE_NAMES)


def test_clicks_last_hour_counts_only_the_last_hour():
    clicks = [e("click", T0 - 2 * HOUR), e("click", T0 - 61 * MIN), e("click", T0 - 50 * MIN), e("click", T0 - MIN)]
    assert features(clicks, T0)["clicks_last_hour"] == 2
    assert features(clicks, T0 + 55 * MIN)["clicks_last_hour"] == 1
    assert features(clicks, T0 + 2 * HOUR)["clicks_last_hour"] == 0


@pytest.mark.parametrize(("gap_min", "sessions"), [(10, 1), (29, 1), (31, 2), (120, 2)])
def test_sessions_split_by_a_30_minute_gap(gap_min, sessions):
    events = [e("scroll", T0, 10), e("click", T0 + 20 * MIN), e("scroll", T0 + (20 + gap_min) * MIN, 10)]
    assert features(events, T0 + 3 * HOUR)["sessions_7d"] == sessions


def test_sessions_7d_forgets_older_sessions():
    events = [e("click", T0 - 8 * DAY), e("click", T0 - 3 * DAY), e("click", T0 - 2 * DAY), e("click", T0)]
    assert features(events, T0)["sessions_7d"] == 3
    assert features(events, T0 + 4 * DAY)["sessions_7d"] == 2


def test_avg_scroll_depth_is_clamped_to_0_100():
    events = [e("scroll", T0, 150), e("scroll", T0 + 1, -20), e("scroll", T0 + 2, 50), e("scroll", T0 + 3)]
    assert features(events, T0 + 5)["avg_scroll_depth"] == 50


def test_avg_dwell_counts_only_time_on_page_not_on_a_slot():
    events = [
        e("dwell", T0, 10),
        e("dwell", T0 + 1, 999, decision_id=uuid.uuid4().hex),
        e("dwell", T0 + 2, 20),
        e("dwell", T0 + 3, -5),
    ]
    assert features(events, T0 + 5)["avg_dwell_s"] == pytest.approx(10.0)  # (10 + 20 + 0) / 3
    assert features([e("dwell", T0, 999, decision_id=uuid.uuid4().hex)], T0)["avg_dwell_s"] is None


def test_seconds_since_last_visit_during_and_after_a_session():
    first = [e("click", T0), e("click", T0 + 10 * MIN)]
    assert features(first, T0 + 15 * MIN)["seconds_since_last_visit"] is None  # first visit, still going
    assert features(first, T0 + 10 * MIN + 2 * HOUR)["seconds_since_last_visit"] == 2 * HOUR
    second = [*first, e("click", T0 + 3 * HOUR)]
    # During the second visit it is the time since the first one ended.
    assert features(second, T0 + 3 * HOUR + 5 * MIN)["seconds_since_last_visit"] == 3 * HOUR + 5 * MIN - 10 * MIN
    assert features(second, T0 + 5 * HOUR)["seconds_since_last_visit"] == 2 * HOUR


def test_conversions_30d():
    events = [e("conversion", T0 - 40 * DAY, 5), e("conversion", T0 - 10 * DAY, 5), e("conversion", T0 - DAY)]
    assert features(events, T0)["conversions_30d"] == 2
    assert features(events, T0 + 25 * DAY)["conversions_30d"] == 1
    assert features(events, T0 + 30 * DAY)["conversions_30d"] == 0


def test_deal_clicks_ratio():
    clicks = [e("click", T0 + i, props={"deal": i == 0}) for i in range(4)]
    assert features(clicks, T0 + 5)["deal_clicks_ratio"] == 0.25
    assert features([e("scroll", T0, 50)], T0)["deal_clicks_ratio"] == 0.0


def test_state_from_events_is_the_fold_in_time_order_whatever_the_input_order():
    rng = random.Random(7)
    kinds = ["click", "scroll", "dwell", "conversion", "hover", "impression"]
    events = [
        e(kind, T0 + rng.randrange(0, int(10 * DAY)), rng.randrange(0, 120), props={"deal": rng.random() < 0.3})
        for kind in rng.choices(kinds, k=300)
    ]
    folded = state_new()
    for event in sorted(events, key=lambda x: x["ts"]):
        state_apply(folded, event)
    for _ in range(3):
        rng.shuffle(events)
        assert state_from_events(events) == folded
    assert features_compute(folded, T0 + 10 * DAY, visit_timeout=VISIT) == features(
        list(reversed(events)), T0 + 10 * DAY
    )


@pytest.mark.parametrize("seed", range(8))
def test_a_batch_folded_at_once_is_the_fold_one_event_at_a_time(seed):
    # Ingest folds a batch with one prune at the end; it must equal the per-event fold, past
    # the 7-day, 1-hour and 30-day windows and the MAX_TIMES cap, on top of an existing state.
    rng = random.Random(seed)
    kinds = ["click", "scroll", "dwell", "conversion", "hover"]

    def some(n: int, start: float, span: float) -> list[dict]:
        return [
            e(
                kind,
                start + rng.uniform(0, span),
                rng.choice([None, rng.uniform(-10, 150)]),
                props={"deal": rng.random() < 0.3},
            )
            for kind in rng.choices(kinds, k=n)
        ]

    held = state_from_events(some(rng.randrange(0, MAX_TIMES + 100), T0, rng.choice([HOUR, 10 * DAY, 40 * DAY])))
    batch = some(
        rng.choice([1, 50, MAX_TIMES + 50]), T0 + rng.uniform(-DAY, 12 * DAY), rng.choice([MIN, 2 * HOUR, 9 * DAY])
    )
    one_by_one = json.loads(json.dumps(held))
    for event in batch:
        state_apply(one_by_one, event)
    assert state_apply_many(json.loads(json.dumps(held)), batch) == one_by_one


# --- Through ingest: what decide() reads -------------------------------------------------


def post_events(client, visitor: str, *events: dict):
    body = {"events": [{"id": str(uuid.uuid4()), **ev} for ev in events]}
    response = client.post(
        "/api/v1/events/", data=json.dumps(body), content_type="application/json", HTTP_X_TAILOR_VISITOR=visitor
    )
    assert response.status_code == 202
    assert response.json()["accepted"] == len(events)


def api_event(kind: str, seconds_ago: float, value: float | None = None) -> dict:
    out = {"type": kind, "ts": int((time.time() - seconds_ago) * 1000)}
    if value is not None:
        out["value"] = value
    return out


@pytest.mark.django_db
def test_ingested_events_show_in_features_at_once_and_a_rebuild_agrees(client):
    from django.core.cache import cache

    from tracking.feature_store import visitor_features_get

    visitor = str(uuid.uuid4())
    post_events(client, visitor, api_event("scroll", 120, 60), api_event("dwell", 100, 30))
    now = time.time()
    assert visitor_features_get(visitor, now)["avg_scroll_depth"] == 60
    post_events(client, visitor, api_event("scroll", 30, 90), api_event("click", 20), api_event("dwell", 10, 50))
    live = visitor_features_get(visitor, now)
    assert live["avg_scroll_depth"] == 75
    assert live["avg_dwell_s"] == 40
    assert live["clicks_last_hour"] == 1
    assert live["sessions_7d"] == 1

    cache.clear()  # features lost: the next read rebuilds them from the database
    assert visitor_features_get(visitor, now) == live
    assert cache.get(f"tailor:features:{visitor}") is not None


@pytest.mark.django_db
def test_a_late_batch_gives_the_same_features_as_a_rebuild(client):
    from django.core.cache import cache

    from tracking.feature_store import visitor_features_get

    visitor = str(uuid.uuid4())
    post_events(client, visitor, api_event("scroll", 5 * MIN, 50))  # sent now
    post_events(client, visitor, api_event("scroll", HOUR, 50))  # an hour old, retried late
    now = time.time()
    live = visitor_features_get(visitor, now)
    cache.clear()
    rebuilt = visitor_features_get(visitor, now)
    assert rebuilt["sessions_7d"] == 2
    assert live == rebuilt


@pytest.mark.django_db
def test_first_batch_counts_in_features_with_the_redis_backend(client, settings, monkeypatch):
    from django.core.cache import cache

    from tracking import event_ingest
    from tracking.feature_store import features_key, visitor_features_get

    settings.TAILOR = {**settings.TAILOR, "EVENT_INGEST_BACKEND": "redis"}

    def streamed(records, visitor_id, state_next, now):
        # The stream takes the batch, and the script stores the state it was given (all records are new);
        # the writer has not yet bulk-written the batch to the database.
        if state_next is not None:
            cache.set(features_key(visitor_id), state_next)
        return records, None, [None] * len(event_ingest._listeners)

    monkeypatch.setattr(event_ingest, "_dedupe_and_stream", streamed)
    visitor = str(uuid.uuid4())
    post_events(client, visitor, api_event("scroll", 10, 90))
    assert visitor_features_get(visitor)["avg_scroll_depth"] == 90


@pytest.mark.django_db
def test_the_rollup_repairs_a_lost_update_and_leaves_quiet_visitors_alone(client):
    from django.core.cache import cache

    from tracking.feature_store import visitor_features_get, visitors_features_rollup
    from tracking.tasks import features_rollup

    active, quiet = str(uuid.uuid4()), str(uuid.uuid4())
    post_events(client, active, api_event("scroll", 120, 40), api_event("click", 60))
    post_events(client, quiet, api_event("scroll", 2 * HOUR, 80))
    now = time.time()
    truth = visitor_features_get(active, now)
    # Two concurrent batches raced: the cache kept only the first one's update (the scroll, not the click).
    from tracking.models import Event

    scroll = Event.objects.get(visitor_id=active, type="scroll")
    stale = state_from_events([{"type": "scroll", "ts": scroll.ts.timestamp(), "value": scroll.value, "props": {}}])
    cache.set(f"tailor:features:{active}", stale)
    assert visitor_features_get(active, now)["clicks_last_hour"] == 0
    quiet_before = cache.get(f"tailor:features:{quiet}")

    assert features_rollup.delay().get() == 1  # the task beat runs: only the visitor active in the window
    assert visitor_features_get(active, now) == truth
    assert cache.get(f"tailor:features:{quiet}") == quiet_before
    assert visitors_features_rollup(active_within_seconds=3 * HOUR) == 2


@pytest.mark.django_db
def test_the_rollup_keeps_a_cached_state_newer_than_the_database(client):
    """Events still on their way from the stream are in the cache, not yet stored: the roll-up must not undo them."""
    from django.core.cache import cache

    from tracking.feature_store import visitors_features_rollup

    visitor = str(uuid.uuid4())
    post_events(client, visitor, api_event("scroll", 300, 40))
    ahead = cache.get(f"tailor:features:{visitor}")
    state_apply(ahead, {"type": "click", "ts": time.time() - 1, "value": None, "props": {}})
    cache.set(f"tailor:features:{visitor}", ahead)
    assert visitors_features_rollup() == 0
    assert cache.get(f"tailor:features:{visitor}") == ahead


@pytest.mark.django_db
def test_the_rollup_keeps_a_cached_state_holding_an_older_event_not_yet_stored(client):
    """A late batch (client time older than the newest stored event) still in the stream is not undone."""
    from django.core.cache import cache

    from tracking.feature_store import visitors_features_rollup

    visitor = str(uuid.uuid4())
    post_events(client, visitor, api_event("scroll", 60, 40))
    ahead = cache.get(f"tailor:features:{visitor}")
    state_apply(ahead, {"type": "click", "ts": time.time() - 300, "value": None, "props": {}})
    cache.set(f"tailor:features:{visitor}", ahead)
    assert visitors_features_rollup() == 0
    assert cache.get(f"tailor:features:{visitor}") == ahead


@pytest.mark.parametrize(("timeout_min", "visits"), [(30, 1), (10, 2)])
def test_one_visit_timeout_for_the_visit_count_and_the_features(settings, timeout_min, visits):
    """Requests and events 20 minutes apart: one visit or two, by the VISIT_TIMEOUT_SECONDS setting alone."""
    from tracking.feature_store import visitor_features_apply, visitor_features_get
    from tracking.visitors import visit_count_touch

    settings.TAILOR = {**settings.TAILOR, "VISIT_TIMEOUT_SECONDS": timeout_min * MIN}
    visitor = str(uuid.uuid4())
    now = time.time()
    first, second = now - 25 * MIN, now - 5 * MIN

    visit_count_touch(visitor, now=first)
    assert visit_count_touch(visitor, now=second) == visits

    events = [{"id": uuid.uuid4().hex, **e("scroll", ts, 50)} for ts in (first, second)]
    visitor_features_apply(visitor, events, state=state_new())
    features_now = visitor_features_get(visitor, now)
    assert features_now["sessions_7d"] == visits
    # In the second visit, the last visit ended 20 minutes before it began; in the one visit, there was none.
    assert features_now["seconds_since_last_visit"] == (pytest.approx(25 * MIN) if visits == 2 else None)


def test_every_feature_has_an_editor_facing_label():
    from tracking.features import feature_label

    assert feature_label("avg_dwell_s") == "Average time on page (s)"
    assert all(feature_label(name) != name for name in FEATURE_NAMES)
    assert feature_label("retired_feature") == "retired_feature"  # an old model's name stays readable

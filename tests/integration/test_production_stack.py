"""The production shape, for real: PostgreSQL, Redis, gunicorn and a Celery worker on the Redis broker."""

from __future__ import annotations

import json
import re
import time
import uuid

import pytest
from celery import Celery

from devtools.services import start_redis

from .conftest import decision_count
from .stack import Server, manage, python

pytestmark = pytest.mark.integration

BUFFER = "tailor:decision-buffer"


def test_check_deploy_is_clean(stack_env):
    env = {k: v for k, v in stack_env.items() if k != "SECURE_SSL_REDIRECT"}
    # HSTS for subdomains and preload are the operator's choice (W005, W021 until made).
    env |= {"SECURE_HSTS_INCLUDE_SUBDOMAINS": "1", "SECURE_HSTS_PRELOAD": "1"}
    result = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert "no issues" in result.stdout + result.stderr


def test_pages_are_served_and_decisions_buffered_in_redis_not_written(server, pg, redis_client):
    redis_client.delete(BUFFER)
    before = decision_count(pg)
    status, html, headers = server.get("/bench/personalized/")
    assert status == 200
    assert len(re.findall(r'data-tailor-decision="[0-9a-f]{32}"', html)) == 3
    assert "tailor_vid=" in headers.get("Set-Cookie", "")
    assert "Secure" in headers["Set-Cookie"]
    assert redis_client.llen(BUFFER) == 3
    assert decision_count(pg) == before


def test_celery_worker_flushes_buffered_decisions_through_the_redis_broker(
    server, worker, pg, redis_client, redis_server
):
    for _ in range(5):
        assert server.get("/bench/personalized/")[0] == 200
    buffered = redis_client.llen(BUFFER)
    assert buffered >= 15
    before = decision_count(pg)
    app = Celery(broker=redis_server.url, backend=redis_server.url)
    written = app.send_task("tracking.tasks.decisions_flush", queue="ingest").get(timeout=60)
    assert written == buffered
    assert decision_count(pg) == before + buffered
    assert redis_client.llen(BUFFER) == 0
    assert "decisions_flush" in worker.output()


def test_flush_after_a_crash_mid_batch_does_not_double_count(server, stack_env, pg, redis_client):
    """A flusher killed after commit but before trimming leaves the batch in Redis; the rerun writes nothing twice."""
    redis_client.delete(BUFFER)
    server.get("/bench/personalized/")
    ids = [json.loads(raw)["id"] for raw in redis_client.lrange(BUFFER, 0, -1)]
    before = decision_count(pg)
    # Commit the batch without trimming, as a worker dying between the two steps would.
    python(
        stack_env,
        "import django; django.setup()\n"
        "import json; from tracking.redis_connection import redis_default; from tracking.services import decision_records_persist\n"
        f"decision_records_persist(json.loads(r) for r in redis_default().lrange({BUFFER!r}, 0, -1))",
    )
    assert decision_count(pg) == before + 3
    python(
        stack_env,
        "import django; django.setup()\nfrom tracking.services import decisions_flush\nprint(decisions_flush())",
    )
    assert decision_count(pg) == before + 3
    assert (
        pg.execute(
            "select count(*) from tracking_decisionlog where id = any(%s)", ([uuid.UUID(i) for i in ids],)
        ).fetchone()[0]
        == 3
    )


def test_personalized_page_adds_at_most_one_query_and_no_write(stack_env):
    out = python(
        stack_env,
        """
import django, json
django.setup()
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
client = Client(HTTP_HOST="127.0.0.1")
result = {}
for path in ["/bench/static/", "/bench/personalized/"]:
    for _ in range(3):
        client.get(path)  # warm caches
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200, response.status_code
    sql = [q["sql"] for q in queries.captured_queries]
    result[path] = {"queries": len(sql), "writes": [s for s in sql if s.split()[0].upper() in ("INSERT", "UPDATE", "DELETE")]}
print(json.dumps(result))
""",
    )
    result = json.loads(out.strip().splitlines()[-1])
    static, personalized = result["/bench/static/"], result["/bench/personalized/"]
    assert personalized["queries"] <= static["queries"] + 1, result
    assert personalized["writes"] == [], result


def _slot_markup(html: str, slot_key: str) -> str:
    """The slot's wrapper and what it holds, for a failure message that shows what was served instead."""
    start = html.find(f'data-tailor-slot="{slot_key}"')
    return html[max(0, start - 40) : start + 600] if start >= 0 else f"no {slot_key} slot on the page"


def _page_once_current(server, current, seconds: float = 10.0) -> str:
    """The page once ``current(html)`` holds. Workers check the catalog version at most every second, so
    one normally is; a loaded machine (the suites run side by side) may take longer to schedule them."""
    time.sleep(1.2)
    deadline = time.monotonic() + seconds
    html = server.get("/bench/personalized/")[1]
    while not current(html) and time.monotonic() < deadline:
        time.sleep(0.2)
        html = server.get("/bench/personalized/")[1]
    return html


def test_publish_and_rollback_on_postgres_reach_a_running_server_without_restart(server, stack_env):
    code = """
import django
django.setup()
from content.models import Slot, Variant
slot = Slot.objects.get(key="product-offer")
draft = slot.get_latest_revision_as_object()
variants = list(draft.variants.all())
# The variant the fixed slot serves, by key: rows rewritten without a sort order come back in any order.
served = next(v for v in variants if v.key == draft.default_variant) if draft.default_variant else variants[0]
params = served.params.raw_data
params[0]["value"]["headline"] = "{headline}"
draft.variants = [Variant(key=v.key, name=v.name, weight=v.weight, is_paused=v.is_paused, sort_order=i, params=(params if v.key == served.key else v.params.raw_data)) for i, v in enumerate(variants)]
revision = draft.save_revision()
revision.publish()
print(revision.pk)
"""
    original = python(stack_env, code.replace("{headline}", "Launch price")).strip()
    assert "Launch price" in _page_once_current(server, lambda html: "Launch price" in html)
    python(stack_env, code.replace("{headline}", "Summer price"))
    html = _page_once_current(server, lambda html: "Summer price" in html)
    assert "Summer price" in html, _slot_markup(html, "product-offer") + python(
        stack_env,
        """
import django
django.setup()
from content.models import Slot
from wagtail.models import ModelLogEntry
slot = Slot.objects.get(key="product-offer")
print("live", slot.live_revision_id, [v.params.raw_data[0]["value"].get("headline") for v in slot.variants.all()])
print(list(ModelLogEntry.objects.filter(object_id=str(slot.pk)).order_by("-pk").values_list("action", "timestamp", "data")[:6]))
""",
    )
    python(
        stack_env,
        f"""
import django
django.setup()
from wagtail.models import Revision
old = Revision.objects.get(pk={original})
old.as_object().save_revision(previous_revision=old).publish()
""",
    )
    html = _page_once_current(server, lambda html: "Summer price" not in html)
    assert "Launch price" in html
    assert "Summer price" not in html


def test_redis_down_pages_still_served_and_decisions_written_directly(postgres, stack_env, stack_dir, pg):
    own_redis = start_redis()
    env = {**stack_env, "REDIS_URL": own_redis.url}
    server = Server(env, stack_dir / "gunicorn-redis-down.log")
    try:
        assert server.get("/bench/personalized/")[0] == 200
        own_redis.kill()
        before = decision_count(pg)
        status, html, _ = server.get("/bench/personalized/")
        assert status == 200
        assert html.count("data-tailor-decision=") == 3
        assert decision_count(pg) == before + 3
        assert "Traceback" not in server.output()
        assert "decision buffer unavailable; writing decisions directly" in server.output()
    finally:
        server.stop()
        own_redis.stop()


def test_celery_worker_trains_a_model_through_the_redis_broker(stack_env, worker, redis_server, pg):
    result = manage(stack_env, "simulate_traffic", "--visitors", "1500", "--seed", "4", "--json")
    simulation = json.loads(result.stdout)
    assert simulation["training"]["promoted"] is True
    assert simulation["lift_over_uniform"] > 1.3
    app = Celery(broker=redis_server.url, backend=redis_server.url)
    trained = app.send_task("personalization.tasks.models_train", kwargs={"slot_key": "home-hero"}, queue="training")
    try:
        outcome = trained.get(timeout=120)
    except Exception as exc:
        raise AssertionError(f"training task failed: {exc}\nworker log:\n{worker.output()[-3000:]}") from exc
    assert set(outcome) == {"home-hero"}
    statuses = pg.execute(
        "select status from personalization_modelversion where slot_key = 'home-hero' order by id"
    ).fetchall()
    # The worker trained a second version and judged it: promoted, it serves and retires the first; otherwise
    # it waits as a candidate beside the first, still serving.
    expected = {"promoted": ["retired", "active"], "candidate": ["active", "candidate"]}
    assert outcome["home-hero"] in expected, outcome
    assert [s for (s,) in statuses] == expected[outcome["home-hero"]]
    assert "models_train" in worker.output()


def test_redis_down_a_model_slot_still_chooses_by_its_model(postgres, stack_env, stack_dir, pg):
    """Scores and features live in Redis; without it the model scores in-process and the page is served."""
    active = "select id from personalization_modelversion where slot_key = 'home-hero' and status = 'active'"
    if pg.execute(active).fetchone() is None:
        manage(stack_env, "simulate_traffic", "--visitors", "1500", "--seed", "6", "--json")
    version = pg.execute(active).fetchone()[0]
    own_redis = start_redis()
    server = Server({**stack_env, "REDIS_URL": own_redis.url}, stack_dir / "gunicorn-model-redis-down.log")
    try:
        assert server.get("/")[0] == 200  # the catalog, with the active model, is loaded while Redis is up
        own_redis.kill()
        status, html, _ = server.get("/")
        assert status == 200
        decision = re.search(
            r'data-tailor-slot="home-hero" data-tailor-variant="[a-z-]+" data-tailor-decision="([0-9a-f]{32})"', html
        )
        assert decision is not None, html[:2000]
        logged = pg.execute(
            "select policy, policy_version from tracking_decisionlog where id = %s", (uuid.UUID(decision[1]),)
        ).fetchone()
        assert logged == ("model", str(version))
        assert "Traceback" not in server.output()
    finally:
        server.stop()
        own_redis.stop()


def test_celery_beat_tasks_run_on_their_own_queues_in_a_real_worker(stack_env, worker, redis_server, pg):
    """Feature roll-up, scoring and clustering: each routed to its queue and run by a worker through Redis."""
    from django.conf import settings

    active = "select id from personalization_modelversion where slot_key = 'home-hero' and status = 'active'"
    if pg.execute(active).fetchone() is None:
        manage(stack_env, "simulate_traffic", "--visitors", "1500", "--seed", "8", "--json")
    manage(stack_env, "cluster_visitors", "--json")  # the simulation's visitors, drained to PostgreSQL
    # The demo hero explores by Thompson sampling, which serves the simulated visitors' cells from its table and
    # so needs no scores for them: on epsilon-greedy every one of them is scored.
    manage(
        stack_env,
        "shell",
        "-c",
        "from content.models import Slot; hero = Slot.objects.get(key='home-hero'); "
        "hero.exploration = 'epsilon'; hero.save_revision().publish()",
    )
    last_run = pg.execute("select max(id) from personalization_clusteringrun").fetchone()[0]
    app = Celery(broker=redis_server.url, backend=redis_server.url)
    app.conf.task_routes = settings.CELERY_TASK_ROUTES  # the project's routing, as beat would send them
    results = {
        name: app.send_task(name).get(timeout=180)
        for name in (
            "tracking.tasks.features_rollup",
            "personalization.tasks.visitors_score",
            "personalization.tasks.visitors_cluster",
        )
    }
    assert results["tracking.tasks.features_rollup"] > 0, worker.output()[-3000:]
    assert results["personalization.tasks.visitors_score"] > 0
    clustering = results["personalization.tasks.visitors_cluster"]
    assert clustering["k"] >= 2
    assert clustering["run"] > last_run  # a new run, stored by the worker (it replaces the earlier one)
    assert pg.execute("select k from personalization_clusteringrun where id = %s", (clustering["run"],)).fetchone() == (
        clustering["k"],
    )

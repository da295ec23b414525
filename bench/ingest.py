"""How many tracker events per second does ingest accept end to end, and are they all stored once?

POSTs batches of 50 events to ``/api/v1/events/`` on a real server process, gunicorn
``config.wsgi`` with 2 sync workers, backed by a throwaway PostgreSQL and Redis from
``devtools.services``. With the ``redis`` ingest backend (production default with
``REDIS_URL``) accepted events are de-duplicated in Redis and appended to the stream
``tailor:events``; a dedicated writer process (``manage.py consume_events``) bulk-writes
them to ``tracking_event`` while the load runs. The baseline is the same load against a
second server whose ``TAILOR_EVENT_INGEST_BACKEND=direct`` writes each batch to PostgreSQL
inside the request. Both servers run all along on different ports; only one is loaded at a
time, in rounds alternated A B, B A, ... so a noisy machine slows both alike.

Load: ``wrk`` (one thread, 4 connections) from a second process on loopback, with a Lua
script that builds every request body: 50 events with fresh random v4 UUIDs, ``ts`` = now,
from one of 1,000 visitors (``X-Tailor-Visitor``). 20 % of the events carry a real decision
id of that visitor, obtained beforehand from ``POST /api/v1/decisions/`` (so ingest checks
the decision's owner); the rest are scroll / dwell / click events with a value.

Counting, exactly: every event id of a round starts with the round's 8-hex-digit tag, so
the database rows of each round can be counted on their own. The Lua script sends batches
for the round's length, then stops sending (its ``delay()`` parks every connection) and
wrk runs 2 s longer, so every request sent gets its answer: "in flight" (sent but not
answered) must be 0. The script sums ``accepted`` / ``duplicates`` / rejected events from
every 202 body and counts other statuses. After a stream round the bench waits until the
stream is empty and nothing is pending, then checks per round: lost = accepted - rows
stored, doubled = rows - distinct ids (0 by the primary key, reported anyway),
duplicates and rejected = 0. At the end, all rows in ``tracking_event`` (warm-ups
included) must equal everything accepted.

Figures per round: accepted events/s over the round's window (first request sent to last
answer, clocked in the Lua script), wrk's request latency p50 / p99, and event-to-database
latency per event from SQL (nearest-rank ``percentile_disc``): ``stored_at - received_at``
(the app's measure: ``stored_at`` is set when the writer builds the row) and
``commit time - received_at`` (PostgreSQL's ``track_commit_timestamp``, switched on here:
when the row became visible, which includes the bulk INSERT and the commit). CPU time of
gunicorn, the writer, PostgreSQL, Redis and wrk per 1,000 accepted events comes from /proc,
a stream round's window including the drain. The machine is shared: a pair of rounds
counts only if other processes took at most 0.3 cores during both; with fewer than
``--rounds`` clean pairs within the budget the verdict is "inconclusive".

Targets (stream backend): >= 5,000 accepted events/s on this 2-core machine, event-to-
database p99 < 2 s (judged on the commit-based figure, the later of the two), zero
events lost, doubled, rejected or left pending, and (since the msgspec decoder and the
COPY writer) at most 100 ms of CPU per 1,000 accepted events across all processes.

Without wrk, ``--loadgen python`` sends the same batches from a Python child process
(keep-alive connections, bodies built by this script before each round's clock starts):
its CPU is reported in the "wrk" column and is higher than wrk's.

PostgreSQL runs as devtools.services starts it (fsync and synchronous_commit off) and Redis
without persistence unless ``--durable-redis``: production should pay an fsync on both.

Needs wrk (``apt-get install -y wrk``, built with LuaJIT) and the PostgreSQL and Redis
server packages. About 4 minutes (at most ~5 on a busy machine); appends to bench/RESULTS.md.

Run:  .venv/bin/python bench/ingest.py
      .venv/bin/python bench/ingest.py --profile 300   (then cProfile 300 ingest requests in-process)
      .venv/bin/python bench/ingest.py --smoke          (about a minute, records nothing)
      .venv/bin/python bench/ingest.py --loadgen python (no wrk installed)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import signal
import statistics
import sys
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import RESULTS, machine, now_utc, results_append, versions, yes_no  # noqa: E402
from bench._stack import (  # noqa: E402
    BUSY_CORES,
    DESKTOP_UA,
    CpuMeter,
    Process,
    Stack,
    child_result,
    command_line,
    django_client,
    log_problems,
    profile_table_print,
    profile_top,
    run_child,
    server_env,
    verdict,
    wait_quiet,
    wrk,
    wrk_missing,
)

EVENTS_PATH, DECISIONS_PATH = "/api/v1/events/", "/api/v1/decisions/"
STREAM, DIRECT = "stream", "direct"  # the two configurations: TAILOR_EVENT_INGEST_BACKEND=redis / direct
CONFIGS = (STREAM, DIRECT)
SLOTS = ("home-hero", "cta-banner", "product-offer")
STREAM_KEY, STREAM_GROUP = "tailor:events", "writers"  # tracking.conf DEFAULTS; raw Redis keys
DEFAULTS = {
    "rounds": 4,
    "seconds": 10,
    "warmup": 3,
    "connections": 4,
    "batch": 50,
    "visitors": 1000,
    "decision_share": 0.2,
    "budget": 170,
    "rate": "1000000/min",
    "loadgen": "wrk",
}
SMOKE = {"rounds": 1, "seconds": 3, "warmup": 1, "visitors": 100, "budget": 40}
TAIL_SECONDS = 2  # wrk runs this long after the script stops sending, so every request is answered
TARGET_EVENTS_PER_S = 5000
TARGET_P99_S = 2.0
TARGET_CPU_MS_PER_K = 100  # CPU of every process (gunicorn, writer, PostgreSQL, Redis, load) per 1,000 events
DRAIN_TIMEOUT = 60.0
COMPONENTS = ("gunicorn", "writer", "postgres", "redis", "wrk")

# wrk script. init(args): visitors file, round tag (8 hex), seconds to send, seed, decision
# share, batch size. request() builds a fresh batch; delay() parks every connection once the
# round's time is up, so nothing is in flight when wrk stops; response() parses each answer.
# done() prints one JSON line with the totals of all threads and wrk's latency percentiles.
WRK_LUA = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } tailor_timespec;
int clock_gettime(int clk_id, tailor_timespec *tp);
]]
local tsbuf = ffi.new("tailor_timespec")
local function clock_us(id)  -- 0: CLOCK_REALTIME, 1: CLOCK_MONOTONIC (Python's time.monotonic)
  ffi.C.clock_gettime(id, tsbuf)
  return tonumber(tsbuf.tv_sec) * 1000000 + math.floor(tonumber(tsbuf.tv_nsec) / 1000)
end

local threads, nthreads = {}, 0
function setup(thread)
  thread:set("tid", nthreads)
  nthreads = nthreads + 1
  table.insert(threads, thread)
end

local HEX = "0123456789abcdef"
local VARIANT = "89ab"
local KINDS = {"scroll", "dwell", "click"}
local DECISION_KINDS = {"impression", "click", "hover"}

local function rhex(n)
  local t = {}
  for i = 1, n do local r = math.random(16); t[i] = HEX:sub(r, r) end
  return table.concat(t)
end

local function event_id()  -- a v4 UUID whose first 8 hex digits are the round's tag
  local v = math.random(4)
  return tag .. "-" .. rhex(4) .. "-4" .. rhex(3) .. "-" .. VARIANT:sub(v, v) .. rhex(3) .. "-" .. rhex(12)
end

function init(args)
  dofile(args[1])  -- defines VISITORS = { {visitor id, {decision ids}}, ... }
  tag = args[2]
  send_us = tonumber(args[3]) * 1000000
  math.randomseed(tonumber(args[4]) + 7919 * tid)
  for _ = 1, 10 do math.random() end
  decision_share = tonumber(args[5])
  batch = tonumber(args[6])
  sent, sent_events, decision_events, responses, accepted, duplicates, rejected = 0, 0, 0, 0, 0, 0, 0
  non202, unparsed, first_us, last_us, parked = 0, 0, 0, 0, 0
  stop_at = nil
end

function delay()
  if stop_at ~= nil and clock_us(1) >= stop_at then
    parked = parked + 1
    return 3600000  -- never again in this run: wrk stops first
  end
  return 0
end

function request()
  if VISITORS == nil then return wrk.format() end
  -- wrk 4.1 calls request() once on thread 0 right after init() to check the script; that
  -- request is never sent, so it must not count nor start the clock.
  if tid == 0 and not checked then checked = true; return wrk.format() end
  local now = clock_us(1)
  if stop_at == nil then first_us = now; stop_at = now + send_us end
  local ts = string.format("%.0f", clock_us(0) / 1000)
  local visitor = VISITORS[math.random(#VISITORS)]
  local parts = {}
  for i = 1, batch do
    if math.random() < decision_share then
      local decisions = visitor[2]
      local kind = DECISION_KINDS[math.random(3)]
      local extra = ""
      if kind == "click" then extra = ',"props":{"tag":"a","href":"/pricing/"}'
      elseif kind == "hover" then extra = ',"value":' .. math.random(100, 5000) end
      parts[i] = '{"id":"' .. event_id() .. '","type":"' .. kind .. '","decision_id":"' ..
        decisions[math.random(#decisions)] .. '","ts":' .. ts .. extra .. '}'
      decision_events = decision_events + 1
    else
      parts[i] = '{"id":"' .. event_id() .. '","type":"' .. KINDS[math.random(3)] .. '","ts":' .. ts ..
        ',"value":' .. math.random(1, 100) .. '}'
    end
  end
  sent = sent + 1
  sent_events = sent_events + batch
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/json",
    ["User-Agent"] = user_agent,
    ["X-Tailor-Visitor"] = visitor[1],
  }, '{"events":[' .. table.concat(parts, ",") .. ']}')
end

function response(status, headers, body)
  responses = responses + 1
  last_us = clock_us(1)
  if status ~= 202 then non202 = non202 + 1; return end
  local a = tonumber(string.match(body, '"accepted":(%d+)'))
  local d = tonumber(string.match(body, '"duplicates":(%d+)'))
  if a == nil or d == nil then unparsed = unparsed + 1; return end
  accepted = accepted + a
  duplicates = duplicates + d
  local _, n = string.gsub(body, '"index":', "")
  rejected = rejected + n
end

function done(summary, latency, requests)
  local keys = {"sent", "sent_events", "decision_events", "responses", "accepted", "duplicates", "rejected",
                "non202", "unparsed", "parked"}
  local total = {}
  for _, k in ipairs(keys) do total[k] = 0 end
  local first, last = nil, 0
  for _, t in ipairs(threads) do
    for _, k in ipairs(keys) do total[k] = total[k] + t:get(k) end
    local f = t:get("first_us")
    if f > 0 and (first == nil or f < first) then first = f end
    if t:get("last_us") > last then last = t:get("last_us") end
  end
  local e = summary.errors
  local out = {}
  for _, k in ipairs(keys) do table.insert(out, string.format('"%s":%d', k, total[k])) end
  io.write(string.format(
    'WRKJSON {%s,"first_us":%.0f,"last_us":%.0f,"requests":%d,"errors":%d,"timeouts":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    table.concat(out, ","), first or 0, last, summary.requests,
    e.connect + e.read + e.write + e.status + e.timeout, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


# --------------------------------------------------------------------------- batches (Python twin of the Lua)


def event_id(rng: random.Random, tag: str) -> str:
    rest = uuid.UUID(int=rng.getrandbits(128), version=4).hex[8:]
    return str(uuid.UUID(tag + rest))


def batch_events(
    rng: random.Random, tag: str, decisions: list[str], share: float, size: int, now_ms: int
) -> list[dict[str, Any]]:
    """The events the Lua script sends, built in Python for the in-process profile."""
    events = []
    for _ in range(size):
        if rng.random() < share:
            kind = rng.choice(("impression", "click", "hover"))
            event: dict[str, Any] = {"id": event_id(rng, tag), "type": kind, "decision_id": rng.choice(decisions)}
            event["ts"] = now_ms
            if kind == "click":
                event["props"] = {"tag": "a", "href": "/pricing/"}
            elif kind == "hover":
                event["value"] = rng.randint(100, 5000)
        else:
            kind = rng.choice(("scroll", "dwell", "click"))
            event = {"id": event_id(rng, tag), "type": kind, "ts": now_ms, "value": rng.randint(1, 100)}
        events.append(event)
    return events


# --------------------------------------------------------------------------- children


# Third-party functions worth naming in a profile next to our own code.
PROFILE_LANDMARKS = (
    ("rest_framework/views.py", "dispatch"),
    ("rest_framework/request.py", "_parse"),
    ("rest_framework/throttling.py", "allow_request"),
    ("rest_framework/throttling.py", "throttle_success"),
    ("rest_framework/response.py", "rendered_content"),
    ("django/core/handlers/base.py", "_get_response"),
    ("django_redis/client/default.py", "get"),
    ("django_redis/client/default.py", "set"),
    ("django_redis/client/default.py", "get_many"),
    ("redis/client.py", "execute_command"),
    ("redis/client.py", "execute"),
    ("django/db/models/query.py", "bulk_create"),
    ("django/db/models/sql/compiler.py", "execute_sql"),
    ("json/__init__.py", "dumps"),
    ("json/__init__.py", "loads"),
    ("uuid.py", "__init__"),
    ("~", "<built-in method _pickle.loads>"),
    ("~", "<built-in method _pickle.dumps>"),
)


def _component(filename: str) -> str:
    """Which package a profiled function belongs to, for the own-time summary."""
    root = str(ROOT) + "/"
    if filename.startswith(root) and "/.venv/" not in filename:
        return filename.removeprefix(root).split("/", 1)[0] + "/ (ours)"
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1].split("/", 1)[0]
    if filename == "~":
        return "builtins (C)"
    return "stdlib"


def child_profile(requests: int, batch: int, share: float) -> None:
    """Print, as JSON, in-process ms per ingest request (Django test client) and a cProfile of it."""
    import cProfile
    import pstats

    client = django_client()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    rng = random.Random(12345)
    visitors: list[tuple[str, list[str]]] = []
    for _ in range(100):
        visitor = str(uuid.uuid4())
        answer = client.post(
            DECISIONS_PATH,
            {"slots": list(SLOTS)},  # the visitor in the header only: see visitors_make
            content_type="application/json",
            HTTP_X_TAILOR_VISITOR=visitor,
        )
        if answer.status_code != 200:
            raise SystemExit(f"decisions: HTTP {answer.status_code}: {answer.content[:300]!r}")
        visitors.append((visitor, [d["decision_id"] for d in answer.json()["decisions"]]))
    tag = secrets.token_hex(4)

    def post() -> None:
        visitor, decisions = rng.choice(visitors)
        events = batch_events(rng, tag, decisions, share, batch, int(time.time() * 1000))
        answer = client.post(
            EVENTS_PATH, {"events": events}, content_type="application/json", HTTP_X_TAILOR_VISITOR=visitor
        )
        body = answer.json()
        if answer.status_code != 202 or body["accepted"] != batch:
            raise SystemExit(f"events: HTTP {answer.status_code}: {body}")

    for _ in range(50):
        post()
    with CaptureQueriesContext(connection) as ctx:
        for _ in range(5):
            post()
    sql = [q["sql"].split(None, 1)[0].upper() for q in ctx.captured_queries]
    plain = []
    per_batch = max(requests // 6, 1)
    for _ in range(6):
        start = time.perf_counter()
        for _ in range(per_batch):
            post()
        plain.append((time.perf_counter() - start) / per_batch * 1000)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(requests):
        post()
    profiler.disable()
    by_component: dict[str, float] = {}
    for (filename, _, _), (_, _, own, _, _) in pstats.Stats(profiler).stats.items():  # type: ignore[attr-defined]
        component = _component(filename)
        by_component[component] = by_component.get(component, 0.0) + own
    child_result(
        {
            "backend": os.environ.get("TAILOR_EVENT_INGEST_BACKEND", "?"),
            "ms_per_request": statistics.median(plain),
            "sql_per_request": {verb: sql.count(verb) / 5 for verb in dict.fromkeys(sql)},
            "own_by_component": sorted(([v / requests * 1000, k] for k, v in by_component.items()), reverse=True),
            **profile_top(profiler, requests, PROFILE_LANDMARKS, 30),
        }
    )


# --------------------------------------------------------------------------- Python load generator (no wrk)

LOAD_REQUESTS_PER_S = 500  # bodies built per second of load: 25,000 events/s with batches of 50


def load_bodies(
    visitors: list[tuple[str, list[str]]], tag: str, seconds: int, batch: int, share: float, path: Path
) -> None:
    """Write the round's request bodies (one ``visitor TAB body`` per line), built before the clock starts."""
    rng = random.Random(secrets.randbits(32))
    now_ms = int(time.time() * 1000)
    with path.open("w") as out:
        for _ in range(seconds * LOAD_REQUESTS_PER_S):
            visitor, decisions = rng.choice(visitors)
            body = json.dumps(
                {"events": batch_events(rng, tag, decisions, share, batch, now_ms)}, separators=(",", ":")
            )
            out.write(f"{visitor}\t{body}\n")


def child_load(url: str, bodies_file: str, seconds: float, send_seconds: float, connections: int) -> None:
    """wrk's part in Python: keep-alive connections POST the prepared bodies; print a WRKJSON line."""
    import http.client
    import itertools
    import re
    import threading
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    lines = Path(bodies_file).read_bytes().split(b"\n")
    bodies = [line.split(b"\t", 1) for line in lines if line]
    counter = itertools.count()
    accepted_re, duplicates_re = re.compile(rb'"accepted":(\d+)'), re.compile(rb'"duplicates":(\d+)')
    totals = dict.fromkeys(
        [
            "sent",
            "sent_events",
            "decision_events",
            "responses",
            "accepted",
            "duplicates",
            "rejected",
            "non202",
            "unparsed",
            "parked",
            "errors",
            "timeouts",
        ],
        0,
    )
    latencies: list[float] = []
    lock = threading.Lock()
    start = time.monotonic()
    stop_at = start + send_seconds
    first_last = [None, 0.0]

    def worker() -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        mine: dict[str, int] = dict.fromkeys(totals, 0)
        lat: list[float] = []
        while time.monotonic() < stop_at:
            i = next(counter)
            if i >= len(bodies):
                mine["parked"] += 1  # out of prepared bodies: the figures are capped
                break
            visitor, body = bodies[i]
            t0 = time.monotonic()
            with lock:
                if first_last[0] is None:
                    first_last[0] = t0
            try:
                conn.request(
                    "POST",
                    parts.path,
                    body=body,
                    headers={
                        "Content-Type": "application/json",
                        "User-Agent": DESKTOP_UA,
                        "X-Tailor-Visitor": visitor.decode(),
                    },
                )
                mine["sent"] += 1
                mine["sent_events"] += body.count(b'"id":')
                mine["decision_events"] += body.count(b'"decision_id":')
                response = conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException):
                mine["errors"] += 1
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
                continue
            t1 = time.monotonic()
            lat.append(t1 - t0)
            mine["responses"] += 1
            if response.status != 202:
                mine["non202"] += 1
                continue
            a, d = accepted_re.search(data), duplicates_re.search(data)
            if a is None or d is None:
                mine["unparsed"] += 1
                continue
            mine["accepted"] += int(a.group(1))
            mine["duplicates"] += int(d.group(1))
            mine["rejected"] += data.count(b'"index":')
        conn.close()
        with lock:
            for key, value in mine.items():
                totals[key] += value
            latencies.extend(lat)
            first_last[1] = max(first_last[1], time.monotonic() if lat else 0.0)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()

    def pct(q: float) -> int:
        return int(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1e6) if latencies else 0

    first = first_last[0] or start
    print(
        "WRKJSON "
        + json.dumps(
            {
                **totals,
                "first_us": first * 1e6,
                "last_us": max(first_last[1], first) * 1e6,
                "requests": totals["responses"],
                "p50_us": pct(0.5),
                "p90_us": pct(0.9),
                "p99_us": pct(0.99),
                "max_us": int(latencies[-1] * 1e6) if latencies else 0,
            }
        )
    )


def python_load(
    base: str, visitors: list[tuple[str, list[str]]], tag: str, seconds: int, args: argparse.Namespace, folder: Path
) -> dict[str, Any]:
    import subprocess

    bodies = folder / f"bodies-{tag}.txt"
    load_bodies(visitors, tag, seconds, args.batch, args.decision_share, bodies)
    cmd = [sys.executable, __file__, "--child", "load", "--load-url", base + EVENTS_PATH, "--load-bodies", str(bodies)]
    cmd += ["--seconds", str(seconds), "--connections", str(args.connections)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)  # noqa: S603
    bodies.unlink()
    for line in result.stdout.splitlines():
        if line.startswith("WRKJSON "):
            return json.loads(line.removeprefix("WRKJSON "))
    raise RuntimeError(f"the load generator gave no result ({result.returncode}):\n{result.stdout}\n{result.stderr}")


# --------------------------------------------------------------------------- processes


def post_json(url: str, payload: Any, headers: dict[str, str] | None = None, timeout: float = 10) -> tuple[int, Any]:
    data = json.dumps(payload).encode()
    request = urllib.request.Request(  # noqa: S310 - our own loopback server
        url, data=data, method="POST", headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def postgres_commit_timestamps_on(pg: Any) -> None:
    """Switch on track_commit_timestamp (needs a restart) so each row's commit time can be read."""
    import psycopg

    from devtools.services import _pg_tool, _run_pg  # private, but the one way to restart its server

    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET track_commit_timestamp = on")
    _run_pg(
        [_pg_tool("pg_ctl"), "restart", "-D", str(pg.data_dir), "-l", str(pg.log_file), "-m", "fast", "-w", "-t", "30"],
        pg.base_dir,
    )
    with psycopg.connect(pg.url, autocommit=True) as conn:
        if conn.execute("SHOW track_commit_timestamp").fetchone()[0] != "on":
            raise RuntimeError("track_commit_timestamp did not switch on")


# --------------------------------------------------------------------------- one round


@dataclass
class Bench:
    args: argparse.Namespace
    servers: dict[str, Process]
    writer: Process
    redis: Any  # redis.Redis
    db: Any  # psycopg connection, autocommit
    meter: CpuMeter
    script: Path
    visitors_file: Path
    run_tag: str  # 6 hex digits; a round's tag appends 2 more
    visitors: list[tuple[str, list[str]]] = field(default_factory=list)
    counter: int = 0
    accepted_total: int = 0  # over every wrk run, warm-ups included
    problems: list[str] = field(default_factory=list)

    def next_tag(self) -> str:
        self.counter += 1
        return f"{self.run_tag}{self.counter:02x}"

    def wrk(self, config: str, tag: str, seconds: int) -> dict[str, Any]:
        a = self.args
        script_args = [str(self.visitors_file), tag, str(seconds), str(random.randrange(1, 2**31))]
        script_args += [str(a.decision_share), str(a.batch)]
        url = self.servers[config].base + EVENTS_PATH
        if a.loadgen == "python":
            data = python_load(self.servers[config].base, self.visitors, tag, seconds, a, self.script.parent)
        else:
            data = wrk(url, seconds + TAIL_SECONDS, a.connections, self.script, script_args, timeout=seconds + 60)
        data["window_s"] = max(data["last_us"] - data["first_us"], 1) / 1e6
        data["events_per_s"] = data["accepted"] / data["window_s"]
        data["requests_per_s"] = data["responses"] / data["window_s"]
        data["in_flight"] = data["sent"] - data["responses"]
        self.accepted_total += data["accepted"]
        return data

    def backlog(self) -> tuple[int, int]:
        """(entries in the stream, entries delivered but not acknowledged)."""
        return self.redis.xlen(STREAM_KEY), self.redis.xpending(STREAM_KEY, STREAM_GROUP)["pending"]

    def drain(self) -> float:
        """Wait until the writer has stored and acknowledged everything; returns how long that took."""
        start = time.monotonic()
        while time.monotonic() - start < DRAIN_TIMEOUT:
            if self.backlog() == (0, 0):
                return time.monotonic() - start
            if not self.writer.alive():
                raise RuntimeError(f"the writer died:\n{self.writer.log_text()[-3000:]}")
            time.sleep(0.05)
        length, pending = self.backlog()
        self.problems.append(f"stream not drained after {DRAIN_TIMEOUT:.0f} s: {length} entries, {pending} pending")
        return time.monotonic() - start

    def stored(self, tags: list[str]) -> dict[str, Any]:
        """Rows, distinct ids, decision-bearing rows and event-to-database latency of the events with these tags."""
        row = self.db.execute(
            """
            SELECT count(*), count(DISTINCT id), count(decision_id),
                   percentile_disc(ARRAY[0.5, 0.99]) WITHIN GROUP (ORDER BY stored_at - received_at),
                   max(stored_at - received_at),
                   percentile_disc(ARRAY[0.5, 0.99]) WITHIN GROUP
                     (ORDER BY pg_xact_commit_timestamp(xmin) - received_at),
                   max(pg_xact_commit_timestamp(xmin) - received_at),
                   extract(epoch FROM max(pg_xact_commit_timestamp(xmin)) - min(received_at)),
                   count(DISTINCT xmin::text)
              FROM tracking_event
             WHERE left(id::text, 8) = ANY(%s)
            """,
            [tags],
        ).fetchone()
        rows, distinct, with_decision, stored_pct, stored_max, commit_pct, commit_max, span, commits = row

        def s(value: Any) -> float:
            return value.total_seconds() if value is not None else float("nan")

        return {
            "rows": rows,
            "distinct": distinct,
            "with_decision": with_decision,
            "stored_p50": s(stored_pct[0]) if stored_pct else float("nan"),
            "stored_p99": s(stored_pct[1]) if stored_pct else float("nan"),
            "stored_max": s(stored_max),
            "commit_p50": s(commit_pct[0]) if commit_pct else float("nan"),
            "commit_p99": s(commit_pct[1]) if commit_pct else float("nan"),
            "commit_max": s(commit_max),
            "db_events_per_s": rows / float(span) if span else float("nan"),
            "transactions": commits,
        }

    def round(self, config: str, label: str, seconds: int) -> dict[str, Any]:
        tag = self.next_tag()
        cpu_before = self.meter.sample()
        data = self.wrk(config, tag, seconds)
        data["drain_s"] = self.drain() if config == STREAM else 0.0
        time.sleep(0.2)  # the direct server's last commits; the writer's last acknowledgement
        cpu = self.meter.delta(cpu_before, self.meter.sample())
        data.update(self.stored([tag]))
        data["tag"], data["config"] = tag, config
        data["cpu"] = cpu
        data["other_cores"] = cpu["other_cores"]
        data["lost"] = data["accepted"] - data["rows"]
        data["doubled"] = data["rows"] - data["distinct"]
        data["decision_share"] = data["decision_events"] / max(data["sent_events"], 1)
        problems = []
        if data["in_flight"]:
            problems.append(f"{data['in_flight']} requests unanswered when wrk stopped (counts not exact)")
        for key in ("non202", "unparsed", "errors", "duplicates", "rejected", "doubled"):
            if data[key]:
                problems.append(f"{data[key]} {key}")
        if data["lost"]:
            problems.append(f"{data['lost']} events accepted but not stored (negative: stored but not acknowledged)")
        if data["accepted"] + data["duplicates"] + data["rejected"] != data["responses"] * self.args.batch:
            problems.append("accepted + duplicates + rejected != events answered")
        if config == STREAM and self.backlog() != (0, 0):
            problems.append(f"stream backlog after the drain: {self.backlog()}")
        self.problems += [f"{label} {config}: {p}" for p in problems]
        per_k = 1000 / max(data["accepted"], 1)
        print(
            f"  {label:<9} {config:<6} {data['events_per_s']:7.0f} events/s ({data['requests_per_s']:5.1f} req/s)"
            f"  req p50 {data['p50_us'] / 1000:6.1f} ms p99 {data['p99_us'] / 1000:6.1f} ms"
            f"  to-db p50/p99 {data['stored_p50'] * 1000:5.0f}/{data['stored_p99'] * 1000:5.0f} ms"
            f" (commit {data['commit_p50'] * 1000:5.0f}/{data['commit_p99'] * 1000:5.0f})"
            f"  accepted {data['accepted']} stored {data['rows']} lost {data['lost']} drain {data['drain_s']:.2f} s"
            f"  CPU ms/1k ev: "
            + " ".join(f"{c} {cpu[c] * 1000 * per_k:.0f}" for c in COMPONENTS)
            + f"; other work {cpu['other_cores']:.2f} cores"
            + ("  PROBLEM" if problems else ""),
            flush=True,
        )
        return data


# --------------------------------------------------------------------------- run


def visitors_make(base: str, count: int) -> list[tuple[str, list[str]]]:
    """``count`` visitors, each with one decision per slot from ``POST /api/v1/decisions/``.

    The visitor goes in the ``X-Tailor-Visitor`` header, as tracker.js sends it. Not as
    ``visitor_id`` in the body: DecisionsCreateApi then swaps ``request.tailor`` for a new
    RequestTailor, the middleware writes the pending decisions of the old one (none), and the
    decisions are never logged, so ingest rejects their events as "Unknown decision id."
    """

    def one(_: int) -> tuple[str, list[str]]:
        visitor = str(uuid.uuid4())
        status, body = post_json(base + DECISIONS_PATH, {"slots": list(SLOTS)}, {"X-Tailor-Visitor": visitor})
        if status != 200 or len(body.get("decisions", [])) != len(SLOTS):
            raise RuntimeError(f"decisions for {visitor}: HTTP {status}: {str(body)[:300]}")
        return visitor, [d["decision_id"] for d in body["decisions"]]

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, range(count)))


def lua_visitors(visitors: list[tuple[str, list[str]]]) -> str:
    lines = ["  {" + json.dumps(v) + ", {" + ", ".join(json.dumps(d) for d in ds) + "}}," for v, ds in visitors]
    return (
        "VISITORS = {\n"
        + "\n".join(lines)
        + "\n}\npath = "
        + json.dumps(EVENTS_PATH)
        + "\n"
        + ("user_agent = " + json.dumps(DESKTOP_UA) + "\n")
    )


def service_versions(db: Any, redis_client: Any) -> str:
    pg = db.execute("SHOW server_version").fetchone()[0].split()[0]
    return f"PostgreSQL {pg}, Redis {redis_client.info('server')['redis_version']}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=DEFAULTS["rounds"], help="clean A/B pairs wanted (4)")
    parser.add_argument("--seconds", type=int, default=DEFAULTS["seconds"], help="seconds of load per round (10)")
    parser.add_argument("--warmup", type=int, default=DEFAULTS["warmup"], help="untimed seconds per server (3)")
    parser.add_argument("--connections", type=int, default=DEFAULTS["connections"], help="wrk connections (4)")
    parser.add_argument("--batch", type=int, default=DEFAULTS["batch"], help="events per POST (50)")
    parser.add_argument("--visitors", type=int, default=DEFAULTS["visitors"], help="visitors to rotate among (1000)")
    parser.add_argument(
        "--decision-share", type=float, default=DEFAULTS["decision_share"], help="events with a decision id (0.2)"
    )
    parser.add_argument(
        "--budget", type=int, default=DEFAULTS["budget"], help="max seconds for the timed pairs, waits included (170)"
    )
    parser.add_argument(
        "--rate", default=DEFAULTS["rate"], help="TAILOR_EVENTS_RATE_VISITOR and _IP for both servers (1000000/min)"
    )
    parser.add_argument("--durable-redis", action="store_true", help="Redis with appendfsync always")
    parser.add_argument("--smoke", action="store_true", help="a quick check: 1 pair of 3 s rounds, 100 visitors")
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to bench/RESULTS.md")
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="afterwards, cProfile N in-process ingest requests"
    )
    parser.add_argument(
        "--loadgen",
        choices=["wrk", "python"],
        default=DEFAULTS["loadgen"],
        help="load generator: wrk (default) or a Python keep-alive client when wrk is not installed",
    )
    parser.add_argument("--child", choices=["profile", "load"], help=argparse.SUPPRESS)
    parser.add_argument("--load-url", help=argparse.SUPPRESS)
    parser.add_argument("--load-bodies", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "load":
        child_load(args.load_url, args.load_bodies, args.seconds, args.seconds, args.connections)
        return 0
    if args.child == "profile":
        child_profile(args.profile or 300, args.batch, args.decision_share)
        return 0
    if args.smoke:
        for name, value in SMOKE.items():
            if getattr(args, name) == DEFAULTS[name]:
                setattr(args, name, value)
        args.no_record = True

    if args.loadgen == "wrk" and wrk_missing("bench/ingest.py"):
        return 2
    import psycopg
    import redis

    started = time.monotonic()
    load_before = os.getloadavg()
    rounds: list[dict[str, Any]] = []
    pairs: list[dict[str, Any]] = []
    problems: list[str] = []
    profiles: list[dict[str, Any]] = []
    final: dict[str, Any] = {}
    pooled: dict[str, dict[str, Any]] = {}
    with Stack.create("ingest") as stack:  # leaving it stops every process it started
        script = stack.var_dir / "ingest.lua"
        script.write_text(WRK_LUA)
        visitors_file = stack.var_dir / "visitors.lua"
        stack.services_start(durable_redis=args.durable_redis)
        pg, rd = stack.pg, stack.rd
        postgres_commit_timestamps_on(pg)
        env = {
            c: server_env(
                pg.url,
                rd.url,
                stack.var_dir,
                "ingest",
                TAILOR_EVENT_INGEST_BACKEND="redis" if c == STREAM else "direct",
                TAILOR_EVENTS_RATE_VISITOR=args.rate,
                TAILOR_EVENTS_RATE_IP=args.rate,
            )
            for c in CONFIGS
        }
        stack.site_prepare(env[STREAM])
        db = stack.client(psycopg.connect(pg.url, autocommit=True))
        redis_client = stack.client(redis.Redis.from_url(rd.url))
        rows_before = db.execute("SELECT count(*) FROM tracking_event").fetchone()[0]

        def ready(base: str) -> bool:
            return post_json(base + EVENTS_PATH, {"events": []})[0] == 202

        servers = {config: stack.gunicorn(env[config], config, ready) for config in CONFIGS}
        writer = stack.start(
            Process("writer", ["manage.py", "consume_events"], env[STREAM], stack.var_dir / "writer.log")
        )
        deadline = time.monotonic() + 60
        while not any(g["name"] == STREAM_GROUP.encode() for g in _groups(redis_client)):
            if not writer.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the writer did not start:\n{writer.log_text()[-3000:]}")
            time.sleep(0.1)
        meter = stack.meter({servers[STREAM].pgid: "gunicorn", servers[DIRECT].pgid: "gunicorn", writer.pgid: "writer"})
        visitors = visitors_make(servers[STREAM].base, args.visitors)
        visitors_file.write_text(lua_visitors(visitors))
        print(
            f"gunicorn {STREAM} :{servers[STREAM].port} and {DIRECT} :{servers[DIRECT].port} (2 workers each),"
            f" writer pid {writer.pgid}; {len(visitors)} visitors with {len(SLOTS)} decisions each;"
            f" setup took {time.monotonic() - started:.0f} s",
            flush=True,
        )
        bench = Bench(args, servers, writer, redis_client, db, meter, script, visitors_file, secrets.token_hex(3))
        bench.visitors = visitors
        for config in CONFIGS:  # warm-up: counted in the final check, not in the figures
            bench.round(config, "warm-up", args.warmup)
        pair_deadline = time.monotonic() + args.budget
        n = 0
        while sum(p["clean"] for p in pairs) < args.rounds and time.monotonic() < pair_deadline:
            n += 1
            wait_quiet(meter, pair_deadline)
            order = CONFIGS if n % 2 else tuple(reversed(CONFIGS))  # A B, B A, ...
            pair = {config: bench.round(config, f"pair {n}", args.seconds) for config in order}
            pair["clean"] = all(pair[c]["other_cores"] <= BUSY_CORES for c in CONFIGS)
            pair["n"] = n
            pairs.append(pair)
            rounds += [pair[c] for c in CONFIGS]
            if not pair["clean"]:
                print(f"  pair {n} not counted: other work took more than {BUSY_CORES} cores")
        bench.drain()
        clean = [p for p in pairs if p["clean"]]
        judged = clean if len(clean) >= args.rounds else pairs
        if judged:  # event-to-database latency over every event of the judged rounds together
            pooled = {c: bench.stored([p[c]["tag"] for p in judged]) for c in CONFIGS}
        final = {
            "rows": db.execute("SELECT count(*) FROM tracking_event").fetchone()[0] - rows_before,
            "distinct": db.execute("SELECT count(DISTINCT id) FROM tracking_event").fetchone()[0] - rows_before,
            "accepted": bench.accepted_total,
            "backlog": bench.backlog(),
            "versions": service_versions(db, redis_client),
        }
        problems = bench.problems
        for config, server in servers.items():
            problems += [f"{config} log: {line}" for line in log_problems(server.log_text())[:20]]
        writer.stop(signal.SIGINT)  # Ctrl-C: it finishes its write and prints its total
        problems += [f"writer log: {line}" for line in log_problems(writer.log_text())[:20]]
        if args.profile:
            for process in stack.processes:
                process.stop()  # frees the CPU for the in-process profile
            profile_args = ["--profile", str(args.profile), "--batch", str(args.batch)]
            profile_args += ["--decision-share", str(args.decision_share)]
            for config in CONFIGS:
                profiles.append(run_child(__file__, env[config], "profile", *profile_args, timeout=600))
    elapsed = time.monotonic() - started
    for profile in profiles:
        profile_print(profile, args.profile)
    return report(args, pairs, pooled, problems, final, elapsed, load_before)


def _groups(client: Any) -> list[dict[Any, Any]]:
    try:
        return client.xinfo_groups(STREAM_KEY)
    except Exception:  # noqa: BLE001 - the stream does not exist until the writer creates it
        return []


def profile_print(profile: dict[str, Any], requests: int) -> None:
    print()
    print(
        f"in-process ingest, backend {profile['backend']} (django.test.Client, no server): "
        f"{profile['ms_per_request']:.2f} ms per request of 50 events (median of 6 batches);"
        f" SQL per request {profile['sql_per_request'] or 'none'}"
    )
    print(
        f"cProfile of {requests} requests ({profile['profiled_ms_per_request']:.2f} ms/request under the profiler);"
        " own time by package, ms/request: "
        + ", ".join(f"{name} {ms:.2f}" for ms, name in profile["own_by_component"][:8])
    )
    profile_table_print(profile["top"])


def _median(rounds: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in rounds)


def report(
    args: argparse.Namespace,
    pairs: list[dict[str, Any]],
    pooled_by_config: dict[str, dict[str, Any]],
    problems: list[str],
    final: dict[str, Any],
    elapsed: float,
    load_before: tuple[float, float, float],
) -> int:
    command = command_line("bench/ingest.py", args, DEFAULTS, flags=["durable_redis"])
    clean = [p for p in pairs if p["clean"]]
    conclusive = len(clean) >= args.rounds
    judged = clean if conclusive else pairs
    if final:
        lost_total = final["accepted"] - final["rows"]
        if lost_total or final["rows"] != final["distinct"] or final["backlog"] != (0, 0):
            problems.append(
                f"all runs: accepted {final['accepted']}, rows {final['rows']} (distinct {final['distinct']}),"
                f" stream backlog {final['backlog']}"
            )
    print()
    print(f"ingest benchmark  ({now_utc()}, {machine()}, {versions()}, {final.get('versions', '?')})")
    print(
        f"  gunicorn config.wsgi, 2 sync workers per server; writer: manage.py consume_events; wrk -t1"
        f" -c{args.connections}, {args.batch} events/POST, {args.visitors} visitors, {args.decision_share:.0%} of"
        f" events with a decision id; rounds of {args.seconds} s, A/B pairs in ABBA order, {len(clean)} of"
        f" {len(pairs)} pairs counted (other work <= {BUSY_CORES} cores); rate limits {args.rate};"
        f" Redis {'durable (appendfsync always)' if args.durable_redis else 'without persistence'};"
        f" total {elapsed:.0f} s; load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}"
    )
    if not pairs:
        print("  no pairs ran")
        for problem in problems[:30]:
            print(f"  PROBLEM: {problem}")
        return 1
    if not conclusive:
        print(
            f"  WARNING: fewer than {args.rounds} pairs ran while the machine was quiet enough; the figures below"
            " are from all pairs and follow the other work's load. Rerun when the machine is quiet."
        )
    ratios = [p[STREAM]["events_per_s"] / p[DIRECT]["events_per_s"] for p in judged]
    ratio = statistics.median(ratios)
    rows = []
    all_ok = not problems
    for config in CONFIGS:
        rs = [p[config] for p in judged]
        eps = _median(rs, "events_per_s")
        pooled = pooled_by_config[config]
        accepted, stored = sum(r["accepted"] for r in rs), sum(r["rows"] for r in rs)
        lost, doubled = accepted - stored, sum(r["doubled"] for r in rs)
        rejected = sum(r["rejected"] + r["non202"] + r["unparsed"] for r in rs)
        cpu = {c: sum(r["cpu"][c] for r in rs) / max(accepted, 1) * 1e6 for c in COMPONENTS}
        other = statistics.median(r["other_cores"] for r in rs)
        checks = not problems
        if config == STREAM:
            p99 = max(pooled["stored_p99"], pooled["commit_p99"])
            cpu_ok = sum(cpu.values()) <= TARGET_CPU_MS_PER_K
            met = eps >= TARGET_EVENTS_PER_S and p99 < TARGET_P99_S and lost == 0 and doubled == 0 and checks and cpu_ok
            target = (
                f">= {TARGET_EVENTS_PER_S} events/s, to-db p99 < {TARGET_P99_S:.0f} s, 0 lost / doubled,"
                f" CPU <= {TARGET_CPU_MS_PER_K} ms/1k events"
            )
            judgement = verdict(met, conclusive)
        else:
            target, judgement = "baseline", "-"
        backend = "redis + writer" if config == STREAM else "direct"
        series = " ".join(f"{r['events_per_s']:7.0f}" for r in rs)
        print(f"  {config} (TAILOR_EVENT_INGEST_BACKEND={backend}):")
        print(f"    events/s   {series}   median {eps:.0f}")
        print(
            f"    request latency p50 {_median(rs, 'p50_us') / 1000:.1f} ms, p99 {_median(rs, 'p99_us') / 1000:.1f} ms"
            f" (median over rounds); {_median(rs, 'requests_per_s'):.1f} requests/s"
        )
        print(
            f"    event-to-database over {stored} events: stored_at-received_at p50 {pooled['stored_p50'] * 1000:.0f} ms"
            f" p99 {pooled['stored_p99'] * 1000:.0f} ms max {pooled['stored_max'] * 1000:.0f} ms; commit-received_at"
            f" p50 {pooled['commit_p50'] * 1000:.0f} ms p99 {pooled['commit_p99'] * 1000:.0f} ms"
            f" max {pooled['commit_max'] * 1000:.0f} ms; {pooled['transactions']} write transactions"
        )
        print(
            f"    accepted {accepted}, stored {stored}, lost {lost}, doubled {doubled}, rejected/failed {rejected},"
            f" duplicates {sum(r['duplicates'] for r in rs)}, in flight at stop {sum(r['in_flight'] for r in rs)};"
            f" with decision id {sum(r['with_decision'] for r in rs) / max(stored, 1):.1%} of stored;"
            f" drain after load median {_median(rs, 'drain_s'):.2f} s max {max(r['drain_s'] for r in rs):.2f} s"
        )
        print(
            "    CPU ms per 1,000 events: "
            + ", ".join(f"{c} {cpu[c]:.0f}" for c in COMPONENTS)
            + f" (total {sum(cpu.values()):.0f}); other work median {other:.2f} cores"
        )
        print(f"    target {target}: {judgement}")
        rows.append(
            [
                now_utc(),
                machine(),
                f"{versions()}, {final.get('versions', '?')}",
                f"`{command}`",
                "redis stream + writer" if config == STREAM else "direct (baseline)",
                f"{len(judged)} of {len(pairs)} pairs x {args.seconds} s",
                f"{other:.2f}",
                f"{eps:.0f}",
                f"{ratio:.2f}" if config == STREAM else "1",
                f"{_median(rs, 'p50_us') / 1000:.1f} / {_median(rs, 'p99_us') / 1000:.1f}",
                f"{pooled['stored_p50'] * 1000:.0f} / {pooled['stored_p99'] * 1000:.0f}",
                f"{pooled['commit_p50'] * 1000:.0f} / {pooled['commit_p99'] * 1000:.0f}",
                f"{accepted} / {stored}",
                lost,
                doubled,
                rejected,
                " / ".join(f"{cpu[c]:.0f}" for c in COMPONENTS),
                yes_no(checks),
                target,
                judgement,
            ]
        )
        all_ok &= config != STREAM or judgement == "yes"
    print(f"  stream/direct events/s ratio (median of pair ratios) {ratio:.2f}: {' '.join(f'{r:.2f}' for r in ratios)}")
    if final:
        print(
            f"  all runs incl. warm-ups: accepted {final['accepted']}, rows {final['rows']}, distinct {final['distinct']},"
            f" stream backlog (entries, pending) {final['backlog']}"
        )
    for problem in problems[:30]:
        print(f"  PROBLEM: {problem}")
    if not args.no_record:
        results_header_ensure()
        results_append(
            "ingest",
            [
                "date",
                "machine",
                "versions",
                "command",
                "backend",
                "pairs counted",
                "other work (cores)",
                "events/s",
                "ratio to direct",
                "request p50 / p99 ms",
                "to-db (stored_at) p50 / p99 ms",
                "to-db (commit) p50 / p99 ms",
                "accepted / stored",
                "lost",
                "doubled",
                "rejected",
                "CPU ms/1k events gunicorn / writer / postgres / redis / wrk",
                "checks passed",
                "target",
                "target met",
            ],
            rows,
        )
        print("  appended to bench/RESULTS.md")
    return 0 if all_ok else 1


INGEST_BULLET = """\
- **ingest** (`bench/ingest.py`): accepted tracker events per second through HTTP, batches of
  50 events per `POST /api/v1/events/` (fresh v4 ids, 1,000 visitors, 20 % with a real
  decision id) from `wrk -t1 -c4` on loopback to gunicorn (`config.wsgi`, 2 sync workers)
  with `TAILOR_EVENT_INGEST_BACKEND=redis` (de-duplicated in Redis, one stream entry per
  batch) and a writer process (`manage.py consume_events`) storing to PostgreSQL during the
  load; baseline the same load against a second server with the `direct` backend (the
  batch written in the request), in 10 s rounds alternated A B, B A, ... (a pair counts if
  other work took at most 0.3 cores in both). events/s = accepted events over the round's
  window (first request to last answer); every request is answered before wrk stops, so
  lost = accepted - rows stored (each round's ids carry a tag) and doubled = rows - distinct
  ids are exact. Event-to-database latency per event from SQL (nearest rank, pooled over
  the counted rounds): `stored_at - received_at` (row built by the writer) and PostgreSQL
  commit time (`track_commit_timestamp`) - `received_at`. CPU ms/1k events per component,
  a stream round including its drain. PostgreSQL as devtools starts it (fsync off), Redis
  without persistence. Targets: >= 5,000 events/s, to-db p99 < 2 s (commit-based), 0 lost or
  doubled; since 2026-12-03 (msgspec decoder, COPY writer) also at most 100 ms of CPU per 1,000
  accepted events over all processes. Rows whose command has `--loadgen python` ran without wrk:
  a Python client (keep-alive, bodies prepared before the clock) sent the same batches, and its
  CPU, higher than wrk's, is in the wrk column.
"""


def results_header_ensure() -> None:
    """Add the ingest bullet to the list at the top of RESULTS.md, once, keeping everything else."""
    if not RESULTS.exists():
        return  # results_append writes _common's header; the bullet follows on the next run
    text = RESULTS.read_text()
    if "- **ingest**" in text:
        return
    lines = text.split("\n")
    first_section = next((i for i, line in enumerate(lines) if line.startswith("## ")), len(lines))
    last_bullet_line = max(
        (i for i in range(first_section) if lines[i].startswith(("- **", "  ")) and lines[i].strip()), default=None
    )
    insert_at = last_bullet_line + 1 if last_bullet_line is not None else first_section
    lines[insert_at:insert_at] = INGEST_BULLET.rstrip("\n").split("\n")
    RESULTS.write_text("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())

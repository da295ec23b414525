"""The bandit strategy while serving: the published allocation, and the online counts it learns from.

``decide()`` reads a bandit slot's allocation (the share of traffic per variant, per segment)
through a per-process memo that re-reads the cache at most every
``BANDIT_ALLOCATION_CHECK_SECONDS``, so a decision costs no cache read most of the time.

The evidence is counted online without a database write: a trial when a bandit decision is
recorded (in the request's one Redis round trip), a reward when the event writer writes the click
or conversion that earns it. Each decision is remembered, with its arm (slot, segment,
variant) and what the slot rewards, for the attribution window, so a decision earns its
reward once however often the visitor clicks; a value reward keeps the decision's running
value so that Σreward² stays exact. The counts are deltas that the fold job
(``personalization.learning.bandits``) moves into the database. With Redis as the cache, they
are hashes updated atomically (a script per event batch); on the embedded default they live in
the in-process cache under a lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache, caches

from personalization.conf import setting
from personalization.engine.bandits import Allocation
from tracking.conf import setting as tracking_setting
from tracking.outages import outage_guard
from tracking.redis_connection import redis_default_or_none

SEP = "\x1f"  # between the parts of an arm's field name: slot and segment keys are slugs, never hold it


def bandit_key(*parts: str) -> str:
    """The one builder of the bandits' cache keys: ``tailor:bandit:<part>:<part>...``."""
    return ":".join(("tailor:bandit", *parts))


DELTAS_KEY = bandit_key("deltas")  # hash: "<slot>SEP<segment>SEP<variant>SEP<n|t|s>" -> delta
ALIVE_KEY = bandit_key("alive")  # set by every fold: its absence means the counts were lost
SEGMENT_PREFIX = "bandit:"  # a bandit decision's reason: "bandit:<segment key>", or "bandit" for the whole slot


def arm_field(slot_key: str, segment: str, variant_key: str) -> str:
    return SEP.join((slot_key, segment, variant_key))


def decision_memory_key(decision_id: str) -> str:
    return bandit_key("decision", decision_id)


def visitor_memory_key(visitor_id: str) -> str:
    """The visitor's latest bandit decision per slot: what a conversion credits."""
    return bandit_key("visitor", visitor_id)


def allocation_key(slot_key: str) -> str:
    return bandit_key("allocation", slot_key)


def segment_from_reason(reason: str) -> str:
    """The segment a bandit decision was made for, from its logged reason ("" = the whole slot)."""
    return reason[len(SEGMENT_PREFIX) :] if reason.startswith(SEGMENT_PREFIX) else ""


def reward_likelihood(reward: str) -> str:
    """Clicks and conversions are 0/1 (Beta-Bernoulli); a value or a weighted sum is modelled as Gaussian."""
    return "gaussian" if reward in ("value", "weighted") else "bernoulli"


# --- the published allocation, memoised per process -------------------------------------------------


def allocations_encode(allocations: Mapping[str, Allocation]) -> dict[str, Any]:
    return {
        segment: {"p": dict(a.probabilities), "v": a.version, "m": a.method, "d": a.draws}
        for segment, a in allocations.items()
    }


def allocations_decode(data: Mapping[str, Any]) -> dict[str, Allocation]:
    return {
        segment: Allocation(probabilities=dict(item["p"]), version=item["v"], method=item["m"], draws=item["d"])
        for segment, item in data.items()
    }


def _allocations_cache() -> Any:
    # Shared by every process, like the catalog version (a folder in var/ on the embedded default).
    return caches[setting("CATALOG_CACHE")]


def allocations_publish(slot_key: str, allocations: Mapping[str, Allocation]) -> None:
    """Hand a slot's allocations to every process (each sees them within the check interval)."""
    with outage_guard("signals cache", "bandit allocation not published; serving keeps the previous one"):
        _allocations_cache().set(allocation_key(slot_key), allocations_encode(allocations), timeout=None)
    _memo.pop(slot_key, None)


@dataclass
class _Memo:
    checked_at: float
    allocations: dict[str, Allocation]


_memo: dict[str, _Memo] = {}
_memo_lock = threading.Lock()


def slot_allocations(slot_key: str) -> dict[str, Allocation]:
    """The slot's published allocations by segment; a cache read at most every few seconds per process."""
    now = time.monotonic()
    memo = _memo.get(slot_key)
    if memo is not None and now - memo.checked_at < setting("BANDIT_ALLOCATION_CHECK_SECONDS"):
        return memo.allocations
    with _memo_lock:
        data = None
        with outage_guard("signals cache", "bandit allocation not read; serving the previous one") as outage:
            data = _allocations_cache().get(allocation_key(slot_key))
        if outage.failed and memo is not None:
            allocations = memo.allocations
        else:
            allocations = allocations_decode(data) if data else {}
        _memo[slot_key] = _Memo(checked_at=now, allocations=allocations)
        return allocations


def allocations_for(slot_key: str) -> Callable[[str], Allocation | None]:
    """What the catalog gives a slot's ``BanditPolicy``: segment key -> the allocation it serves (None: none yet)."""

    def allocation(segment: str) -> Allocation | None:
        return slot_allocations(slot_key).get(segment)

    return allocation


def allocations_memo_clear() -> None:
    """Forget every memoised allocation (tests; a process that must see a fold at once)."""
    _memo.clear()


# --- the online counts ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Trial:
    decision_id: str
    visitor_id: str
    slot_key: str
    arm: str  # arm_field(...)
    reward: str  # the slot's reward: click | conversion | weighted | value
    click_weight: float
    conversion_weight: float
    at: float  # POSIX seconds


@dataclass(frozen=True, slots=True)
class RewardEvent:
    memory_key: str  # the decision it may reward
    type: str  # click | conversion
    value: float
    at: float


def _trials(records: Iterable[Mapping[str, Any]]) -> list[Trial]:
    """The bandit decisions among ``records`` that can learn: shown to a known visitor, not to a crawler."""
    wanted = [r for r in records if r.get("policy") == "bandit" and not r.get("is_bot") and r.get("visitor_id")]
    if not wanted:
        return []
    from personalization.serving.catalog import catalog_get

    slots = catalog_get().slots
    trials = []
    for r in wanted:
        slot = slots.get(r["slot_key"])
        reward, (click_weight, conversion_weight) = (
            (slot.definition.reward, slot.definition.reward_weights) if slot else ("click", (1.0, 5.0))
        )
        segment = segment_from_reason(r.get("reason") or "")
        trials.append(
            Trial(
                decision_id=r["id"],
                visitor_id=str(r["visitor_id"]),
                slot_key=r["slot_key"],
                arm=arm_field(r["slot_key"], segment, r["variant_key"]),
                reward=reward,
                click_weight=float(click_weight),
                conversion_weight=float(conversion_weight),
                at=float(r.get("ts") or time.time()),
            )
        )
    return trials


def reward_step(memory: Mapping[str, Any], kind: str, value: float) -> tuple[float, float, dict[str, Any]] | None:
    """What one event adds to a remembered decision's reward: (old, new, fields to set), or None.

    The embedded store runs this; ``REWARD_SCRIPT`` is the same rule in Lua for Redis.
    """
    reward, old = memory["k"], float(memory.get("r") or 0.0)
    if kind == "click" and reward in ("click", "weighted") and not memory.get("c"):
        new = old + (1.0 if reward == "click" else float(memory["wc"]))
        return old, new, {"c": 1, "r": new}
    if kind == "conversion":
        if reward == "value":
            return (old, old + value, {"r": old + value}) if value else None
        if reward in ("conversion", "weighted") and not memory.get("v"):
            new = old + (1.0 if reward == "conversion" else float(memory["wv"]))
            return old, new, {"v": 1, "r": new}
    return None


# KEYS[1]: the deltas hash; KEYS[2..]: a remembered decision per event. ARGV: per event, its type, value, time,
# then the attribution window. A conversion credits a decision shown within the window before it; a click its
# own decision. HSETNX on the decision's "c"/"v" flag makes a second click or conversion count nothing.
REWARD_SCRIPT = """
local window = tonumber(ARGV[#ARGV])
local counted = 0
for i = 2, #KEYS do
  local j = (i - 2) * 3
  local kind, value, at = ARGV[j + 1], tonumber(ARGV[j + 2]), tonumber(ARGV[j + 3])
  local m = redis.call('HMGET', KEYS[i], 'a', 'k', 'wc', 'wv', 'r', 'at')
  if m[1] then
    local reward, old, shown = m[2], tonumber(m[5]) or 0, tonumber(m[6]) or 0
    local new = old
    if kind == 'click' and (reward == 'click' or reward == 'weighted') then
      if redis.call('HSETNX', KEYS[i], 'c', 1) == 1 then
        if reward == 'click' then new = old + 1 else new = old + tonumber(m[3]) end
      end
    elseif kind == 'conversion' and shown <= at and at - window <= shown then
      if reward == 'value' then
        new = old + value
      elseif (reward == 'conversion' or reward == 'weighted') and redis.call('HSETNX', KEYS[i], 'v', 1) == 1 then
        if reward == 'conversion' then new = old + 1 else new = old + tonumber(m[4]) end
      end
    end
    if new ~= old then
      redis.call('HSET', KEYS[i], 'r', string.format('%.17g', new))
      redis.call('HINCRBYFLOAT', KEYS[1], m[1] .. '\\31t', string.format('%.17g', new - old))
      redis.call('HINCRBYFLOAT', KEYS[1], m[1] .. '\\31s', string.format('%.17g', new * new - old * old))
      counted = counted + 1
    end
  end
end
return counted
"""

# Read the deltas and clear them in one step: a trial or reward counted meanwhile lands in the next fold.
TAKE_SCRIPT = """
local deltas = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
return deltas
"""


_local_lock = threading.Lock()  # the embedded store's read-modify-writes


def _memory_timeout() -> int:
    return int(tracking_setting("ATTRIBUTION_WINDOW_SECONDS"))


def bandit_trials_record(records: Sequence[Mapping[str, Any]], pipe: Any = None) -> None:
    """The decision writer's hook: count a trial per bandit decision and remember the decision for its reward.

    With Redis, the commands join ``pipe`` (the request's one round trip) when given.
    """
    trials = _trials(records)
    if not trials:
        return
    with outage_guard("redis", "bandit trials not counted; the next rebuild counts them from the decision log"):
        client = redis_default_or_none()
        if client is None:
            _local_trials_add(trials)
            return
        own = pipe is None
        pipe = client.pipeline(transaction=False) if own else pipe
        ttl = _memory_timeout()
        for t in trials:
            pipe.hincrby(DELTAS_KEY, f"{t.arm}{SEP}n", 1)
            memory = decision_memory_key(t.decision_id)
            pipe.hset(
                memory,
                mapping={"a": t.arm, "k": t.reward, "wc": t.click_weight, "wv": t.conversion_weight, "at": t.at},
            )
            pipe.expire(memory, ttl)
            pipe.hset(visitor_memory_key(t.visitor_id), t.slot_key, t.decision_id)
            pipe.expire(visitor_memory_key(t.visitor_id), ttl)
        if own:
            pipe.execute()


def _local_trials_add(trials: Sequence[Trial]) -> None:
    ttl = _memory_timeout()
    with _local_lock:
        deltas = cache.get(DELTAS_KEY) or {}
        memories: dict[str, Any] = {}
        visitors: dict[str, dict[str, str]] = {}
        for t in trials:
            field = f"{t.arm}{SEP}n"
            deltas[field] = deltas.get(field, 0) + 1
            memories[decision_memory_key(t.decision_id)] = {
                "a": t.arm,
                "k": t.reward,
                "wc": t.click_weight,
                "wv": t.conversion_weight,
                "at": t.at,
            }
            key = visitor_memory_key(t.visitor_id)
            if key not in visitors:
                visitors[key] = cache.get(key) or {}
            visitors[key][t.slot_key] = t.decision_id
        cache.set(DELTAS_KEY, deltas, timeout=None)
        cache.set_many({**memories, **visitors}, timeout=ttl)


def _reward_events(events: Sequence[Mapping[str, Any]], visitor_decisions: Callable[[list[str]], dict]) -> list:
    """The events that may reward a bandit decision, each paired with the decision it may reward."""
    found: list[RewardEvent] = []
    conversions = [e for e in events if e.get("type") == "conversion" and not e.get("is_bot")]
    by_visitor = visitor_decisions(sorted({str(e["visitor_id"]) for e in conversions})) if conversions else {}
    for e in events:
        if e.get("is_bot"):
            continue
        value, at = float(e.get("value") or 0.0), float(e["ts"])
        if e.get("type") == "click" and e.get("decision_id"):
            found.append(RewardEvent(decision_memory_key(e["decision_id"]), "click", value, at))
        elif e.get("type") == "conversion":
            for decision_id in (by_visitor.get(str(e["visitor_id"])) or {}).values():
                found.append(RewardEvent(decision_memory_key(_text(decision_id)), "conversion", value, at))
    return found


def _bandit_slots_live() -> bool:
    """Whether any published slot is a bandit (the catalog in memory): a site without one pays no Redis call."""
    from personalization.serving.catalog import catalog_get

    return any(slot.definition.strategy == "bandit" for slot in catalog_get().slots.values())


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def bandit_rewards_record(events: Sequence[Mapping[str, Any]]) -> None:
    """The event writer's hook: add the rewards the newly written clicks and conversions earn."""
    if not any(e.get("type") in ("click", "conversion") for e in events) or not _bandit_slots_live():
        return
    with outage_guard("redis", "bandit rewards not counted; the next rebuild counts them from the decision log"):
        client = redis_default_or_none()
        if client is None:
            _local_rewards_add(events)
            return

        def visitor_decisions(visitor_ids: list[str]) -> dict[str, dict]:
            pipe = client.pipeline(transaction=False)
            for vid in visitor_ids:
                pipe.hgetall(visitor_memory_key(vid))
            return dict(zip(visitor_ids, pipe.execute(), strict=True))

        found = _reward_events(events, visitor_decisions)
        if not found:
            return
        args: list[Any] = []
        for item in found:
            args += [item.type, repr(item.value), repr(item.at)]
        client.register_script(REWARD_SCRIPT)(
            keys=[DELTAS_KEY, *[item.memory_key for item in found]],
            args=[*args, _memory_timeout()],
        )


def _local_rewards_add(events: Sequence[Mapping[str, Any]]) -> None:
    window = _memory_timeout()
    with _local_lock:
        found = _reward_events(events, lambda ids: {v: cache.get(visitor_memory_key(v)) or {} for v in ids})
        if not found:
            return
        deltas = cache.get(DELTAS_KEY) or {}
        for item in found:
            memory = cache.get(item.memory_key)
            if memory is None:
                continue
            if item.type == "conversion" and not (item.at - window <= float(memory["at"]) <= item.at):
                continue
            step = reward_step(memory, item.type, item.value)
            if step is None:
                continue
            old, new, fields = step
            memory.update(fields)
            cache.set(item.memory_key, memory, timeout=window)
            for suffix, delta in (("t", new - old), ("s", new * new - old * old)):
                field = f"{memory['a']}{SEP}{suffix}"
                deltas[field] = deltas.get(field, 0.0) + delta
        cache.set(DELTAS_KEY, deltas, timeout=None)


def deltas_take() -> dict[tuple[str, str, str], tuple[float, float, float]]:
    """Read and clear the online counts at once: (slot, segment, variant) -> (Δn, Δtotal, Δsquares)."""
    client = redis_default_or_none()
    if client is None:
        with _local_lock:
            raw: Mapping[Any, Any] = cache.get(DELTAS_KEY) or {}
            cache.delete(DELTAS_KEY)
    else:
        flat = client.register_script(TAKE_SCRIPT)(keys=[DELTAS_KEY])
        raw = dict(zip(flat[::2], flat[1::2], strict=True))
    out: dict[tuple[str, str, str], list[float]] = {}
    for field, value in raw.items():
        slot_key, segment, variant_key, part = _text(field).split(SEP)
        sums = out.setdefault((slot_key, segment, variant_key), [0.0, 0.0, 0.0])
        sums["nts".index(part)] += float(_text(value))
    return {arm: (s[0], s[1], s[2]) for arm, s in out.items()}


def counts_alive() -> bool:
    """Whether the online counts survived since the last fold (False after a Redis flush or restart)."""
    client = redis_default_or_none()
    if client is None:
        return cache.get(ALIVE_KEY) is not None
    return bool(client.exists(ALIVE_KEY))


def counts_mark_alive() -> None:
    client = redis_default_or_none()
    if client is None:
        cache.set(ALIVE_KEY, 1, timeout=None)
    else:
        client.set(ALIVE_KEY, 1)


def fold_lock(timeout: float = 300.0) -> Any:
    """A lock one fold or rebuild holds at a time (shared by every process on Redis); ``acquire(blocking=False)``."""
    client = redis_default_or_none()
    if client is None:
        return _LocalLock()
    return client.lock(bandit_key("fold-lock"), timeout=timeout, blocking_timeout=0)


class _LocalLock:
    _held = threading.Lock()

    def acquire(self, blocking: bool = False) -> bool:
        return self._held.acquire(blocking=blocking)

    def release(self) -> None:
        self._held.release()

"""Bandit posteriors: fold the online counts into the database, rebuild them from the log, publish allocations.

``bandits_fold`` (beat, every minute; also on demand) takes the trial and reward deltas that
serving counted (``personalization.serving.bandits``) and adds them to each arm's persisted
sums, after fading those by the slot's ``bandit_discount`` for every hour since they were last
updated. It then recomputes every (slot, segment)'s allocation with the engine and publishes
it. The deltas are read and cleared in one step under a lock, so two workers never count them
twice; a failed database write puts them back.

``bandits_rebuild`` recomputes the sums from the decision log (policy "bandit") and the rewards
``tracking.selectors.decision_rewards`` attributes to them. A fold that finds the online counts
lost (Redis flushed or restarted: its marker key is gone) rebuilds first.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from content.selectors import SlotDefinition, slot_definitions_live
from personalization.conf import setting
from personalization.engine.bandits import (
    CELL_PREFIX,
    Allocation,
    ArmStats,
    allocation_compute,
    beta_prior,
    cell_coarsen,
    cell_fields_select,
    cell_values,
    pooled_rate,
    stats_discount,
)
from personalization.models import BanditAllocation, BanditArm, Segment
from personalization.serving.bandits import (
    allocations_publish,
    bandit_key,
    counts_alive,
    counts_mark_alive,
    deltas_take,
    fold_lock,
    reward_likelihood,
    segment_from_reason,
)
from tracking.models import DecisionLog
from tracking.outages import outage_guard
from tracking.redis_connection import redis_default_or_none

logger = logging.getLogger(__name__)

Arm = tuple[str, str, str]  # (slot key, segment key or "", variant key)


@dataclass
class FoldReport:
    arms: int = 0  # arms whose sums changed
    allocations: int = 0  # (slot, segment) allocations published
    rebuilt: bool = False  # the counts were lost, so the posteriors were rebuilt from the log
    skipped: bool = False  # another fold held the lock
    decisions: int = 0  # decisions read by a rebuild
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "arms": self.arms,
            "allocations": self.allocations,
            "rebuilt": self.rebuilt,
            "skipped": self.skipped,
            "decisions": self.decisions,
        }


def _hours(since: datetime, now: datetime) -> float:
    return max(0.0, (now - since).total_seconds() / 3600.0)


def _discount(definitions: Mapping[str, SlotDefinition], slot_key: str) -> float:
    definition = definitions.get(slot_key)
    return definition.bandit_discount if definition is not None else 1.0


def bandit_definitions(definitions: Mapping[str, SlotDefinition]) -> dict[str, SlotDefinition]:
    return {key: d for key, d in definitions.items() if d.strategy == "bandit"}


def _locked(work: Callable[[Mapping[str, SlotDefinition], datetime], FoldReport], now: datetime | None) -> FoldReport:
    """``work(live slot definitions, now)`` under the fold lock; skipped when another fold or rebuild holds it."""
    lock = fold_lock()
    if not lock.acquire(blocking=False):
        return FoldReport(skipped=True)
    try:
        return work(slot_definitions_live(), now or timezone.now())
    finally:
        lock.release()


def bandits_fold(*, now: datetime | None = None) -> FoldReport:
    """Move the online counts into the persisted sums and publish fresh allocations (idempotent)."""

    def fold(definitions: Mapping[str, SlotDefinition], now: datetime) -> FoldReport:
        if not counts_alive():
            report = _rebuild(definitions, None, now)
            report.rebuilt = True
        else:
            report = FoldReport(arms=_deltas_apply(definitions, now))
        counts_mark_alive()
        report.allocations = allocations_refresh(definitions, now=now)
        return report

    return _locked(fold, now)


def _deltas_apply(definitions: Mapping[str, SlotDefinition], now: datetime) -> int:
    deltas = deltas_take()
    if not deltas:
        return 0
    try:
        with transaction.atomic():
            slots = {slot for slot, _, _ in deltas}
            rows = {
                (r.slot_key, r.segment, r.variant_key): r
                for r in BanditArm.objects.select_for_update().filter(slot_key__in=slots)
            }
            changed, created = [], []
            for arm, (dn, dt, ds) in deltas.items():
                row = rows.get(arm)
                if row is None:
                    created.append(
                        BanditArm(
                            slot_key=arm[0], segment=arm[1], variant_key=arm[2], n=dn, total=dt, squares=ds,
                            updated_at=now,
                        )
                    )  # fmt: skip
                    continue
                fade = _discount(definitions, arm[0]) ** _hours(row.updated_at, now)
                row.n, row.total, row.squares = row.n * fade + dn, row.total * fade + dt, row.squares * fade + ds
                row.updated_at = now
                changed.append(row)
            BanditArm.objects.bulk_update(changed, ["n", "total", "squares", "updated_at"], batch_size=500)
            BanditArm.objects.bulk_create(created, batch_size=500)
    except BaseException:
        _deltas_restore(deltas)  # counted next time rather than lost
        raise
    return len(deltas)


def _deltas_restore(deltas: Mapping[Arm, tuple[float, float, float]]) -> None:
    from personalization.serving import bandits as serving

    with outage_guard("redis", "bandit deltas not put back after a failed fold; a rebuild recovers them"):
        client = redis_default_or_none()
        if client is None:
            with serving._local_lock:
                raw = serving.cache.get(serving.DELTAS_KEY) or {}
                for arm, sums in deltas.items():
                    for part, value in zip("nts", sums, strict=True):
                        name = f"{serving.arm_field(*arm)}{serving.SEP}{part}"
                        raw[name] = raw.get(name, 0.0) + value
                serving.cache.set(serving.DELTAS_KEY, raw, timeout=None)
            return
        pipe = client.pipeline(transaction=False)
        for arm, sums in deltas.items():
            for part, value in zip("nts", sums, strict=True):
                if value:
                    pipe.hincrbyfloat(serving.DELTAS_KEY, f"{serving.arm_field(*arm)}{serving.SEP}{part}", value)
        pipe.execute()


def _segment_keys(
    definition: SlotDefinition, keys_by_id: Mapping[int, str], rows: Mapping[Arm, BanditArm] | None = None
) -> list[str]:
    """The whole slot (""), each segment the slot's rules name, in order, then its busiest context cells.

    A slot learning per context cell gets an allocation for each cell with evidence, at most
    ``BANDIT_MAX_CELLS`` of them (by trials), so that free text in a context field (a campaign name)
    cannot make the fold's work or the published allocation grow without bound: a cell left out is
    served the whole slot's pooled allocation, and its evidence still counts in that pool.
    """
    keys = [""]
    for segment_id, _ in definition.rules:
        key = keys_by_id.get(segment_id)
        if key and key not in keys:
            keys.append(key)
    if definition.bandit_context and rows:
        trials: dict[str, float] = {}
        for (slot_key, segment, _), row in rows.items():
            if slot_key == definition.key and segment.startswith(CELL_PREFIX):
                trials[segment] = trials.get(segment, 0.0) + row.n
        busiest = sorted(trials, key=lambda cell: (-trials[cell], cell))[: int(setting("BANDIT_MAX_CELLS"))]
        keys.extend(sorted(busiest))
    return keys


def _summed(
    definition: SlotDefinition, rows: Mapping[Arm, BanditArm], group_of: Callable[[str], str | None]
) -> dict[tuple[str, str], BanditArm]:
    """The slot's rows summed by ``group_of(segment)`` and variant (a segment it maps to None is left out).

    Each row is faded to its own ``updated_at`` first, so a sum is as of the latest of its rows.
    """
    sums: dict[tuple[str, str], BanditArm] = {}
    for (slot_key, segment, variant), row in rows.items():
        group = group_of(segment) if slot_key == definition.key else None
        if group is None:
            continue
        total = sums.get((group, variant))
        if total is None:
            sums[(group, variant)] = BanditArm(
                slot_key=slot_key, segment=group, variant_key=variant, n=row.n, total=row.total,
                squares=row.squares, updated_at=row.updated_at,
            )  # fmt: skip
            continue
        latest = max(total.updated_at, row.updated_at)
        fade_total = definition.bandit_discount ** _hours(total.updated_at, latest)
        fade_row = definition.bandit_discount ** _hours(row.updated_at, latest)
        total.n = total.n * fade_total + row.n * fade_row
        total.total = total.total * fade_total + row.total * fade_row
        total.squares = total.squares * fade_total + row.squares * fade_row
        total.updated_at = latest
    return sums


def _is_cell_of(definition: SlotDefinition) -> Callable[[str], bool]:
    """Whether a segment is one of the slot's cells over its fields as they are now (not before an edit)."""
    count = len(definition.bandit_context)
    return lambda segment: segment.startswith(CELL_PREFIX) and len(cell_values(segment)) == count


def cell_fields_kept(
    definition: SlotDefinition, rows: Mapping[Arm, BanditArm], prior: tuple[int, int], now: datetime
) -> tuple[int, ...]:
    """The positions of the slot's context fields its clicks depend on (``cell_fields_select``); all for values."""
    count = len(definition.bandit_context)
    if reward_likelihood(definition.reward) != "bernoulli":
        return tuple(range(count))
    is_cell = _is_cell_of(definition)
    cells: dict[str, list[ArmStats]] = {}
    for (slot_key, segment, _), row in rows.items():
        if slot_key == definition.key and is_cell(segment):
            cells.setdefault(segment, []).append(_faded(definition, row, now))
    return cell_fields_select(cells, count, prior)


def fields_learned_by(slot_key: str, *, now: datetime | None = None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The context fields a bandit slot learns apart by now, and the listed ones it learns across (no effect seen).

    What the last fold decided, recomputed from the persisted arms (the results dashboard says it).
    """
    definition = slot_definitions_live(key=slot_key).get(slot_key)
    if definition is None or not definition.bandit_context:
        return (), ()
    now = now or timezone.now()
    rows = {(r.slot_key, r.segment, r.variant_key): r for r in BanditArm.objects.filter(slot_key=slot_key)}
    kept = cell_fields_kept(definition, rows, beta_prior(slot_prior_rate(definition, rows, now)), now)
    fields = tuple(definition.bandit_context)
    return tuple(fields[i] for i in kept), tuple(f for i, f in enumerate(fields) if i not in kept)


def _context_rows(
    definition: SlotDefinition, rows: Mapping[Arm, BanditArm], kept: tuple[int, ...]
) -> dict[Arm, BanditArm]:
    """``rows`` as a slot learning per context cell reads them.

    The whole slot's arms ("") are summed over its cells: what a cell without its own allocation is
    served. When only the fields at ``kept`` matter, each cell's arms are the sums over every cell that
    differs from it only in the other fields, so such cells share their evidence and their allocation.
    """
    out = dict(rows)
    pooled = _summed(definition, rows, lambda segment: "" if not segment or segment.startswith(CELL_PREFIX) else None)
    for (_, variant), row in pooled.items():
        out[(definition.key, "", variant)] = row
    is_cell = _is_cell_of(definition)
    if len(kept) == len(definition.bandit_context):
        return out
    coarse = _summed(definition, rows, lambda segment: cell_coarsen(segment, kept) if is_cell(segment) else None)
    variants_by_group: dict[str, list[str]] = {}
    for group, variant in coarse:
        variants_by_group.setdefault(group, []).append(variant)
    cells = {segment for (slot_key, segment, _) in rows if slot_key == definition.key and is_cell(segment)}
    for cell in cells:
        group = cell_coarsen(cell, kept)
        for variant in variants_by_group.get(group, ()):
            out[(definition.key, cell, variant)] = coarse[(group, variant)]
    return out


def allocation_version(
    arms: Iterable[ArmStats], likelihood: str, floor: float, top_two: bool, prior: tuple[int, int] = (1, 1)
) -> str:
    """A digest of what the allocation is computed from: unchanged evidence keeps the version (and visitors' draws)."""
    basis = [[a.key, round(a.n, 6), round(a.total, 6), round(a.squares, 6)] for a in arms]
    text = json.dumps([basis, likelihood, round(floor, 6), top_two, list(prior)], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def slot_arm_stats(
    definition: SlotDefinition, rows: Mapping[Arm, BanditArm], segment: str, now: datetime
) -> tuple[ArmStats, ...]:
    """The live variants' evidence for one segment, faded to ``now`` (a variant never tried: no evidence)."""
    arms = []
    for variant in definition.live_variants:
        row = rows.get((definition.key, segment, variant.key))
        if row is None:
            arms.append(ArmStats(key=variant.key))
            continue
        arms.append(_faded(definition, row, now))
    return tuple(arms)


def _faded(definition: SlotDefinition, row: BanditArm, now: datetime) -> ArmStats:
    """A persisted arm's evidence as of ``now``: its sums faded by the hours since it was last updated."""
    stats = ArmStats(key=row.variant_key, n=row.n, total=row.total, squares=row.squares)
    return stats_discount([stats], definition.bandit_discount, _hours(row.updated_at, now))[0]


def slot_prior_rate(definition: SlotDefinition, rows: Mapping[Arm, BanditArm], now: datetime) -> float | None:
    """The slot's success rate over every segment and cell, faded like the arms: the centre of each arm's prior.

    None (the uniform prior) for value rewards, whose model takes its prior from the pooled data already.
    """
    if reward_likelihood(definition.reward) != "bernoulli":
        return None
    return pooled_rate(
        [_faded(definition, row, now) for (slot_key, _, _), row in rows.items() if slot_key == definition.key]
    )


def allocations_refresh(
    definitions: Mapping[str, SlotDefinition], *, now: datetime | None = None, slot_key: str | None = None
) -> int:
    """Recompute and publish the allocation of every (bandit slot, segment); returns how many."""
    now = now or timezone.now()
    bandits = bandit_definitions(definitions)
    if slot_key is not None:
        bandits = {k: d for k, d in bandits.items() if k == slot_key}
    if not bandits:
        return 0
    keys_by_id = dict(
        Segment.objects.filter(pk__in={sid for d in bandits.values() for sid, _ in d.rules}).values_list("pk", "key")
    )
    rows = {(r.slot_key, r.segment, r.variant_key): r for r in BanditArm.objects.filter(slot_key__in=list(bandits))}
    published = 0
    for key, definition in bandits.items():
        if not definition.live_variants:
            continue
        likelihood = reward_likelihood(definition.reward)
        allocations: dict[str, Allocation] = {}
        prior_rate = slot_prior_rate(definition, rows, now)
        slot_rows = rows
        if definition.bandit_context:
            kept = cell_fields_kept(definition, rows, beta_prior(prior_rate), now)
            slot_rows = _context_rows(definition, rows, kept)
            logger.debug(
                "Bandit %s learns by %s.", key, [definition.bandit_context[i] for i in kept] or "the whole slot"
            )
        by_version: dict[str, Allocation] = {}  # cells that share their evidence share one computation
        for segment in _segment_keys(definition, keys_by_id, rows):
            arms = slot_arm_stats(definition, slot_rows, segment, now)
            version = allocation_version(
                arms, likelihood, definition.bandit_floor, definition.bandit_top_two, beta_prior(prior_rate)
            )
            if version in by_version:
                allocations[segment] = by_version[version]
                continue
            allocations[segment] = by_version[version] = allocation_compute(
                arms,
                likelihood=likelihood,
                floor=definition.bandit_floor,
                top_two=definition.bandit_top_two,
                seed=int(version, 16) % 2**32,  # the same evidence gives the same allocation, in any worker
                version=version,
                prior_rate=prior_rate,
            )
        with transaction.atomic():
            for segment, allocation in allocations.items():
                BanditAllocation.objects.update_or_create(
                    slot_key=key,
                    segment=segment,
                    defaults={
                        "probabilities": dict(allocation.probabilities),
                        "version": allocation.version,
                        "method": allocation.method,
                        "draws": allocation.draws,
                        "updated_at": now,
                    },
                )
        allocations_publish(key, allocations)
        published += len(allocations)
    return published


def reward_of(definition: SlotDefinition | None, reward: object) -> float:
    """A decision's reward as the slot counts it (``tracking.rewards.Reward``): the same rule as the online count."""
    kind = definition.reward if definition is not None else "click"
    clicked, converted = bool(getattr(reward, "clicked", False)), bool(getattr(reward, "converted", False))
    if kind == "conversion":
        return float(converted)
    if kind == "value":
        return float(getattr(reward, "value", 0.0))
    if kind == "weighted":
        click_weight, conversion_weight = definition.reward_weights if definition is not None else (1.0, 5.0)
        return click_weight * clicked + conversion_weight * converted
    return float(clicked)


def bandits_rebuild(*, slot_key: str | None = None, now: datetime | None = None) -> FoldReport:
    """Recompute the posteriors of one bandit slot (or all) from the decision log, and publish."""

    def rebuild(definitions: Mapping[str, SlotDefinition], now: datetime) -> FoldReport:
        report = _rebuild(definitions, slot_key, now)
        report.rebuilt = True
        if slot_key is None:
            counts_mark_alive()
        report.allocations = allocations_refresh(definitions, now=now, slot_key=slot_key)
        return report

    return _locked(rebuild, now)


def _rebuild(definitions: Mapping[str, SlotDefinition], slot_key: str | None, now: datetime) -> FoldReport:
    """Replace the persisted sums by those the log gives, each decision faded by its age.

    The online deltas are dropped first (the log holds the decisions they counted); a rebuild of
    one slot puts the other slots' deltas back.
    """
    from tracking.selectors import decision_rewards

    deltas = deltas_take()
    if slot_key is not None:
        others = {arm: sums for arm, sums in deltas.items() if arm[0] != slot_key}
        if others:
            _deltas_restore(others)
    decisions = DecisionLog.objects.filter(policy="bandit", is_bot=False, visitor_id__isnull=False, created_at__lte=now)
    if slot_key is not None:
        decisions = decisions.filter(slot_key=slot_key)
    sums: dict[Arm, list[float]] = {}
    read = 0
    batch: list[dict[str, object]] = []

    def add(rows: list[dict[str, object]]) -> None:
        rewards = decision_rewards([r["id"].hex for r in rows])  # type: ignore[attr-defined]
        for r in rows:
            definition = definitions.get(str(r["slot_key"]))
            weight = _discount(definitions, str(r["slot_key"])) ** _hours(r["created_at"], now)  # type: ignore[arg-type]
            value = reward_of(definition, rewards.get(r["id"].hex))  # type: ignore[attr-defined]
            arm = (str(r["slot_key"]), segment_from_reason(str(r["reason"])), str(r["variant_key"]))
            s = sums.setdefault(arm, [0.0, 0.0, 0.0])
            s[0] += weight
            s[1] += weight * value
            s[2] += weight * value * value

    size = setting("BANDIT_REBUILD_BATCH")
    for row in (
        decisions.order_by("created_at")
        .values("id", "slot_key", "variant_key", "reason", "created_at")
        .iterator(chunk_size=size)
    ):
        batch.append(row)
        read += 1
        if len(batch) >= size:
            add(batch)
            batch = []
    if batch:
        add(batch)
    with transaction.atomic():
        stale = BanditArm.objects.all() if slot_key is None else BanditArm.objects.filter(slot_key=slot_key)
        stale.delete()
        BanditArm.objects.bulk_create(
            [
                BanditArm(
                    slot_key=a[0], segment=a[1], variant_key=a[2], n=s[0], total=s[1], squares=s[2], updated_at=now
                )
                for a, s in sums.items()
            ],
            batch_size=500,
        )
    logger.info("Bandit posteriors rebuilt from %d decisions (%s).", read, slot_key or "every slot")
    return FoldReport(arms=len(sums), decisions=read)


def bandits_fold_when_eager(events: object) -> None:
    """The event writer's hook without a broker (embedded default, no beat): fold at most every so often.

    With a broker, beat runs the fold task every minute and this does nothing.
    """
    from django.core.cache import cache

    from personalization import tasks

    every = setting("BANDIT_FOLD_EAGER_SECONDS")
    app = tasks.bandits_fold.app
    if not every or not (app.conf.task_always_eager or not app.conf.broker_url):
        return
    if not any(d.strategy == "bandit" for d in _catalog_definitions()):
        return
    with outage_guard("cache", "bandit fold not scheduled; the next event batch tries again"):
        if not cache.add(bandit_key("fold-due"), 1, timeout=every):
            return
    tasks.bandits_fold.apply()


def _catalog_definitions() -> list[SlotDefinition]:
    from personalization.serving.catalog import catalog_get

    return [slot.definition for slot in catalog_get().slots.values()]

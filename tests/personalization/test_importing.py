"""import_decision_log: another system's logged feedback becomes decisions and rewards Tailor learns from."""

from __future__ import annotations

import csv
import json
import random
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from content.models import Slot
from tracking.models import DecisionLog, Event

pytestmark = pytest.mark.django_db

TRUTH = {("mobile", "short"): 0.30, ("mobile", "long"): 0.05, ("desktop", "short"): 0.05, ("desktop", "long"): 0.25}


def logged_rows(n: int, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        device = rng.choice(["mobile", "desktop"])
        action = "short" if rng.random() < 0.7 else "long"  # a non-uniform logging policy
        rows.append(
            {
                "timestamp": f"2026-11-0{1 + i % 9} 12:{i % 60:02d}:00" if i % 2 else str(1_793_000_000 + i),
                "action": action,
                "reward": int(rng.random() < TRUTH[(device, action)]),
                "propensity": 0.7 if action == "short" else 0.3,
                "device": device,
                "plan": rng.choice(["free", "pro"]),
            }
        )
    return rows


def write_csv(path, rows) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_csv_import_creates_slot_variants_decisions_and_rewards_and_reports_bad_rows(tmp_path):
    rows = logged_rows(600)
    rows[4]["propensity"] = 0  # line 6
    rows[9]["timestamp"] = "yesterday"  # line 11
    rows[20]["action"] = "bad key!"  # line 22
    path = tmp_path / "history.csv"
    write_csv(path, rows)
    out, err = StringIO(), StringIO()
    call_command("import_decision_log", str(path), "--slot", "imported-hero", stdout=out, stderr=err)
    assert "Imported 597 of 600 rows" in out.getvalue()
    assert "line 6: propensity 0.0 must be in (0, 1]" in err.getvalue()
    assert "line 11: timestamp 'yesterday'" in err.getvalue()
    assert "line 22: action 'bad key!'" in err.getvalue()
    slot = Slot.objects.get(key="imported-hero")
    assert slot.strategy == "model"
    assert sorted(v.key for v in slot.variants.all()) == ["long", "short"]
    assert DecisionLog.objects.filter(slot_key="imported-hero").count() == 597
    positives = sum(int(r["reward"]) for i, r in enumerate(rows) if i not in (4, 9, 20))
    assert Event.objects.filter(type="click", props__imported=True).count() == positives
    logged = DecisionLog.objects.filter(slot_key="imported-hero").first()
    assert logged.context["device"] in ("mobile", "desktop")
    assert logged.context["attributes"]["plan"] in ("free", "pro")

    # The imported history is what offline evaluation and training read.
    result = StringIO()
    call_command("evaluate_policy", "--slot", "imported-hero", "--json", stdout=result)
    policies = json.loads(result.getvalue())["policies"]
    assert policies["model"]["dr"] > policies["fixed:short"]["dr"]


def test_parquet_import(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = logged_rows(50)
    path = tmp_path / "history.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    out = StringIO()
    call_command("import_decision_log", str(path), "--slot", "pq-hero", stdout=out)
    assert "Imported 50 of 50 rows" in out.getvalue()


def test_missing_column_or_unreadable_file_imports_nothing(tmp_path):
    path = tmp_path / "broken.csv"
    path.write_text("timestamp,action,reward\n2026-11-01T00:00:00,a,1\n")
    with pytest.raises(CommandError, match="lacks the column"):
        call_command("import_decision_log", str(path), "--slot", "nothing")
    with pytest.raises(CommandError, match="cannot be read"):
        call_command("import_decision_log", str(tmp_path / "absent.csv"), "--slot", "nothing")
    assert not Slot.objects.filter(key="nothing").exists()
    assert not DecisionLog.objects.exists()


def test_existing_slot_gains_the_variants_the_file_names(tmp_path):
    from tests.factories.slots import slot_create

    slot_create("known", variants=[("short", 1)])
    path = tmp_path / "h.csv"
    write_csv(path, logged_rows(20))
    call_command("import_decision_log", str(path), "--slot", "known", stdout=StringIO())
    assert sorted(v.key for v in Slot.objects.get(key="known").variants.all()) == ["long", "short"]

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


def test_malformed_rows_are_reported_by_their_line_and_the_rest_trains(tmp_path):
    rows = logged_rows(400, seed=3)
    for row in rows:
        row["hour"] = 14
    header = list(rows[0])
    lines = [",".join(header)]
    for row in rows:
        lines.append(",".join(str(row[c]) for c in header))
    lines[3] += ",surplus"  # line 4: one field more than the header
    lines[5] = lines[5].replace(",14", ",14.5")  # line 6: an hour that is no whole number
    lines[7] = lines[7].replace(",14", ",morning")  # line 8
    lines[9] = lines[9].replace(",pro,", ',"a plan\nover two lines",').replace(",free,", ',"a plan\nover two lines",')
    lines[12] = lines[12].replace(",14", ",99")  # the record after a two-line one starts on line 14
    path = tmp_path / "messy.csv"
    path.write_text("\n".join(lines) + "\n")
    err = StringIO()
    call_command("import_decision_log", str(path), "--slot", "messy", stdout=StringIO(), stderr=err)
    messages = err.getvalue()
    assert "line 4: the row has 1 more field(s) than the header names" in messages
    assert "line 6: hour '14.5' must be a whole number from 0 to 23" in messages
    assert "line 8: hour 'morning' is not a number" in messages
    assert "line 14: hour '99' must be a whole number from 0 to 23" in messages
    assert len([line for line in messages.splitlines() if line.startswith("line ")]) == 4
    assert DecisionLog.objects.filter(slot_key="messy").count() == 396
    assert DecisionLog.objects.filter(slot_key="messy", context__attributes__plan="a plan\nover two lines").exists()
    out = StringIO()
    call_command("train_models", "--slot", "messy", "--json", "--no-promote", stdout=out)
    assert json.loads(out.getvalue())[0]["rows"] == 396


def test_a_file_of_only_bad_rows_creates_nothing(tmp_path):
    rows = logged_rows(5)
    for row in rows:
        row["propensity"] = 2
    path = tmp_path / "bad.csv"
    write_csv(path, rows)
    err = StringIO()
    with pytest.raises(CommandError, match="Nothing imported into 'ghost': all 5 rows are bad"):
        call_command("import_decision_log", str(path), "--slot", "ghost", stdout=StringIO(), stderr=err)
    assert err.getvalue().count("must be in (0, 1]") == 5
    assert not Slot.objects.filter(key="ghost").exists()


def test_an_editors_draft_is_never_published_by_an_import(tmp_path):
    from tests.factories.slots import slot_create

    slot = slot_create("drafted", variants=[("short", 1)])
    slot.name = "Unpublished new name"
    slot.save_revision()
    path = tmp_path / "h.csv"
    write_csv(path, logged_rows(20))
    with pytest.raises(CommandError, match="unpublished draft"):
        call_command("import_decision_log", str(path), "--slot", "drafted", stdout=StringIO())
    slot.refresh_from_db()
    assert slot.name != "Unpublished new name"
    assert [v.key for v in slot.variants.all()] == ["short"]
    assert not DecisionLog.objects.filter(slot_key="drafted").exists()


def test_rewards_other_than_zero_or_one_are_counted_as_rewarded_with_their_value(tmp_path):
    rows = logged_rows(30)
    rows[0]["reward"], rows[1]["reward"] = 49.5, 0.3
    path = tmp_path / "revenue.csv"
    write_csv(path, rows)
    err = StringIO()
    call_command("import_decision_log", str(path), "--slot", "revenue", stdout=StringIO(), stderr=err)
    assert "2 rows have a reward other than 0 or 1" in err.getvalue()
    assert sorted(Event.objects.filter(value__in=(49.5, 0.3)).values_list("value", flat=True)) == [0.3, 49.5]


def test_blank_lines_keep_the_line_numbers_and_parquet_nan_is_missing(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "gaps.csv"
    path.write_text(
        "timestamp,action,reward,propensity,hour\n\n1793000000,a,1,0.5,3\n\n\n1793000001,a,1,7,3\n"  # line 6
    )
    err = StringIO()
    call_command("import_decision_log", str(path), "--slot", "gaps", stdout=StringIO(), stderr=err)
    assert "line 6: propensity 7.0 must be in (0, 1]" in err.getvalue()

    rows = logged_rows(4)
    values = [(float("nan"), 0.5), (9.0, float("nan")), (10.0, 1.0), (11.0, float("inf"))]
    for row, (hour, score) in zip(rows, values, strict=True):
        row["hour"], row["score"] = hour, score
    parquet = tmp_path / "nan.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet)
    err = StringIO()
    call_command("import_decision_log", str(parquet), "--slot", "nan-hero", stdout=StringIO(), stderr=err)
    assert "line 4: score is inf: context features must be finite numbers" in err.getvalue()
    contexts = list(DecisionLog.objects.filter(slot_key="nan-hero").values_list("context", flat=True))
    assert len(contexts) == 3
    [no_hour] = [c for c in contexts if "hour" not in c]  # NaN is a missing value, not an error
    assert no_hour["attributes"]["score"] == 0.5
    [no_score] = [c for c in contexts if "score" not in c["attributes"]]
    assert no_score["hour"] == 9

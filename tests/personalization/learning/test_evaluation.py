"""evaluate_policy on imported logs: it reads the whole log, stores nothing, and never crashes on a policy the log cannot judge.

The Open Bandit Dataset sample (tests/data/obd_bts_all.csv, see tests/data/README.md) is
a real Thompson-sampling log over 80 items with tiny propensities and 42 clicks in
10,000 impressions: the kind of log where a fixed item is rarely (or never) shown.
"""

from __future__ import annotations

import csv
import json
import math
import random
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from personalization.models import ModelVersion
from tests.factories.slots import slot_create

pytestmark = pytest.mark.django_db

OBD_BTS = Path(__file__).resolve().parents[2] / "data" / "obd_bts_all.csv"
OBD_ROWS = 10_000
OBD_ITEMS = 80
CLICK = {("mobile", "a"): 0.30, ("mobile", "b"): 0.05, ("desktop", "a"): 0.05, ("desktop", "b"): 0.25}


def evaluated(slot_key: str, *options: str) -> dict:
    out = StringIO()
    call_command("evaluate_policy", "--slot", slot_key, "--json", *options, stdout=out)
    return json.loads(out.getvalue())


def logged_csv(path: Path, n: int, *, seed: int = 1) -> Path:
    """A log of variants a (70 %) and b (30 %) with device-dependent clicks; variant c is never shown."""
    rng = random.Random(seed)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "action", "reward", "propensity", "device"])
        for i in range(n):
            device = rng.choice(["mobile", "desktop"])
            action = "a" if rng.random() < 0.7 else "b"
            clicked = int(rng.random() < CLICK[(device, action)])
            writer.writerow([1_793_000_000 + i, action, clicked, 0.7 if action == "a" else 0.3, device])
    return path


def imported(tmp_path: Path, n: int, variants: str = "ab", slot_key: str = "offers") -> str:
    slot_create(slot_key, strategy="model", variants=[(key, 1) for key in variants])
    call_command("import_decision_log", str(logged_csv(tmp_path / "log.csv", n)), "--slot", slot_key, stdout=StringIO())
    return slot_key


def test_the_open_bandit_thompson_sampling_log_is_evaluated_on_every_row_without_storing_a_model():
    # Item 80 is new in the catalogue: the Thompson-sampling policy never showed it.
    slot_create("obd-bts", strategy="model", variants=[(f"item-{i}", 1) for i in range(OBD_ITEMS + 1)])
    out = StringIO()
    call_command("import_decision_log", str(OBD_BTS), "--slot", "obd-bts", stdout=out)
    assert f"Imported {OBD_ROWS} of {OBD_ROWS} rows" in out.getvalue()

    result = evaluated("obd-bts")

    assert result["rows"] == result["rows_logged"] == OBD_ROWS
    assert result["folds"] == 5
    policies = result["policies"]
    assert set(policies) == {"logged", "uniform", "model"} | {f"fixed:item-{i}" for i in range(OBD_ITEMS + 1)}
    # Every logged item has support somewhere in the whole log, so every estimate is a number.
    for i in range(OBD_ITEMS):
        row = policies[f"fixed:item-{i}"]
        assert all(math.isfinite(row[name]) for name in ("ips", "snips", "dm", "dr")), (i, row)
        assert "note" not in row
    # The item never shown: the log cannot judge it, and says so instead of crashing.
    unseen = policies[f"fixed:item-{OBD_ITEMS}"]
    assert [unseen[name] for name in ("ips", "snips", "dr")] == [None, None, None]
    assert unseen["ci95"] is None
    assert math.isfinite(unseen["dm"])
    assert "zero probability to every logged" in unseen["note"]
    assert f"of its choices are variants the log never shows (item-{OBD_ITEMS})" in policies["uniform"]["note"]
    # On-policy, the logged policy's value is the observed click rate: 42 clicks in 10,000.
    assert policies["logged"]["ips"] == pytest.approx(42 / OBD_ROWS)
    assert not ModelVersion.objects.exists()


def test_a_variant_never_logged_gets_nulls_and_a_note_not_a_crash(tmp_path):
    # The slot offers c as well: an editor added it after the log was recorded.
    slot_key = imported(tmp_path, 120, variants="abc")  # too few rows for a model: importance sampling only

    result = evaluated(slot_key)

    never = result["policies"]["fixed:c"]
    assert [never[name] for name in ("ips", "snips", "dm", "dr")] == [None, None, None, None]
    assert never["ci95"] is None
    assert "zero probability to every logged action" in never["note"]
    # Uniform gives c a third of its choices: estimated on a and b, with a warning of what is missing.
    assert "33.3% of its choices are variants the log never shows (c)" in result["policies"]["uniform"]["note"]
    shown = result["policies"]["fixed:a"]
    assert "note" not in shown
    assert 0 < shown["snips"] < 1
    assert shown["ci95"][0] <= shown["ips"] <= shown["ci95"][1]
    text = StringIO()
    call_command("evaluate_policy", "--slot", slot_key, stdout=text)
    assert "fixed:c: IPS, SNIPS and DR are undefined" in text.getvalue()


def test_evaluate_policy_stores_no_model_version(tmp_path):
    slot_key = imported(tmp_path, 600)
    before = ModelVersion.objects.count()

    result = evaluated(slot_key)

    assert ModelVersion.objects.count() == before
    assert "model" in result["policies"]
    # Cross-fitted over the whole log: every row is scored, none by a model trained on it.
    assert result["rows"] == result["rows_logged"] == 600
    for name in ("fixed:a", "fixed:b", "uniform", "model"):
        row = result["policies"][name]
        assert None not in (row["dm"], row["dr"]), name
    # The model learns that mobile prefers a and desktop b, which beats either variant for everyone.
    assert result["policies"]["model"]["dr"] > max(result["policies"][f"fixed:{v}"]["dr"] for v in "ab")


def test_the_number_of_folds_is_an_option_and_is_checked(tmp_path):
    from django.core.management.base import CommandError

    slot_key = imported(tmp_path, 600)

    assert evaluated(slot_key, "--folds", "3")["folds"] == 3
    with pytest.raises(CommandError, match="--folds must be at least 2"):
        evaluated(slot_key, "--folds", "1")

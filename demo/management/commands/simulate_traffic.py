"""``manage.py simulate_traffic --visitors N --seed S``: prove the model learns, on traffic with known truth."""

from __future__ import annotations

import json
import random
import sys

from django.core.management.base import BaseCommand, CommandError

from demo.simulation import (
    SLOT_KEY,
    SimulationError,
    clusters_agreement,
    pipeline_drain,
    simulation_slot_ensure,
    traffic_run,
    truth,
)
from personalization.engine.clustering import ClusteringError
from personalization.learning.training import TrainingError, model_train
from personalization.management.progress import ProgressBar
from personalization.results.rollup import results_rollup
from personalization.results.selectors import slot_results_recent


class Command(BaseCommand):
    help = (
        "Simulate visitors of hidden types through decide() and event ingest, train the model, simulate again, "
        "and report click-through against uniform random and the oracle."
    )

    def add_arguments(self, parser):
        parser.add_argument("--visitors", type=int, default=20000, help="Visitors per phase (default 20000).")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, visitors, seed, **options):
        as_json = options["json"]
        rng = random.Random(seed)  # noqa: S311 - simulation, not security
        try:
            simulation_slot_ensure()
        except SimulationError as exc:
            raise CommandError(str(exc)) from None
        known = truth()

        with ProgressBar("phase 1: exploring", visitors, unit="visitors", quiet=as_json) as bar:
            explore = traffic_run(visitors, rng, bar.advance)
        if not as_json:
            sys.stderr.write("training…\n")
        pipeline_drain()
        try:
            training = model_train(SLOT_KEY, seed=seed)
        except TrainingError as exc:
            raise CommandError(f"{exc} Run with more --visitors.") from None
        with ProgressBar("phase 2: model    ", visitors, unit="visitors", quiet=as_json) as bar:
            serve = traffic_run(visitors, rng, bar.advance)
        if not as_json:
            sys.stderr.write("clustering behaviour…\n")
        try:
            clusters = clusters_agreement({**explore.types, **serve.types})
        except ClusteringError as exc:
            clusters = {"error": str(exc)}
        if not as_json:
            sys.stderr.write("rolling up results…\n")
        pipeline_drain()
        results_rollup()
        results = slot_results_recent(SLOT_KEY)
        result = {
            "slot": SLOT_KEY,
            "visitors_per_phase": visitors,
            "uniform_ctr": known.uniform,
            "oracle_ctr": known.oracle,
            "phase1": explore.summary(),
            "training": {k: v for k, v in training.__dict__.items() if k != "estimates"},
            "phase2": serve.summary(),
            "lift_over_uniform": serve.expected_ctr / known.uniform,
            "fraction_of_oracle": serve.expected_ctr / known.oracle,
            "clusters": clusters,
            "results": results,
        }
        if as_json:
            self.stdout.write(json.dumps(result, indent=2, default=str))
            return
        auc = f"{training.auc:.3f}" if training.auc is not None else "n/a"
        self.stdout.write(f"uniform random CTR {known.uniform:.4f}, oracle CTR {known.oracle:.4f}")
        for name, phase in (("phase 1 (explore)", explore), ("phase 2 (model)", serve)):
            self.stdout.write(
                f"{name}: expected CTR {phase.expected_ctr:.4f}, realised {phase.realised_ctr:.4f} "
                f"({phase.clicks} clicks / {phase.visitors})"
            )
        self.stdout.write(f"training: {training.rows} rows, AUC {auc}, promoted {training.promoted}: {training.note}")
        if "error" in clusters:
            self.stdout.write(f"behaviour clusters: none ({clusters['error']})")
        else:
            self.stdout.write(
                f"behaviour clusters: k={clusters['k']} for {clusters['hidden_types']} hidden types, "
                f"adjusted Rand index {clusters['adjusted_rand_index']:.2f} (admin: Behaviour clusters)"
            )
        self.stdout.write(f"results (admin: Slots → {SLOT_KEY} → Results): {results['verdict']}")
        self.stdout.write(
            self.style.SUCCESS(
                f"model: {result['lift_over_uniform']:.2f}x uniform, {result['fraction_of_oracle']:.0%} of the oracle"
            )
        )

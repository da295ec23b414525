"""``manage.py simulate_traffic --visitors N --seed S``: prove the model learns, on traffic with known truth.

``--continuous`` runs one phase-less stream instead, the hero retraining as beat would live, beside
baselines shown the same visitors; ``--world hard`` swaps in the six-type world whose favourite variant
depends on device and traffic source jointly.
"""

from __future__ import annotations

import json
import random
import sys

from django.core.management.base import BaseCommand, CommandError

from demo.seed import HERO_STRATEGIES
from demo.simulation import (
    ARM_CHOICES,
    ARMS,
    SLOT_KEY,
    WORLD_VISITORS,
    WORLDS,
    SimulationError,
    clusters_agreement,
    continuous_run,
    holdout_report,
    pipeline_drain,
    simulation_holdout_set,
    simulation_model_ensure,
    simulation_slot_ensure,
    traffic_run,
    truth,
)
from personalization.engine.clustering import ClusteringError
from personalization.learning.training import TrainingError, model_train
from personalization.management.progress import ProgressBar
from personalization.results.rollup import results_rollup
from personalization.results.selectors import slot_results_recent
from personalization.results.wording import lift_words


def model_summary(lift_over_uniform: float, fraction_of_oracle: float) -> str:
    """The run's last line, its lift stated as the Models screen states it (results.wording)."""
    return (
        f"model: {lift_words(lift_over_uniform, 'uniform random')} in expected click-through,"
        f" {fraction_of_oracle:.0%} of the oracle"
    )


class Command(BaseCommand):
    help = (
        "Simulate visitors of hidden types through decide() and event ingest, train the model, simulate again, "
        "and report click-through against uniform random and the oracle."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--visitors",
            type=int,
            default=None,
            help="Visitors per phase, or in all with --continuous (default 20000; 6000 in the hard world).",
        )
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--json", action="store_true")
        parser.add_argument(
            "--world",
            choices=sorted(WORLDS),
            default="default",
            help="default: four types, 4-30 %% click rates; hard: six types, device x source, 3-12 %%.",
        )
        parser.add_argument(
            "--continuous",
            action="store_true",
            help="One run without phases: the hero retrains between batches (models_retrain_due), as beat would.",
        )
        parser.add_argument(
            "--holdout",
            type=float,
            default=None,
            help="Publish the hero with this holdout share first (e.g. 0.05), so the run ends with the model's live "
            "uplift over doing nothing. Default: leave the hero's share as it is.",
        )
        parser.add_argument("--batch", type=int, default=100, help="--continuous: visitors between retrain checks.")
        parser.add_argument(
            "--explore-first",
            type=int,
            default=None,
            help="--continuous: visitors the explore-first baseline serves uniformly before its one training "
            "(default a fifth of --visitors).",
        )
        parser.add_argument(
            "--arms",
            default=",".join(ARMS),
            help=f"--continuous: the arms to serve, comma-separated, of {', '.join(ARM_CHOICES)} (uniform is computed).",
        )

    def handle(self, *args, visitors, seed, **options):
        as_json = options["json"]
        world = options["world"]
        visitors = WORLD_VISITORS[world] if visitors is None else visitors
        if visitors < 1:
            raise CommandError("--visitors must be at least 1.")
        rng = random.Random(seed)  # noqa: S311 - simulation, not security
        try:
            left = simulation_model_ensure()
            if left is not None:
                back = (
                    f"`manage.py seed_demo --hero-strategy {left}`"
                    if left in HERO_STRATEGIES
                    else "Slots → Home hero → Strategy in the admin"
                )
                sys.stderr.write(
                    f"{SLOT_KEY} was on the {left!r} strategy: published it on 'model' for the simulation "
                    f"(variants and targeting kept; {back} switches it back).\n"
                )
            simulation_slot_ensure()
            if options["holdout"] is not None:
                simulation_holdout_set(options["holdout"])
        except SimulationError as exc:
            raise CommandError(str(exc)) from None
        if options["continuous"]:
            self._continuous(visitors, seed, rng, world, options)
            return
        known = truth(WORLDS[world])

        with ProgressBar("phase 1: exploring", visitors, unit="visitors", quiet=as_json) as bar:
            explore = traffic_run(visitors, rng, bar.advance, WORLDS[world])
        if not as_json:
            sys.stderr.write("training…\n")
        pipeline_drain()
        try:
            training = model_train(SLOT_KEY, seed=seed)
        except TrainingError as exc:
            raise CommandError(f"{exc} Run with more --visitors.") from None
        with ProgressBar("phase 2: model    ", visitors, unit="visitors", quiet=as_json) as bar:
            serve = traffic_run(visitors, rng, bar.advance, WORLDS[world])
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
            "holdout": holdout_report(),
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
        self._results_write(results, result["holdout"])
        self.stdout.write(self.style.SUCCESS(model_summary(result["lift_over_uniform"], result["fraction_of_oracle"])))

    def _results_write(self, results, holdout):
        self.stdout.write(f"results (admin: Slots → {SLOT_KEY} → Results): {results['verdict']}")
        if holdout is None:
            self.stdout.write("live uplift: no holdout on the hero (run with --holdout 0.05 to measure it)")
            return
        self.stdout.write(
            f"live uplift over doing nothing ({holdout['share']:.0%} held out on the default): {holdout['lift']}."
            f" {holdout['results']['verdict']}"
        )

    def _continuous(self, visitors, seed, rng, world, options):
        as_json = options["json"]
        arms = tuple(arm.strip() for arm in options["arms"].split(",") if arm.strip())
        unknown = sorted(set(arms) - set(ARM_CHOICES))
        if unknown or "continuous" not in arms:
            raise CommandError(
                f"--arms must include continuous and name only {', '.join(ARM_CHOICES)}; got {unknown or arms}."
            )
        if options["batch"] < 1:
            raise CommandError("--batch must be at least 1.")
        with ProgressBar("continuous", visitors, unit="visitors", quiet=as_json) as bar:
            report = continuous_run(
                visitors,
                rng,
                world=world,
                batch=options["batch"],
                explore_first=options["explore_first"],
                arms=arms,
                seed=seed,
                progress=bar.advance,
            )
        pipeline_drain()
        results_rollup()
        results = slot_results_recent(SLOT_KEY)
        result = {**report.summary(), "seed": seed, "results": results, "holdout": holdout_report()}
        if as_json:
            self.stdout.write(json.dumps(result, indent=2, default=str))
            return
        self.stdout.write(
            f"{world} world, {visitors} visitors in batches of {report.batch}: oracle CTR {report.oracle:.4f}, "
            f"uniform {report.uniform:.4f} ({report.uniform / report.oracle:.0%} of the oracle)"
        )
        for arm in report.arms.values():
            if arm.note and not arm.curve:
                self.stdout.write(f"{arm.arm}: {arm.note}")
                continue
            final = f", serving policy at the end {arm.final_value:.0%}" if arm.final_value is not None else ""
            self.stdout.write(
                f"{arm.arm} ({arm.slot}): cumulative {arm.share_of_oracle:.1%} of the oracle{final}; "
                f"{arm.trainings} trainings, {arm.promotions} promoted{'; ' + arm.note if arm.note else ''}"
            )
        self._results_write(results, result["holdout"])

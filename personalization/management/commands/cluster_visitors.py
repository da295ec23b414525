"""``manage.py cluster_visitors [--hours H] [--seed S] [--json]``: behaviour clusters of recently active visitors."""

from __future__ import annotations

import json
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from personalization.behaviour.clustering import ClusteringError, visitors_cluster
from personalization.management.progress import ProgressBar


class Command(BaseCommand):
    help = (
        "Cluster recently active visitors on their real-time features (the code the daily Celery task runs); "
        "the clusters appear under Behaviour clusters in the admin."
    )

    def add_arguments(self, parser):
        parser.add_argument("--hours", type=float, help="Visitors active within this many hours (default: 7 days).")
        parser.add_argument("--seed", type=int, default=0, help="Random seed of k-means and sampling (default 0).")
        parser.add_argument("--json", action="store_true", help="Print the run as one JSON object.")

    def handle(self, *args, hours=None, seed=0, **options):
        as_json = options["json"]
        bar = ProgressBar("reading features", unit="visitors", quiet=as_json)
        try:
            with bar:
                report = visitors_cluster(
                    active_within=timedelta(hours=hours) if hours else None, seed=seed, progress=bar.update
                )
        except ClusteringError as exc:
            raise CommandError(f"No new clusters: {exc}") from None
        if as_json:
            self.stdout.write(json.dumps(report.__dict__, indent=2, default=str))
            return
        self.stdout.write(
            f"Clustering #{report.run_id}: {report.visitors} visitors in {report.k} clusters "
            f"(silhouette {report.silhouette:.3f}; {report.skipped} without behaviour left out)."
        )
        for cluster in report.clusters:
            self.stdout.write(
                f"  Cluster {cluster['index'] + 1}: {cluster['size']} visitors ({cluster['share']:.0%}): "
                f"{cluster['description']}"
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Replaced {report.removed} earlier clusters; kept {report.kept} that segments were made from. "
                "Name one under Behaviour clusters in the admin to make it a segment."
            )
        )

"""``manage.py seed_demo``: demo pages, slots, segments and an admin login (idempotent, never prompts)."""

from django.core.management.base import BaseCommand

from demo.seed import HERO_STRATEGIES, demo_seed


class Command(BaseCommand):
    help = "Create the demo pages, slots, segments and admin user. Safe to re-run: existing data is kept."

    def add_arguments(self, parser):
        parser.add_argument(
            "--hero-strategy",
            choices=HERO_STRATEGIES,
            default="model",
            help="How the new home-hero slot chooses: the model (default) or its segment rules.",
        )

    def handle(self, *args, hero_strategy, **options):
        result = demo_seed(hero_strategy=hero_strategy)
        if result.created:
            self.stdout.write("Created: " + ", ".join(result.created))
        else:
            self.stdout.write("Demo content already present; nothing changed.")
        self.stdout.write(self.style.SUCCESS(f"Admin login: {result.username} / {result.password}  (at /admin/)"))

"""``manage.py seed_demo``: demo pages, slots, segments and an admin login (idempotent, never prompts)."""

from django.core.management.base import BaseCommand, CommandError

from demo.seed import HERO_STRATEGIES, demo_hero_strategy_set, demo_seed


class Command(BaseCommand):
    help = "Create the demo pages, slots, segments and admin user. Safe to re-run: existing data is kept."

    def add_arguments(self, parser):
        parser.add_argument(
            "--hero-strategy",
            choices=HERO_STRATEGIES,
            default=None,
            help="How home-hero chooses: the model (a new hero's default) or its segment rules. Given on a seeded "
            "database, it publishes the hero on that strategy (a new revision; variants and targeting are kept).",
        )

    def handle(self, *args, hero_strategy, **options):
        result = demo_seed(hero_strategy=hero_strategy or "model")
        if result.created:
            self.stdout.write("Created: " + ", ".join(result.created))
        else:
            self.stdout.write("Demo content already present; nothing changed.")
        # An explicit --hero-strategy is the reader's wish even when the hero already exists (the README tour).
        if hero_strategy is not None:
            try:
                left = demo_hero_strategy_set(hero_strategy)
            except ValueError as exc:
                raise CommandError(str(exc)) from None
            if left is not None:
                self.stdout.write(f"Published home-hero on the {hero_strategy!r} strategy (it was on {left!r}).")
        self.stdout.write(self.style.SUCCESS(f"Admin login: {result.username} / {result.password}  (at /admin/)"))

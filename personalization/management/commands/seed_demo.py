"""``manage.py seed_demo``: demo pages, slots, segments and an admin login (idempotent, never prompts)."""

from django.core.management.base import BaseCommand

from personalization.demo import demo_seed


class Command(BaseCommand):
    help = "Create the demo pages, slots, segments and admin user. Safe to re-run: existing data is kept."

    def handle(self, *args, **options):
        result = demo_seed()
        if result.created:
            self.stdout.write("Created: " + ", ".join(result.created))
        else:
            self.stdout.write("Demo content already present; nothing changed.")
        self.stdout.write(self.style.SUCCESS(f"Admin login: {result.username} / {result.password}  (at /admin/)"))

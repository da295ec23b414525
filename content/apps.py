from django.apps import AppConfig


class ContentConfig(AppConfig):
    name = "content"
    verbose_name = "Tailor content"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core import checks

        from .checks import micro_templates_check

        checks.register(micro_templates_check, checks.Tags.templates)

        from .compare import comparisons_register

        comparisons_register()
        # A publish makes the pages that place the slot stale in a frontend cache (content.cache_purge).
        from wagtail.signals import published, unpublished

        from .cache_purge import slot_published_purge
        from .models import Slot

        published.connect(slot_published_purge, sender=Slot, dispatch_uid="tailor-slot-purge-published")
        unpublished.connect(slot_published_purge, sender=Slot, dispatch_uid="tailor-slot-purge-unpublished")

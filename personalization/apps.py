from django.apps import AppConfig


class PersonalizationConfig(AppConfig):
    name = "personalization"
    verbose_name = "Tailor personalization"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from content import slot_renderer
        from personalization import signals
        from personalization.serving import render as renderer
        from personalization.serving import scores
        from tracking.visitor_cache import visitor_cache_keys_register

        slot_renderer.register(renderer.SlotBlockRenderer())
        visitor_cache_keys_register(scores.visitor_scores_keys)
        signals.connect()

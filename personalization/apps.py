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
        # The bandit learns online: a trial per decision logged, a reward per click or conversion written.
        from personalization.learning.bandits import bandits_fold_when_eager
        from personalization.serving.bandits import bandit_rewards_record, bandit_trials_record
        from tracking import record_hooks

        record_hooks.decision_handler_register(bandit_trials_record)
        record_hooks.event_handler_register(bandit_rewards_record)
        record_hooks.event_handler_register(bandits_fold_when_eager)

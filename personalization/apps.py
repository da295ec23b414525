from django.apps import AppConfig


class PersonalizationConfig(AppConfig):
    name = "personalization"
    verbose_name = "Tailor personalization"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from content import slot_renderer
        from personalization import signals
        from personalization.serving import exposures, scores
        from personalization.serving import render as renderer
        from tracking.event_ingest import ingest_listener_register
        from tracking.visitor_cache import visitor_cache_keys_register

        slot_renderer.register(renderer.SlotBlockRenderer())
        visitor_cache_keys_register(scores.visitor_scores_keys)
        visitor_cache_keys_register(exposures.visitor_exposures_keys)
        ingest_listener_register(exposures.exposures_acted, exposures.exposures_key)
        signals.connect()
        # A Wagtail preview's request is built inside the editor's: their preview choice is in the outer query.
        from django.core.signals import request_started

        from personalization.serving.preview import outer_query_capture

        request_started.connect(outer_query_capture, dispatch_uid="tailor-preview-outer-query")
        # The bandit learns online: a trial per decision logged, a reward per click or conversion written.
        from personalization.learning.bandits import bandits_fold_when_eager
        from personalization.serving.bandits import bandit_rewards_record, bandit_trials_record
        from tracking import record_hooks

        record_hooks.decision_handler_register(bandit_trials_record)
        record_hooks.event_handler_register(bandit_rewards_record)
        record_hooks.event_handler_register(bandits_fold_when_eager)
        # A visitor's export says why each decision showed what it did ("Why am I seeing this").
        from personalization.serving.explain import decision_records_explain
        from tracking import export_hooks

        export_hooks.decision_explainer_register(decision_records_explain)

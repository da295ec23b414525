from django.apps import AppConfig


class TrackingConfig(AppConfig):
    name = "tracking"
    verbose_name = "Tailor tracking"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from functools import partial

        from . import feature_store, tasks

        # A feature-cache miss while serving is rebuilt by a task (eager without a broker).
        feature_store.rebuild_schedule = partial(tasks.task_send, tasks.visitor_features_rebuild)

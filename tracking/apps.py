from django.apps import AppConfig


class TrackingConfig(AppConfig):
    name = "tracking"
    verbose_name = "Tailor tracking"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from functools import partial

        from . import feature_store, tasks
        from .goals import goals_signals_connect

        # A feature-cache miss while serving is rebuilt by a task (eager without a broker).
        feature_store.rebuild_schedule = partial(tasks.task_send, tasks.visitor_features_rebuild)
        # Publishing, unpublishing or deleting a goal renews the definitions the tracker and ingest read.
        goals_signals_connect()

from django.apps import AppConfig


class TrackingConfig(AppConfig):
    name = "tracking"
    verbose_name = "Tailor tracking"
    default_auto_field = "django.db.models.BigAutoField"

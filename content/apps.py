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

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self):
        from accounts import signals  # noqa: F401  (connects the receivers)
        from mlserve import openapi  # noqa: F401  (registers the OpenAPI extensions)

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self):
        from accounts import signals  # noqa: F401  (connects the receivers; models are ready only now)
        from accounts.models import ApiToken
        from core import credentials

        credentials.register(ApiToken)

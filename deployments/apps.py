from django.apps import AppConfig


class DeploymentsConfig(AppConfig):
    name = "deployments"
    verbose_name = "Deployments"

    def ready(self):
        from core import credentials
        from deployments import receivers  # noqa: F401  (connects them; models can be imported only once apps are ready)
        from deployments.models import DeploymentKey

        credentials.register(DeploymentKey)

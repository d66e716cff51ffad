from django.apps import AppConfig


class DeploymentsConfig(AppConfig):
    name = "deployments"
    verbose_name = "Deployments"

    def ready(self):
        from core import credentials
        from deployments.models import DeploymentKey  # models can be imported only once apps are ready

        credentials.register(DeploymentKey)

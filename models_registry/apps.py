from django.apps import AppConfig
from django.conf import settings


class ModelsRegistryConfig(AppConfig):
    name = "models_registry"
    verbose_name = "Model registry"

    def ready(self):
        from models_registry.runtimes import ENGINE_OPTIONS

        # The runtimes know no Django (they run in sandboxed runners): they get their settings here.
        ENGINE_OPTIONS.update(
            onnx_threads=settings.MLSERVE_ONNX_THREADS,
            xgboost_threads=settings.MLSERVE_XGBOOST_THREADS,
            lightgbm_threads=settings.MLSERVE_LIGHTGBM_THREADS,
            catboost_threads=settings.MLSERVE_CATBOOST_THREADS,
            java_path=settings.MLSERVE_JAVA_PATH,
            java_opts=settings.MLSERVE_PMML_JAVA_OPTS,
        )

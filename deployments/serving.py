"""The synchronous serving path, shared by the REST predict endpoint, the test page and OIP."""

from deployments import services
from deployments.models import Deployment
from models_registry import prediction


def predict_sync(deployment: Deployment, *, data=None, upload=None) -> prediction.Result:
    services.ensure_serving(deployment)
    return prediction.predict(deployment.model_version, data=data, upload=upload, max_rows=deployment.max_rows)

"""Running deployments' models are loaded ahead of requests."""

from deployments.models import Deployment
from deployments.warmup import warm_running_deployments
from models_registry import model_cache


def test_running_deployments_are_loaded_and_paused_ones_are_not(api, deploy):
    deploy("iris_logreg.skops", "iris")
    deploy("tree_iris.pmml", "tree")
    api.post("/api/v1/deployments/tree/pause")
    model_cache._cache.clear()
    assert warm_running_deployments() == 1
    iris = Deployment.objects.get(name="iris").model_version
    tree = Deployment.objects.get(name="tree").model_version
    assert model_cache.is_cached(iris) and not model_cache.is_cached(tree)
    assert warm_running_deployments() == 0  # nothing new

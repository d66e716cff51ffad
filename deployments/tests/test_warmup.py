"""Running deployments' runners are started (again) ahead of requests; paused ones are not."""

from deployments.models import Deployment
from deployments.warmup import warm_running_deployments
from models_registry.runners import client


def test_running_deployments_get_their_runners_back_and_paused_ones_do_not(api, deploy):
    deploy("iris_logreg.skops", "iris")
    deploy("tree_iris.pmml", "tree")
    api.post("/api/v1/deployments/tree/pause")
    client.stop(prefix=client.namespace())  # as if the supervisor had restarted
    assert warm_running_deployments() == 1
    groups = client.status()["groups"]
    iris, tree = (Deployment.objects.get(name=n).pk for n in ("iris", "tree"))
    assert any(f"-d{iris}-" in key and g["replicas"] == ["ready"] for key, g in groups.items())
    assert not any(f"-d{tree}-" in key for key in groups)

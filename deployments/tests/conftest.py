import pytest

IRIS_ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


@pytest.fixture
def deploy(api, upload_model):
    """Upload a model file and deploy it: deploy("iris_logreg.skops", "iris")."""

    def make(filename: str, name: str, client=None, **limits):
        client = client or api
        model_name = f"{name}-model"
        assert upload_model(filename, name=model_name, client=client).status_code == 201
        response = client.post("/api/v1/deployments", {"name": name, "model": model_name, **limits}, format="json")
        assert response.status_code == 201, response.json()
        return response.json()

    return make


@pytest.fixture
def iris(deploy):
    return deploy("iris_logreg.skops", "iris")


@pytest.fixture
def inline_queue(monkeypatch):
    """Queued tasks run inline, at commit, instead of in a qcluster (the real one is tested separately)."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture
def submit(api, inline_queue, django_capture_on_commit_callbacks):
    """POST to a deployment's tasks endpoint and let the task run: submit("iris", json={...})."""

    def post(name: str, json=None, file=None, content_type=None, client=None):
        client = client or api
        with django_capture_on_commit_callbacks(execute=True):
            if file is not None:
                response = client.post(f"/api/v1/deployments/{name}/tasks", {"file": file}, format="multipart")
            elif content_type:
                response = client.post(f"/api/v1/deployments/{name}/tasks", json, content_type=content_type)
            else:
                response = client.post(f"/api/v1/deployments/{name}/tasks", json, format="json")
        return response

    return post

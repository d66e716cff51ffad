"""The deployment page's API panel: ready-to-paste calls built from the real host and name."""

from django.urls import reverse

from core import api_examples
from models_registry.samples import sample_record


def examples(request, deployment, token: str | None = None) -> dict:
    token = token or api_examples.TOKEN_PLACEHOLDER
    predict_url = request.build_absolute_uri(reverse("api-deployment-predict", args=[deployment.name]))
    tasks_url = request.build_absolute_uri(reverse("api-deployment-tasks", args=[deployment.name]))
    task_url = request.build_absolute_uri(reverse("api-task-detail", args=["TASK_ID"]))
    body = {"inputs": sample_record(deployment.model_version.input_fields)}
    auth = f'-H "Authorization: Token {token}"'
    return {
        "token": token,
        "curl_predict": api_examples.curl_json(predict_url, body, token),
        "python_predict": api_examples.python_json(predict_url, body, token),
        "curl_task": api_examples.curl_file(tasks_url, "rows.csv", token),
        "curl_status": f"curl {auth} {task_url}\ncurl {auth} '{task_url}/result?format=csv' -o result.csv",
        "predict_url": predict_url,
        "tasks_url": tasks_url,
    }

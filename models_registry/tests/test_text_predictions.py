"""Plain text (.txt) for a model with one string input: one row per non-empty line."""

import io
import json

import skops.io as sio
from django.core.files.uploadedfile import SimpleUploadedFile

from deployments.models import PredictionTask

LINES = ["loved the music, and the cast", "", "an awful, boring waste of time", "great fun"]
TEXT = "\n".join(LINES) + "\n"


def pipeline(model_files):
    path = model_files["text_sentiment.skops"]
    return sio.load(path, trusted=sio.get_untrusted_types(file=str(path)))


def test_each_line_of_a_text_file_is_one_row(api, upload_model, model_files):
    assert upload_model("text_sentiment.skops", name="reviews").status_code == 201
    body = api.post("/api/v1/models/reviews/predict", {"file": SimpleUploadedFile("reviews.txt", TEXT.encode())}, format="multipart").json()
    texts = [line for line in LINES if line]
    model = pipeline(model_files)
    assert body["predictions"] == model.predict(texts).tolist()
    assert [list(p.values()) for p in body["probabilities"]] == model.predict_proba(texts).tolist()


def test_a_raw_text_body_works_the_same(api, upload_model):
    upload_model("text_sentiment.skops", name="reviews")
    body = api.post("/api/v1/models/reviews/predict", "great fun\nbad, boring, terrible\r\n", content_type="text/plain").json()
    assert body["predictions"] == ["positive", "negative"]


def test_a_text_file_without_lines_is_400(api, upload_model):
    upload_model("text_sentiment.skops", name="reviews")
    response = api.post("/api/v1/models/reviews/predict", "\n \n", content_type="text/plain")
    assert response.status_code == 400 and "no text" in response.json()["error"]["message"]


def test_a_text_task_counts_and_predicts_its_lines_in_chunks(api, deploy, submit, settings, model_files):
    settings.MLSERVE_BATCH_CHUNK_ROWS = 2
    deploy("text_sentiment.skops", "reviews")
    lines = [f"{word} movie number {i}" for i, word in enumerate(["great", "awful", "fun", "boring", "loved"])]
    upload = io.BytesIO(("\n\n".join(lines) + "\n").encode())
    upload.name = "reviews.txt"
    body = submit("reviews", file=upload).json()
    task = PredictionTask.objects.get()
    assert task.status == "succeeded" and task.rows_total == 5 and task.rows_done == 5
    result = json.loads(b"".join(api.get(body["result_url"]).streaming_content))
    assert result["predictions"] == pipeline(model_files).predict(lines).tolist()


def test_the_test_tab_says_how_a_text_file_is_read(owner_client, upload_model):
    upload_model("text_sentiment.skops", name="reviews")
    page = owner_client.get("/models/reviews/test/").content.decode()
    assert "gives one row per line: each non-empty line is one <code>text</code>" in page
    page = owner_client.post("/models/reviews/test/", {"mode": "file", "file": SimpleUploadedFile("r.txt", TEXT.encode())}).content.decode()
    assert page.count('mono prediction">') == 3

"""A video sent to an image model: decoded, sampled (fps or every N-th frame), each frame
through the model's image preprocessing, one prediction per frame with its time; bounded."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.videos import decoded_frames_as_png, video_bytes

DIGITS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] * 3  # 30 frames at 10 fps: 3 seconds


@pytest.fixture
def digits(api, upload_model):
    # Its input is named "image": taken for one without further ado; the pixels hold 0..16 * 15.
    assert upload_model("digits_image_input.onnx", name="digits").status_code == 201
    assert api.patch("/api/v1/models/digits", {"preprocessing": {"scale": 1 / 15}}, format="json").status_code == 200


@pytest.fixture(scope="module")
def clip():
    return video_bytes(DIGITS)


def frame_by_frame(api, clip, times):
    """What the model answers for the same frames sent one by one as PNG images."""
    answers = []
    for t, png in decoded_frames_as_png(clip):
        if any(abs(t - wanted) < 1e-6 for wanted in times):
            answers.append(api.post("/api/v1/models/digits/predict", png, content_type="image/png").json()["predictions"][0])
    return answers


def test_a_video_gives_one_prediction_per_sampled_frame_with_its_time(api, digits, clip):
    response = api.post("/api/v1/models/digits/predict?fps=2", clip, content_type="video/mp4")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["timestamps"] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    assert body["sources"] == ["body.mp4"] * 6
    assert len(body["probabilities"]) == 6
    assert body["predictions"] == frame_by_frame(api, clip, body["timestamps"])


def test_every_nth_frame_is_a_form_field_beside_the_file(api, digits, clip):
    upload = SimpleUploadedFile("clip.mp4", clip)
    body = api.post("/api/v1/models/digits/predict", {"file": upload, "every_n_frames": "10"}, format="multipart").json()
    assert body["timestamps"] == [0.0, 1.0, 2.0]
    assert body["sources"] == ["clip.mp4"] * 3
    assert body["predictions"] == frame_by_frame(api, clip, [0.0, 1.0, 2.0])


def test_without_a_choice_one_frame_a_second_is_taken(api, digits, clip):
    body = api.post("/api/v1/models/digits/predict", clip, content_type="video/mp4").json()
    assert body["timestamps"] == [0.0, 1.0, 2.0]


def test_a_webm_video_is_read_too(api, digits):
    clip = video_bytes(DIGITS[:10], container="webm")
    upload = SimpleUploadedFile("clip.webm", clip)
    body = api.post("/api/v1/models/digits/predict", {"file": upload, "fps": "5"}, format="multipart").json()
    assert body["timestamps"] == [0.0, 0.2, 0.4, 0.6, 0.8]
    assert body["predictions"] == frame_by_frame(api, clip, body["timestamps"])


@pytest.mark.parametrize(
    "setting, value, query, limit",
    [
        ("MLSERVE_VIDEO_MAX_FRAMES", 5, "fps=10", "MLSERVE_VIDEO_MAX_FRAMES"),
        ("MLSERVE_VIDEO_MAX_SECONDS", 2, "fps=1", "MLSERVE_VIDEO_MAX_SECONDS"),
        ("MLSERVE_VIDEO_MAX_PIXELS", 500, "fps=1", "MLSERVE_VIDEO_MAX_PIXELS"),
    ],
)
def test_a_video_over_a_limit_is_413_with_the_limit(api, digits, clip, settings, setting, value, query, limit):
    setattr(settings, setting, value)
    response = api.post(f"/api/v1/models/digits/predict?{query}", clip, content_type="video/mp4")
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "video_too_large"
    assert error["details"]["limit"] == limit and error["details"]["max"] == value
    assert limit in error["message"]


def test_more_frames_than_a_request_may_have_rows_is_413(api, digits, clip, settings):
    settings.MLSERVE_MAX_ROWS_PER_REQUEST = 4
    response = api.post("/api/v1/models/digits/predict?fps=2", clip, content_type="video/mp4")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_many_rows"


@pytest.mark.parametrize(
    "query, words",
    [("fps=0", "fps"), ("every_n_frames=0", "every_n_frames"), ("fps=2&every_n_frames=3", "not both"), ("fps=abc", "fps")],
)
def test_bad_sampling_is_400(api, digits, clip, query, words):
    response = api.post(f"/api/v1/models/digits/predict?{query}", clip, content_type="video/mp4")
    assert response.status_code == 400
    assert words in response.json()["error"]["message"]


@pytest.mark.parametrize("cut", ["truncated", "header only"])
def test_a_damaged_video_is_400(api, digits, clip, cut):
    data = clip[: len(clip) // 2] if cut == "truncated" else clip[:64] + b"\x00" * 512
    response = api.post("/api/v1/models/digits/predict", data, content_type="video/mp4")
    assert response.status_code == 400
    assert "video" in response.json()["error"]["message"]


def test_a_model_that_takes_no_images_refuses_videos(api, upload_model, clip):
    upload_model("iris_logreg.skops", name="iris")
    response = api.post("/api/v1/models/iris/predict", clip, content_type="video/mp4")
    assert response.status_code == 400
    assert "does not take images" in response.json()["error"]["message"]


def test_the_test_tab_takes_a_video_and_shows_each_frames_time(owner_client, digits, clip):
    page = owner_client.get("/models/digits/test/").content.decode()
    assert 'name="fps"' in page and 'name="every_n_frames"' in page
    page = owner_client.post(
        "/models/digits/test/", {"mode": "file", "fps": "1", "file": SimpleUploadedFile("clip.mp4", clip)}
    ).content.decode()
    assert page.count('class="mono small timestamp"') == 3
    assert "2.000 s" in page


def test_a_video_task_answers_each_frame_with_its_time_in_json_and_csv(api, upload_model, inline_queue, django_capture_on_commit_callbacks, clip):
    assert upload_model("digits_image_input.onnx", name="digits").status_code == 201
    api.patch("/api/v1/models/digits", {"preprocessing": {"scale": 1 / 15}}, format="json")
    assert api.post("/api/v1/deployments", {"name": "reader", "model": "digits"}, format="json").status_code == 201
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/deployments/reader/tasks", {"file": SimpleUploadedFile("clip.mp4", clip), "fps": "2"}, format="multipart")
    assert response.status_code == 202, response.json()
    status = api.get(response.json()["status_url"]).json()
    assert status["status"] == "succeeded"
    assert status["progress"]["rows_done"] == status["progress"]["rows_total"] == 6
    import json

    result = json.loads(b"".join(api.get(response.json()["result_url"]).streaming_content))
    assert result["timestamps"] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    assert result["sources"] == ["clip.mp4"] * 6
    sync = api.post("/api/v1/deployments/reader/predict?fps=2", clip, content_type="video/mp4").json()
    assert result["predictions"] == sync["predictions"]
    csv_text = b"".join(api.get(response.json()["result_url"] + "?format=csv").streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert list(rows[0])[:4] == ["source", "timestamp", "prediction", "probability(0)"]
    assert [float(r["timestamp"]) for r in rows] == result["timestamps"]
    assert [int(r["prediction"]) for r in rows] == sync["predictions"] and {r["source"] for r in rows} == {"clip.mp4"}

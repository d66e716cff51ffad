"""The Test tab after a file or a failed request: a summary of the answer with its CSV, every
missing field named, a note to choose a file again; on a deployment, a failed batch file
leaves the single-request panel on its form."""

import csv
import io
from urllib.parse import unquote

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile


@pytest.fixture
def tree(upload_model):
    assert upload_model("tree_iris.pmml", name="tree").status_code == 201


def flowers(n: int) -> SimpleUploadedFile:
    lines = ["petal_length,petal_width"] + [("1.4,0.2", "4.5,1.5", "6.0,2.5")[i % 3] for i in range(n)]
    return SimpleUploadedFile("flowers.csv", ("\n".join(lines) + "\n").encode(), content_type="text/csv")


def test_a_file_answer_is_summarised_with_class_counts_and_a_full_csv(owner_client, tree):
    page = owner_client.post("/models/tree/test/", {"mode": "file", "file": flowers(150)}).content.decode()
    assert 'id="result-summary"' in page and "150 rows" in page
    assert '<td class="mono">setosa</td><td class="text-end">50</td>' in page
    assert 'data-page-size="20"' in page and 'id="result-pager"' in page
    href = page.split('id="download-result" download="predictions.csv" href="data:text/csv;charset=utf-8,', 1)[1].split('"', 1)[0]
    rows = list(csv.reader(io.StringIO(unquote(href))))
    assert rows[0][:2] == ["row", "prediction"] and len(rows) == 151


def test_an_empty_form_names_every_missing_field(owner_client, tree):
    page = owner_client.post("/models/tree/test/", {"mode": "form", "petal_length": "", "petal_width": ""}).content.decode()
    assert "Missing required fields: petal_length, petal_width" in page


def test_a_failed_file_says_to_choose_it_again(owner_client, tree):
    bad = SimpleUploadedFile("bad.csv", b"nothing,here\n1,2\n", content_type="text/csv")
    page = owner_client.post("/models/tree/test/", {"mode": "file", "file": bad}).content.decode()
    assert 'id="test-error"' in page and "choose it again" in page


def test_a_failed_batch_file_leaves_the_single_request_form_active(owner_client, deploy):
    deploy("iris_logreg.skops", "iris")
    bad = SimpleUploadedFile("bad.csv", b"nothing,here\n1,2\n", content_type="text/csv")
    page = owner_client.post("/deployments/iris/test/", {"mode": "batch", "file": bad}).content.decode()
    assert 'class="tab-pane fade show active" id="mode-form"' in page
    assert 'id="tab-form"' in page and "choose it again" in page

"""models_registry.files on its own: sniffing, table/JSON lines/text chunking, ZIP safety and
the request reader, with inputs built in memory (no HTTP, no database)."""

import io
import zipfile

import numpy as np
import pytest

from core.errors import InvalidInput, TooLarge
from models_registry import files
from models_registry.files import (
    _column_mapping,
    count_rows,
    file_kind,
    iter_file,
    iter_json_lines,
    iter_table,
    iter_text_lines,
    member_infos,
    read_request_file,
    sniff_delimiter,
)
from models_registry.schema import Field

AB = [Field(name="a", type="double"), Field(name="b", type="double")]
TEXT = [Field(name="text", type="string")]
IMAGE = [Field(name="image", type="tensor(float)", shape=[1, 8, 8])]


def text_stream(text: str) -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BytesIO(text.encode()), encoding="utf-8-sig", newline="")


def zip_bytes(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return buffer.getvalue()


def png(shade: int = 0) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (8, 8), color=shade).save(buffer, format="PNG")
    return buffer.getvalue()


def rows_csv(n: int, start: int = 0) -> str:
    return "a,b\n" + "".join(f"{i},{i * 10}\n" for i in range(start, start + n))


def column(parsed, name: str) -> list:
    return parsed.batch.columns[name].tolist()


# ---- file_kind ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "head, name, kind",
    [
        (b"PK\x03\x04\x14\x00", "rows.csv", "zip"),
        (b"PK\x05\x06" + b"\x00" * 18, "empty.zip", "zip"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "rows.csv", "image"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "upload", "image"),
        (b"GIF89a\x01\x00", "upload", "image"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "upload", "image"),
        (b"\x00\x00\x00\x18ftypmp42", "clip", "video"),
        (b"\x1a\x45\xdf\xa3\x9f", "clip.webm", "video"),
        (b"a,b\n1,2\n", "rows.jsonl", "jsonl"),
        (b"a,b\n1,2\n", "rows.NDJSON", "jsonl"),
        (b'{"inputs": {"a": 1}}', "body.json", "json"),
        (b"a,b\n1,2\n", "notes.txt", "text"),
        (b'{"a": 1}\n{"a": 2}\n', "upload", "jsonl"),
        (b'\xef\xbb\xbf  {"a": 1}\n{"a": 2}', "upload", "jsonl"),
        (b'{\n  "inputs": {"a": 1}\n}\n', "upload", "json"),
        (b'{"inputs": {"a": 1}}', "upload", "json"),
        (b"a,b\n1,2\n", "upload", "csv"),
        (b"a,b\n1,2\n", "", "csv"),
    ],
)
def test_the_kind_of_a_file_is_told_by_its_head_bytes_then_its_name(head, name, kind):
    assert file_kind(head, name) == kind


def test_a_riff_file_that_is_not_webp_is_not_taken_for_an_image():
    assert file_kind(b"RIFF\x24\x00\x00\x00WAVEfmt ", "sound") == "csv"


# ---- sniff_delimiter ---------------------------------------------------------------


@pytest.mark.parametrize(
    "sample, delimiter",
    [
        ("a,b,c\n1,2,3\n4,5,6\n", ","),
        ("a\tb\tc\n1\t2\t3\n", "\t"),
        ("a;b\n1,5;2,5\n3,5;4,5\n", ";"),
        ("a|b\n1|2\n", "|"),
    ],
)
def test_the_delimiter_is_sniffed_among_comma_tab_semicolon_and_pipe(sample, delimiter):
    assert sniff_delimiter(sample) == delimiter


def test_a_single_column_falls_back_to_a_comma():
    assert sniff_delimiter("value\n1\n2\n") == ","


def test_when_the_sniffer_gives_up_the_commonest_delimiter_of_the_first_line_wins():
    # Rows of different widths defeat csv.Sniffer; the header still says ';'.
    assert sniff_delimiter("a;b;c;d\n1\n2;3\n") == ";"


# ---- _column_mapping ----------------------------------------------------------------


def test_headers_matching_the_fields_exactly_are_mapped_and_the_rest_ignored():
    mapping, ignored = _column_mapping(["id", "a", "b", "target"], AB, "rows.csv")
    assert mapping == {"a": "a", "b": "b"}
    assert ignored == ["id", "target"]


def test_headers_match_the_fields_ignoring_case_and_surrounding_spaces():
    mapping, ignored = _column_mapping([" A ", "B"], AB, "rows.csv")
    assert mapping == {" A ": "a", "B": "b"}
    assert ignored == []


def test_a_field_is_fed_by_one_column_only_and_a_second_loose_match_is_ignored():
    mapping, ignored = _column_mapping(["a", "A ", "b"], AB, "rows.csv")
    assert mapping == {"a": "a", "b": "b"}
    assert ignored == ["A "]


def test_an_exact_header_wins_over_an_earlier_one_that_matches_only_ignoring_case():
    mapping, ignored = _column_mapping(["A", "a", "b"], AB, "rows.csv")
    assert mapping == {"a": "a", "b": "b"}
    assert ignored == ["A"]


def test_a_missing_column_is_an_error_naming_it_and_the_columns_the_file_has():
    with pytest.raises(InvalidInput) as caught:
        list(iter_table(text_stream("a,id\n1,7\n"), AB, "rows.csv", 100))
    error = caught.value
    assert error.code == "missing_columns"
    assert error.message == "rows.csv: missing column(s) b. The file has: a, id."
    assert error.details == {"missing_columns": ["b"], "columns": ["a", "id"]}


def test_a_missing_optional_column_is_not_an_error():
    fields = [Field(name="a", type="double"), Field(name="b", type="double", required=False)]
    (parsed,) = iter_table(text_stream("a\n1\n2\n"), fields, "rows.csv", 100)
    assert column(parsed, "a") == [1.0, 2.0]
    assert np.isnan(parsed.batch.columns["b"]).all()


# ---- iter_table ---------------------------------------------------------------------


def test_a_table_is_read_in_chunks_of_at_most_chunk_rows_rows():
    chunks = list(iter_table(text_stream(rows_csv(5)), AB, "rows.csv", 2))
    assert [c.batch.n_rows for c in chunks] == [2, 2, 1]
    assert [column(c, "a") for c in chunks] == [[0.0, 1.0], [2.0, 3.0], [4.0]]
    assert column(chunks[2], "b") == [40.0]


def test_every_chunk_lists_the_ignored_columns_and_keeps_the_rows_as_sent():
    chunks = list(iter_table(text_stream("id,a,b\nx,1,2\ny,3,4\nz,5,6\n"), AB, "rows.csv", 2))
    assert [c.ignored_fields for c in chunks] == [["id"], ["id"]]
    assert chunks[1].raw["id"].tolist() == ["z"]


def test_a_bad_value_in_a_later_chunk_is_reported_with_its_row_in_the_whole_file():
    text = "a,b\n0,0\n1,1\n2,2\nseven,3\n"
    chunks = iter_table(text_stream(text), AB, "rows.csv", 2)
    assert next(chunks).batch.n_rows == 2
    with pytest.raises(InvalidInput) as caught:
        next(chunks)
    assert caught.value.details == {"fields": {"a": "expected a number, got 'seven'"}, "row": 3}
    assert "in row 3" in caught.value.message


def test_a_tab_separated_file_is_read_as_a_table():
    (parsed,) = iter_table(text_stream("a\tb\n1.5\t2.5\n"), AB, "rows.tsv", 100)
    assert column(parsed, "a") == [1.5]
    assert column(parsed, "b") == [2.5]


def test_a_headerless_file_with_one_number_per_field_takes_the_fields_in_order():
    (parsed,) = iter_table(text_stream("1,2\n3,4\n"), AB, "rows.csv", 100)
    assert column(parsed, "a") == [1.0, 3.0]
    assert column(parsed, "b") == [2.0, 4.0]


def test_a_headerless_file_of_another_width_asks_for_a_header_naming_the_fields():
    with pytest.raises(InvalidInput) as caught:
        list(iter_table(text_stream("1,2,3\n"), AB, "rows.csv", 100))
    assert caught.value.code == "invalid_file"
    assert caught.value.message == "rows.csv: the first line has no column names. Add a header line with the field names: a, b"


def test_a_headerless_file_feeds_a_vector_input_column_by_column():
    vector = [Field(name="x", type="tensor(double)", shape=[3])]
    (parsed,) = iter_table(text_stream("1,2,3\n4,5,6\n"), vector, "rows.csv", 100)
    assert parsed.batch.columns["x"].tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]


@pytest.mark.parametrize(
    "text, code, message",
    [
        ("", "empty_input", "rows.csv: the file is empty; send a header line and at least one row."),
        ("  \n\n", "empty_input", "rows.csv: the file is empty; send a header line and at least one row."),
        ("a,b\n", "empty_input", "rows.csv: the file has a header but no rows."),
    ],
)
def test_an_empty_table_is_refused_saying_what_is_missing(text, code, message):
    with pytest.raises(InvalidInput) as caught:
        list(iter_table(text_stream(text), AB, "rows.csv", 100))
    assert (caught.value.code, caught.value.message) == (code, message)


def test_a_row_with_too_many_cells_is_a_malformed_csv_naming_the_line():
    with pytest.raises(InvalidInput) as caught:
        list(iter_table(text_stream("a,b\n1,2\n3,4,5\n"), AB, "rows.csv", 100))
    assert caught.value.code == "invalid_file"
    assert caught.value.message.startswith("rows.csv: the CSV is malformed: ")
    assert "line 3" in caught.value.message


# ---- iter_json_lines ----------------------------------------------------------------


def test_json_lines_are_read_in_chunks_skipping_blank_lines():
    text = '{"a": 1, "b": 2}\n\n{"a": 3, "b": 4}\n{"a": 5, "b": 6}\n'
    chunks = list(iter_json_lines(text_stream(text), AB, "rows.jsonl", 2))
    assert [c.batch.n_rows for c in chunks] == [2, 1]
    assert [column(c, "a") for c in chunks] == [[1.0, 3.0], [5.0]]
    assert chunks[1].raw.to_dict("records") == [{"a": 5, "b": 6}]


def test_a_line_that_is_not_json_is_named_by_its_line_number_blank_lines_counted():
    text = '{"a": 1, "b": 2}\n\n{"a": 3, "b":\n'
    with pytest.raises(InvalidInput) as caught:
        list(iter_json_lines(text_stream(text), AB, "rows.jsonl", 100))
    assert caught.value.code == "invalid_file"
    assert caught.value.message.startswith("rows.jsonl: line 3 is not valid JSON: ")


def test_a_bad_json_line_in_a_later_chunk_is_reported_with_its_row_in_the_whole_file():
    text = "".join(f'{{"a": {i}, "b": 0}}\n' for i in range(3)) + '{"a": "x", "b": 0}\n'
    with pytest.raises(InvalidInput) as caught:
        list(iter_json_lines(text_stream(text), AB, "rows.jsonl", 2))
    assert caught.value.details["row"] == 3
    assert caught.value.details["fields"] == {"a": "expected a number, got 'x'"}


def test_json_lines_that_fill_whole_chunks_end_without_an_empty_one():
    text = "".join(f'{{"a": {i}, "b": 0}}\n' for i in range(4))
    chunks = list(iter_json_lines(text_stream(text), AB, "rows.jsonl", 2))
    assert [c.batch.n_rows for c in chunks] == [2, 2]


def test_a_json_lines_file_without_lines_is_refused():
    with pytest.raises(InvalidInput) as caught:
        list(iter_json_lines(text_stream("\n \n"), AB, "rows.jsonl", 100))
    assert (caught.value.code, caught.value.message) == ("empty_input", "rows.jsonl: the file holds no JSON lines.")


# ---- iter_text_lines ----------------------------------------------------------------


def test_each_non_empty_line_of_a_text_is_one_row_commas_and_all():
    lines = ["good, not great\r\n", "\n", "   \n", "awful\n", "fine"]
    (parsed,) = iter_text_lines(lines, TEXT, "notes.txt", 100)
    assert column(parsed, "text") == ["good, not great", "awful", "fine"]


def test_text_lines_are_chunked():
    chunks = list(iter_text_lines([f"line {i}\n" for i in range(5)], TEXT, "notes.txt", 2))
    assert [column(c, "text") for c in chunks] == [["line 0", "line 1"], ["line 2", "line 3"], ["line 4"]]


def test_a_text_of_blank_lines_is_refused():
    with pytest.raises(InvalidInput) as caught:
        list(iter_text_lines(["\n", "  \n"], TEXT, "notes.txt", 100))
    assert (caught.value.code, caught.value.message) == ("empty_input", "notes.txt: the file has no text.")


def test_a_text_file_for_a_one_text_model_is_read_line_by_line_by_iter_file():
    source = io.BytesIO(b"a, b and c\nd\n")
    (parsed,) = iter_file(source, "notes.txt", TEXT, None, 100)
    assert column(parsed, "text") == ["a, b and c", "d"]
    assert not source.closed  # the caller's file stays open


# ---- iter_file: other kinds and bad bytes --------------------------------------------


def test_a_json_file_is_read_as_a_request_body():
    source = io.BytesIO(b'{"inputs": [{"a": 1, "b": 2}, {"a": 3, "b": 4}]}')
    (parsed,) = iter_file(source, "body.json", AB, None, 100)
    assert column(parsed, "a") == [1.0, 3.0]


def test_a_json_file_that_does_not_parse_says_where():
    with pytest.raises(InvalidInput) as caught:
        list(iter_file(io.BytesIO(b'{"inputs":\n [1,}'), "body.json", AB, None, 100))
    assert caught.value.code == "invalid_file"
    assert caught.value.message.startswith("body.json: not valid JSON (")
    assert "at line 2)" in caught.value.message


@pytest.mark.parametrize(
    "data, message",
    [
        (b"a,b\n\x00\x01\x02", "rows.csv: this is a binary file, not text; send a CSV, JSON lines, text or an image."),
        (b"", "rows.csv: the file is empty."),
    ],
)
def test_a_binary_or_empty_file_is_refused(data, message):
    with pytest.raises(InvalidInput) as caught:
        list(iter_file(io.BytesIO(data), "rows.csv", AB, None, 100))
    assert caught.value.message == message


def test_a_text_that_is_not_utf8_is_refused_with_the_position():
    with pytest.raises(InvalidInput) as caught:
        list(iter_file(io.BytesIO(b"a,b\n1,\xff\n"), "rows.csv", AB, None, 100))
    assert caught.value.code == "invalid_file"
    assert caught.value.message == "rows.csv: the text is not UTF-8 (position 6); save the file as UTF-8."


def test_an_image_is_one_row_tagged_with_its_name():
    (parsed,) = iter_file(io.BytesIO(png(255)), "cat.png", IMAGE, None, 100)
    assert parsed.batch.n_rows == 1
    assert parsed.batch.columns["image"].shape == (1, 1, 8, 8)
    assert np.allclose(parsed.batch.columns["image"], 1.0)  # 255 scaled by 1/255
    assert parsed.row_sources == ["cat.png"]


def test_an_image_for_a_model_without_an_image_input_is_refused_naming_the_inputs():
    with pytest.raises(InvalidInput) as caught:
        list(iter_file(io.BytesIO(png()), "cat.png", AB, None, 100))
    assert caught.value.message == "This model does not take images: its inputs are a (double), b (double)."


# ---- ZIP archives -------------------------------------------------------------------


@pytest.mark.parametrize("unsafe", ["../x.csv", "a/../../x.csv", "/etc/x.csv", "..\\x.csv", "C:/x.csv"])
def test_a_zip_member_with_a_parent_or_absolute_path_is_refused(unsafe):
    archive = zipfile.ZipFile(io.BytesIO(zip_bytes({"ok.csv": b"a,b\n1,2\n", unsafe: b"a,b\n1,2\n"})))
    with pytest.raises(InvalidInput) as caught:
        member_infos(archive, "rows.zip")
    assert caught.value.code == "invalid_file"
    assert caught.value.message == (
        f"rows.zip: the ZIP has unsafe member names ({unsafe}): absolute paths and '..' are refused."
    )


def test_zip_folders_and_macos_metadata_are_not_members():
    data = zip_bytes({"rows/": b"", "rows/part-1.csv": b"a,b\n", "__MACOSX/rows/._part-1.csv": b"\x00"})
    infos = member_infos(zipfile.ZipFile(io.BytesIO(data)), "rows.zip")
    assert [i.filename for i in infos] == ["rows/part-1.csv"]


def test_a_zip_with_more_members_than_the_cap_is_refused(settings):
    settings.MLSERVE_ZIP_MAX_MEMBERS = 2
    data = zip_bytes({f"{i}.csv": b"a,b\n1,2\n" for i in range(3)})
    with pytest.raises(TooLarge) as caught:
        member_infos(zipfile.ZipFile(io.BytesIO(data)), "rows.zip")
    assert (caught.value.status_code, caught.value.code) == (413, "zip_too_large")
    assert caught.value.message == "rows.zip: the ZIP has 3 files; at most 2 are accepted."


class _Spy(files._Budget):
    """_Budget that keeps the archive's running total where a test can read it."""

    totals: list = []

    def __init__(self, member, name, spent, limit):
        super().__init__(member, name, spent, limit)
        _Spy.totals = spent


@pytest.fixture
def budget_spy(monkeypatch):
    monkeypatch.setattr(files, "_Budget", _Spy)
    _Spy.totals = [0]
    return _Spy


def test_a_zip_bomb_is_refused_once_its_inflated_bytes_pass_the_cap_without_being_read_whole(settings, budget_spy):
    settings.MLSERVE_ZIP_MAX_BYTES = 2_000_000
    inflated = b"a,b\n" + b"1,2\n" * 4_000_000  # 16 MB of rows, a few KB compressed
    data = zip_bytes({"bomb.csv": inflated})
    assert len(data) < 100_000
    with pytest.raises(TooLarge) as caught:
        for _ in iter_file(io.BytesIO(data), "rows.zip", AB, None, chunk_rows=10_000_000):
            pass
    assert (caught.value.status_code, caught.value.code) == (413, "zip_too_large")
    assert caught.value.message == "rows.zip: the ZIP unpacks to more than 2 MB."
    assert 2_000_000 < budget_spy.totals[0] < 2_000_000 + (1 << 20)


def test_the_inflate_budget_is_shared_by_all_members_of_the_zip(settings):
    settings.MLSERVE_ZIP_MAX_BYTES = 1_500_000
    part = rows_csv(100_000).encode()  # ~1.1 MB each: each fits, both do not
    assert len(part) < settings.MLSERVE_ZIP_MAX_BYTES < 2 * len(part)
    with pytest.raises(TooLarge) as caught:
        list(iter_file(io.BytesIO(zip_bytes({"1.csv": part, "2.csv": part})), "rows.zip", AB, None, 1_000_000))
    assert caught.value.code == "zip_too_large"


def test_an_image_bomb_inside_a_zip_is_refused_by_the_same_budget(settings):
    settings.MLSERVE_ZIP_MAX_BYTES = 1_000_000
    data = zip_bytes({"big.png": png() + b"\x00" * 3_000_000})
    with pytest.raises(TooLarge) as caught:
        list(iter_file(io.BytesIO(data), "images.zip", IMAGE, None, 100))
    assert caught.value.message == "images.zip: the ZIP unpacks to more than 1 MB."


def test_the_rows_of_each_zip_member_are_tagged_with_its_name():
    data = zip_bytes({"north.csv": rows_csv(2).encode(), "south.jsonl": b'{"a": 9, "b": 9}\n'})
    chunks = list(iter_file(io.BytesIO(data), "rows.zip", AB, None, 100))
    assert [c.row_sources for c in chunks] == [["north.csv", "north.csv"], ["south.jsonl"]]
    assert [column(c, "a") for c in chunks] == [[0.0, 1.0], [9.0]]


def test_the_images_of_a_zip_are_chunked_and_tagged_with_their_names():
    data = zip_bytes({f"{i}.png": png(i) for i in range(3)})
    chunks = list(iter_file(io.BytesIO(data), "images.zip", IMAGE, None, 2))
    assert [c.row_sources for c in chunks] == [["0.png", "1.png"], ["2.png"]]
    assert [c.batch.columns["image"].shape for c in chunks] == [(2, 1, 8, 8), (1, 1, 8, 8)]


@pytest.mark.parametrize("members", [{"a.png": png(), "b.csv": b"a,b\n1,2\n"}, {"b.csv": b"a,b\n1,2\n", "a.png": png()}])
def test_a_zip_mixing_images_and_tables_is_refused_naming_the_member(members):
    with pytest.raises(InvalidInput) as caught:
        list(iter_file(io.BytesIO(zip_bytes(members)), "mixed.zip", AB, None, 100))
    second = list(members)[1]
    assert caught.value.message == f"mixed.zip: a mix of images and other files ({second}); a ZIP holds images, or tables, not both."


@pytest.mark.parametrize(
    "data, code, message",
    [
        (b"PK\x03\x04 not really a zip", "invalid_file", "rows.zip: the ZIP archive is damaged (File is not a zip file)."),
        (zip_bytes({}), "empty_input", "rows.zip: the ZIP archive is empty."),
        (zip_bytes({"x.csv": b"a,b\n1,\xff\n"}), "invalid_file", "rows.zip: a member is not UTF-8 text (position 6)."),
    ],
)
def test_a_damaged_empty_or_non_utf8_zip_is_refused(data, code, message):
    with pytest.raises(InvalidInput) as caught:
        list(iter_file(io.BytesIO(data), "rows.zip", AB, None, 100))
    assert (caught.value.code, caught.value.message) == (code, message)


# ---- read_request_file --------------------------------------------------------------


def test_a_request_file_of_exactly_max_rows_rows_is_read_as_one_batch():
    parsed = read_request_file(io.BytesIO(rows_csv(3).encode()), "rows.csv", AB, None, max_rows=3)
    assert parsed.batch.n_rows == 3
    assert column(parsed, "b") == [0.0, 10.0, 20.0]


def test_a_request_file_of_max_rows_plus_one_rows_is_refused_naming_the_limit():
    with pytest.raises(TooLarge) as caught:
        read_request_file(io.BytesIO(rows_csv(4).encode()), "rows.csv", AB, None, max_rows=3)
    error = caught.value
    assert (error.status_code, error.code) == (413, "too_many_rows")
    assert error.message.startswith("This request has 4 rows; at most 3 are accepted per request.")
    assert error.details == {"rows": 4, "max_rows": 3}


def test_the_row_limit_counts_the_rows_of_every_zip_member():
    data = zip_bytes({"1.csv": rows_csv(2).encode(), "2.csv": rows_csv(2).encode()})
    with pytest.raises(TooLarge) as caught:
        read_request_file(io.BytesIO(data), "rows.zip", AB, None, max_rows=3)
    assert caught.value.details == {"rows": 4, "max_rows": 3}


def test_the_members_of_a_zip_request_become_one_batch_with_their_sources():
    data = zip_bytes({"1.csv": b"id,a,b\nx,1,2\n", "2.csv": b"a,b,note\n3,4,y\n"})
    parsed = read_request_file(io.BytesIO(data), "rows.zip", AB, None, max_rows=10)
    assert parsed.batch.n_rows == 2
    assert column(parsed, "a") == [1.0, 3.0]
    assert parsed.row_sources == ["1.csv", "2.csv"]
    assert parsed.ignored_fields == ["id", "note"]
    assert parsed.raw["a"].tolist() == [1, 3]


def test_a_huge_member_of_a_request_zip_stops_at_the_row_limit_long_before_the_byte_cap(budget_spy):
    """The 413 comes from the rows read so far: the member is never inflated whole."""
    inflated = b"a,b\n" + b"1,2\n" * 4_000_000  # 16 MB
    with pytest.raises(TooLarge) as caught:
        read_request_file(io.BytesIO(zip_bytes({"big.csv": inflated})), "rows.zip", AB, None, max_rows=10)
    assert caught.value.code == "too_many_rows"
    assert budget_spy.totals[0] < 2 * (1 << 20)


def test_a_request_file_can_be_a_path(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text(rows_csv(2))
    parsed = read_request_file(str(path), "rows.csv", AB, None, max_rows=10)
    assert column(parsed, "a") == [0.0, 1.0]


# ---- count_rows ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, data, fields, rows",
    [
        ("rows.csv", rows_csv(3).encode(), AB, 3),
        ("rows.csv", rows_csv(3).encode().rstrip(b"\n"), AB, 3),
        ("rows.jsonl", b'{"a": 1}\n\n{"a": 2}\n  \n{"a": 3}', AB, 3),
        ("notes.txt", b"one\n\ntwo, three\n", TEXT, 2),
        ("cat.png", png(), IMAGE, 1),
        ("images.zip", zip_bytes({f"{i}.png": png() for i in range(4)}), IMAGE, 4),
        ("rows.zip", zip_bytes({"1.csv": rows_csv(3).encode()}), AB, None),
        ("body.json", b'{"inputs": [{"a": 1}]}', AB, None),
        ("bad.zip", b"PK\x03\x04 not really a zip", AB, None),
    ],
)
def test_rows_are_counted_without_parsing_or_unknown(tmp_path, name, data, fields, rows):
    path = tmp_path / name
    path.write_bytes(data)
    assert count_rows(path, name, fields=fields) == rows


def test_a_table_sent_as_a_txt_file_counts_the_rows_its_reader_yields_not_its_header(tmp_path):
    path = tmp_path / "rows.txt"
    path.write_text(rows_csv(3))
    read = sum(p.batch.n_rows for p in iter_file(str(path), "rows.txt", AB, None, 100))
    assert read == 3
    assert count_rows(path, "rows.txt", fields=AB) == 3

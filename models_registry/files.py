"""Files sent for prediction: CSV/TSV, JSON lines, text, images, videos and ZIPs of those.

The kind is told from the content (and the name as a hint). Tables are read in
chunks so that a batch job never holds a large file in memory; a request reads
one chunk of at most its row limit.
"""

import csv
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import PurePosixPath

import numpy as np
import pandas as pd
from django.conf import settings

from mlserve.errors import InvalidInput, TooLarge
from models_registry import images, video
from models_registry.inputs import (
    ParsedInput,
    batch_from_columns,
    check_row_limit,
    parse_json_body,
    parse_records,
    vector_field,
)
from models_registry.runtimes import Batch
from models_registry.schema import Field

DELIMITERS = ",\t;|"
TEXT_EXTENSIONS = {".txt", ".text"}
JSONL_EXTENSIONS = {".jsonl", ".ndjson"}


def _decode(data: bytes, name: str) -> str:
    if b"\x00" in data[:8192]:
        raise InvalidInput(f"{name}: this is a binary file, not text; send a CSV, JSON lines, text or an image.", code="invalid_file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"{name}: the text is not UTF-8 (byte 0x{data[exc.start]:02x} at position {exc.start}); save the file as UTF-8.",
            code="invalid_file",
        ) from None


def file_kind(head: bytes, name: str) -> str:
    suffix = PurePosixPath(name or "").suffix.lower()
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if images.looks_like_image(head):
        return "image"
    if video.looks_like_video(head):
        return "video"
    if suffix in JSONL_EXTENSIONS:
        return "jsonl"
    if suffix == ".json":
        return "json"
    if suffix in TEXT_EXTENSIONS:
        return "text"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"{"):
        first_line = stripped.split(b"\n", 1)[0].strip()
        return "jsonl" if first_line.endswith(b"}") and b"\n" in stripped else "json"
    return "csv"


# ---- tables ----------------------------------------------------------------------


def sniff_delimiter(sample: str) -> str:
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        first = sample.split("\n", 1)[0]
        counts = {d: first.count(d) for d in DELIMITERS}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _column_mapping(header: list[str], fields: list[Field], name: str) -> tuple[dict[str, str], list[str]]:
    """File column -> field name, matching exactly, then ignoring case and spaces."""
    by_name = {f.name: f.name for f in fields}
    loose = {f.name.strip().lower(): f.name for f in fields}
    mapping = {}
    for column in header:
        target = by_name.get(column) or loose.get(str(column).strip().lower())
        if target and target not in mapping.values():
            mapping[column] = target
    ignored = [c for c in header if c not in mapping]
    return mapping, ignored


def _frame_to_parsed(frame: pd.DataFrame, fields: list[Field], first_row: int, mapping, ignored) -> ParsedInput:
    if vector_field(fields) is not None and not mapping:
        columns = {c: frame[c].to_numpy() for c in frame.columns}  # stacked into the vector input
        ignored = []
    else:
        columns = {mapping[c]: frame[c].to_numpy() for c in frame.columns if c in mapping}
    parsed = batch_from_columns(columns, len(frame), fields, first_row)
    parsed.ignored_fields = [str(c) for c in ignored]
    parsed.raw = frame
    return parsed


def _read_csv_chunks(text_stream, fields: list[Field], name: str, chunk_rows: int) -> Iterator[tuple[pd.DataFrame, int]]:
    sample = text_stream.read(65536)
    if not sample.strip():
        raise InvalidInput(f"{name}: the file is empty; send a header line and at least one row.", code="empty_input")
    delimiter = sniff_delimiter(sample)
    first_line = sample.splitlines()[0] if sample.splitlines() else ""
    header_cells = next(csv.reader([first_line], delimiter=delimiter))
    headerless = all(_is_number(c) for c in header_cells if c.strip())
    text_stream.seek(0)
    names = None
    if headerless:
        vector = vector_field(fields)
        if vector is None and len(header_cells) == len(fields):
            names = [f.name for f in fields]
        elif vector is None:
            raise InvalidInput(
                f"{name}: the first line has no column names. Add a header line with the field names: "
                + ", ".join(f.name for f in fields),
                code="invalid_file",
            )
        else:
            names = [f"c{i}" for i in range(len(header_cells))]
    try:
        reader = pd.read_csv(
            text_stream,
            sep=delimiter,
            header=None if names else 0,
            names=names,
            chunksize=chunk_rows,
            dtype=str if any(f.type == "string" for f in fields) else None,
            keep_default_na=True,
            skipinitialspace=True,
        )
        first_row = 0
        for chunk in reader:
            yield chunk, first_row
            first_row += len(chunk)
    except pd.errors.ParserError as exc:
        raise InvalidInput(f"{name}: the CSV is malformed: {str(exc).strip()}", code="invalid_file") from None
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{name}: the text is not UTF-8 (position {exc.start}); save the file as UTF-8.", code="invalid_file") from None


def iter_table(text_stream, fields: list[Field], name: str, chunk_rows: int) -> Iterator[ParsedInput]:
    """A CSV/TSV as validated batches of at most chunk_rows rows."""
    mapping = ignored = None
    seen_rows = False
    for frame, first_row in _read_csv_chunks(text_stream, fields, name, chunk_rows):
        if mapping is None:
            mapping, ignored = _column_mapping(list(frame.columns), fields, name)
            missing = [f.name for f in fields if f.required and f.name not in mapping.values()]
            if missing and vector_field(fields) is None:
                raise InvalidInput(
                    f"{name}: missing column(s) {', '.join(missing)}. The file has: {', '.join(map(str, frame.columns))}.",
                    code="missing_columns",
                    details={"missing_columns": missing, "columns": [str(c) for c in frame.columns]},
                )
        if len(frame):
            seen_rows = True
            yield _frame_to_parsed(frame, fields, first_row, mapping, ignored)
    if not seen_rows:
        raise InvalidInput(f"{name}: the file has a header but no rows.", code="empty_input")


def iter_json_lines(text_stream, fields: list[Field], name: str, chunk_rows: int) -> Iterator[ParsedInput]:
    records, first_row, line_no = [], 0, 0
    for line_no, line in enumerate(text_stream, start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{name}: line {line_no} is not valid JSON: {exc.msg}.", code="invalid_file") from None
        if len(records) == chunk_rows:
            yield _json_records(records, fields, first_row)
            first_row += len(records)
            records = []
    if records:
        yield _json_records(records, fields, first_row)
    elif first_row == 0:
        raise InvalidInput(f"{name}: the file holds no JSON lines.", code="empty_input")


def _json_records(records: list, fields: list[Field], first_row: int) -> ParsedInput:
    parsed = parse_records(records, fields, first_row)
    if all(isinstance(r, dict) for r in records):
        parsed.raw = pd.DataFrame.from_records(records)
    return parsed


def takes_one_text(fields: list[Field]) -> bool:
    """A model with one string input reads a plain text file as one row per line (otherwise: a CSV)."""
    return len(fields) == 1 and fields[0].type == "string"


def iter_text_lines(lines, fields: list[Field], name: str, chunk_rows: int) -> Iterator[ParsedInput]:
    """Plain text for a model with one string input: each non-empty line is a row, commas and all."""
    texts, first_row = [], 0
    for line in lines:
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        texts.append(line)
        if len(texts) == chunk_rows:
            yield batch_from_columns({fields[0].name: texts}, len(texts), fields, first_row)
            first_row += len(texts)
            texts = []
    if texts:
        yield batch_from_columns({fields[0].name: texts}, len(texts), fields, first_row)
    elif first_row == 0:
        raise InvalidInput(f"{name}: the file has no text.", code="empty_input")


# ---- images and archives ---------------------------------------------------------


def _image_input(fields: list[Field]) -> Field:
    field = images.image_field(fields)
    if field is None:
        raise InvalidInput(
            "This model does not take images: its inputs are " + ", ".join(f"{f.name} ({f.type})" for f in fields) + ".",
            code="invalid_file",
        )
    return field


def parse_images(items: list[tuple[str, bytes]], fields: list[Field], config: dict | None) -> ParsedInput:
    field = _image_input(fields)
    tensors = [images.tensor_from_image_bytes(data, field, config, name) for name, data in items]
    parsed = batch_from_columns({field.name: tensors}, len(tensors), fields)
    parsed.row_sources = [name for name, _ in items]
    return parsed


def iter_video(source, name: str, fields: list[Field], config: dict | None, sampling, chunk_rows: int) -> Iterator[ParsedInput]:
    """A video's sampled frames through the model's image preprocessing, chunk_rows frames at a time."""
    field = _image_input(fields)
    config = images.require_config(field, config, name)
    stamps, tensors = [], []
    for timestamp, image in video.frames(source, name, sampling):
        stamps.append(round(timestamp, 6))
        tensors.append(images.image_to_tensor(image, config))
        if len(tensors) == chunk_rows:
            yield _video_chunk(name, stamps, tensors, fields)
            stamps, tensors = [], []
    if tensors:
        yield _video_chunk(name, stamps, tensors, fields)


def _video_chunk(name: str, stamps: list[float], tensors: list, fields: list[Field]) -> ParsedInput:
    parsed = batch_from_columns({_image_input(fields).name: tensors}, len(tensors), fields)
    parsed.row_sources = [name] * len(tensors)
    parsed.timestamps = stamps
    parsed.raw = pd.DataFrame({"source": parsed.row_sources, "timestamp": stamps})
    return parsed


def parse_video(data: bytes, name: str, fields: list[Field], config: dict | None, sampling, max_rows: int) -> ParsedInput:
    """A whole video for a synchronous request: every sampled frame, within the row limit."""
    chunks = iter_video(io.BytesIO(data), name, fields, config, sampling, max_rows + 1)
    parsed = next(chunks)
    check_row_limit(parsed.batch.n_rows, max_rows)
    chunks.close()
    return parsed


def _safe_member(name: str) -> bool:
    """Member names are never used as paths, but a ZIP carrying traversal names is hostile."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts:
        return False
    return not (path.parts and ":" in path.parts[0])  # C:/...


def member_infos(archive: zipfile.ZipFile, name: str) -> list[zipfile.ZipInfo]:
    """The archive's files (not folders or macOS metadata), within the member cap and with safe names."""
    max_members = settings.MLSERVE_ZIP_MAX_MEMBERS
    infos = [i for i in archive.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX/")]
    if len(infos) > max_members:
        raise TooLarge(f"{name}: the ZIP has {len(infos)} files; at most {max_members} are accepted.", code="zip_too_large")
    unsafe = [i.filename for i in infos if not _safe_member(i.filename)]
    if unsafe:
        raise InvalidInput(
            f"{name}: the ZIP has unsafe member names ({', '.join(unsafe[:3])}): absolute paths and '..' are refused.",
            code="invalid_file",
        )
    return infos


def read_zip_members(data_or_file, name: str) -> list[tuple[str, bytes]]:
    """(member name, bytes) of every file in the archive, within the member and size caps."""
    max_bytes = settings.MLSERVE_ZIP_MAX_BYTES
    try:
        archive = zipfile.ZipFile(io.BytesIO(data_or_file) if isinstance(data_or_file, bytes) else data_or_file)
    except zipfile.BadZipFile as exc:
        raise InvalidInput(f"{name}: the ZIP archive is damaged ({exc}).", code="invalid_file") from None
    with archive:
        infos = member_infos(archive, name)
        declared = sum(i.file_size for i in infos)
        if declared > max_bytes:
            raise TooLarge(
                f"{name}: the ZIP unpacks to {declared / 1e6:.0f} MB; at most {max_bytes / 1e6:.0f} MB is accepted.",
                code="zip_too_large",
            )
        members, total = [], 0
        for info in infos:
            try:
                with archive.open(info) as member:
                    # Never trust the declared size: read at most what is left of the budget.
                    data = member.read(max_bytes - total + 1)
            except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError) as exc:
                raise InvalidInput(f"{name}: member {info.filename!r} cannot be read ({exc}).", code="invalid_file") from None
            total += len(data)
            if total > max_bytes:
                raise TooLarge(f"{name}: the ZIP unpacks to more than {max_bytes / 1e6:.0f} MB.", code="zip_too_large")
            members.append((info.filename, data))
    if not members:
        raise InvalidInput(f"{name}: the ZIP archive is empty.", code="empty_input")
    return members


def parse_zip(data_or_file, name: str, fields: list[Field], config: dict | None, max_rows: int) -> ParsedInput:
    members = read_zip_members(data_or_file, name)
    image_members = [(n, d) for n, d in members if images.looks_like_image(d[:16])]
    if image_members and len(image_members) == len(members):
        check_row_limit(len(image_members), max_rows)
        return parse_images(image_members, fields, config)
    if image_members:
        others = [n for n, d in members if not images.looks_like_image(d[:16])]
        raise InvalidInput(
            f"{name}: mix of images and other files ({', '.join(others[:3])}); a ZIP holds images, or tables, not both.",
            code="invalid_file",
        )
    parts, sources = [], []
    for member_name, data in members:
        parsed = parse_bytes(data, member_name, fields, config, max_rows)
        parts.append(parsed)
        sources += parsed.row_sources or [member_name] * parsed.batch.n_rows
        check_row_limit(len(sources), max_rows)
    return _concat(parts, sources)


def _concat(parts: list[ParsedInput], sources: list[str]) -> ParsedInput:
    names = parts[0].batch.columns.keys()
    columns = {}
    for key in names:
        arrays = [p.batch.columns[key] for p in parts]
        columns[key] = np.concatenate(arrays) if all(a.dtype != object for a in arrays) else np.concatenate([a.astype(object) for a in arrays])
    ignored = sorted({i for p in parts for i in p.ignored_fields})
    return ParsedInput(batch=Batch(columns=columns, n_rows=len(sources)), ignored_fields=ignored, row_sources=sources)


def parse_bytes(
    data: bytes, name: str, fields: list[Field], config: dict | None, max_rows: int, sampling: video.Sampling | None = None
) -> ParsedInput:
    """One whole file, already in memory, for a synchronous request."""
    if not data:
        raise InvalidInput(f"{name}: the file is empty.", code="empty_input")
    kind = file_kind(data[:512], name)
    if kind == "zip":
        return parse_zip(data, name, fields, config, max_rows)
    if kind == "image":
        return parse_images([(name, data)], fields, config)
    if kind == "video":
        return parse_video(data, name, fields, config, sampling, max_rows)
    text = _decode(data, name)
    if kind == "json":
        try:
            body = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{name}: not valid JSON ({exc.msg} at line {exc.lineno}).", code="invalid_file") from None
        parsed = parse_json_body(body, fields, config)
        check_row_limit(parsed.batch.n_rows, max_rows)
        return parsed
    if kind == "text" and takes_one_text(fields):
        parsed = next(iter_text_lines(io.StringIO(text), fields, name, max_rows + 1))
        check_row_limit(parsed.batch.n_rows, max_rows)
        return parsed
    stream = io.StringIO(text)
    reader = iter_json_lines(stream, fields, name, max_rows + 1) if kind == "jsonl" else iter_table(stream, fields, name, max_rows + 1)
    parsed = next(reader)
    check_row_limit(parsed.batch.n_rows, max_rows)
    return parsed


# ---- files on disk, streamed (queued batch tasks) ----------------------------------


def _count_lines(binary) -> int:
    count, last = 0, b"\n"
    for block in iter(lambda: binary.read(1 << 20), b""):
        count += block.count(b"\n")
        last = block[-1:]
    return count + (0 if last == b"\n" else 1)


def count_rows(path, name: str, sampling: video.Sampling | None = None, fields: list[Field] | None = None) -> int | None:
    """Rows in a file without parsing it (one fast pass), for progress; None when unknown."""
    with open(path, "rb") as f:
        head = f.read(512)
        f.seek(0)
        kind = file_kind(head, name)
        if kind == "image":
            return 1
        if kind == "video":
            return video.count_frames(path, name, sampling)
        if kind == "text" and fields is not None and takes_one_text(fields):
            return sum(1 for line in f if line.strip())
        if kind in ("csv", "text"):
            return max(0, _count_lines(f) - (1 if kind == "csv" else 0))
        if kind == "jsonl":
            return sum(1 for line in f if line.strip())
        if kind == "zip":
            try:
                with zipfile.ZipFile(f) as archive:
                    infos = [i for i in archive.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX/")]
                    heads = {i.filename: archive.open(i).read(16) for i in infos[:1]}
            except zipfile.BadZipFile:
                return None
            if infos and all(images.looks_like_image(h) for h in heads.values()):
                return len(infos)
    return None


def _zip_chunks(path, name: str, fields: list[Field], config: dict | None, chunk_rows: int) -> Iterator[ParsedInput]:
    """Members read one at a time, within the member and size caps."""
    max_bytes = settings.MLSERVE_ZIP_MAX_BYTES
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise InvalidInput(f"{name}: the ZIP archive is damaged ({exc}).", code="invalid_file") from None
    with archive:
        infos = member_infos(archive, name)
        if not infos:
            raise InvalidInput(f"{name}: the ZIP archive is empty.", code="empty_input")
        total = 0
        pending: list[tuple[str, bytes]] = []
        first_row = 0
        for info in infos:
            with archive.open(info) as member:
                head = member.read(16)
                if images.looks_like_image(head):
                    data = head + member.read(max_bytes - total + 1)
                    total += len(data)
                    if total > max_bytes:
                        raise TooLarge(f"{name}: the ZIP unpacks to more than {max_bytes / 1e6:.0f} MB.", code="zip_too_large")
                    pending.append((info.filename, data))
                    if len(pending) == chunk_rows:
                        yield _image_chunk(pending, fields, config, first_row)
                        first_row += len(pending)
                        pending = []
                    continue
            if pending:
                raise InvalidInput(f"{name}: a ZIP holds images, or tables, not both.", code="invalid_file")
            with archive.open(info) as member:
                stream = io.TextIOWrapper(member, encoding="utf-8-sig", newline="")
                # A member is a table on its own; its rows are tagged with its name.
                text = stream.read(max_bytes - total + 1)
                total += len(text)
                if total > max_bytes:
                    raise TooLarge(f"{name}: the ZIP unpacks to more than {max_bytes / 1e6:.0f} MB.", code="zip_too_large")
            for parsed in _text_chunks(io.StringIO(text), info.filename, fields, chunk_rows):
                parsed.row_sources = [info.filename] * parsed.batch.n_rows
                yield parsed
        if pending:
            yield _image_chunk(pending, fields, config, first_row)


def _image_chunk(items, fields, config, first_row) -> ParsedInput:
    parsed = parse_images(items, fields, config)
    parsed.raw = pd.DataFrame({"source": [n for n, _ in items]})
    return parsed


def _text_chunks(stream, name: str, fields: list[Field], chunk_rows: int) -> Iterator[ParsedInput]:
    head = stream.read(512)
    stream.seek(0)
    kind = file_kind(head.encode(), name)
    if kind == "jsonl":
        yield from iter_json_lines(stream, fields, name, chunk_rows)
    else:
        yield from iter_table(stream, fields, name, chunk_rows)


def iter_path(
    path, name: str, fields: list[Field], config: dict | None, chunk_rows: int, sampling: video.Sampling | None = None
) -> Iterator[ParsedInput]:
    """A whole input file as validated chunks of at most chunk_rows rows, never all in memory."""
    with open(path, "rb") as f:
        head = f.read(512)
    kind = file_kind(head, name)
    if kind == "video":
        yield from iter_video(str(path), name, fields, config, sampling, chunk_rows)
        return
    if kind == "zip":
        yield from _zip_chunks(path, name, fields, config, chunk_rows)
        return
    if kind == "image":
        with open(path, "rb") as f:
            yield _image_chunk([(name, f.read())], fields, config, 0)
        return
    if kind == "json":
        with open(path, "rb") as f:
            data = f.read()
        try:
            body = json.loads(_decode(data, name))
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{name}: not valid JSON ({exc.msg} at line {exc.lineno}).", code="invalid_file") from None
        yield parse_json_body(body, fields, config)
        return
    if b"\x00" in head:
        raise InvalidInput(f"{name}: this is a binary file, not text; send a CSV, JSON lines, text or an image.", code="invalid_file")
    with open(path, encoding="utf-8-sig", newline="") as stream:
        try:
            if kind == "text" and takes_one_text(fields):
                yield from iter_text_lines(stream, fields, name, chunk_rows)
                return
            yield from _text_chunks(stream, name, fields, chunk_rows)
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"{name}: the text is not UTF-8 (position {exc.start}); save the file as UTF-8.", code="invalid_file") from None

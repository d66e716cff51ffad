"""Files sent for prediction: CSV/TSV, JSON lines, text, images, videos and ZIPs of those.

The kind is told from the content (and the name as a hint). Tables are read in
chunks so that a batch job never holds a large file in memory; a request reads
one chunk of at most its row limit.
"""

import csv
import io
import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import PurePosixPath

import numpy as np
import pandas as pd
from django.conf import settings
from django.utils.translation import gettext as _

from core.errors import InvalidInput, TooLarge, without_paths
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
        raise InvalidInput(
            _("%(name)s: this is a binary file, not text; send a CSV, JSON lines, text or an image.") % {"name": name}, code="invalid_file"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            _("%(name)s: the text is not UTF-8 (byte %(byte)s at position %(position)s); save the file as UTF-8.")
            % {"name": name, "byte": f"0x{data[exc.start]:02x}", "position": exc.start},
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
    mapping = {c: by_name[c] for c in header if c in by_name}  # an exact header wins over a loose one
    for column in header:
        target = loose.get(str(column).strip().lower())
        if column not in mapping and target and target not in mapping.values():
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
        raise InvalidInput(_("%(name)s: the file is empty; send a header line and at least one row.") % {"name": name}, code="empty_input")
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
                _("%(name)s: the first line has no column names. Add a header line with the field names: %(fields)s")
                % {"name": name, "fields": ", ".join(f.name for f in fields)},
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
        raise InvalidInput(
            _("%(name)s: the CSV is malformed: %(error)s") % {"name": name, "error": without_paths(str(exc).strip())}, code="invalid_file"
        ) from None
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            _("%(name)s: the text is not UTF-8 (position %(position)s); save the file as UTF-8.") % {"name": name, "position": exc.start},
            code="invalid_file",
        ) from None


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
                    _("%(name)s: missing column(s) %(missing)s. The file has: %(columns)s.")
                    % {"name": name, "missing": ", ".join(missing), "columns": ", ".join(map(str, frame.columns))},
                    code="missing_columns",
                    details={"missing_columns": missing, "columns": [str(c) for c in frame.columns]},
                )
        if len(frame):
            seen_rows = True
            yield _frame_to_parsed(frame, fields, first_row, mapping, ignored)
    if not seen_rows:
        raise InvalidInput(_("%(name)s: the file has a header but no rows.") % {"name": name}, code="empty_input")


def iter_json_lines(text_stream, fields: list[Field], name: str, chunk_rows: int) -> Iterator[ParsedInput]:
    records, first_row, line_no = [], 0, 0
    for line_no, line in enumerate(text_stream, start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                _("%(name)s: line %(line)s is not valid JSON: %(error)s.") % {"name": name, "line": line_no, "error": exc.msg}, code="invalid_file"
            ) from None
        if len(records) == chunk_rows:
            yield _json_records(records, fields, first_row)
            first_row += len(records)
            records = []
    if records:
        yield _json_records(records, fields, first_row)
    elif first_row == 0:
        raise InvalidInput(_("%(name)s: the file holds no JSON lines.") % {"name": name}, code="empty_input")


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
        raise InvalidInput(_("%(name)s: the file has no text.") % {"name": name}, code="empty_input")


# ---- images and archives ---------------------------------------------------------


def _image_input(fields: list[Field]) -> Field:
    field = images.image_field(fields)
    if field is None:
        raise InvalidInput(
            _("This model does not take images: its inputs are %(inputs)s.") % {"inputs": ", ".join(f"{f.name} ({f.type})" for f in fields)},
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
        raise TooLarge(
            _("%(name)s: the ZIP has %(count)s files; at most %(max)s are accepted.") % {"name": name, "count": len(infos), "max": max_members},
            code="zip_too_large",
        )
    unsafe = [i.filename for i in infos if not _safe_member(i.filename)]
    if unsafe:
        raise InvalidInput(
            _("%(name)s: the ZIP has unsafe member names (%(members)s): absolute paths and '..' are refused.")
            % {"name": name, "members": ", ".join(unsafe[:3])},
            code="invalid_file",
        )
    return infos


def _concat(parts: list[ParsedInput]) -> ParsedInput:
    """Chunks of one request (the members of a ZIP) as one batch."""
    if len(parts) == 1:
        return parts[0]
    names = parts[0].batch.columns.keys()
    columns = {}
    for key in names:
        arrays = [p.batch.columns[key] for p in parts]
        columns[key] = np.concatenate(arrays) if all(a.dtype != object for a in arrays) else np.concatenate([a.astype(object) for a in arrays])
    ignored = sorted({i for p in parts for i in p.ignored_fields})
    sources = [s for p in parts for s in (p.row_sources or [None] * p.batch.n_rows)]
    raws = [p.raw for p in parts]
    raw = pd.concat(raws, ignore_index=True) if all(r is not None for r in raws) else None
    n_rows = sum(p.batch.n_rows for p in parts)
    return ParsedInput(
        batch=Batch(columns=columns, n_rows=n_rows), ignored_fields=ignored,
        row_sources=sources if any(sources) else None, raw=raw,
    )


def read_request_file(
    source, name: str, fields: list[Field], config: dict | None, max_rows: int, sampling: video.Sampling | None = None
) -> ParsedInput:
    """A file sent with a synchronous request: the same reader as a queued task's, stopped as
    soon as it holds more than max_rows rows (a 480 MB CSV inside a 1 MB ZIP is read only
    that far: 413 before it is inflated)."""
    parts, rows = [], 0
    for parsed in iter_file(source, name, fields, config, max_rows + 1, sampling):
        rows += parsed.batch.n_rows
        check_row_limit(rows, max_rows)
        parts.append(parsed)
    if not parts:
        raise InvalidInput(_("%(name)s: the file holds no rows to predict.") % {"name": name}, code="empty_input")
    return _concat(parts)


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
            # Text is read as a table (header first) unless the model takes one text.
            header = 1 if kind == "csv" or fields is not None else 0
            return max(0, _count_lines(f) - header)
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


class _Budget(io.RawIOBase):
    """A ZIP member read through the archive's inflate budget: never trust declared sizes."""

    def __init__(self, member, name: str, spent: list[int], limit: int):
        self.member, self.name, self.spent, self.limit = member, name, spent, limit

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.member.seek(offset, whence)

    def tell(self) -> int:
        return self.member.tell()

    def readinto(self, buffer) -> int:
        data = self.member.read(len(buffer))
        self.spent[0] += len(data)
        if self.spent[0] > self.limit:
            raise TooLarge(
                _("%(name)s: the ZIP unpacks to more than %(limit)s MB.") % {"name": self.name, "limit": f"{self.limit / 1e6:.0f}"},
                code="zip_too_large",
            )
        buffer[: len(data)] = data
        return len(data)


def _zip_chunks(source, name: str, fields: list[Field], config: dict | None, chunk_rows: int) -> Iterator[ParsedInput]:
    """Members read one at a time and streamed, within the member and size caps."""
    max_bytes = settings.MLSERVE_ZIP_MAX_BYTES
    try:
        archive = zipfile.ZipFile(source)
    except zipfile.BadZipFile as exc:
        raise InvalidInput(
            _("%(name)s: the ZIP archive is damaged (%(error)s).") % {"name": name, "error": without_paths(str(exc))}, code="invalid_file"
        ) from None
    with archive:
        infos = member_infos(archive, name)
        if not infos:
            raise InvalidInput(_("%(name)s: the ZIP archive is empty.") % {"name": name}, code="empty_input")
        spent = [0]
        saw_table = False
        pending: list[tuple[str, bytes]] = []
        first_row = 0
        try:
            for info in infos:
                with archive.open(info) as member:
                    budget = io.BufferedReader(_Budget(member, name, spent, max_bytes))
                    if images.looks_like_image(budget.peek(16)[:16]):
                        if saw_table:
                            raise InvalidInput(
                                _("%(name)s: a mix of images and other files (%(member)s); a ZIP holds images, or tables, not both.")
                                % {"name": name, "member": info.filename},
                                code="invalid_file",
                            )
                        pending.append((info.filename, budget.read()))
                        if len(pending) == chunk_rows:
                            yield _image_chunk(pending, fields, config, first_row)
                            first_row += len(pending)
                            pending = []
                        continue
                    if pending:
                        raise InvalidInput(
                            _("%(name)s: a mix of images and other files (%(member)s); a ZIP holds images, or tables, not both.")
                                % {"name": name, "member": info.filename},
                            code="invalid_file",
                        )
                    # A member is a table on its own; its rows are tagged with its name.
                    saw_table = True
                    stream = io.TextIOWrapper(budget, encoding="utf-8-sig", newline="")
                    for parsed in _text_chunks(stream, info.filename, fields, chunk_rows):
                        parsed.row_sources = [info.filename] * parsed.batch.n_rows
                        yield parsed
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError) as exc:
            raise InvalidInput(
                _("%(name)s: a member cannot be read (%(error)s).") % {"name": name, "error": without_paths(str(exc))}, code="invalid_file"
            ) from None
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                _("%(name)s: a member is not UTF-8 text (position %(position)s).") % {"name": name, "position": exc.start}, code="invalid_file"
            ) from None
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


def iter_file(
    source, name: str, fields: list[Field], config: dict | None, chunk_rows: int, sampling: video.Sampling | None = None
) -> Iterator[ParsedInput]:
    """A whole input file (a path, or a seekable binary file) as validated chunks of at most
    chunk_rows rows, never all in memory: queued tasks read their input this way, and
    synchronous requests their first max_rows + 1 rows (read_request_file)."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            yield from iter_file(f, name, fields, config, chunk_rows, sampling)
        return
    source.seek(0)
    head = source.read(512)
    source.seek(0)
    if not head:
        raise InvalidInput(_("%(name)s: the file is empty.") % {"name": name}, code="empty_input")
    kind = file_kind(head, name)
    if kind == "video":
        yield from iter_video(source, name, fields, config, sampling, chunk_rows)
        return
    if kind == "zip":
        yield from _zip_chunks(source, name, fields, config, chunk_rows)
        return
    if kind == "image":
        yield _image_chunk([(name, source.read())], fields, config, 0)
        return
    if kind == "json":
        data = source.read()
        try:
            body = json.loads(_decode(data, name))
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                _("%(name)s: not valid JSON (%(error)s at line %(line)s).") % {"name": name, "error": exc.msg, "line": exc.lineno},
                code="invalid_file",
            ) from None
        yield parse_json_body(body, fields, config)
        return
    if b"\x00" in head:
        raise InvalidInput(
            _("%(name)s: this is a binary file, not text; send a CSV, JSON lines, text or an image.") % {"name": name}, code="invalid_file"
        )
    stream = io.TextIOWrapper(source, encoding="utf-8-sig", newline="")
    try:
        if kind == "text" and takes_one_text(fields):
            yield from iter_text_lines(stream, fields, name, chunk_rows)
            return
        yield from _text_chunks(stream, name, fields, chunk_rows)
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            _("%(name)s: the text is not UTF-8 (position %(position)s); save the file as UTF-8.") % {"name": name, "position": exc.start},
            code="invalid_file",
        ) from None
    finally:
        stream.detach()  # the caller's file stays open

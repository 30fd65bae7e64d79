"""Streaming readers for CSV, JSON Lines and JSON arrays: records with line numbers and raw text.

Every input row becomes one :class:`Record` — parsed into a dict, or carrying the reason it
could not be parsed — so the pipeline can account for every line.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

FORMATS = ("csv", "jsonl", "json")
CHUNK_ROWS = 50_000


class ReadError(Exception):
    """The input as a whole cannot be read (missing file, wrong encoding, not a JSON array)."""


@dataclass(slots=True)
class Record:
    """One input row: its line number (element number for JSON arrays), raw text and fields."""

    line_no: int
    raw: str
    data: dict[str, Any] | None
    error: str | None = None


def detect_format(path: Path, declared: str | None = None) -> str:
    """The input format: ``declared``, else from the file name, else from its first byte."""
    if declared:
        if declared not in FORMATS:
            raise ReadError(f"unknown format {declared!r}; use one of {', '.join(FORMATS)}")
        return declared
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    except OSError as exc:
        raise ReadError(f"cannot read {path}: {exc.strerror or exc}") from None
    if head.startswith(b"["):
        return "json"
    if head.startswith(b"{"):
        return "jsonl"
    return "csv"


class _HashingReader(io.RawIOBase):
    """Wraps a binary file, feeding every byte read into a SHA-256 (the batch checksum)."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.sha256 = hashlib.sha256()
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._raw.readinto(buffer)
        if n:
            self.sha256.update(memoryview(buffer)[:n])
            self.bytes_read += n
        return n or 0


def _python_encoding(encoding: str) -> str:
    enc = encoding.lower().replace("_", "-")
    # A UTF-8 byte-order mark is accepted (Excel writes one).
    return "utf-8-sig" if enc in ("utf-8", "utf8") else encoding


class FileSource:
    """An open input file: iterate :meth:`records`; ``checksum`` and ``bytes_read`` as it goes."""

    def __init__(self, path: Path, fmt: str, encoding: str = "utf-8") -> None:
        self.path = path
        self.fmt = fmt
        self.encoding = encoding
        try:
            self._fh = open(path, "rb")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise ReadError(f"cannot read {path}: {exc.strerror or exc}") from None
        try:
            codecs_name = _python_encoding(encoding)
            "".encode(codecs_name)
        except LookupError:
            self._fh.close()
            raise ReadError(f"unknown encoding {encoding!r}") from None
        self._hashing = _HashingReader(self._fh)
        self._text = io.TextIOWrapper(
            io.BufferedReader(self._hashing, 1 << 20), encoding=codecs_name, newline=""
        )

    @property
    def checksum(self) -> str:
        """SHA-256 of the bytes read so far (of the whole file once fully read)."""
        return self._hashing.sha256.hexdigest()

    @property
    def bytes_read(self) -> int:
        """Bytes consumed so far (for progress)."""
        return self._hashing.bytes_read

    def close(self) -> None:
        """Close the underlying file."""
        self._text.close()

    def __enter__(self) -> FileSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def records(self) -> Iterator[Record]:
        """Every row of the file as a :class:`Record`, streamed."""
        try:
            if self.fmt == "csv":
                yield from csv_records(self._text)
            elif self.fmt == "jsonl":
                yield from jsonl_records(self._text)
            else:
                yield from json_array_records(self._text.read())
        except UnicodeDecodeError as exc:
            hint = "" if self.encoding.lower() != "utf-8" else " (try --encoding gb18030)"
            raise ReadError(
                f"{self.path} is not valid {self.encoding} at byte {exc.start}{hint}"
            ) from None


def _clean(text: str) -> str:
    # PostgreSQL text cannot hold NUL; drop it rather than fail the whole batch.
    return text.replace("\x00", "") if "\x00" in text else text


_CSV_FIELD_LIMIT = csv.field_size_limit()


def csv_records(lines: Iterable[str]) -> Iterator[Record]:
    """Parse CSV text (first row = header) into records; quoted multi-line fields kept whole.

    A line without quotes is one record whose fields are its comma-separated parts (exactly
    what the csv module would make of it), split directly; lines with quotes go through the
    csv module.
    """
    src = iter(lines)
    pushback: list[str] = []
    consumed: list[str] = []
    line_no = 0

    def feed() -> Iterator[str]:
        nonlocal line_no
        while True:
            line = pushback.pop() if pushback else next(src, None)
            if line is None:
                return
            line_no += 1
            consumed.append(line)
            yield _clean(line)

    reader = csv.reader(feed())
    try:
        header = next(reader)
    except StopIteration:
        return
    header = [h.strip() for h in header]
    width = len(header)
    consumed.clear()
    while True:
        start = line_no + 1
        line = next(src, None)
        if line is None:
            return
        text = line.rstrip("\r\n")
        if '"' not in text and "\r" not in text and "\n" not in text \
                and len(text) < _CSV_FIELD_LIMIT:
            line_no += 1
            raw = _clean(text)
            row = raw.split(",")
        else:
            pushback.append(line)
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raw = "".join(consumed).rstrip("\r\n")
                consumed.clear()
                yield Record(start, _clean(raw), None, f"malformed CSV: {exc}")
                continue
            raw = _clean("".join(consumed).rstrip("\r\n") if len(consumed) != 1
                         else consumed[0].rstrip("\r\n"))
            consumed.clear()
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # blank line
        if len(row) != width:
            yield Record(start, raw, None, f"malformed CSV: {len(row)} fields, header has {width}")
            continue
        yield Record(start, raw, dict(zip(header, row, strict=True)))


def jsonl_records(lines: Iterable[str]) -> Iterator[Record]:
    """Parse JSON Lines text: one object per line, blank lines skipped."""
    for line_no, line in enumerate(lines, 1):
        text = _clean(line.strip())
        if not text:
            continue
        yield parse_json_record(line_no, text)


def parse_json_record(line_no: int, text: str) -> Record:
    """One JSON object as a record, or a record carrying the parse error."""
    try:
        obj = json.loads(text)
    except ValueError as exc:
        return Record(line_no, text, None, f"malformed JSON: {exc.args[0] if exc.args else exc}")
    if not isinstance(obj, dict):
        return Record(line_no, text, None, "malformed JSON: not an object")
    return Record(line_no, text, obj)


def json_array_records(text: str) -> Iterator[Record]:
    """Parse a JSON array of objects; ``line_no`` is the element number (1-based)."""
    try:
        items = json.loads(text)
    except ValueError as exc:
        raise ReadError(f"malformed JSON: {exc}") from None
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        raise ReadError("expected a JSON array of objects")
    yield from object_records(items)


def object_records(items: Iterable[Any]) -> Iterator[Record]:
    """Records from already-parsed objects or raw JSON lines (the HTTP endpoint, the demo feed)."""
    for n, item in enumerate(items, 1):
        if isinstance(item, dict):
            yield Record(n, json.dumps(item, ensure_ascii=False, default=str), item)
        elif isinstance(item, bytes | str):
            text = item.decode("utf-8", "replace") if isinstance(item, bytes) else item
            text = _clean(text.strip())
            if text:
                yield parse_json_record(n, text)
        else:
            yield Record(n, _clean(repr(item)), None, "malformed record: not an object")


def chunked(records: Iterable[Record], size: int = CHUNK_ROWS) -> Iterator[list[Record]]:
    """Group records into lists of at most ``size`` (the unit of staging and COPY)."""
    chunk: list[Record] = []
    for rec in records:
        chunk.append(rec)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def count_lines(path: Path) -> int:
    """Fast newline count (sizes the progress bar before a big load)."""
    n = 0
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            n += block.count(b"\n")
    return n


def error_summary(path: Path | str, errors: list[str], shown: int) -> str:
    """One line for a refused file: its first ``shown`` errors and how many more there are."""
    more = f" (+{len(errors) - shown} more)" if len(errors) > shown else ""
    return f"{path}: " + "; ".join(errors[:shown]) + more

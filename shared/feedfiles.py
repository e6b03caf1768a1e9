"""Reading a province office's feed file into Kafka message values, one record per event.

JSON lines files (``.jsonl``, ``.ndjson``, ``.json``: one JSON object per line) are passed through byte for
byte: a broken line is published as it is, so that the ingest worker rejects it to the dead-letter topic
with the file's own bytes. CSV files (``.csv``) have a header row naming the schema's fields; each row
becomes a JSON object. Nothing here checks the schema: that is the ingest worker's job.
"""

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import orjson

from shared.events import FeedEvent

__all__ = ["CSV_SUFFIXES", "JSON_LINES_SUFFIXES", "FeedFileError", "FeedRecord", "count_records", "read_feed_file"]

JSON_LINES_SUFFIXES: Final = frozenset({".jsonl", ".ndjson", ".json"})
CSV_SUFFIXES: Final = frozenset({".csv"})

_BOM: Final = b"\xef\xbb\xbf"
#: Integer fields of the schema: a cell of digits becomes a JSON integer (anything else stays text and is refused).
_INTEGER_FIELDS: Final = frozenset({"revision", "plan_year"})
_REQUIRED: Final = frozenset(name for name, field in FeedEvent.model_fields.items() if field.is_required())


class FeedFileError(ValueError):
    """A feed file that cannot be read at all: unknown format, missing, unreadable or not UTF-8."""


@dataclass(frozen=True)
class FeedRecord:
    """One event of a feed file: the line it starts on (1-based) and the JSON bytes to publish."""

    line: int
    value: bytes


def read_feed_file(path: Path) -> Iterator[FeedRecord]:
    """Yield the events of a feed file in file order; raise FeedFileError for a file that cannot be read.

    JSON lines: every non-blank line unchanged (line terminator and a leading UTF-8 BOM removed).
    CSV (UTF-8, BOM allowed): every non-blank row as a JSON object of its cells, ``value`` kept as text,
    ``revision`` and ``plan_year`` as integers when they are digits, empty cells of optional columns left out.
    A row with more or fewer cells than the header is published as a JSON array of its cells, so it reaches the
    dead-letter topic (``not_an_object``) with its content instead of being misread. Column names are
    case-sensitive like JSON keys (``Unit`` is not ``unit``); a name twice in the header is refused.
    """
    path = Path(path)
    reader = _reader_for(path)
    if not path.is_file():
        raise FeedFileError(f"{path}: no such feed file")
    return reader(path)


def count_records(path: Path) -> int:
    """Count the records ``read_feed_file`` yields, cheaply (no JSON encoding), e.g. for a progress bar."""
    path = Path(path)
    if _reader_for(path) is _read_json_lines:
        return sum(1 for _ in _json_lines(path))
    return sum(1 for _ in _csv_rows(path))


def _reader_for(path: Path) -> Callable[[Path], Iterator[FeedRecord]]:
    suffix = path.suffix.lower()
    if suffix in JSON_LINES_SUFFIXES:
        return _read_json_lines
    if suffix in CSV_SUFFIXES:
        return _read_csv
    known = ", ".join(sorted(JSON_LINES_SUFFIXES | CSV_SUFFIXES))
    raise FeedFileError(f"{path}: unknown feed file format {suffix or '(no suffix)'!r}; expected one of {known}")


def _json_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    try:
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                line = raw.rstrip(b"\r\n")
                if number == 1 and line.startswith(_BOM):
                    line = line[len(_BOM) :]
                if line.strip():
                    yield number, line
    except OSError as exc:
        raise FeedFileError(f"{path}: cannot read feed file: {exc.strerror or exc}") from exc


def _read_json_lines(path: Path) -> Iterator[FeedRecord]:
    for number, line in _json_lines(path):
        yield FeedRecord(number, line)


def _csv_rows(path: Path) -> Iterator[tuple[int, list[str], list[str]]]:
    """Yield (first line, header, cells) of every non-blank data row."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FeedFileError(f"{path}: cannot read feed file: {exc.strerror or exc}") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise FeedFileError(f"{path}:{line}: not UTF-8 text ({exc.reason})") from exc
    rows = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    end = 0
    try:
        for cells in rows:
            start, end = end + 1, rows.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if header is None:
                header = _check_header(path, cells)
                continue
            yield start, header, cells
    except csv.Error as exc:
        raise FeedFileError(f"{path}:{rows.line_num}: malformed CSV: {exc}") from exc


def _check_header(path: Path, cells: list[str]) -> list[str]:
    header = [cell.strip() for cell in cells]
    seen: set[str] = set()
    for name in header:
        if not name:
            raise FeedFileError(f"{path}: the CSV header has an empty column name")
        if name in seen:
            raise FeedFileError(f"{path}: the CSV header names column {name!r} twice")
        seen.add(name)
    return header


def _read_csv(path: Path) -> Iterator[FeedRecord]:
    for line, header, cells in _csv_rows(path):
        if len(cells) != len(header):
            yield FeedRecord(line, orjson.dumps(cells))
            continue
        event: dict[str, str | int] = {}
        for name, cell in zip(header, cells, strict=True):
            if name in _INTEGER_FIELDS and cell.strip().isascii() and cell.strip().isdigit():
                event[name] = int(cell)
            elif cell or name in _REQUIRED:
                event[name] = cell
        yield FeedRecord(line, orjson.dumps(event))

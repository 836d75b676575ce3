"""Permit spreadsheets on disk: CSV and XLSX read as a stream of rows, and written.

CSV: the encoding is taken from a byte-order mark (UTF-8, UTF-16), else UTF-8 when the whole
file decodes as UTF-8, else Windows-1252, else Latin-1; the delimiter is the most frequent of
``, ; TAB |`` in the header line (or Excel's ``sep=;`` first line). XLSX and XLS are read with
python-calamine, one row at a time into Python; date cells arrive as dates.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

_ZIP = b"PK\x03\x04"
_OLE = b"\xd0\xcf\x11\xe0"
_DELIMITERS = (",", ";", "\t", "|")
_SCAN_BYTES = 1 << 20


class SheetError(Exception):
    """The file cannot be read as a sheet; the message says why."""


@dataclass
class Sheet:
    """An open sheet: its header row and a one-pass stream of ``(row number, cells)`` (the
    header is row 1 unless the file starts with blank or ``sep=`` lines), and how far the
    stream has got as a share of the file (0 to 1)."""

    headers: list[str]
    rows: Iterator[tuple[int, list[object]]]
    progress: Callable[[], float]
    kind: str
    header_row: int = 1


@contextmanager
def open_sheet(path: Path) -> Iterator[Sheet]:
    """Open a CSV, XLSX or XLS file (told apart by content, not by name)."""
    with path.open("rb") as raw:
        magic = raw.read(4)
    if magic in {_ZIP, _OLE}:
        with _open_workbook(path) as sheet:
            yield sheet
        return
    encoding = detect_encoding(path)
    with path.open("rb") as raw:
        size = max(path.stat().st_size, 1)
        text = io.TextIOWrapper(raw, encoding=encoding, newline="", errors="strict")
        yield _csv_sheet(text, progress=lambda: min(raw.tell() / size, 1.0))


def detect_encoding(path: Path) -> str:
    """The file's text encoding (see the module docstring)."""
    with path.open("rb") as raw:
        head = raw.read(4)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    for encoding in ("utf-8", "cp1252"):
        if _decodes(path, encoding):
            return encoding
    return "latin-1"


def _decodes(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    with path.open("rb") as raw:
        try:
            while chunk := raw.read(_SCAN_BYTES):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
    return True


def _csv_sheet(text: IO[str], *, progress: Callable[[], float]) -> Sheet:
    line_number = 0
    first = ""
    delimiter = None
    for line in text:
        line_number += 1
        stripped = line.strip()
        if stripped.casefold().startswith("sep=") and len(stripped) == len("sep=") + 1:
            delimiter = stripped[-1]
            continue
        if stripped:
            first = line
            break
    if not first:
        raise SheetError("the file is empty: it needs a header row and permit rows")
    delimiter = delimiter or max(_DELIMITERS, key=first.count)
    headers = next(csv.reader([first], delimiter=delimiter))
    reader = csv.reader(text, delimiter=delimiter)

    def rows() -> Iterator[tuple[int, list[object]]]:
        try:
            for number, record in enumerate(reader, start=line_number + 1):
                yield number, list(record)
        except UnicodeDecodeError as exc:
            raise SheetError(f"the file is not in one text encoding: {exc.reason}") from None
        except csv.Error as exc:
            raise SheetError(f"row {reader.line_num}: {exc}") from None

    return Sheet([h.strip() for h in headers], rows(), progress, "csv", line_number)


@contextmanager
def _open_workbook(path: Path) -> Iterator[Sheet]:
    from python_calamine import CalamineError, CalamineWorkbook  # noqa: PLC0415

    try:
        workbook = CalamineWorkbook.from_path(str(path))
        sheet = workbook.get_sheet_by_index(0)
    except CalamineError as exc:
        raise SheetError(f"the workbook cannot be read: {exc}") from None
    try:
        first_row = sheet.start[0] if sheet.start else 0
        height = max(sheet.height, 1)
        done = 0
        stream = iter(sheet.iter_rows())
        header_cells = next(stream, None)
        if header_cells is None:
            raise SheetError("the first sheet is empty: it needs a header row and permit rows")

        def rows() -> Iterator[tuple[int, list[object]]]:
            nonlocal done
            for number, cells in enumerate(stream, start=first_row + 2):
                done += 1
                yield number, list(cells)

        headers = [str(cell).strip() for cell in header_cells]
        yield Sheet(headers, rows(), lambda: min(done / height, 1.0), "xlsx", first_row + 1)
    finally:
        workbook.close()


def write_csv(
    path_or_stream: Path | IO[str], header: Sequence[str], rows: Iterable[Sequence[object]]
) -> None:
    """Write a CSV (UTF-8 with a byte-order mark when to a path, so that Excel reads accents)."""
    if isinstance(path_or_stream, Path):
        with path_or_stream.open("w", encoding="utf-8-sig", newline="") as out:
            write_csv(out, header, rows)
        return
    writer = csv.writer(path_or_stream)
    writer.writerow(header)
    writer.writerows(rows)


def write_xlsx(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Write a one-sheet XLSX, streaming (openpyxl's write-only mode)."""
    from openpyxl import Workbook  # noqa: PLC0415

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("permits")
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    workbook.save(path)

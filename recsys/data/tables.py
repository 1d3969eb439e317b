"""Fast delimited-file reading with exact error locations.

The hot path is one pandas C-engine ``read_csv`` per file. Only when it fails (or the data looks
wrong) does a slow line-by-line pass run, to name the file and the 1-based line at fault.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NoReturn

import numpy as np
import pandas as pd

from recsys.data.frames import DatasetError

# "float" is float32 (ratings); "float64" is for values float32 would round, like epoch seconds.
# "text" is a string that must not be empty (titles, genres): a line cut short leaves it empty.
Kind = Literal["int", "float", "float64", "str", "text"]

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class Column:
    """One field of a delimited line: its 0-based position, frame name and parsed kind."""

    index: int
    name: str
    kind: Kind


@dataclass(frozen=True)
class TableFormat:
    """How a file is laid out: separator, field count, header lines, encoding, quoting."""

    sep: str
    n_fields: int
    header_lines: int = 0
    encoding: str = "utf-8"
    # MovieLens CSV files quote titles that contain commas; the tab/pipe/'::' formats never quote,
    # so a stray '"' in a title must stay a literal character there.
    quoted: bool = False

    @property
    def first_line(self) -> int:
        """1-based line number of the first data row."""
        return self.header_lines + 1


def _pandas_dtype(kind: Kind) -> type[np.generic] | str:
    if kind == "int":
        return np.int64
    if kind == "float":
        # float32 halves the memory of a 25M-row rating column; MovieLens ratings are halves.
        return np.float32
    if kind == "float64":
        return np.float64
    return "str"


def read_table(path: Path, fmt: TableFormat, columns: Sequence[Column]) -> pd.DataFrame:
    """Read the selected columns of a delimited file, or raise DatasetError naming file and line."""
    data: bytes | None = None
    sep = fmt.sep
    if len(sep) > 1:
        # A multi-character separator would force pandas' slow Python engine. MovieLens '::' files
        # never contain a tab, so swapping '::' for '\t' keeps the C engine and every line number.
        raw = path.read_bytes()
        tab = raw.find(b"\t")
        if tab >= 0:
            line = raw.count(b"\n", 0, tab) + 1
            raise DatasetError("tab character in a '::'-separated file", path=path, line=line)
        data = raw.replace(sep.encode(fmt.encoding), b"\t")
        sep = "\t"
    try:
        frame = _parse(path, data, sep, fmt, columns, skip_blank_lines=False)
        if frame.shape[1] != fmt.n_fields or _has_missing(frame, columns):
            raise ValueError("unexpected field count or empty field")
    except pd.errors.EmptyDataError:
        return _empty(columns)
    except (ValueError, OverflowError, UnicodeDecodeError) as exc:
        trimmed = _without_trailing_blank_lines(path, data, sep, fmt, columns)
        if trimmed is None:
            _raise_located(path, fmt, columns, fallback=f"cannot parse: {exc}")
        frame = trimmed
    return pd.DataFrame({c.name: frame[c.index] for c in columns})


def _parse(
    path: Path,
    data: bytes | None,
    sep: str,
    fmt: TableFormat,
    columns: Sequence[Column],
    *,
    skip_blank_lines: bool,
) -> pd.DataFrame:
    return pd.read_csv(
        io.BytesIO(data) if data is not None else path,
        sep=sep,
        header=None,
        skiprows=fmt.header_lines,
        dtype={c.index: _pandas_dtype(c.kind) for c in columns},
        encoding=fmt.encoding,
        quoting=csv.QUOTE_MINIMAL if fmt.quoted else csv.QUOTE_NONE,
        keep_default_na=False,
        na_values=[""],
        # A blank line must stay a row, or every later row would be blamed on the wrong line.
        skip_blank_lines=skip_blank_lines,
        engine="c",
        index_col=False,
    )


def _without_trailing_blank_lines(
    path: Path, data: bytes | None, sep: str, fmt: TableFormat, columns: Sequence[Column]
) -> pd.DataFrame | None:
    """Blank lines at the very end of a file are harmless: parse without them, or return None.

    Accepted only when the row count proves no blank line sat before a data line (which would
    shift the line numbers of every later row).
    """
    if data is None:
        with path.open("rb") as handle:
            handle.seek(0, io.SEEK_END)
            handle.seek(max(0, handle.tell() - 4096))
            tail = handle.read()
    else:
        tail = data[-4096:]
    trailing = tail[len(tail.rstrip(b"\r\n")) :].count(b"\n") - 1
    if trailing < 1:
        return None
    try:
        frame = _parse(path, data, sep, fmt, columns, skip_blank_lines=True)
    except (ValueError, OverflowError, UnicodeDecodeError):
        return None
    rows = _count_newlines(path, data) - trailing - fmt.header_lines
    if len(frame) != rows or frame.shape[1] != fmt.n_fields or _has_missing(frame, columns):
        return None
    return frame


def _count_newlines(path: Path, data: bytes | None) -> int:
    if data is not None:
        return data.count(b"\n")
    count = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 24):
            count += chunk.count(b"\n")
    return count


def _empty(columns: Sequence[Column]) -> pd.DataFrame:
    return pd.DataFrame({c.name: pd.Series([], dtype=_pandas_dtype(c.kind)) for c in columns})


def _has_missing(frame: pd.DataFrame, columns: Sequence[Column]) -> bool:
    # Integer columns cannot hold NaN (pandas would have raised); floats can (an empty rating
    # field), and so can required text when a line has too few fields.
    return any(
        c.kind in ("float", "float64", "text") and bool(frame[c.index].isna().any())
        for c in columns
    )


def _raise_located(
    path: Path, fmt: TableFormat, columns: Sequence[Column], *, fallback: str
) -> NoReturn:
    located = locate_error(path, fmt, columns)
    if located is not None:
        raise located
    raise DatasetError(fallback, path=path)


def _split_lines(path: Path, fmt: TableFormat) -> Iterator[tuple[int, list[str] | None]]:
    """Yield (1-based line number, fields) for each data line; fields is None for a blank line."""
    with path.open(encoding=fmt.encoding, newline="") as handle:
        if fmt.quoted:
            reader = csv.reader(handle, delimiter=fmt.sep)
            for row in reader:
                if reader.line_num <= fmt.header_lines:
                    continue
                yield reader.line_num, (row if row else None)
            return
        for number, line in enumerate(handle, start=1):
            if number <= fmt.header_lines:
                continue
            text = line.rstrip("\r\n")
            yield number, (text.split(fmt.sep) if text else None)


def locate_error(path: Path, fmt: TableFormat, columns: Sequence[Column]) -> DatasetError | None:
    """Slow pass over a file that failed to parse: the first bad line as a DatasetError."""
    try:
        blank: int | None = None
        for number, fields in _split_lines(path, fmt):
            if fields is None:
                blank = blank or number
                continue
            if blank is not None:
                return DatasetError("empty line", path=path, line=blank)
            if len(fields) != fmt.n_fields:
                return DatasetError(
                    f"wrong column count: expected {fmt.n_fields} fields separated by "
                    f"{fmt.sep!r}, found {len(fields)}",
                    path=path,
                    line=number,
                )
            for column in columns:
                problem = _field_problem(fields[column.index], column.kind)
                if problem is not None:
                    return DatasetError(
                        f"{problem} in field {column.index + 1} ({column.name})",
                        path=path,
                        line=number,
                    )
    except UnicodeDecodeError as exc:
        return DatasetError(f"not valid {fmt.encoding} text: {exc.reason}", path=path)
    return None


def _field_problem(value: str, kind: Kind) -> str | None:
    if kind == "str":
        return None
    text = value.strip()
    if kind == "text":
        return None if text else "empty text"
    if not text:
        return "empty number"
    try:
        if kind == "int":
            number = int(text)
            if not _INT64_MIN <= number <= _INT64_MAX:
                return f"integer {text!r} out of range"
        elif not math.isfinite(float(text)):
            return f"not a finite number {value!r}"
    except ValueError:
        return f"unparsable number {value!r}"
    return None


def first_header_line(path: Path, *, encoding: str) -> str:
    """The first line of a file without its line ending ('' for an empty file)."""
    # Read bytes: a text-mode readline decodes a whole buffer, so a bad byte on a later line would
    # be blamed on the header.
    with path.open("rb") as handle:
        raw = handle.readline()
    try:
        return raw.decode(encoding).rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"not valid {encoding} text: {exc.reason}", path=path, line=1) from exc

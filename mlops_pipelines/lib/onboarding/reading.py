"""How to read a data file: its kind, separator, header, decimal and thousands marks, encoding,
missing-value markers and the columns worth reading, as the `read_options` `init` writes.

Every choice made here is one pandas makes the same way at ingestion, because it is written
into `source.read_options`, not applied behind the spec's back.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mlops_pipelines.lib.ingestion.columns import normalize_column_name
from mlops_pipelines.lib.ingestion.source_files import (
    COMPRESSED_SUFFIXES,
    SourceError,
    kind_for_path,
    percent_numbers,
    read_file,
)

_COMMA_NUMBER = re.compile(r"^[-+]?\d*,\d+$")
_DOT_NUMBER = re.compile(r"^[-+]?\d*\.\d+$")
_GROUPED_NUMBER = re.compile(r"^[-+]?\d{1,3}(,\d{3})+(\.\d+)?$")
_PERCENT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)\s*%$")
_MISSING_CODES = (-200, -99, -999, -9999, -99999, 999, 9999, 99999)
# What people write for "no value" in a column of numbers that pandas does not read as missing.
PLACEHOLDERS = frozenset(
    {"?", "-", "--", "---", ".", "..", "...", "*", "x", "X", "missing", "Missing", "MISSING"}
)
# Tried in turn when a CSV is not UTF-8: Windows' Western code page, then latin-1 (any byte).
LEGACY_ENCODINGS = ("cp1252", "latin-1")


def sniff_csv(path: Path) -> dict[str, Any]:
    """read_options for a CSV: its separator when not ',', `header: null` when it has none, and
    the decimal comma or thousands separator its numbers are written with."""
    import gzip

    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
        sample = handle.read(1 << 16)
    options: dict[str, Any] = {}
    try:
        dialect = csv.Sniffer().sniff(sample.split("\n", 50)[0] if sample else ",", delimiters=",;\t|")
        if dialect.delimiter != ",":
            options["sep"] = dialect.delimiter
        if not csv.Sniffer().has_header(sample) and not text_header(sample, dialect.delimiter):
            options["header"] = None
    except csv.Error:
        pass
    if options.get("sep", ",") == "," and ", " in sample.split("\n", 1)[0]:
        options["skipinitialspace"] = True  # 'a, b, c': values would keep their leading blank
    elif _decimal_comma(sample, options.get("sep", ",")):
        options["decimal"] = ","  # 2,6 on a ';' line: a number, not the text '2,6'
    if options.get("sep", ",") == "," and _thousands(sample):
        options["thousands"] = ","  # "1,234" quoted on a ',' line: 1234, not the text '1,234'
    return options


def text_header(sample: str, sep: str) -> bool:
    """A first line of distinct names, none a number, none met again in its column below.

    The csv Sniffer votes by each column's type and value length, so a file whose columns are
    all short text (`a,b,c,label` over `x,p,lo,yes`) loses its header, and its target with it.
    A headerless file repeats its first row's categories further down, or holds a number; one of
    text alone whose first-row values never recur in 200 lines would read as headed (`init` then
    names its columns after that row, which the spec shows)."""
    rows = list(csv.reader(sample.splitlines()[:200], delimiter=sep))
    if len(rows) < 21 or not rows[0]:
        return False
    first, below = [f.strip() for f in rows[0]], rows[1:-1]  # the last line may be cut short
    if len(set(first)) < len(first) or any(not f or _number_like(f) for f in first):
        return False
    seen = [{row[i].strip() for row in below if len(row) > i} for i in range(len(first))]
    return not any(name in values for name, values in zip(first, seen, strict=True))


def _number_like(text: str) -> bool:
    try:
        float(text.replace(",", "."))
    except ValueError:
        return False
    return True


def _thousands(sample: str) -> bool:
    """Quoted numbers with thousands separators ("1,234,567.5") in the sample's fields."""
    rows = csv.reader(sample.splitlines()[1:200])
    return any(_GROUPED_NUMBER.match(field) for row in rows for field in row)


def _decimal_comma(sample: str, sep: str) -> bool:
    """Numbers written 2,6 (with ';' or tab between fields): some fields are digits with one comma
    and none are digits with one dot, so no column would read differently than its neighbours."""
    if sep == ",":
        return False
    fields = [f.strip().strip('"') for line in sample.splitlines()[1:200] for f in line.split(sep)]
    commas = sum(bool(_COMMA_NUMBER.match(f)) for f in fields)
    return commas > 0 and not any(_DOT_NUMBER.match(f) for f in fields)


@dataclass
class ReadFile:
    kind: str
    options: dict[str, Any]  # the read_options the spec gets
    frame: pd.DataFrame  # columns named as the spec will name them
    empty: list[str]  # columns left out for holding no value at all
    originals: dict[str, str]  # spec name -> the file's own column name
    percent: list[str] = field(default_factory=list)  # spec names of '10.65%' columns, read as 10.65


def read_any(path: Path) -> ReadFile:
    """The file's kind and rows, the read_options that read it, the columns left out."""
    kind = kind_for_path(path)
    options = sniff_csv(path) if kind == "csv" else {}
    if options.get("header", 0) is None:
        # No header: name the columns col_1.. in the spec's read_options, so every read agrees.
        width = len(_read(path, kind, {**options, "nrows": 5}).columns)
        options["names"] = [f"col_{i + 1}" for i in range(width)]
    frame = _read(path, kind, options)
    text = [c for c in frame.columns if frame[c].dtype == object]
    markers = placeholders(frame[text], options.get("decimal", "."), options.get("thousands"))
    if kind == "csv" and any(frame[c].eq("?").any() for c in text):
        options["na_values"] = ["?"]  # UCI's marker of a missing value
    if kind == "csv" and markers:
        # Only in those columns: '-' may well be a category elsewhere.
        every = options.get("na_values", [])
        wanted = {str(c): list(dict.fromkeys([*every, *markers.get(str(c), [])])) for c in frame.columns}
        options["na_values"] = {c: v for c, v in wanted.items() if v}
    if "na_values" in options:
        frame = _read(path, kind, options)
    # A column with no value in any row (the ';;' that ends every line of some exports) would fail
    # every batch's all-null check; the reader leaves it out instead.
    empty = [str(c) for c in frame.columns if len(frame) and frame[c].isna().all()]
    if empty and kind in ("csv", "parquet"):
        options["usecols" if kind == "csv" else "columns"] = [
            str(c) for c in frame.columns if str(c) not in empty
        ]
        frame = frame.drop(columns=empty)
    else:
        empty = []
    names = [normalize_column_name(c) or f"col_{i + 1}" for i, c in enumerate(frame.columns)]
    originals = dict(zip(names, map(str, frame.columns), strict=True))
    frame.columns = names
    percent = percent_columns(frame)
    for name in percent:  # as the reader will hand them over (source.files[].percent)
        frame[name] = percent_numbers(frame[name], str(path))
    empty_names = [normalize_column_name(c) or c for c in empty]
    return ReadFile(kind, options, frame, empty_names, originals, percent)


def percent_columns(frame: pd.DataFrame) -> list[str]:
    """Text columns whose every value is a percentage ('10.65%'): read as text they would be a
    category of every distinct rate, which no later value matches."""
    found = []
    for name in frame.columns:
        if frame[name].dtype != object:
            continue
        values = frame[name].dropna().astype(str).str.strip()
        if len(values) and bool(values.str.match(_PERCENT).all()):
            found.append(str(name))
    return found


def mark_label_codes(read: ReadFile, target: str) -> list[int]:
    """The missing-value codes among the target's values, made missing in `read.frame` and, for a
    CSV, in its read_options. Only the target: a feature's code is a value a tree splits off, and
    served rows carry it as sent; as a label it would teach the model to predict -200."""
    codes = missing_codes(read.frame[[target]]).get(target, [])
    if not codes or read.kind != "csv":
        return []
    original, unknown = read.originals[target], read.options.get("na_values", [])
    if isinstance(unknown, dict):  # already per column (placeholders)
        read.options["na_values"] = {**unknown, original: [*unknown.get(original, []), *codes]}
    else:
        names = read.originals.values() if unknown else [original]  # '?' stays missing everywhere
        read.options["na_values"] = {c: [*unknown, *(codes if c == original else [])] for c in names}
    read.frame[target] = read.frame[target].mask(read.frame[target].isin(codes))
    return codes


def _read(path: Path, kind: str, options: dict[str, Any]) -> pd.DataFrame:
    """`read_file`, and for a CSV that is not UTF-8 (a '°' saved by Excel on Windows) the legacy
    encodings it most likely is, recorded in `options` so every later read agrees."""
    try:
        return read_file(path, kind, options)
    except SourceError as err:
        if kind != "csv" or not isinstance(err.__cause__, UnicodeDecodeError) or "encoding" in options:
            raise
    if path.suffix.lower() not in COMPRESSED_SUFFIXES and _has_nul(path):
        raise SourceError(
            f"{path}: holds NUL bytes, so it is no text CSV (an Excel workbook, or UTF-16 text?): "
            "save it as CSV in UTF-8"
        )
    for encoding in LEGACY_ENCODINGS:
        try:
            frame = read_file(path, kind, {**options, "encoding": encoding})
        except SourceError as err:
            if not isinstance(err.__cause__, UnicodeDecodeError):
                raise
            continue
        options["encoding"] = encoding
        return frame
    raise AssertionError("latin-1 decodes every byte")  # the last of LEGACY_ENCODINGS


def missing_codes(frame: pd.DataFrame) -> dict[str, list[int]]:
    """Per column, the numeric missing-value codes it uses (-200, -999, 9999, ...): a code in at
    least 0.1 % of the rows (3 or more) while every other value is on the same side of half of it.
    Read as numbers they would be extreme values, in a target the model's main lesson."""
    found: dict[str, list[int]] = {}
    for name in frame.columns:
        values = frame[name]
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            continue
        present = values.dropna()
        for code in _MISSING_CODES:
            hits = present == code
            rest = present[~hits]
            if int(hits.sum()) < max(3, len(present) // 1000) or rest.empty:
                continue
            if (rest.min() > code / 2) if code < 0 else (rest.max() < code / 2):
                found.setdefault(str(name), []).append(code)
    return found


def placeholders(
    frame: pd.DataFrame, decimal: str = ".", thousands: str | None = None
) -> dict[str, list[str]]:
    """Per text column whose every other value is a number, the placeholders it writes for a
    missing one ('-', '?', '.', 'missing', ...: not among pandas' own NA strings). Read as text,
    they would turn a numeric column into a category of a thousand values."""
    found: dict[str, list[str]] = {}
    for name in frame.columns:
        raw = frame[name].dropna().astype(str)
        values = raw.str.strip()
        numbers = values.str.replace(thousands, "", regex=False) if thousands else values
        numbers = numbers.str.replace(decimal, ".", regex=False) if decimal != "." else numbers
        words = pd.to_numeric(numbers, errors="coerce").isna()
        if 0 < int(words.sum()) < len(values) and set(values[words]) <= PLACEHOLDERS:
            found[str(name)] = sorted(set(raw[words]))  # as written: na_values match the raw field
    return found


def _has_nul(path: Path) -> bool:
    """Whether the file's first 64 KiB hold a NUL byte: binary data, which latin-1 would still
    'decode' into a table of garbage."""
    with path.open("rb") as handle:
        return b"\x00" in handle.read(1 << 16)

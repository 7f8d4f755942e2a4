"""ARFF files (Weka, OpenML): scipy.io.arff first, a small reader for what scipy refuses.

scipy reads numeric, nominal and date attributes but refuses string attributes; the small
reader takes dense ARFF of any attribute type (values split like CSV, quoted with ' or ",
'?' missing, numeric attributes as numbers, date attributes as text the time axis reads).
Sparse rows ('{...}') are refused with a message naming the file.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from pathlib import Path

import pandas as pd

_ATTRIBUTE = re.compile(r"^@attribute\s+('(?:[^']|\\')*'|\"[^\"]*\"|\S+)\s+(.+)$", re.IGNORECASE)
_NUMERIC = {"numeric", "real", "integer"}


def _text(path: Path) -> str:
    if path.suffix.lower() == ".gz":
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            return handle.read()
    return path.read_text(encoding="utf-8")


def read_arff_plain(path: Path) -> pd.DataFrame:
    """A dense ARFF file of any attribute types (raises ValueError naming the file otherwise)."""
    names: list[str] = []
    numeric: list[bool] = []
    lines = _text(path).splitlines()
    for index, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith("%"):
            continue
        match = _ATTRIBUTE.match(stripped)
        if match:
            names.append(match.group(1).strip("'\""))
            numeric.append(match.group(2).split()[0].lower() in _NUMERIC)
        elif stripped.lower().startswith("@data"):
            body = [x for x in lines[index + 1 :] if x.strip() and not x.lstrip().startswith("%")]
            break
    else:
        raise ValueError(f"{path}: no @data section")
    if any(x.lstrip().startswith("{") for x in body):
        raise ValueError(f"{path}: sparse ARFF rows are not supported; write the file dense")
    rows = list(csv.reader(io.StringIO("\n".join(body)), quotechar="'", skipinitialspace=True))
    bad = [i for i, row in enumerate(rows) if len(row) != len(names)]
    if bad:
        raise ValueError(
            f"{path}: data row {bad[0] + 1} has {len(rows[bad[0]])} values for {len(names)} attributes"
        )
    frame = pd.DataFrame(rows, columns=names).replace("?", None)
    for name, is_number in zip(names, numeric, strict=True):
        if is_number:
            frame[name] = pd.to_numeric(frame[name])
    return frame


def read_arff(path: Path) -> pd.DataFrame:
    """An ARFF file: nominal values as text, '?' as missing (scipy, else the small reader)."""
    from scipy.io import arff

    try:
        with io.StringIO(_text(path)) as handle:
            data, _meta = arff.loadarff(handle)
    except NotImplementedError:  # string attributes
        return read_arff_plain(path)
    frame = pd.DataFrame(data)
    for name in frame.columns:
        if frame[name].dtype == object:
            text = frame[name].map(lambda v: v.decode("utf-8") if isinstance(v, bytes) else v)
            frame[name] = text.mask(text == "?")  # missing: NaN, as pandas reads a CSV gap
    return frame

"""Locate, download and parse one source file; every failure names the file and the problem.

Truncation: pandas' C parser turns a CSV row cut short into NaN in its trailing columns,
silently. A truncated file is cut at an arbitrary byte, so its last record almost always
has fewer fields than the record before it; that is what `_check_last_record` looks for.
It is skipped where physical lines are not records (a multi-line quoted field in the tail)
and for compressed files, whose decompressor already fails on a missing end-of-stream.
A file cut exactly inside the last field (same field count) cannot be told from a complete
file without a final newline (common and legitimate), so a missing newline alone is not an
error; validation then sees that value (out of range, wrong type) like any other bad value.
"""

from __future__ import annotations

import csv
import logging
import re
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

import pandas as pd

from mlops_pipelines.lib.integrity import sha256_file

logger = logging.getLogger(__name__)
_TAIL_BYTES = 1 << 16
COMPRESSED_SUFFIXES = {".gz", ".bz2", ".zip", ".xz", ".zst", ".tar"}
_GLOB_CHARS = re.compile(r"[*?\[]")
# Cached downloads already hashed in this process, by (mtime_ns, size): partitions re-ask often.
_verified: dict[Path, tuple[int, int]] = {}


class SourceError(Exception):
    """Raw data that cannot be read; the message names the file, data dir or URL and the problem."""


def resolve_pattern(project: str, pattern: str, data_dir: Path | None) -> list[Path]:
    """The files `pattern` names (relative to `data_dir` unless absolute; globs matched and sorted)."""
    path = Path(pattern).expanduser()
    if not path.is_absolute():
        if data_dir is None:
            raise SourceError(
                f"project '{project}': file '{pattern}' is relative but no data directory is configured:"
                f" set MLOPS_DATA_DIR or data_dir in the spec of '{project}'"
            )
        if not data_dir.is_dir():
            raise SourceError(
                f"project '{project}': data directory {data_dir} does not exist (needed for '{pattern}')"
            )
        path = data_dir / path
    where = (
        f"in {data_dir}" if data_dir is not None and not Path(pattern).is_absolute() else "(absolute path)"
    )
    if _GLOB_CHARS.search(pattern):
        anchor = Path(path.anchor)
        matches = sorted(p for p in anchor.glob(str(path.relative_to(anchor))) if p.is_file())
        if not matches:
            raise SourceError(f"project '{project}': no file matches '{pattern}' {where}")
        return matches
    if not path.is_file():
        raise SourceError(f"project '{project}': file '{pattern}' not found {where} (looked at {path})")
    return [path]


def _count_fields(line: str, sep: str, quotechar: str) -> int:
    if len(sep) == 1:
        return len(next(csv.reader([line], delimiter=sep, quotechar=quotechar)))
    return len(re.split(sep, line.strip()))


def _check_last_record(path: Path, options: dict[str, Any]) -> None:
    if options.get("compression") or set(path.suffixes) & COMPRESSED_SUFFIXES:
        return
    sep = r"\s+" if options.get("delim_whitespace") else options.get("sep", options.get("delimiter", ","))
    if not sep:
        return  # sniffed separator: nothing reliable to count with
    quotechar = str(options.get("quotechar", '"'))
    comment = options.get("comment")
    size = path.stat().st_size
    with path.open("rb") as handle:
        handle.seek(max(0, size - _TAIL_BYTES))
        tail = handle.read()
    text = tail.decode(options.get("encoding") or "utf-8", errors="replace")
    lines = [line.rstrip("\r") for line in text.split("\n")]
    if size > _TAIL_BYTES:
        lines = lines[1:]  # the first line of the tail is cut by the seek
    lines = [line for line in lines if line.strip() and not (comment and line.lstrip().startswith(comment))]
    if len(lines) < 2 or any(line.count(quotechar) % 2 for line in lines):
        return
    last, before = _count_fields(lines[-1], sep, quotechar), _count_fields(lines[-2], sep, quotechar)
    if last < before:
        newline = "" if tail.endswith(b"\n") else "; the file does not end with a newline"
        raise SourceError(
            f"{path}: truncated or corrupt: the last line has {last} field(s) where the line before has"
            f" {before}{newline} (last line: {lines[-1][:80]!r})"
        )


def kind_for_path(path: Path | str) -> str:
    """The source kind a file name suggests: parquet, jsonl, arff, else csv (compressed or not)."""
    suffixes = [s.lower() for s in Path(path).suffixes if s.lower() not in COMPRESSED_SUFFIXES]
    last = suffixes[-1] if suffixes else ""
    return {".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}.get(
        last, "arff" if last == ".arff" else "csv"
    )


def read_file(path: Path, kind: str, options: dict[str, Any]) -> pd.DataFrame:
    """One file as pandas reads it with `options` (kind csv, parquet, jsonl or arff)."""
    import pyarrow as pa

    try:
        if kind == "parquet":
            return pd.read_parquet(path, **options)
        if kind == "jsonl":
            return pd.read_json(path, lines=True, **options)
        if kind == "arff":
            from mlops_pipelines.lib.ingestion.arff import read_arff

            return read_arff(path)
        frame = pd.read_csv(path, **options)
    except TypeError as err:
        raise SourceError(f"{path}: invalid read_options {options}: {err}") from err
    except (OSError, ValueError, EOFError, NotImplementedError, pa.ArrowException) as err:
        # ParserError, EmptyDataError, UnicodeDecodeError and ArrowInvalid are ValueErrors.
        hint = ""
        if isinstance(err, UnicodeDecodeError) and "encoding" not in options:
            hint = "; the file is not UTF-8: set source.read_options.encoding (cp1252 or latin-1?)"
        raise SourceError(f"{path}: cannot read as {kind}: {type(err).__name__}: {err}{hint}") from err
    _check_last_record(path, options)
    return frame


def percent_numbers(values: pd.Series, where: str) -> pd.Series:
    """'10.65%' as 10.65 (the number written; a bare number too): a value that is neither names
    the column and its row rather than becoming a silent null."""
    text = values.astype("string").str.strip()
    numbers = pd.to_numeric(text.str.removesuffix("%").str.strip(), errors="coerce")
    bad = numbers.isna() & text.notna() & (text != "")
    if bad.any():
        first = bad.idxmax()
        raise SourceError(
            f"{where}: column '{values.name}' is read as a percentage (source.files[].percent), but "
            f"{int(bad.sum())} value(s) are no number, e.g. {text[first]!r} in row {first}"
        )
    return numbers.astype("float64")


def download(url: str, sha256: str, cache_dir: Path) -> Path:
    """`url` fetched once into `cache_dir`, verified against `sha256`; a bad download is deleted."""
    basename = PurePosixPath(urlparse(url).path).name or "download"
    target = cache_dir / f"{sha256[:16]}_{basename}"
    if target.is_file():
        stat = target.stat()
        if _verified.get(target) == (stat.st_mtime_ns, stat.st_size):
            return target
        if sha256_file(target) == sha256:
            _verified[target] = (stat.st_mtime_ns, stat.st_size)
            return target
        logger.warning("%s: cached copy of %s fails its sha256; downloading again", target, url)
        target.unlink()
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        dir=cache_dir, prefix=f".{basename}.", suffix=".part", delete=False
    ) as handle:
        part = Path(handle.name)
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                shutil.copyfileobj(response, handle)
        except (urllib.error.URLError, OSError, ValueError) as err:
            part.unlink(missing_ok=True)
            raise SourceError(f"cannot download {url}: {err}") from err
    actual = sha256_file(part)
    if actual != sha256:
        part.unlink()
        raise SourceError(
            f"{url}: sha256 mismatch: expected {sha256}, got {actual}; the download was deleted"
        )
    # Readers never see a partial file: the rename is atomic within one directory.
    part.replace(target)
    stat = target.stat()
    _verified[target] = (stat.st_mtime_ns, stat.st_size)
    logger.info("downloaded %s to %s", url, target)
    return target

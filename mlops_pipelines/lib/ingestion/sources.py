"""Read a project's raw data, whole or one time partition at a time.

File sources (csv, parquet, url) are parsed once per process and kept in a small LRU keyed
by the files' resolved paths, mtimes and sizes, so materializing many partitions in one
process parses each file once. The simulator generates only the requested window.

Spec columns keep the dtypes pandas read: casting to the spec's dtypes is validation's job,
which can then quarantine a bad value instead of failing the whole read here.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlops_pipelines.lib.frames import EVENT_TIME
from mlops_pipelines.lib.ingestion.source_files import SourceError, download, read_file, resolve_pattern

if TYPE_CHECKING:
    from mlops_pipelines.spec import ProjectSpec

__all__ = ["SourceError", "clear_source_cache", "read_partition", "read_source", "resolve_data_dir"]

logger = logging.getLogger(__name__)
_CACHE_SIZE = 4
_NON_ALNUM = re.compile(r"[^0-9a-zA-Z]+")


@dataclass(frozen=True)
class _Parsed:
    frame: pd.DataFrame  # arrival order, with EVENT_TIME
    order: np.ndarray | None  # stable sort by event time; None when already sorted
    sorted_times: np.ndarray


_cache: OrderedDict[tuple[Any, ...], _Parsed] = OrderedDict()
_cache_lock = threading.Lock()


def clear_source_cache() -> None:
    """Forget every parsed dataset (tests; or to free memory in a long-lived process)."""
    with _cache_lock:
        _cache.clear()


def resolve_data_dir(spec: ProjectSpec, data_dir: str | None) -> Path | None:
    """The directory relative file paths start from: the spec's `data_dir` wins over `data_dir`.

    The caller passes MLOPS_DATA_DIR; it is never read here, so importing stays side-effect free.
    """
    chosen = spec.data_dir or data_dir
    return Path(chosen).expanduser() if chosen else None


def normalize_column_name(name: object) -> str:
    """'fixed acidity' -> 'fixed_acidity', 'pH' -> 'ph'."""
    return _NON_ALNUM.sub("_", str(name)).strip("_").lower()


def _naive_utc(moment: datetime) -> pd.Timestamp:
    stamp = pd.Timestamp(moment)
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo is not None else stamp


def _normalized(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    names = [normalize_column_name(c) for c in frame.columns]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise SourceError(f"{where}: column names collide after normalization: {clashes}")
    return frame.set_axis(names, axis=1)


def _read_files(spec: ProjectSpec, data_dir: Path | None) -> list[tuple[Path, pd.DataFrame]]:
    source = spec.source
    parts: list[tuple[Path, pd.DataFrame]] = []
    for entry in source.files:
        options = {**source.read_options, **entry.read_options}
        for path in resolve_pattern(spec.name, entry.path, data_dir):
            frame = read_file(path, source.kind, options)
            if source.normalize_column_names:
                frame = _normalized(frame, str(path))
            for column, mapping in entry.replace.items():
                name = normalize_column_name(column) if source.normalize_column_names else column
                if name not in frame.columns:
                    raise SourceError(f"{path}: 'replace' names column '{column}' that the file lacks")
                frame[name] = frame[name].replace(mapping)
            for column, value in entry.assign.items():
                frame[column] = value
            parts.append((path, frame))
    return parts


def _concat(parts: list[tuple[Path, pd.DataFrame]]) -> pd.DataFrame:
    first_path, first = parts[0]
    for path, frame in parts[1:]:
        if list(frame.columns) != list(first.columns):
            missing = [c for c in first.columns if c not in frame.columns]
            extra = [c for c in frame.columns if c not in first.columns]
            raise SourceError(
                f"{path}: columns differ from {first_path}: missing {missing}, extra {extra}"
                + ("" if missing or extra else ", order differs")
            )
    return pd.concat([frame for _, frame in parts], ignore_index=True)


def _parse_times(values: pd.Series, column: str) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values
    else:
        parsed = pd.to_datetime(values, errors="coerce")
        if (parsed.isna() & values.notna()).any():
            # Inference locks onto the first value's format; mixed but valid formats get a second chance.
            parsed = pd.to_datetime(values, errors="coerce", format="mixed")
        bad = parsed.isna() & values.notna()
        if bad.any():
            example = values[bad].iloc[0]
            raise SourceError(
                f"time column '{column}': {int(bad.sum())} unparseable value(s), e.g. {example!r}"
                f" at row {int(np.flatnonzero(bad.to_numpy())[0])}"
            )
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    if parsed.isna().any():
        raise SourceError(
            f"time column '{column}': {int(parsed.isna().sum())} row(s) have no time"
            f" (first at row {int(np.flatnonzero(parsed.isna().to_numpy())[0])}); they fit no partition"
        )
    return parsed.astype("datetime64[ns]")


def add_event_time(frame: pd.DataFrame, spec: ProjectSpec) -> pd.DataFrame:
    """`frame` with EVENT_TIME: the spec's time column (+ hour column), else arrival order."""
    time = spec.time
    if time.column is not None:
        if time.column not in frame.columns:
            raise SourceError(f"{spec.name}: time column '{time.column}' not in data {list(frame.columns)}")
        times = _parse_times(frame[time.column], time.column)
        if time.hour_column is not None:
            if time.hour_column not in frame.columns:
                raise SourceError(f"{spec.name}: hour column '{time.hour_column}' not in data")
            hours = pd.to_numeric(frame[time.hour_column], errors="coerce")
            bad = hours.isna() | (hours % 1 != 0)
            if bad.any():
                example = frame[time.hour_column][bad].iloc[0]
                raise SourceError(
                    f"hour column '{time.hour_column}': not a whole number of hours, e.g. {example!r}"
                )
            times = times + pd.to_timedelta(hours.astype("int64"), unit="h")
    else:
        assert time.arrival is not None  # the spec guarantees exactly one time axis
        step = pd.Timedelta(time.arrival.cadence).value
        offsets = pd.to_timedelta(np.arange(len(frame), dtype=np.int64) * step, unit="ns")
        times = pd.Series(_naive_utc(time.arrival.start) + offsets, index=frame.index)
    out = frame.copy()
    out[EVENT_TIME] = times.to_numpy(dtype="datetime64[ns]")
    return out


def _input_files(spec: ProjectSpec, data_dir: Path | None, cache_dir: Path) -> list[Path]:
    if spec.source.kind == "url":
        assert spec.source.url is not None and spec.source.sha256 is not None
        return [download(spec.source.url, spec.source.sha256, cache_dir)]
    return [p for entry in spec.source.files for p in resolve_pattern(spec.name, entry.path, data_dir)]


def _parse(spec: ProjectSpec, data_dir: Path | None, cache_dir: Path) -> _Parsed:
    files = _input_files(spec, data_dir, cache_dir)
    stats = tuple((str(p.resolve()), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    key = (spec.name, spec.source.model_dump_json(), spec.time.model_dump_json(), stats)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    if spec.source.kind == "url":
        kind = "parquet" if files[0].suffix in (".parquet", ".pq") else "csv"
        frame = read_file(files[0], kind, dict(spec.source.read_options))
        if spec.source.normalize_column_names:
            frame = _normalized(frame, str(files[0]))
    else:
        frame = _concat(_read_files(spec, data_dir))
    frame = add_event_time(frame, spec)
    times = frame[EVENT_TIME].to_numpy()
    ordered = bool(np.all(times[1:] >= times[:-1]))
    order = None if ordered else np.argsort(times, kind="stable")
    parsed = _Parsed(frame, order, times if order is None else times[order])
    logger.info("parsed %s: %d rows from %d file(s)", spec.name, len(frame), len(files))
    with _cache_lock:
        _cache[key] = parsed
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return parsed


def _simulated(spec: ProjectSpec, start: datetime | None, end: datetime | None) -> pd.DataFrame:
    from mlops_pipelines.lib.ingestion.simulate import simulate, simulation_bounds

    sim = spec.source.simulator
    assert sim is not None  # the spec fills in a default simulator
    first, last = simulation_bounds(sim)
    return add_event_time(simulate(sim, start or first, end or last), spec)


def read_source(spec: ProjectSpec, data_dir: Path | None, cache_dir: Path) -> pd.DataFrame:
    """The whole dataset in arrival order, with EVENT_TIME added (a copy: callers may mutate it)."""
    if spec.source.kind == "simulator":
        return _simulated(spec, None, None)
    return _parse(spec, data_dir, cache_dir).frame.copy()


def read_partition(
    spec: ProjectSpec, start: datetime, end: datetime, data_dir: Path | None, cache_dir: Path
) -> pd.DataFrame:
    """Rows with start <= EVENT_TIME < end, in arrival order, index reset.

    Tz-aware bounds (Dagster's partition windows) are converted to naive UTC, matching EVENT_TIME.
    """
    if spec.source.kind == "simulator":
        return _simulated(spec, start, end)
    parsed = _parse(spec, data_dir, cache_dir)
    lo, hi = np.searchsorted(
        parsed.sorted_times, [_naive_utc(start).to_datetime64(), _naive_utc(end).to_datetime64()]
    )
    if parsed.order is None:
        return parsed.frame.iloc[lo:hi].reset_index(drop=True).copy()
    rows = np.sort(parsed.order[lo:hi])
    return parsed.frame.iloc[rows].reset_index(drop=True)

"""Read a project's raw data, whole or one time partition at a time.

File sources (csv, parquet, url) are parsed once per process and kept in a small LRU keyed
by the files' resolved paths, mtimes and sizes, so materializing many partitions in one
process parses each file once. The simulator generates only the requested window.

Spec columns keep the dtypes pandas read: casting to the spec's dtypes is validation's job,
which can then quarantine a bad value instead of failing the whole read here.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlops_pipelines.lib.frames import EVENT_TIME
from mlops_pipelines.lib.hints import did_you_mean
from mlops_pipelines.lib.ingestion.columns import ColumnMatchError, matched_names, normalize_column_name
from mlops_pipelines.lib.ingestion.source_files import (
    SourceError,
    download,
    percent_numbers,
    read_file,
    resolve_pattern,
)
from mlops_pipelines.lib.ingestion.source_join import apply_joins, join_files
from mlops_pipelines.lib.time_axis import TimeAxisError, parse_time_axis

if TYPE_CHECKING:
    from mlops_pipelines.spec import ProjectSpec

__all__ = [
    "SourceError",
    "clear_source_cache",
    "normalize_column_name",
    "read_columns",
    "read_partition",
    "read_source",
    "resolve_data_dir",
]

logger = logging.getLogger(__name__)
_CACHE_SIZE = 4


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


def _naive_utc(moment: datetime) -> pd.Timestamp:
    stamp = pd.Timestamp(moment)
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo is not None else stamp


def _normalized(frame: pd.DataFrame, where: str, spec: ProjectSpec) -> pd.DataFrame:
    """The frame with its columns matched to the spec's names (lib/ingestion/columns.py)."""
    try:
        return frame.set_axis(matched_names(list(frame.columns), spec.columns, where), axis=1)
    except ColumnMatchError as err:
        raise SourceError(str(err)) from None


def _named(column: str, option: str, frame: pd.DataFrame, spec: ProjectSpec, path: Path) -> str:
    """The frame's name of `column`, which a source file's `option` names; missing: an error."""
    name = (
        matched_names([column], spec.columns, str(path))[0] if spec.source.normalize_column_names else column
    )
    if name not in frame.columns:
        raise SourceError(
            f"{path}: '{option}' names column '{column}' that the file lacks"
            + did_you_mean(name, map(str, frame.columns))
        )
    return name


def _read_files(spec: ProjectSpec, data_dir: Path | None) -> list[tuple[Path, pd.DataFrame]]:
    source = spec.source
    parts: list[tuple[Path, pd.DataFrame]] = []
    for entry in source.files:
        options = {**source.read_options, **entry.read_options}
        for path in resolve_pattern(spec.name, entry.path, data_dir):
            frame = read_file(path, source.kind, options)
            if source.normalize_column_names:
                frame = _normalized(frame, str(path), spec)
            for column, mapping in entry.replace.items():
                name = _named(column, "replace", frame, spec, path)
                frame[name] = frame[name].replace(mapping)
            for column in entry.percent:
                name = _named(column, "percent", frame, spec, path)
                frame[name] = percent_numbers(frame[name], str(path))
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


def add_event_time(frame: pd.DataFrame, spec: ProjectSpec) -> pd.DataFrame:
    """`frame` with EVENT_TIME: the spec's time column (lib/time_axis: its format, + month and hour
    columns), else arrival order. A time that cannot be read is a SourceError naming the column."""
    time = spec.time
    if time.column is not None:
        try:
            times = parse_time_axis(frame, time)
        except TimeAxisError as err:
            hint = "".join(did_you_mean(c, map(str, frame.columns)) for c in time.columns if c not in frame)
            raise SourceError(f"{spec.name}: {err}{hint}") from None
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
    files = [p for entry in spec.source.files for p in resolve_pattern(spec.name, entry.path, data_dir)]
    return files + join_files(spec, data_dir)


def read_columns(spec: ProjectSpec, data_dir: Path | None, cache_dir: Path) -> pd.DataFrame:
    """The source's rows with their columns matched to the spec, before any time is read."""
    if spec.source.kind == "url":
        files = _input_files(spec, data_dir, cache_dir)
        kind = "parquet" if files[0].suffix in (".parquet", ".pq") else "csv"
        frame = read_file(files[0], kind, dict(spec.source.read_options))
        frame = _normalized(frame, str(files[0]), spec) if spec.source.normalize_column_names else frame
    else:
        frame = _concat(_read_files(spec, data_dir))
    return apply_joins(frame, spec, data_dir) if spec.source.join else frame


def _parse(spec: ProjectSpec, data_dir: Path | None, cache_dir: Path) -> _Parsed:
    files = _input_files(spec, data_dir, cache_dir)
    stats = tuple((str(p.resolve()), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    # The spec's column names are in the key: data columns take their spelling.
    key = (spec.name, spec.source.model_dump_json(), spec.time.model_dump_json(), tuple(spec.columns), stats)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    frame = add_event_time(read_columns(spec, data_dir, cache_dir), spec)
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

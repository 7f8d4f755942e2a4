"""Turn a `Profile` into a commented project spec (YAML text) that `parse_spec` accepts.

Sizes follow the data: the grain is the finest at which nearly every period holds rows and a
partition holds about 20 rows or more, in at most 2000 partitions; training, drift and promotion
windows are scaled to the number of partitions so the first model, the holdout and the gate fit
in the data.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
import yaml

from mlops_pipelines.lib.data_end import end_after
from mlops_pipelines.lib.grains import partition_keys
from mlops_pipelines.lib.onboarding.calendar import draft_features
from mlops_pipelines.lib.onboarding.profile import Profile
from mlops_pipelines.lib.onboarding.sizes import sizes
from mlops_pipelines.lib.onboarding.span import outage_periods, periods

GRAINS = ("hourly", "daily", "weekly", "monthly", "quarterly", "yearly")
ROWS_PER_PARTITION = 20
MIN_PARTITIONS = 12
# From 4 partitions on, `sizes` leaves one to score after the first model's window (the backtest needs it).
MIN_SCORABLE = 4
# One run per partition: years of hourly partitions (17,520 for two) are more runs and monitoring
# windows than a replay or a sensor can keep up with; a coarser grain holds the same rows.
MAX_PARTITIONS = 2000
MIN_FILL = 0.9
# How often a typical partition may hold no value of a nullable column by chance before its
# all-null check would block healthy data (a column mostly null: `sparse`).
SPARSE_CHANCE = 0.001
# Rows in file order have no calendar: they are cut as timed rows are, about ROWS_PER_PARTITION
# a partition, at most MAX_PARTITIONS, and at least this many. A fixed 40 cut 45,312
# electricity rows into partitions of 1133: a quarter of the history in each training window,
# and a replay that reached 89.8 % of its oracle where 2000 partitions reached 98.6 %.
ARRIVAL_PARTITIONS = 40
# Invented days lie in the past: a time partition after today does not exist yet, so 2000 days
# from 2024 stopped a replay at today's partition with two fifths of the rows unread.
ARRIVAL_START = date(2000, 1, 1)
_METRIC = {"regression": "mae", "binary": "roc_auc", "multiclass": "accuracy"}
_CALENDAR = re.compile(r"^(hr|hour|mnth|month|weekday|dayofweek|season|day|yr|year|week|quarter)$")


def choose_grain(times: pd.Series) -> tuple[str, dict[str, int], str]:
    """The grain, the partitions' row counts, and a sentence saying why."""
    first, last = times.min(), times.max()
    fallback = scorable = None
    for grain in GRAINS:
        if grain != GRAINS[-1] and periods(first, last, grain) > MAX_PARTITIONS:
            continue
        counts = partition_keys(times, grain).value_counts().sort_index()
        span, outage = periods(first, last, grain), outage_periods([str(k) for k in counts.index], grain)
        fill = len(counts) / (span - outage)  # an outage's empty partitions are one pause, not sparse data
        median = float(counts.median())
        why = f"{grain}: {len(counts)} partitions hold rows ({fill:.0%} of the span"
        why += f" outside {outage} in outages)" if outage else ")"
        why += f", median {median:g} rows each"
        found = {str(k): int(v) for k, v in counts.items()}
        if fill >= MIN_FILL and median >= ROWS_PER_PARTITION and len(counts) >= MIN_PARTITIONS:
            return grain, found, why
        if fill >= MIN_FILL and len(counts) >= MIN_SCORABLE and fallback is None:
            fallback = (grain, found, why + " (few rows or partitions: the finest dense grain)")
        if len(counts) >= MIN_SCORABLE:  # the last one kept is the coarsest
            scorable = (grain, found, why)
    if fallback is not None:
        return fallback
    counts = partition_keys(times, "yearly").value_counts().sort_index()
    yearly = {str(k): int(v) for k, v in counts.items()}
    if len(yearly) < MIN_SCORABLE and scorable is not None:
        # Empty periods are blocked runs, but too few partitions leave nothing to score at all.
        grain, found, why = scorable
        return grain, found, f"{why} (the coarsest grain leaving a partition to score after the first model)"
    return "yearly", yearly, "yearly: no finer grain has rows in most of its periods"


def whole_days(counts: dict[str, int]) -> tuple[dict[str, int], list[str]]:
    """Hourly partitions cut to the whole days the data covers, and a note. `partitions.start` and
    `end` are dates, so hourly partitions run from midnight to midnight, and a run over an hour
    before the first row or after the last is blocked (row count 0; the demo steps over it), while rows
    outside the partitions are only unread: partly covered days are left out unless too much is."""
    keys, day = list(counts), timedelta(days=1)
    first, last = date.fromisoformat(keys[0][:10]), date.fromisoformat(keys[-1][:10])
    lead, trail = int(keys[0][11:13]), 23 - int(keys[-1][11:13])
    if not lead + trail:
        return counts, []
    start, stop = first + day if lead else first, last if trail else last + day  # stop: exclusive
    kept = {k: n for k, n in counts.items() if start.isoformat() <= k[:10] < stop.isoformat()}
    total, left = sum(counts.values()), sum(counts.values()) - sum(kept.values())
    why = f"partitions.start and end are dates: {lead + trail} hourly partition(s) before the first row or after the last"
    if len(kept) < MIN_PARTITIONS or 2 * left >= total:
        return counts, [f"{why} hold no row; each run over one is blocked (row count 0)"]
    return kept, [
        f"{why} would hold no row, each run over one blocked (row count 0), so the partly covered days are "
        f"left out ({left} of {total} rows before {start} or from {stop} on); partitions.start: {first} "
        f"and partitions.end: {last + day} read them"
    ]


def _schema(profile: Profile) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    schema: dict[str, dict[str, Any]] = {}
    comments: dict[str, str] = {}
    for name, column in profile.columns.items():
        entry: dict[str, Any] = {"dtype": column.dtype}
        if column.nulls and name != profile.target:
            entry["nullable"] = True
        if column.categories is not None and column.dtype == "str":
            entry["categories"] = column.categories
        schema[name] = entry
        notes = list(column.notes)
        if column.low is not None and column.high is not None:
            notes.insert(0, f"observed {column.low:g}..{column.high:g}")
        if name == profile.target and column.nulls:
            notes.append(
                f"{column.nulls} row(s) without a label will be quarantined (not counted as defects)"
            )
        if notes:
            comments[name] = "; ".join(notes)
    return schema, comments


def _mark_sparse(schema: dict[str, dict[str, Any]], profile: Profile, per_partition: float) -> list[str]:
    """Mark `sparse` the nullable columns a typical partition holds no value of by chance at least
    SPARSE_CHANCE of the time (null share p, median rows n: p ** n): a holiday column, null on
    all but a few days, would otherwise fail nearly every partition's all-null check."""
    notes = []
    rows = max(round(per_partition), 1)
    for name, entry in schema.items():
        nulls = profile.columns[name].nulls
        share = nulls / max(profile.rows, 1)
        if entry.get("nullable") and share**rows >= SPARSE_CHANCE:
            entry["sparse"] = True
            notes.append(
                f"{name}: sparse: null in {nulls} of {profile.rows} rows, so a partition of {rows} rows "
                f"holds no value {share**rows:.1%} of the time; its all-null check is off"
            )
    return notes


def draft_spec(profile: Profile, name: str, data_dir: str) -> tuple[dict[str, Any], list[str]]:
    """The spec as a dict, and the sentences `init` reports (and writes as comments)."""
    notes: list[str] = []
    schema, _ = _schema(profile)
    exclude = [
        c
        for c, p in profile.columns.items()
        if c != profile.target and {"id", "counter", "constant", "leak"} & set(p.flags)
    ]
    dates = [c for c in profile.time.other_dates if c != profile.target and c not in exclude]
    exclude += dates
    notes.extend(
        f"{c}: dates, left out of the features (each new date is a category never seen)" for c in dates
    )
    axis = profile.time
    time_columns = [c for c in (axis.column, axis.month_column, axis.day_column, axis.hour_column) if c]
    spec: dict[str, Any] = {
        "name": name,
        "description": f"Predict {profile.target} from {profile.path.name} (drafted by mlops-pipelines init).",
        "task": profile.task,
        "data_dir": data_dir,
        "source": {
            "kind": profile.kind,
            "files": [
                {"path": profile.path.name, **({"percent": profile.percent} if profile.percent else {})}
            ],
        },
        "schema": schema,
        "target": profile.target,
    }
    if profile.read_options:
        spec["source"]["read_options"] = profile.read_options
    if axis.column is not None and axis.times is not None:
        time: dict[str, Any] = {"column": axis.column}
        if axis.format != "auto":
            time["format"] = axis.format
        for key in ("month_column", "day_column", "hour_column"):
            if getattr(axis, key):
                time[key] = getattr(axis, key)
        grain, counts, why = choose_grain(axis.times)
        counts, edges = whole_days(counts) if grain == "hourly" else (counts, [])
        keys = list(counts)
        spec["time"] = time
        spec["partitions"] = {
            "grain": grain,
            "start": keys[0][:10],
            "end": end_after(datetime.fromisoformat(keys[-1][:10]), grain).isoformat(),
        }
        extra = "".join(f" + {c}" for c in time_columns[1:])
        notes.append(f"time axis: {axis.column}{extra} (format {axis.format}); grain {why}")
        notes.extend(edges)
        if axis.note:
            notes.append(f"time axis: {axis.note}")
        partitions, per = len(keys), float(pd.Series(list(counts.values())).median())
    else:
        wanted = min(MAX_PARTITIONS, max(ARRIVAL_PARTITIONS, profile.rows // ROWS_PER_PARTITION))
        cadence = max(1, 86400 * wanted // max(profile.rows, 1))  # rounded down: at most `wanted` days
        days = math.ceil(profile.rows * cadence / 86400)
        start = ARRIVAL_START.isoformat()
        spec["time"] = {"arrival": {"start": f"{start}T00:00:00", "cadence": f"PT{cadence}S"}}
        spec["partitions"] = {
            "grain": "daily",
            "start": start,
            "end": (ARRIVAL_START + timedelta(days=days)).isoformat(),
        }
        notes.append(
            f"no time column: rows arrive in file order, one every {cadence} s ({days} daily partitions)"
        )
        partitions, per = days, profile.rows / max(days, 1)
    notes.extend(_mark_sparse(schema, profile, per))
    # 17:24:00 as a category has up to 1440 values; the hour read from the time axis has 24.
    clock = (
        axis.hour_column if axis.hour_column and profile.columns[axis.hour_column].dtype == "str" else None
    )
    kept = [c for c in schema if c not in {profile.target, axis.column, *exclude}]
    spec["features"], derived = draft_features(exclude, kept, axis.times if axis.column else None, clock)
    notes.extend(derived)
    calendar = [c for c in profile.columns if _CALENDAR.match(c) and c not in exclude and c != profile.target]
    calendar = [c for c in calendar if c not in time_columns[:1]]
    sized = sizes(partitions, per)  # needed: as backtest.engine.bootstrap_index counts, label delay 1
    needed = sized["training"]["window_partitions"] // 2 + sized["training"]["holdout_partitions"] + 1
    if partitions <= needed:  # fewer than MIN_SCORABLE: no grain of this data gives more
        notes.append(
            f"only {partitions} partition(s) with rows; the first model needs {needed} and at least one "
            "more partition must remain to score: validate-spec and backtest refuse this spec"
        )
    spec["validation"] = {"min_rows": 1}
    if profile.duplicate_rows > profile.rows * 0.001:
        spec["validation"]["reject_duplicates"] = False
        notes.append(f"{profile.duplicate_rows} duplicate rows: reject_duplicates is off (they look real)")
    spec["training"] = {
        "family": "hist_gradient_boosting",
        "search_space": {"model__max_iter": [100], "model__learning_rate": [0.05, 0.1]},
        "search_iterations": 2,
        "cv_folds": 3,
        **sized["training"],
        "primary_metric": _METRIC[profile.task],
    }
    spec["drift"] = {**sized["drift"], **({"exclude": calendar} if calendar else {})}
    spec["promotion"] = sized["promotion"]
    spec["retraining"] = sized["retraining"]
    spec["monitoring"] = {"label_delay_partitions": 1}
    for column, profile_column in profile.columns.items():
        notes.extend(f"{column}: {note}" for note in profile_column.notes)
    key = "usecols" if profile.kind == "csv" else "columns"
    notes.extend(f"{c}: no value in any row, left out (read_options.{key})" for c in profile.empty_columns)
    return spec, notes


def render(spec: dict[str, Any], profile: Profile, notes: list[str]) -> str:
    """The spec as YAML, one schema column per line with its profile as a comment."""
    _, comments = _schema(profile)
    sensitive = [c for c, p in profile.columns.items() if "sensitive" in p.flags and c != profile.target]
    lines = [
        f"# Drafted by `mlops-pipelines init {profile.path.name}`: check every line, then run",
        "#   mlops-pipelines validate-spec --data DIR this.yaml",
    ]
    lines += [f"# - {note}" for note in notes]
    for key, value in spec.items():
        if key == "schema":
            lines.append("schema:")
            for column, entry in value.items():
                flow = yaml.safe_dump(entry, default_flow_style=True, width=10_000).strip()
                comment = f"  # {comments[column]}" if column in comments else ""
                lines.append(
                    f"  {yaml.safe_dump(column).strip().removesuffix('...').strip()}: {flow}{comment}"
                )
            continue
        if key == "features" and not value:
            continue
        block = yaml.safe_dump({key: value}, sort_keys=False, default_flow_style=False, width=110)
        lines.append(block.rstrip())
    if sensitive:
        lines.append(
            "# Possible sensitive attributes (suggestions only: fairness is checked per group when set):"
        )
        lines.append(f"# sensitive_attributes: [{', '.join(sensitive)}]")
    return "\n".join(lines) + "\n"

"""Health checks on raw, run after it in every job that ingests (data, daily): `freshness` (late
data warns, then errors) and `row_count` (rows against recent partitions).

Neither blocks: late or thin data is still data, and validation decides what may pass. The
stage logic is `lib.ingestion.health`; these checks read the run's partitions back from the raw
table (event time and partition only) and the recent partitions' row counts for the baseline.
Run alone (no partition in the run, e.g. from the asset's Checks tab) they judge the newest
partition raw holds.
"""

from collections.abc import Iterator, Sequence
from typing import Any

import dagster as dg

from mlops_pipelines import names
from mlops_pipelines.assets.common import asset_key, problems_text, records_table
from mlops_pipelines.lib.ingestion.health import Status
from mlops_pipelines.lib.ingestion.health import worst as worst_of
from mlops_pipelines.partitions import partition_keys, partition_window
from mlops_pipelines.resources import Lakehouse
from mlops_pipelines.spec import ProjectSpec

SEVERITY = {"warn": dg.AssetCheckSeverity.WARN, "error": dg.AssetCheckSeverity.ERROR}


def checked_keys(
    context: dg.AssetCheckExecutionContext, spec: ProjectSpec, lakehouse: Lakehouse
) -> list[str]:
    """The run's partitions, else the newest one raw holds (none: raw is empty)."""
    if context.has_partition_key_range or context.has_partition_key:
        return list(context.partition_keys)
    present = lakehouse.partitions(spec.name, names.RAW) if lakehouse.exists(spec.name, names.RAW) else []
    return present[-1:]


def build_raw_checks(spec: ProjectSpec) -> dg.AssetChecksDefinition:
    raw_key = asset_key(spec, names.RAW)
    all_keys = partition_keys(spec)

    @dg.multi_asset_check(
        name=names.scoped(spec.name, names.RAW_HEALTH_OP),
        specs=[
            dg.AssetCheckSpec(
                names.FRESHNESS_CHECK,
                asset=raw_key,
                description="Late data: how long before each partition closed its newest row arrived "
                "(WARN, then ERROR; monitoring.freshness_warn_after / freshness_error_after).",
            ),
            dg.AssetCheckSpec(
                names.ROW_COUNT_CHECK,
                asset=raw_key,
                description="Rows per partition against the median of the recent ones "
                "(monitoring.row_count_window, row_count_low, row_count_high); an empty partition is an ERROR.",
            ),
        ],
    )
    def raw_health(
        context: dg.AssetCheckExecutionContext, lakehouse: Lakehouse
    ) -> Iterator[dg.AssetCheckResult]:
        from mlops_pipelines.lib.frames import EVENT_TIME, PARTITION
        from mlops_pipelines.lib.ingestion.health import freshness, row_counts, thresholds, time_step

        keys = checked_keys(context, spec, lakehouse)
        if not keys:  # run alone before any ingestion: nothing to judge yet, and that is worth a look
            for name in (names.FRESHNESS_CHECK, names.ROW_COUNT_CHECK):
                yield _result(name, ["warn"], [("-", "raw holds no partition yet")], {})
            return
        first = all_keys.index(keys[0])
        history_keys = all_keys[max(0, first - spec.monitoring.row_count_window) : first]
        frame = lakehouse.read(spec.name, names.RAW, keys + history_keys, columns=[EVENT_TIME, PARTITION])
        rows = {str(k): int(n) for k, n in frame[PARTITION].value_counts().items()}
        run = frame[frame[PARTITION].isin(keys)]
        newest = {str(k): t.to_pydatetime() for k, t in run.groupby(PARTITION)[EVENT_TIME].max().items()}
        windows = {key: partition_window(spec, key) for key in keys}
        step = time_step(frame[EVENT_TIME])  # from recent history too: more rows, a surer step
        yield freshness_result(spec, freshness(spec, windows, newest, step), thresholds(spec))
        history = {k: n for k, n in rows.items() if k not in keys}
        yield row_count_result(row_counts(spec, keys, rows, history))

    return raw_health


def _result(
    name: str, statuses: Sequence[Status], problems: list[tuple[str, str]], meta: dict[str, Any]
) -> Any:
    worst = worst_of(statuses)
    return dg.AssetCheckResult(
        check_name=name,
        passed=worst == "ok",
        severity=SEVERITY.get(worst, dg.AssetCheckSeverity.WARN),
        description=problems_text(problems) or f"{len(statuses)} partition(s) checked, all ok",
        metadata={names.META_CHECKED_PARTITIONS: len(statuses), **meta},
    )


def freshness_result(
    spec: ProjectSpec, judged: Sequence[Any], limits: tuple[Any, Any]
) -> dg.AssetCheckResult:
    late = [j for j in judged if j.status != "ok"]
    problems = [
        (
            j.partition,
            "no rows" if j.newest is None else f"{j.status}: newest row {_hours(j.lateness)} h before close",
        )
        for j in late
    ]
    return _result(
        names.FRESHNESS_CHECK,
        [j.status for j in judged],
        problems,
        {
            names.META_LATE_PARTITIONS: records_table(late),
            names.META_MAX_LATENESS_HOURS: max((_hours(j.lateness) for j in judged), default=0.0),
            names.META_WARN_AFTER_HOURS: _hours(limits[0]),
            names.META_ERROR_AFTER_HOURS: _hours(limits[1]),
        },
    )


def row_count_result(judged: Sequence[Any]) -> dg.AssetCheckResult:
    odd = [j for j in judged if j.status != "ok"]
    problems = [(j.partition, f"{j.rows} rows against a median of {j.baseline:g}") for j in odd]
    return _result(
        names.ROW_COUNT_CHECK,
        [j.status for j in judged],
        problems,
        {names.META_ANOMALIES: records_table(odd)},
    )


def _hours(delta: Any) -> float:
    return round(delta.total_seconds() / 3600, 2)

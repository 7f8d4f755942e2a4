"""A `Snapshot` as Prometheus metric families (pure: no store is read here).

A source that is down contributes nothing but `mlops_exporter_up{source} 0`: its metrics are
left out, never shown as zeros, so a panel goes blank instead of lying. Counters come from
the instance's own history (runs, materializations, check evaluations), so they survive an
exporter restart; a partition label is only ever one of the newest DRIFT_PARTITIONS.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric

from mlops_pipelines.lib.registry.lookup import CHAMPION
from mlops_pipelines.observability import metric_names as m
from mlops_pipelines.observability.state import ROLLBACK, PipelineState, RegistryState, Snapshot

PROMOTE, REJECT = "promote", "reject"  # gate verdicts (lib/promotion/decision.py)
RETRAIN_STATUSES = ("success", "failure")


def families(snapshot: Snapshot, now: float) -> Iterator[Metric]:
    """Every metric of `snapshot`, answered at unix time `now`."""
    age = GaugeMetricFamily(m.SNAPSHOT_AGE, "Seconds since the stores were read for this answer")
    age.add_metric([], max(0.0, now - snapshot.taken_at))
    yield age
    up = GaugeMetricFamily(m.UP, "1 when the exporter's last read of the source worked", labels=["source"])
    seconds = GaugeMetricFamily(
        m.READ_SECONDS, "How long the last read of the source took", labels=["source"]
    )
    for read in snapshot.sources:
        up.add_metric([read.source], 1.0 if read.up else 0.0)
        seconds.add_metric([read.source], read.seconds)
    yield up
    yield seconds
    yield from registry_families(snapshot.registries)
    yield from pipeline_families(snapshot.pipelines, now)


def _version_number(version: str) -> float | None:
    return float(version) if version.isdigit() else None


def registry_families(registries: tuple[RegistryState, ...]) -> Iterator[Metric]:
    champion = GaugeMetricFamily(
        m.CHAMPION_VERSION, "The registry version the champion alias names", labels=["project"]
    )
    alias = InfoMetricFamily(
        m.MODEL_ALIAS, "The version each alias of the project names", labels=["project", "alias"]
    )
    for state in registries:
        for name, version in sorted(state.aliases.items()):
            alias.add_metric([state.project, name], {"version": version})
        number = _version_number(state.aliases.get(CHAMPION, ""))
        if number is not None:
            champion.add_metric([state.project], number)
    yield champion
    yield alias


def pipeline_families(pipelines: tuple[PipelineState, ...], now: float) -> Iterator[Metric]:
    yield from drift_families(pipelines)
    retrains = CounterMetricFamily(
        m.RETRAINS, "Finished runs of the retrain job, by outcome", labels=["project", "status"]
    )
    decisions = CounterMetricFamily(
        m.GATE_DECISIONS, "Champion gate decisions, by verdict", labels=["project", "verdict"]
    )
    promotions = CounterMetricFamily(m.PROMOTIONS, "Challengers the gate promoted", labels=["project"])
    rejections = CounterMetricFamily(m.REJECTIONS, "Challengers the gate rejected", labels=["project"])
    rollbacks = CounterMetricFamily(m.ROLLBACKS, "Rollbacks of the champion", labels=["project"])
    for state in pipelines:
        for status in RETRAIN_STATUSES:
            retrains.add_metric([state.project, status], state.retrains.get(status, 0))
        for verdict, count in sorted(state.decisions.items()):
            if verdict != ROLLBACK:
                decisions.add_metric([state.project, verdict], count)
        promotions.add_metric([state.project], state.decisions.get(PROMOTE, 0))
        rejections.add_metric([state.project], state.decisions.get(REJECT, 0))
        rollbacks.add_metric([state.project], state.decisions.get(ROLLBACK, 0))
    yield from (retrains, decisions, promotions, rejections, rollbacks)
    yield from data_families(pipelines, now)


def drift_families(pipelines: tuple[PipelineState, ...]) -> Iterator[Metric]:
    share = GaugeMetricFamily(
        m.DRIFT_SHARE, "Drift share of the newest monitored partition", labels=["project"]
    )
    level = GaugeMetricFamily(
        m.DRIFT_LEVEL,
        "Drift verdict of the newest monitored partition: 0 ok, 1 warn, 2 error",
        labels=["project"],
    )
    latest = InfoMetricFamily(
        m.DRIFT_LATEST, "The newest monitored partition and its drift status", labels=["project"]
    )
    by_share = GaugeMetricFamily(
        m.PARTITION_DRIFT_SHARE,
        "Drift share of each of the newest partitions",
        labels=["project", "partition"],
    )
    by_level = GaugeMetricFamily(
        m.PARTITION_DRIFT_LEVEL,
        "Drift verdict of each of the newest partitions",
        labels=["project", "partition"],
    )
    for state in pipelines:
        for row in state.drift:
            by_level.add_metric([state.project, row.partition], row.level)
            if row.share is not None:
                by_share.add_metric([state.project, row.partition], row.share)
        if state.drift:
            newest = state.drift[0]
            level.add_metric([state.project], newest.level)
            latest.add_metric([state.project], {"partition": newest.partition, "status": newest.status})
            if newest.share is not None:
                share.add_metric([state.project], newest.share)
    yield from (share, level, latest, by_share, by_level)


def data_families(pipelines: tuple[PipelineState, ...], now: float) -> Iterator[Metric]:
    freshness = GaugeMetricFamily(
        m.FRESHNESS, "Seconds since the end of the newest raw partition", labels=["project"]
    )
    newest_end = GaugeMetricFamily(
        m.NEWEST_PARTITION_END, "End of the newest raw partition, unix seconds", labels=["project"]
    )
    ingest = GaugeMetricFamily(
        m.LAST_INGEST, "When raw was last materialized, unix seconds", labels=["project"]
    )
    failures = CounterMetricFamily(
        m.CHECK_FAILURES,
        "Failed asset check evaluations (validation, health, gate, drift, KPIs)",
        labels=["project", "asset", "check"],
    )
    quarantined = CounterMetricFamily(m.QUARANTINED_ROWS, "Rows validation quarantined", labels=["project"])
    for state in pipelines:
        if state.newest_partition_end is not None:
            newest_end.add_metric([state.project], state.newest_partition_end)
            # A partition still open (its end ahead of the clock) is as fresh as data gets: 0.
            freshness.add_metric([state.project], max(0.0, now - state.newest_partition_end))
        if state.last_ingest is not None:
            ingest.add_metric([state.project], state.last_ingest)
        for (asset, check), count in sorted(state.check_failures.items()):
            failures.add_metric([state.project, asset, check], count)
        quarantined.add_metric([state.project], state.quarantined_rows)
    yield from (freshness, newest_end, ingest, failures, quarantined)

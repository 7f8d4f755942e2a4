"""The exporter's metric names, spelled once: the collector writes them, deploy/grafana's
dashboard and README's table read them (a test holds the dashboard to these names).

Kept beside the exporter rather than in names.py, like the service's own metric names in
serving/metrics.py: names.py is at its size limit, and only the exporter and the dashboard
agree on these. Counters are named without `_total`: prometheus_client appends it.
"""

from __future__ import annotations

from typing import Final

UP: Final = "mlops_exporter_up"  # {source}: 1 when the last read of that source worked
READ_SECONDS: Final = "mlops_exporter_read_seconds"  # {source}: how long that read took
SNAPSHOT_AGE: Final = "mlops_exporter_snapshot_age_seconds"  # how old the answer's reading is
CHAMPION_VERSION: Final = "mlops_pipeline_champion_version"  # {project}: the champion alias
MODEL_ALIAS: Final = "mlops_pipeline_model_alias"  # info {project, alias, version}
DRIFT_SHARE: Final = "mlops_pipeline_drift_share"  # {project}: the newest drift partition's share
DRIFT_LEVEL: Final = "mlops_pipeline_drift_level"  # {project}: 0 ok (or no verdict), 1 warn, 2 error
DRIFT_LATEST: Final = "mlops_pipeline_drift_latest"  # info {project, partition, status}
PARTITION_DRIFT_SHARE: Final = "mlops_pipeline_partition_drift_share"  # {project, partition}
PARTITION_DRIFT_LEVEL: Final = "mlops_pipeline_partition_drift_level"  # {project, partition}
RETRAINS: Final = "mlops_pipeline_retrains"  # counter {project, status}: finished retrain runs
GATE_DECISIONS: Final = "mlops_pipeline_gate_decisions"  # counter {project, verdict}
PROMOTIONS: Final = "mlops_pipeline_promotions"  # counter {project}
REJECTIONS: Final = "mlops_pipeline_rejections"  # counter {project}
ROLLBACKS: Final = "mlops_pipeline_rollbacks"  # counter {project}
FRESHNESS: Final = "mlops_pipeline_data_freshness_seconds"  # {project}: age of the newest partition's end
NEWEST_PARTITION_END: Final = "mlops_pipeline_newest_partition_end_timestamp_seconds"  # {project}
LAST_INGEST: Final = "mlops_pipeline_last_ingest_timestamp_seconds"  # {project}: raw's newest write
CHECK_FAILURES: Final = "mlops_pipeline_check_failures"  # counter {project, asset, check}
QUARANTINED_ROWS: Final = "mlops_pipeline_quarantined_rows"  # counter {project}

SOURCE_DAGSTER: Final = "dagster"
SOURCE_MLFLOW: Final = "mlflow"

"""`maintain_project`: one project's state upkeep, the maintenance job's one call.

Delta tables are compacted and vacuumed keeping every pinned version (`lake_upkeep`); HTML
reports are deleted by the retention rule (`report_retention`). The caller says what is pinned
and linked (the Dagster op reads registered models and promotion decisions), so this stays a
plain function a test can call with a temporary lake.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mlops_pipelines import names
from mlops_pipelines.lib import lake
from mlops_pipelines.lib.maintenance.lake_upkeep import TableUpkeep, upkeep_table
from mlops_pipelines.lib.maintenance.report_retention import list_reports, reports_to_delete
from mlops_pipelines.lib.stores import DeltaTables

# Every Delta table a project writes (the prediction log included).
TABLES = (names.RAW, names.VALIDATED, names.QUARANTINE, names.FEATURES, names.PREDICTIONS)


@dataclass(frozen=True)
class MaintenanceResult:
    project: str
    tables: tuple[TableUpkeep, ...]
    reports_deleted: tuple[str, ...]
    report_bytes_freed: int

    @property
    def lake_bytes_freed(self) -> int:
        return sum(t.bytes_before - t.bytes_after for t in self.tables)


def maintain_project(
    project: str,
    tables: DeltaTables,
    reports_root: Path,
    pins: Mapping[str, set[int]],
    linked_reports: set[str],
    keep_reports: int,
    min_retention_hours: int,
) -> MaintenanceResult:
    """Compact and vacuum `project`'s tables, then apply report retention under `reports_root`."""
    upkeep = []
    for table in TABLES:
        uri = tables.uri(project, table)
        if lake.table_exists(uri, tables.storage_options):
            pinned = pins.get(uri, set())
            upkeep.append(upkeep_table(uri, pinned, min_retention_hours, tables.storage_options))
    doomed = reports_to_delete(list_reports(reports_root / project), keep_reports, linked_reports)
    for report in doomed:
        report.path.unlink()
    return MaintenanceResult(
        project=project,
        tables=tuple(upkeep),
        reports_deleted=tuple(f"{r.kind}/{r.path.name}" for r in doomed),
        report_bytes_freed=sum(r.size for r in doomed),
    )

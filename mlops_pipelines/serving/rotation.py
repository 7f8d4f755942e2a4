"""The prediction log's rotation rule: what bounds its disk use.

The service appends a Delta commit about every second, so the table grows by rows, by small
data files and by commit files without end unless something removes them. One rotation:

1. deletes the rows this service wrote (routes champion, canary, shadow) logged before
   `retention_days` ago; batch-scored rows belong to the Dagster assets and are left alone;
2. compacts small files into few large ones;
3. vacuums data files that no version has needed for `vacuum_hours` (a reader pinned to an
   older version, like a Dagster step, keeps its files for that long);
4. writes a checkpoint and removes commit files older than Delta's log retention.

Disk use is then bounded by the rows of `retention_days` plus `vacuum_hours` of replaced files.
Runs in the prediction-log writer (its child process, off the request path).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from deltalake import DeltaTable

log = logging.getLogger(__name__)

SERVICE_ROUTES = ("champion", "canary", "shadow")


class RotationError(RuntimeError):
    """One rotation failed; the log itself is unaffected and the next rotation tries again."""


@dataclass(frozen=True)
class RotationRule:
    retention_days: float = 30.0  # service-written rows older than this are deleted
    vacuum_hours: float = 168.0  # Delta's own default retention for replaced files
    every_seconds: float = 3600.0  # how often the writer rotates

    def __post_init__(self) -> None:
        if self.retention_days <= 0 or self.vacuum_hours < 0 or self.every_seconds <= 0:
            raise ValueError(
                "log rotation needs retention_days > 0, vacuum_hours >= 0 and every_seconds > 0, "
                f"got {self.retention_days}, {self.vacuum_hours}, {self.every_seconds}"
            )


@dataclass(frozen=True)
class Rotated:
    rows_deleted: int
    files_removed: int  # data files vacuumed from disk


def _delete_old(table: DeltaTable, cutoff: datetime) -> int:
    routes = ", ".join(f"'{r}'" for r in SERVICE_ROUTES)
    stamp = cutoff.strftime("%Y-%m-%d %H:%M:%S")
    result = table.delete(f"route IN ({routes}) AND logged_at < '{stamp}'")
    return int(result.get("num_deleted_rows", 0) or 0)


def rotate_log(uri: str, rule: RotationRule, now: datetime) -> Rotated:
    """Apply `rule` to the log at `uri` (`now` naive UTC, as `logged_at`); RotationError on failure."""
    from deltalake import DeltaTable

    from mlops_pipelines.lib.lake import table_exists

    if not table_exists(uri):
        return Rotated(0, 0)
    try:
        table = DeltaTable(uri)
        deleted = _delete_old(table, now - timedelta(days=rule.retention_days))
        table.optimize.compact()
        removed = table.vacuum(
            retention_hours=int(rule.vacuum_hours), enforce_retention_duration=False, dry_run=False
        )
        table.create_checkpoint()
        table.cleanup_metadata()
    except Exception as err:  # the lake's many error types: the next rotation tries again
        raise RotationError(f"rotation failed: {type(err).__name__}: {err}") from err
    return Rotated(deleted, len(removed))

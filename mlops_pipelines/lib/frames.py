"""System columns and the typed handle of a stored table slice, shared by every stage."""

from __future__ import annotations

from dataclasses import dataclass

# Columns the system adds next to the spec's own; the leading underscore keeps them apart.
EVENT_TIME = "_event_time"  # when the row happened (time column, or arrival order)
PARTITION = "_partition"  # the Dagster partition key the row belongs to
ROW_ID = "_row"  # position of the row in its source batch, for quarantine reasons
SYSTEM_COLUMNS = (EVENT_TIME, PARTITION, ROW_ID)


@dataclass(frozen=True)
class TableSlice:
    """A pinned, readable piece of a Delta table: what one asset hands to the next.

    Downstream steps read exactly `version`, never "the newest", so lineage is exact and a
    concurrent re-materialization cannot change what a running step sees.
    """

    table: str  # logical table name, e.g. "bike_sharing/validated"
    uri: str  # storage location of the Delta table
    version: int  # Delta table version after the write (-1: nothing written)
    partitions: tuple[str, ...]  # partition keys this slice covers
    rows: int  # -1 when unknown (a partition narrowed out of a range write)

    @property
    def empty(self) -> bool:
        return self.rows == 0

"""What a stage function needs from the outside world, as Protocols.

Stage functions in lib/ take these, never a Dagster resource: the resources in
`mlops_pipelines/resources/` satisfy them structurally, and the benchmarks, the backtest and
the tests pass plain implementations (or the same resources) without importing Dagster.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from mlops_pipelines.lib.frames import TableSlice
    from mlops_pipelines.spec import ProjectSpec


class TableStore(Protocol):
    """Versioned tables per project (Delta Lake): pinned slices in, pinned slices out."""

    def uri(self, project: str, table: str) -> str: ...

    def write_partitions(
        self,
        project: str,
        table: str,
        frame: pd.DataFrame | pa.Table,  # a pyarrow Table made by lake.to_arrow, or a frame
        keys: Sequence[str],
        where: dict[str, str] | None = None,
    ) -> TableSlice: ...

    def read_slice(self, piece: TableSlice, columns: Sequence[str] | None = None) -> pd.DataFrame: ...

    def slice_rows(self, piece: TableSlice) -> dict[str, int]: ...

    def read(
        self,
        project: str,
        table: str,
        keys: Sequence[str] | None = None,
        version: int | None = None,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame: ...

    def version(self, project: str, table: str) -> int: ...

    def partitions(self, project: str, table: str, version: int | None = None) -> list[str]: ...


class SourceReader(Protocol):
    """One time window [start, end) of a project's incoming data."""

    def read_window(self, spec: ProjectSpec, start: datetime, end: datetime) -> pd.DataFrame: ...

    def describe(self, spec: ProjectSpec) -> str: ...


class ReportFiles(Protocol):
    """Where rendered reports go and the link a person opens them with."""

    def path(self, project: str, kind: str, name: str) -> Path: ...

    def link(self, path: Path) -> str: ...


class Alerts(Protocol):
    """Deliver one alert; a failed delivery raises."""

    def send(self, project: str, severity: str, title: str, details: dict[str, Any]) -> None: ...

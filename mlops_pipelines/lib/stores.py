"""Plain implementations of the ports (`lib.ports`) for code that runs without Dagster.

The Dagster resources (`resources.lakehouse.Lakehouse`, `resources.data.DataSource`,
`resources.reports.ReportStore`) satisfy `TableStore`, `SourceReader` and `ReportFiles`
inside runs; the benchmarks' plain path, the backtest and the stage tests pass these instead,
so a stage function behaves the same in and out of Dagster while only the Dagster path pays
Dagster's import. Both delegate to the same functions (`lib.lake`, `lib.ingestion.sources`,
`ReportDir`): there is one way to write a partition, one way to read a window, one report
layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_pipelines.lib import lake
from mlops_pipelines.lib.frames import PARTITION, TableSlice

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from mlops_pipelines.spec import ProjectSpec


@dataclass(frozen=True)
class DeltaTables:
    """`TableStore` over Delta tables under `root` (a local directory or an object-store URI)."""

    root: str
    storage_options: dict[str, str] | None = None

    def uri(self, project: str, table: str) -> str:
        return f"{self.root.rstrip('/')}/{project}/{table}"

    def write_partitions(
        self,
        project: str,
        table: str,
        frame: pd.DataFrame | pa.Table,  # a pyarrow Table made by lake.to_arrow, or a frame
        keys: Sequence[str],
        where: dict[str, str] | None = None,
    ) -> TableSlice:
        uri = self.uri(project, table)
        version = lake.write_partitions(uri, frame, PARTITION, keys, self.storage_options, where)
        return TableSlice(f"{project}/{table}", uri, version, tuple(keys), len(frame))

    def read_slice(self, piece: TableSlice, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Exactly the rows a slice pinned: its partitions at its version."""
        return lake.read(piece.uri, piece.version, PARTITION, piece.partitions, columns, self.storage_options)

    def slice_rows(self, piece: TableSlice) -> dict[str, int]:
        """Rows of each partition a slice pins, from the table's log (no data read)."""
        return lake.partition_rows(
            piece.uri, piece.version, PARTITION, piece.partitions, self.storage_options
        )

    def read(
        self,
        project: str,
        table: str,
        keys: Sequence[str] | None = None,
        version: int | None = None,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        return lake.read(self.uri(project, table), version, PARTITION, keys, columns, self.storage_options)

    def version(self, project: str, table: str) -> int:
        return lake.table_version(self.uri(project, table), self.storage_options)

    def partitions(self, project: str, table: str, version: int | None = None) -> list[str]:
        return lake.partition_keys(self.uri(project, table), PARTITION, version, self.storage_options)


@dataclass(frozen=True)
class SourceFiles:
    """`SourceReader` over a project's files (or its simulator), parsed files cached in `cache_dir`.

    `data_dir` None: the spec's own `data_dir` (or none, for a simulator or URL source).
    """

    data_dir: str | None
    cache_dir: Path

    def read_window(self, spec: ProjectSpec, start: datetime, end: datetime) -> pd.DataFrame:
        from mlops_pipelines.lib.ingestion import sources

        data_dir = sources.resolve_data_dir(spec, self.data_dir)
        return sources.read_partition(spec, start, end, data_dir, self.cache_dir)

    def describe(self, spec: ProjectSpec) -> str:
        if spec.source.kind == "simulator":
            return "built-in simulator (synthetic)"
        if spec.source.kind == "url":
            return f"{spec.source.url} (sha256 {spec.source.sha256})"
        base = spec.data_dir or self.data_dir or "<MLOPS_DATA_DIR unset>"
        return ", ".join(f"{base}/{f.path}" for f in spec.source.files)


@dataclass(frozen=True)
class ReportDir:
    """`ReportFiles` under `root` (<root>/<project>/<kind>/<name>): the layout
    `resources.reports.ReportStore` uses inside runs.

    Linked under `base_url` (where `root` is served over http: the UI's links must open from an
    http page); with no base URL (offline stage tests, benchmarks) as file:// URIs."""

    root: Path
    base_url: str | None = None

    def path(self, project: str, kind: str, name: str) -> Path:
        target = self.root / project / kind / name
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def link(self, path: Path) -> str:
        if self.base_url is None:
            return path.resolve().as_uri()
        from urllib.parse import quote

        try:
            relative = path.resolve().relative_to(self.root.resolve())
        except ValueError as err:
            raise ValueError(f"report {path} is outside the reports directory {self.root}") from err
        return f"{self.base_url.rstrip('/')}/{quote(relative.as_posix())}"

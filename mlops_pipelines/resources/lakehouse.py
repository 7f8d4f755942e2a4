"""Versioned table storage: a Delta Lake root on local disk or on an object store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import dagster as dg

from mlops_pipelines.lib import lake
from mlops_pipelines.lib.frames import PARTITION, TableSlice

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa


class Lakehouse(dg.ConfigurableResource):
    """Interface: where a project's tables live and how to reach them."""

    # Empty means the embedded default under MLOPS_HOME, resolved when a step runs.
    root: str = ""

    def storage_options(self) -> dict[str, str] | None:
        return None

    def resolved_root(self) -> str:
        from mlops_pipelines.settings import load_settings

        return self.root or load_settings().lake_root

    def uri(self, project: str, table: str) -> str:
        return f"{self.resolved_root().rstrip('/')}/{project}/{table}"

    def write_partitions(
        self,
        project: str,
        table: str,
        frame: pd.DataFrame | pa.Table,  # a pyarrow Table made by lake.to_arrow, or a frame
        keys: Sequence[str],
        where: dict[str, str] | None = None,
    ) -> TableSlice:
        uri = self.uri(project, table)
        version = lake.write_partitions(uri, frame, PARTITION, keys, self.storage_options(), where)
        return TableSlice(f"{project}/{table}", uri, version, tuple(keys), len(frame))

    def append(self, project: str, table: str, frame: pd.DataFrame) -> TableSlice:
        uri = self.uri(project, table)
        keys = tuple(sorted(frame[PARTITION].astype(str).unique())) if PARTITION in frame else ()
        version = lake.append(uri, frame, self.storage_options())
        return TableSlice(f"{project}/{table}", uri, version, keys, len(frame))

    def read_slice(self, piece: TableSlice, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Exactly the rows a slice pinned: its partitions at its version."""
        return lake.read(
            piece.uri, piece.version, PARTITION, piece.partitions, columns, self.storage_options()
        )

    def slice_rows(self, piece: TableSlice) -> dict[str, int]:
        """Rows of each partition a slice pins, from the table's log (no data read)."""
        return lake.partition_rows(
            piece.uri, piece.version, PARTITION, piece.partitions, self.storage_options()
        )

    def read(
        self,
        project: str,
        table: str,
        keys: Sequence[str] | None = None,
        version: int | None = None,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        return lake.read(self.uri(project, table), version, PARTITION, keys, columns, self.storage_options())

    def exists(self, project: str, table: str) -> bool:
        return lake.table_exists(self.uri(project, table), self.storage_options())

    def version(self, project: str, table: str) -> int:
        return lake.table_version(self.uri(project, table), self.storage_options())

    def partitions(self, project: str, table: str, version: int | None = None) -> list[str]:
        return lake.partition_keys(self.uri(project, table), PARTITION, version, self.storage_options())


class LocalLakehouse(Lakehouse):
    """Delta tables under a local directory: the embedded default."""


class ObjectStoreLakehouse(Lakehouse):
    """Delta tables on S3-compatible storage; credentials come from the environment via EnvVar."""

    access_key_id: str
    secret_access_key: str
    region: str = "us-east-1"
    endpoint_url: str | None = None

    def storage_options(self) -> dict[str, str] | None:
        options = {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_REGION": self.region,
            # Delta's S3 writer needs a lock or this flag; single-writer-per-partition holds here.
            "AWS_S3_ALLOW_UNSAFE_RENAME": "true",
        }
        if self.endpoint_url:
            options["AWS_ENDPOINT_URL"] = self.endpoint_url
        return options

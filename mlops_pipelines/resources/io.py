"""The IO manager between steps: small typed handles, not data.

Data lives in Delta tables; what travels between assets is a pinned `TableSlice` (or another
small typed artifact). Dagster's default filesystem IO manager refuses outputs that cover a
partition range, which single-run backfills produce, so this one stores the handle once per
partition key and merges slices back when a downstream step reads a range.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import dagster as dg

from mlops_pipelines.lib.frames import TableSlice
from mlops_pipelines.names import OPTIONAL_INPUT


def merge_slices(pieces: list[TableSlice]) -> TableSlice:
    """One slice over several partitions of the same table.

    Each stored slice is the latest write of its partitions, and a later commit never changes
    an untouched partition, so reading every partition at the highest version is exact.
    """
    tables = {p.table for p in pieces}
    if len(tables) != 1:
        raise ValueError(f"cannot merge slices of different tables: {sorted(tables)}")
    partitions = tuple(sorted({k for p in pieces for k in p.partitions}))
    rows_by_partition: dict[tuple[str, ...], int] = {p.partitions: p.rows for p in pieces}
    known = all(r >= 0 for r in rows_by_partition.values())
    return TableSlice(
        table=pieces[0].table,
        uri=pieces[0].uri,
        version=max(p.version for p in pieces),
        partitions=partitions,
        rows=sum(rows_by_partition.values()) if known else -1,
    )


def narrow(piece: TableSlice, partition: str) -> TableSlice:
    """The part of a range's slice that one partition owns, so a later single-partition run reads
    only its own rows. Per-partition row counts are not kept: -1 means unknown."""
    if piece.partitions == (partition,):
        return piece
    if partition not in piece.partitions:
        return replace(piece, partitions=(), rows=0)
    return replace(piece, partitions=(partition,), rows=-1)


class HandleIOManager(dg.ConfigurableIOManager):
    base_dir: str = ""  # empty: MLOPS_HOME/dagster/handles, resolved when a step runs

    def _root(self) -> Path:
        from mlops_pipelines.settings import load_settings

        return Path(self.base_dir or load_settings().dagster_home / "handles")

    def _path(self, key: dg.AssetKey, partition: str | None) -> Path:
        leaf = f"{partition}.pkl" if partition is not None else "__all__.pkl"
        return self._root().joinpath(*key.path, leaf.replace("/", "_"))

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if obj is None:
            return
        keys = context.asset_partition_keys if context.has_asset_partitions else [None]
        for partition in keys:
            value = narrow(obj, partition) if isinstance(obj, TableSlice) and partition is not None else obj
            payload = pickle.dumps(value)
            path = self._path(context.asset_key, partition)
            path.parent.mkdir(parents=True, exist_ok=True)
            # Write-then-rename: a crash never leaves a half-written handle behind.
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as handle:
                handle.write(payload)
            Path(tmp).replace(path)

    def load_input(self, context: dg.InputContext) -> Any:
        key = context.asset_key
        if not context.has_asset_partitions:
            # An input declared optional (the champion before the first promotion) loads as None.
            optional = bool((context.definition_metadata or {}).get(OPTIONAL_INPUT))
            if optional and not self._path(key, None).exists():
                return None
            return self._load(key, None)
        partitions = list(context.asset_partition_keys)
        values = [self._load(key, p) for p in partitions]
        if len(values) == 1:
            return values[0]
        if all(isinstance(v, TableSlice) for v in values):
            return merge_slices(values)
        return dict(zip(partitions, values, strict=True))

    def _load(self, key: dg.AssetKey, partition: str | None) -> Any:
        path = self._path(key, partition)
        if not path.exists():
            where = f" partition {partition}" if partition else ""
            raise dg.Failure(f"{key.to_user_string()}{where} has not been materialized yet (no {path})")
        with path.open("rb") as handle:
            return pickle.load(handle)

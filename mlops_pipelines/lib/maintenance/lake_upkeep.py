"""Compact a Delta table's small files and vacuum the ones no kept version needs.

Time travel is the constraint: a registered model's lineage pins the exact features version it
trained on (`mlops.features_version`), and `reproduce` rebuilds the model from that version. So
a vacuum keeps the files of every pinned version (delta-rs `keep_versions`), whatever their age;
of everything else it keeps what was removed less than `min_retention_hours` ago, which covers
runs in flight and recent handles that pin the version their partition was written at.
Compaction only rewrites partitions holding more than one file (appended prediction logs;
delta-rs skips single-file bins), and the files it replaces fall under the same rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TableUpkeep:
    table: str
    files_before: int
    files_after: int
    bytes_before: int
    bytes_after: int
    compacted_files: int  # small files replaced by compaction (removed later by a vacuum)
    vacuumed_files: int
    kept_versions: tuple[int, ...]


def _local_bytes(uri: str) -> tuple[int, int]:
    """Data files and their bytes on a local table (object stores report 0: not measured there)."""
    root = Path(uri)
    if "://" in uri or not root.is_dir():
        return 0, 0
    files = [p for p in root.rglob("*.parquet") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def upkeep_table(
    uri: str,
    pinned: Iterable[int],
    min_retention_hours: int,
    storage_options: dict[str, str] | None = None,
) -> TableUpkeep:
    """Compact `uri`, then vacuum it keeping every version in `pinned` that the table still has."""
    from deltalake import DeltaTable

    if min_retention_hours < 0:
        raise ValueError(f"{uri}: min_retention_hours must be >= 0, got {min_retention_hours}")
    files_before, bytes_before = _local_bytes(uri)
    table = DeltaTable(uri, storage_options=storage_options)
    metrics = table.optimize.compact()
    table = DeltaTable(uri, storage_options=storage_options)
    kept = tuple(sorted({v for v in pinned if 0 <= v <= table.version()}))
    removed = table.vacuum(
        retention_hours=min_retention_hours,
        dry_run=False,
        enforce_retention_duration=False,  # the retention is ours: pinned versions are kept by name
        keep_versions=list(kept),
    )
    files_after, bytes_after = _local_bytes(uri)
    return TableUpkeep(
        table=uri,
        files_before=files_before,
        files_after=files_after,
        bytes_before=bytes_before,
        bytes_after=bytes_after,
        compacted_files=int(metrics.get("numFilesRemoved", 0)),
        vacuumed_files=len(removed),
        kept_versions=kept,
    )

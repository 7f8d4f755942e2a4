"""Small helpers every stage's asset factory shares: keys, partitions, table metadata."""

from __future__ import annotations

from typing import Any

import dagster as dg

from mlops_pipelines.lib.frames import TableSlice
from mlops_pipelines.spec import ProjectSpec


def asset_key(spec: ProjectSpec, name: str) -> dg.AssetKey:
    return dg.AssetKey([spec.name, name])


def check_key(spec: ProjectSpec, asset: str, check: str) -> dg.AssetCheckKey:
    return dg.AssetCheckKey(asset_key(spec, asset), check)


def run_partition_keys(context: dg.AssetExecutionContext) -> list[str]:
    """Every partition key this run covers (one, or a whole range under a single-run backfill)."""
    return list(context.partition_keys)


def slice_metadata(piece: TableSlice) -> dict[str, Any]:
    return {
        "table": piece.table,
        "table_uri": dg.MetadataValue.path(piece.uri),
        "table_version": piece.version,
        "rows": piece.rows,
        "partitions": len(piece.partitions),
        "first_partition": piece.partitions[0] if piece.partitions else "",
        "last_partition": piece.partitions[-1] if piece.partitions else "",
    }


def md_table(rows: list[dict[str, Any]], limit: int = 50) -> dg.MetadataValue:
    """A Markdown table for metadata; long tables are cut with a count of what was left out."""
    if not rows:
        return dg.MetadataValue.md("_none_")
    headers = list(rows[0])
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows[:limit]:
        lines.append("| " + " | ".join(str(row.get(h, "")).replace("|", "\\|") for h in headers) + " |")
    if len(rows) > limit:
        lines.append(f"\n_{len(rows) - limit} more rows not shown_")
    return dg.MetadataValue.md("\n".join(lines))

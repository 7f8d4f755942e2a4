"""Versioned tables on Delta Lake: atomic partition replace, appends and time travel.

A Delta commit is atomic: a writer that dies mid-write leaves only unreferenced data files,
and readers keep seeing the previous version. Re-writing a partition is one commit that
removes the old files of that partition and adds the new ones (`predicate` overwrite).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa


class LakeError(RuntimeError):
    """A table operation that failed; the message names the table."""


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def table_exists(uri: str, storage_options: dict[str, str] | None = None) -> bool:
    from deltalake import DeltaTable

    return bool(DeltaTable.is_deltatable(uri, storage_options=storage_options))


def table_version(uri: str, storage_options: dict[str, str] | None = None) -> int:
    """Current version, or -1 when the table does not exist yet."""
    from deltalake import DeltaTable

    if not table_exists(uri, storage_options):
        return -1
    return int(DeltaTable(uri, storage_options=storage_options).version())


def to_arrow(frame: pd.DataFrame) -> Any:
    """The Arrow table a frame is stored as (stages that gather a large result in Arrow pieces,
    far smaller than pandas object columns, convert each piece with this)."""
    import pyarrow as pa

    # Nanosecond timestamps are not Delta's; microseconds are, and lose nothing we use.
    table = pa.Table.from_pandas(frame, preserve_index=False)
    fields = []
    for field in table.schema:
        if pa.types.is_timestamp(field.type):
            fields.append(pa.field(field.name, pa.timestamp("us"), field.nullable))
        elif pa.types.is_null(field.type):
            # An all-null column has no type; string keeps the table schema stable.
            fields.append(pa.field(field.name, pa.string(), True))
        else:
            fields.append(field)
    return table.cast(pa.schema(fields))


def write_partitions(
    uri: str,
    frame: pd.DataFrame | pa.Table,
    partition_column: str,
    keys: Sequence[str],
    storage_options: dict[str, str] | None = None,
    where: dict[str, str] | None = None,
) -> int:
    """Replace the rows of partitions `keys` with `frame` (a DataFrame, or an Arrow table made by
    `to_arrow`) in one atomic commit; return the version.

    `where` narrows the replace to rows with those column values, so two writers that own
    different slices of one table (e.g. quarantine stages) never clobber each other.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    from deltalake import write_deltalake

    data = frame if isinstance(frame, pa.Table) else to_arrow(frame)
    if partition_column not in data.column_names:
        raise LakeError(f"{uri}: frame has no partition column '{partition_column}'")

    def distinct(column: str) -> set[str]:
        return {str(v) for v in pc.unique(data[column]).to_pylist()}

    stray = distinct(partition_column) - set(keys)
    if stray:
        raise LakeError(f"{uri}: rows for partitions {sorted(stray)} outside the write {list(keys)}")
    predicate = f"{partition_column} IN ({', '.join(_quote(k) for k in keys)})"
    for column, value in (where or {}).items():
        if column not in data.column_names or (data.num_rows and distinct(column) != {value}):
            raise LakeError(f"{uri}: every row must have {column} = {value!r} for this write")
        predicate += f" AND {column} = {_quote(value)}"
    if "://" not in uri:
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
    try:
        if table_exists(uri, storage_options):
            write_deltalake(uri, data, mode="overwrite", predicate=predicate, storage_options=storage_options)
        else:
            write_deltalake(
                uri, data, mode="overwrite", partition_by=[partition_column], storage_options=storage_options
            )
    except Exception as err:  # deltalake raises several unrelated types; name the table and re-raise
        raise LakeError(f"{uri}: write of partitions {list(keys)} failed: {err}") from err
    return table_version(uri, storage_options)


def append(
    uri: str, frame: pd.DataFrame, storage_options: dict[str, str] | None = None, with_version: bool = True
) -> int:
    """Append rows in one atomic commit; return the new version (-1 with `with_version=False`,
    which spares re-opening the table: frequent writers such as the prediction log skip it)."""
    from deltalake import write_deltalake

    if "://" not in uri:
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
    try:
        write_deltalake(uri, to_arrow(frame), mode="append", storage_options=storage_options)
    except Exception as err:  # see write_partitions
        raise LakeError(f"{uri}: append of {len(frame)} rows failed: {err}") from err
    return table_version(uri, storage_options) if with_version else -1


def read(
    uri: str,
    version: int | None = None,
    partition_column: str | None = None,
    keys: Sequence[str] | None = None,
    columns: Sequence[str] | None = None,
    storage_options: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Rows of the table at `version` (time travel), optionally only partitions `keys`."""
    from deltalake import DeltaTable

    if not table_exists(uri, storage_options):
        raise LakeError(f"{uri}: table does not exist")
    table = DeltaTable(uri, version=version, storage_options=storage_options)
    filters = None
    if keys is not None:
        if partition_column is None:
            raise LakeError(f"{uri}: keys given without a partition column")
        if not keys:
            return table.to_pandas(columns=list(columns) if columns else None).iloc[0:0]
        filters = [(partition_column, "in", list(keys))]
    frame = table.to_pandas(columns=list(columns) if columns else None, filters=filters)
    return frame.reset_index(drop=True)


def partition_keys(
    uri: str, partition_column: str, version: int | None = None, storage_options: dict[str, str] | None = None
) -> list[str]:
    """Partition keys present in the table at `version`, sorted."""
    from deltalake import DeltaTable

    if not table_exists(uri, storage_options):
        return []
    table = DeltaTable(uri, version=version, storage_options=storage_options)
    keys = {dict(p).get(partition_column) for p in table.partitions()}
    return sorted(k for k in keys if k is not None)


def partition_rows(
    uri: str,
    version: int,
    partition_column: str,
    keys: Sequence[str],
    storage_options: dict[str, str] | None = None,
) -> dict[str, int]:
    """Rows of each partition in `keys` at `version`, from the Delta log's file statistics (no data
    read). A partition with no file counts 0; one whose files lack a row count is left out."""
    import pyarrow as pa
    from deltalake import DeltaTable

    if not keys or not table_exists(uri, storage_options):
        return {}
    actions = pa.table(
        DeltaTable(uri, version=version, storage_options=storage_options).get_add_actions(flatten=True)
    )
    column = f"partition.{partition_column}"
    if column not in actions.column_names or "num_records" not in actions.column_names:
        return {}
    wanted = set(keys)
    counts = dict.fromkeys(keys, 0)
    unknown: set[str] = set()
    for key, rows in zip(actions[column].to_pylist(), actions["num_records"].to_pylist(), strict=True):
        if key not in wanted:
            continue
        if rows is None:
            unknown.add(key)
        else:
            counts[key] += int(rows)
    return {k: n for k, n in counts.items() if k not in unknown}

"""`source.join`: join more files to the source's rows on keys (spec_source.JoinSpec).

Every failure names the file, the key and the problem: a key missing on either side (with
'did you mean'), repeated keys in the joined file (each would copy rows), a column both sides
carry. Keys whose types differ (7 and "7") are compared as text. Rows of the source with no
match keep nulls in the joined columns (left join) or are left out (inner join, logged).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from mlops_pipelines.lib.hints import did_you_mean
from mlops_pipelines.lib.ingestion.columns import ColumnMatchError, matched_names
from mlops_pipelines.lib.ingestion.source_files import SourceError, kind_for_path, read_file, resolve_pattern

if TYPE_CHECKING:
    from mlops_pipelines.spec import ProjectSpec
    from mlops_pipelines.spec_source import JoinSpec

logger = logging.getLogger(__name__)


def join_files(spec: ProjectSpec, data_dir: Path | None) -> list[Path]:
    """Every file the joins read (for the parse cache's change detection)."""
    return [p for join in spec.source.join for p in resolve_pattern(spec.name, join.path, data_dir)]


def _read(spec: ProjectSpec, join: JoinSpec, data_dir: Path | None) -> pd.DataFrame:
    parts = []
    for path in resolve_pattern(spec.name, join.path, data_dir):
        options = (
            {**spec.source.read_options, **join.read_options}
            if (join.kind or kind_for_path(path)) == "csv"
            else dict(join.read_options)
        )
        frame = read_file(path, join.kind or kind_for_path(path), options)
        if spec.source.normalize_column_names:
            try:
                frame = frame.set_axis(matched_names(list(frame.columns), spec.columns, str(path)), axis=1)
            except ColumnMatchError as err:
                raise SourceError(str(err)) from None
        parts.append(frame)
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


def _join_one(left: pd.DataFrame, right: pd.DataFrame, join: JoinSpec, project: str) -> pd.DataFrame:
    where = f"project '{project}': source.join '{join.path}'"
    for side, frame in (("the joined file", right), ("the source files", left)):
        for key in join.on:
            if key not in frame.columns:
                hint = did_you_mean(key, map(str, frame.columns))
                raise SourceError(f"{where}: key column '{key}' not in {side}{hint}")
    repeated = right[right.duplicated(join.on, keep=False)]
    if len(repeated):
        example = repeated[join.on].iloc[0].to_dict()
        raise SourceError(
            f"{where}: {len(repeated)} row(s) repeat a key of {join.on}, e.g. {example}: each key must "
            "appear once in the joined file"
        )
    shared = [c for c in right.columns if c in left.columns and c not in join.on]
    if shared:
        raise SourceError(f"{where}: column(s) {shared} are in both the joined file and the source files")
    left, right = left.copy(), right.copy()
    for key in join.on:
        if left[key].dtype != right[key].dtype:  # 7 and "7": compare as text
            left[key] = left[key].astype(str).where(left[key].notna())
            right[key] = right[key].astype(str).where(right[key].notna())
    joined = left.merge(right, on=join.on, how=join.how, validate="many_to_one", indicator="_merge")
    unmatched = int((joined["_merge"] == "left_only").sum())
    if join.how == "inner":
        unmatched = len(left) - len(joined)
    if unmatched:
        logger.warning("%s: %d source row(s) have no match (%s join)", where, unmatched, join.how)
    return joined.drop(columns="_merge")


def apply_joins(frame: pd.DataFrame, spec: ProjectSpec, data_dir: Path | None) -> pd.DataFrame:
    """`frame` with every `source.join` applied in order, its rows in their original order."""
    for join in spec.source.join:
        frame = _join_one(frame, _read(spec, join, data_dir), join, spec.name)
    return frame

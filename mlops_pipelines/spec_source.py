"""Source sections that live apart from spec.py (the one file exempt from the size rule).

`source.join`: more files joined to the rows of `source.files` on key columns, e.g. a label
file joined to a feature file by an id:

    source:
      kind: csv
      files: [{path: features/*.csv}]
      join:
        - {path: labels.csv, on: [order_id]}

A left join by default: every feature row is kept, and one without a label has a null target
(validation quarantines it, naming the column). The joined file's keys must be unique; its
other columns must not repeat a column of the rows it joins. Its kind follows its extension
(.parquet, .jsonl, .arff, else csv) unless `kind` says otherwise.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class JoinSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str  # a file or a glob, relative to the data directory unless absolute
    on: list[str] = Field(min_length=1)  # key columns, named as the spec names them
    how: Literal["left", "inner"] = "left"
    kind: Literal["csv", "parquet", "jsonl", "arff"] | None = None
    read_options: dict[str, Any] = Field(default_factory=dict)

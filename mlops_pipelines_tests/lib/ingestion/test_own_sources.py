"""File layouts of a new user's data, generated into tmp_path: a separate label file joined on a
key, monthly files by glob, compressed CSV, JSON lines and ARFF. Each works or fails loudly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlops_pipelines.lib.frames import EVENT_TIME
from mlops_pipelines.lib.ingestion.conform import conform
from mlops_pipelines.lib.ingestion.sources import SourceError, clear_source_cache, read_source
from mlops_pipelines.spec import ProjectSpec, SpecError, parse_spec

SCHEMA = {"order_id": {"dtype": "int"}, "day": {"dtype": "date"}, "amount": {"dtype": "float"}}
LABELLED = SCHEMA | {"returned": {"dtype": "str", "nullable": True, "categories": ["no", "yes"]}}


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    clear_source_cache()


def spec_for(source: dict[str, Any], schema: dict[str, Any] | None = None) -> ProjectSpec:
    return parse_spec(
        {
            "name": "shop",
            "task": "binary",
            "source": source,
            "schema": schema or LABELLED,
            "target": "returned",
            "time": {"column": "day"},
            "partitions": {"start": "2024-01-01"},
        }
    )


def orders(n: int = 6) -> pd.DataFrame:
    days = pd.date_range("2024-01-01", periods=n, freq="D").strftime("%Y-%m-%d")
    return pd.DataFrame(
        {"Order_ID": range(1, n + 1), "Day": days, "Amount": [10.0 * i for i in range(1, n + 1)]}
    )


def test_a_label_file_is_joined_on_its_key_and_a_missing_label_stays_visible(tmp_path: Path) -> None:
    orders().to_csv(tmp_path / "orders.csv", index=False)
    labels = pd.DataFrame(
        {"order_id": ["5", "1", "2", "3", "4"], "returned": ["yes", "no", "no", "yes", "no"]}
    )
    labels.to_parquet(tmp_path / "labels.parquet")  # keys as text: compared as text
    spec = spec_for(
        {
            "kind": "csv",
            "files": [{"path": "orders.csv"}],
            "join": [{"path": "labels.parquet", "on": ["order_id"]}],
        }
    )
    frame = read_source(spec, tmp_path, tmp_path)
    # Source order kept; order 6 has no label: null, which validation quarantines by name.
    assert frame["returned"].where(frame["returned"].notna(), None).tolist() == [
        "no",
        "no",
        "yes",
        "no",
        "yes",
        None,
    ]
    assert frame[EVENT_TIME].iloc[-1] == pd.Timestamp("2024-01-06")
    assert conform(frame, spec).ok


def test_a_join_names_a_missing_key_and_repeated_keys(tmp_path: Path) -> None:
    orders().to_csv(tmp_path / "orders.csv", index=False)
    pd.DataFrame({"orderid": [1], "returned": ["no"]}).to_csv(tmp_path / "labels.csv", index=False)
    source = {
        "kind": "csv",
        "files": [{"path": "orders.csv"}],
        "join": [{"path": "labels.csv", "on": ["order_id"]}],
    }
    with pytest.raises(
        SourceError, match=r"key column 'order_id' not in the joined file; did you mean 'orderid'\?"
    ):
        read_source(spec_for(source), tmp_path, tmp_path)
    pd.DataFrame({"order_id": [1, 1], "returned": ["no", "yes"]}).to_csv(tmp_path / "labels.csv", index=False)
    clear_source_cache()
    with pytest.raises(
        SourceError, match=r"2 row\(s\) repeat a key of \['order_id'\], e.g. \{'order_id': 1\}"
    ):
        read_source(spec_for(source), tmp_path, tmp_path)
    with pytest.raises(SpecError, match=r"source.join.on names column\(s\) \['order'\]"):
        spec_for(source | {"join": [{"path": "labels.csv", "on": ["order"]}]})


def test_monthly_files_by_glob_compressed(tmp_path: Path) -> None:
    for month in ("2024-02", "2024-01"):
        frame = orders(3).assign(Day=[f"{month}-0{d}" for d in (1, 2, 3)])
        frame.to_csv(tmp_path / f"orders_{month}.csv.gz", index=False)
    spec = spec_for(
        {"kind": "csv", "files": [{"path": "orders_2024-*.csv.gz"}]}, SCHEMA | {"returned": {"dtype": "str"}}
    )
    with pytest.raises(SourceError, match="no file matches"):
        read_source(spec_for({"kind": "csv", "files": [{"path": "orders_2023-*.csv"}]}), tmp_path, tmp_path)
    frame = read_source(spec, tmp_path, tmp_path)
    assert frame["day"].tolist()[:2] == ["2024-01-01", "2024-01-02"]  # files in name order
    assert len(frame) == 6


def test_json_lines_and_arff_sources(tmp_path: Path) -> None:
    labelled = orders(2).assign(Returned=["no", "yes"])
    labelled.to_json(tmp_path / "orders.jsonl", orient="records", lines=True)
    frame = read_source(spec_for({"kind": "jsonl", "files": [{"path": "orders.jsonl"}]}), tmp_path, tmp_path)
    assert frame["returned"].tolist() == ["no", "yes"]
    nullable = LABELLED | {"amount": {"dtype": "float", "nullable": True}}
    spec = spec_for({"kind": "arff", "files": [{"path": "orders.arff"}]}, nullable)
    header = (
        "@relation orders\n@attribute Order_ID numeric\n@attribute Day {day}\n@attribute Amount numeric\n"
    )
    rows = "@attribute Returned {no,yes}\n@data\n1,'2024-01-01',10,no\n2,2024-01-02,?,yes\n"
    # Nominal and date attributes: scipy reads them.
    (tmp_path / "orders.arff").write_text(header.format(day="date yyyy-MM-dd") + rows, encoding="utf-8")
    frame = read_source(spec, tmp_path, tmp_path)
    assert frame["returned"].tolist() == ["no", "yes"] and frame["amount"].isna().tolist() == [False, True]
    assert frame[EVENT_TIME].tolist() == [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-02")]
    # A string attribute (scipy refuses those): the small reader takes over, quotes and '?' included.
    (tmp_path / "orders.arff").write_text("% orders\n" + header.format(day="string") + rows, encoding="utf-8")
    clear_source_cache()
    frame = read_source(spec, tmp_path, tmp_path)
    assert frame["day"].tolist() == ["2024-01-01", "2024-01-02"] and frame["amount"].isna().tolist() == [
        False,
        True,
    ]
    (tmp_path / "orders.arff").write_text(
        "@relation x\n@attribute a string\n@data\n{0 1}\n", encoding="utf-8"
    )
    clear_source_cache()
    with pytest.raises(
        SourceError, match=r"orders.arff: cannot read as arff: .*sparse ARFF rows are not supported"
    ):
        read_source(spec, tmp_path, tmp_path)

"""The prediction-log writer on real Delta tables: batching, shutdown flush, outages, schema."""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from serving_support import bike_frame, request_rows, wait_for

from mlops_pipelines.lib.lake import append, read, table_exists, write_partitions
from mlops_pipelines.lib.scoring.prediction_log import Predictions, build_log_frame
from mlops_pipelines.serving.columns import RequestRows
from mlops_pipelines.serving.logsink import InProcessSink, LogEntry, LogSink, ProcessSink
from mlops_pipelines.serving.predlog import PredictionLogWriter
from mlops_pipelines.serving.schemas import build_request_schema
from mlops_pipelines.spec import ProjectSpec


@pytest.fixture(scope="module")
def spec(specs: dict[str, ProjectSpec]) -> ProjectSpec:
    return specs["bike_sharing"]


@pytest.fixture(scope="module")
def frame(shared_data_dir: Path, spec: ProjectSpec) -> pd.DataFrame:
    return bike_frame(shared_data_dir, spec).iloc[:60]


@pytest.fixture(scope="module")
def parsed(frame: pd.DataFrame, spec: ProjectSpec) -> list[dict[str, Any]]:
    body = json.dumps({"rows": request_rows(frame, spec)}).encode()
    return build_request_schema(spec).parse(body)


def _entries(spec: ProjectSpec, rows: list[dict[str, Any]], size: int, prefix: str = "r") -> list[LogEntry]:
    now = datetime.now(UTC).replace(tzinfo=None)
    return [
        LogEntry(
            RequestRows.from_rows(spec, rows[i : i + size], now),
            Predictions.regression(np.arange(i, i + len(rows[i : i + size]), dtype="float64")),
            "champion",
            "1",
            f"{prefix}{i}",
            1.5,
            now,
        )
        for i in range(0, len(rows), size)
    ]


def _sink(kind: str, spec: ProjectSpec, uri: str) -> LogSink:
    return ProcessSink(spec, uri) if kind == "process" else InProcessSink(spec, uri)


@pytest.mark.parametrize("sink", ["process", "thread"])
def test_rows_are_written_in_batches_and_the_rest_on_close(
    tmp_path: Path, spec: ProjectSpec, parsed: list[dict[str, Any]], sink: str
) -> None:
    uri = str(tmp_path / "predictions")
    writer = PredictionLogWriter(spec, uri, flush_rows=20, flush_seconds=60, sink=_sink(sink, spec, uri))
    writer.start()
    entries = _entries(spec, parsed[:30], 5)
    for entry in entries[:3]:
        writer.submit(entry)
    time.sleep(0.3)
    assert writer.rows_written == 0  # 15 rows: neither 20 rows nor 60 s yet
    for entry in entries[3:5]:
        writer.submit(entry)
    wait_for(lambda: writer.rows_written == 25, what="the row-count flush")
    writer.submit(entries[5])
    writer.close()
    log = read(uri)
    assert len(log) == 30 and writer.rows_written == 30
    assert sorted(log["prediction"]) == list(range(30))


@pytest.mark.parametrize("sink", ["process", "thread"])
def test_a_lake_outage_keeps_the_rows_for_the_next_flush(
    tmp_path: Path, spec: ProjectSpec, parsed: list[dict[str, Any]], sink: str
) -> None:
    blocker = tmp_path / "lake"
    blocker.write_text("a file where the lake directory should be")
    uri = str(blocker / "bike_sharing" / "predictions")
    writer = PredictionLogWriter(spec, uri, flush_rows=1000, flush_seconds=0.1, sink=_sink(sink, spec, uri))
    writer.start()
    for entry in _entries(spec, parsed[:10], 5):
        writer.submit(entry)
    wait_for(lambda: writer.last_error is not None, what="the failed write")
    assert writer.rows_written == 0 and not table_exists(uri)
    blocker.unlink()  # the outage ends
    wait_for(lambda: writer.rows_written == 10, what="the retried write")
    writer.close()
    assert len(read(uri)) == 10 and writer.last_error is None


def _process_writer(
    spec: ProjectSpec, tmp_path: Path, flush_seconds: float
) -> tuple[str, ProcessSink, PredictionLogWriter]:
    uri = str(tmp_path / "predictions")
    sink = ProcessSink(spec, uri)
    writer = PredictionLogWriter(spec, uri, flush_rows=1000, flush_seconds=flush_seconds, sink=sink)
    writer.start()
    return uri, sink, writer


def test_a_dead_writer_process_is_replaced_and_its_batch_retried(
    tmp_path: Path, spec: ProjectSpec, parsed: list[dict[str, Any]]
) -> None:
    uri, sink, writer = _process_writer(spec, tmp_path, 0.1)
    entries = _entries(spec, parsed[:20], 5)
    writer.submit(entries[0])
    wait_for(lambda: writer.rows_written == 5, what="the first write")
    first = sink.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    for entry in entries[1:]:
        writer.submit(entry)
    wait_for(lambda: writer.rows_written == 20, what="writes through a new process")
    assert sink.pid not in (None, first)
    writer.close()
    assert sink.pid is None and len(read(uri)) == 20
    assert sorted(read(uri)["prediction"]) == list(range(20))


def test_the_writer_process_ignores_sigint_until_the_last_flush(
    tmp_path: Path, spec: ProjectSpec, parsed: list[dict[str, Any]]
) -> None:
    """Ctrl-C reaches the whole process group: the child must outlive it to take the final batch."""
    uri, sink, writer = _process_writer(spec, tmp_path, 60)
    wait_for(lambda: sink.pid is not None, what="the writer process")
    time.sleep(1.0)  # its signal handlers are set once it runs
    child = sink.pid
    assert child is not None
    os.kill(child, signal.SIGINT)
    time.sleep(0.5)
    assert sink.pid == child  # still the same process: it ignored the signal
    for entry in _entries(spec, parsed[:10], 5):
        writer.submit(entry)
    writer.close()
    assert writer.rows_written == 10 and len(read(uri)) == 10


def test_rows_that_cannot_be_built_are_dropped_not_retried_forever(
    tmp_path: Path, spec: ProjectSpec, parsed: list[dict[str, Any]]
) -> None:
    uri = str(tmp_path / "predictions")
    writer = PredictionLogWriter(spec, uri, flush_rows=1000, flush_seconds=0.1, sink=ProcessSink(spec, uri))
    writer.start()
    good = _entries(spec, parsed[:10], 5)
    broken = replace(good[0], predictions=Predictions.regression(np.zeros(2)))  # 2 predictions, 5 rows
    writer.submit(broken)
    wait_for(lambda: writer.last_error is not None, what="the refused batch")
    assert "cannot build log rows" in str(writer.last_error) and "2 prediction(s) for 5 row(s)" in str(
        writer.last_error
    )
    for entry in good:
        writer.submit(entry)
    writer.close()
    assert writer.rows_written == 10 and len(read(uri)) == 10


def test_a_broken_entry_does_not_take_the_good_rows_of_its_batch_with_it(
    tmp_path: Path, spec: ProjectSpec, parsed: list[dict[str, Any]]
) -> None:
    uri = str(tmp_path / "predictions")
    writer = PredictionLogWriter(spec, uri, flush_rows=1000, flush_seconds=60, sink=ProcessSink(spec, uri))
    good = _entries(spec, parsed[:15], 5)
    broken = replace(good[0], predictions=Predictions.regression(np.zeros(2)), request_id="broken")
    for entry in [good[0], broken, good[1], good[2]]:  # one flush, one batch
        writer.submit(entry)
    writer.close()  # never started: one drain, one flush of all four entries as one batch
    assert "17 prediction(s) for 20 row(s)" in str(writer.last_error)  # the batch, refused whole
    assert writer.rows_written == 0 and not table_exists(uri)
    writer.start()
    writer.close()  # the next flush writes the good entries kept from that batch
    log = read(uri)
    assert writer.rows_written == 15 and len(log) == 15 and "broken" not in set(log["request_id"])


def test_service_rows_have_the_batch_routes_schema(
    tmp_path: Path, spec: ProjectSpec, frame: pd.DataFrame, parsed: list[dict[str, Any]]
) -> None:
    """Conformed rows scored in batch and JSON rows scored online share one table schema."""
    conformed = frame.iloc[:24].copy()
    conformed["_partition"] = conformed["dteday"].dt.strftime("%Y-%m-%d")
    ints = [c for c, col in spec.columns.items() if col.dtype == "int"]
    conformed[ints] = conformed[ints].astype("Int64")
    batch = build_log_frame(spec, conformed, Predictions.regression(np.ones(24)), "batch", "1", "b", 0.0)
    online = PredictionLogWriter(spec, "unused").frame(_entries(spec, parsed[24:30], 6))
    assert batch.dtypes.to_dict() == online.dtypes.to_dict()
    uri = str(tmp_path / "predictions")
    write_partitions(uri, batch, "_partition", sorted(set(batch["_partition"])))

    append(uri, online)
    assert read(uri)["route"].value_counts().to_dict() == {"batch": 24, "champion": 6}

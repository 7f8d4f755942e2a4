"""MLflow's cloudpickle caution is dropped around our own save, and only that record, only there."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline

from mlops_pipelines.lib.registry.model_logging import (
    PICKLE_WARNING_LOGGER,
    PICKLE_WARNING_START,
    pickle_warning_dropped,
)


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def logged() -> Iterator[list[str]]:
    # A handler on MLflow's own logger sees what passes the logger's filters, whatever MLflow
    # does with propagation.
    handler = Collect()
    logger = logging.getLogger(PICKLE_WARNING_LOGGER)
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


def _save(target: Path) -> None:
    import mlflow.sklearn

    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [2.0, 4.0, 6.0]})
    model = make_pipeline(LinearRegression()).fit(frame[["x"]], frame["y"])
    mlflow.sklearn.save_model(model, str(target), serialization_format="cloudpickle")


def _pickle_warnings(messages: list[str]) -> list[str]:
    return [m for m in messages if m.startswith(PICKLE_WARNING_START)]


def test_our_cloudpickle_save_logs_no_pickle_caution(tmp_path: Path, logged: list[str]) -> None:
    with pickle_warning_dropped():
        _save(tmp_path / "model")
        logging.getLogger(PICKLE_WARNING_LOGGER).warning("anything else MLflow says")
    assert _pickle_warnings(logged) == []
    assert "anything else MLflow says" in logged  # the logger is not silenced


def test_a_save_outside_ours_still_logs_the_caution(tmp_path: Path, logged: list[str]) -> None:
    _save(tmp_path / "model")
    assert len(_pickle_warnings(logged)) == 1

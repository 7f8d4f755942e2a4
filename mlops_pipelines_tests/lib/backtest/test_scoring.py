"""Secondary pooled metrics of a backtest: computed like the primary one, or named when undefined."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pandas as pd

from mlops_pipelines.lib.backtest import schedules
from mlops_pipelines.lib.backtest.engine import run_backtest
from mlops_pipelines.lib.backtest.history import History
from mlops_pipelines.lib.backtest.models import ModelBank
from mlops_pipelines.lib.backtest.output import report_json, report_lines
from mlops_pipelines.lib.backtest.scoring import concat, score, secondary_metrics
from mlops_pipelines.lib.metrics import Predictions
from mlops_pipelines.spec import PACKAGED_PROJECTS, load_spec
from mlops_pipelines_tests.lib.backtest.conftest import short_spec


def test_secondary_metrics_follow_the_task_and_kpis_without_the_primary() -> None:
    regression = short_spec()  # primary mae, KPI r2
    assert secondary_metrics(regression) == ("rmse", "r2")
    binary = load_spec(PACKAGED_PROJECTS / "scenarios" / "sim_recurring_busy.yaml")  # primary roc_auc
    assert secondary_metrics(binary) == ("accuracy",)


def test_secondary_metrics_are_pooled_over_every_scored_row(
    short_history: History, short_bank: tuple[ModelBank, int]
) -> None:
    bank, boot = short_bank
    scored = range(boot + 1, len(short_history.keys))
    plan = schedules.periodic(boot, scored, 10)
    result = score(plan, bank, scored)
    rows = concat([bank.predict(model, i) for model, i in zip(plan.serving, scored, strict=True)])
    rmse = float(np.sqrt(np.mean((rows.y_true - rows.y_pred) ** 2)))
    values = dict(result.secondary)
    assert set(values) == {"rmse", "r2"} and result.undefined == ()
    assert np.isclose(values["rmse"], rmse) and values["rmse"] > result.value  # rmse >= mae
    assert score(plan, bank, scored, also=False).secondary == ()

    report = run_backtest(short_history, bank=bank, periods=[10])
    strategies = {s["strategy"]: s for s in report_json(report)["strategies"]}
    assert strategies["oracle"]["secondary"]["rmse"]["share_of_oracle"] == 1.0
    periodic = strategies["periodic(10)"]["secondary"]["rmse"]
    assert np.isclose(periodic["value"], rmse) and 0 < periodic["share_of_oracle"] < 1
    header = report_lines(report)[1]
    assert "rmse (of oracle)" in header and "r2 (of oracle)" in header


@dataclass(frozen=True)
class _ConstantBank:
    """Stands in for a ModelBank whose every partition has the same label (r2 is undefined)."""

    history: SimpleNamespace

    def predict(self, as_of: int, partition: int) -> Predictions:
        truth = np.full(4, 3.0)
        return Predictions(pd.RangeIndex(4), truth, truth + np.array([1.0, -1.0, 0.5, 0.0]), None)


def test_a_secondary_metric_undefined_on_the_rows_is_named_not_invented() -> None:
    bank = _ConstantBank(SimpleNamespace(spec=short_spec()))
    plan = schedules.static(0, range(1, 4))
    result = score(plan, bank, range(1, 4))  # type: ignore[arg-type]
    assert result.undefined == ("r2",) and [m for m, _ in result.secondary] == ["rmse"]
    assert np.isclose(result.value, 0.625)

"""Real data in small partitions (bike_weekly: 7 rows a week): the loop keeps retraining.

With the holdout alone (56 rows) and the gate's 200-row minimum every challenger was
"insufficient evidence" and the first model served for two years (44.6 % of the oracle).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_pipelines.lib.backtest.engine import bootstrap_index, bootstrap_params, run_backtest
from mlops_pipelines.lib.backtest.history import History, load_history
from mlops_pipelines.lib.backtest.models import ModelBank, holdout_size
from mlops_pipelines.lib.backtest.policy import replay_policy, rolling_origin
from mlops_pipelines.spec import PACKAGED_PROJECTS, load_spec


@pytest.fixture(scope="module")
def weekly(shared_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> History:
    spec = load_spec(PACKAGED_PROJECTS / "scenarios" / "bike_weekly.yaml")
    return load_history(spec, str(shared_data_dir), tmp_path_factory.mktemp("cache"))


def test_small_partitions_are_evaluated_further_back_and_still_promote(weekly: History) -> None:
    assert len(weekly.keys) == 104 and {weekly.size(i) for i in range(1, 103)} == {7}
    boot = bootstrap_index(weekly)
    bank = ModelBank(weekly, bootstrap_params(weekly, boot), workers=1)
    # 8 holdout weeks hold 56 rows: the evaluation reaches back 29 weeks (203 rows) once the
    # history allows, in folds of the holdout's fold length (3 weeks).
    last = len(weekly.keys) - 2
    assert holdout_size(weekly, last) == 29 and holdout_size(weekly, boot - 1) < 29
    challenge = rolling_origin(bank, last + 1, None)
    assert challenge is not None and len(challenge.partitions) == 29
    assert len(challenge.pooled.y_true) == 203
    report = run_backtest(weekly, policy=replay_policy, bank=bank)
    policy, static = report.result("policy"), report.result("static")
    assert policy.share_of_oracle is not None and static.share_of_oracle is not None
    promoted = [e for e in policy.schedule.events if e.kind == "promote"]
    assert policy.score.retrains == len(promoted) >= 3
    assert policy.share_of_oracle > static.share_of_oracle + 0.2
    # Promotions on fewer than 200 compared rows say so, and why the challenger passed.
    short = [e for e in promoted if "rows: too few to judge non-inferiority" in e.reason]
    assert short and all(
        "lies above 0: clearly better" in e.reason or "at least as good on the point estimate" in e.reason
        for e in short
    )

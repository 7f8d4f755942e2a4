"""validate_partitions: one GX run over many partitions, the same outcome as validate_batch per partition.

The oracle is `validate_batch` on each partition alone (GX judging every expectation itself), on
real bike_sharing and adult rows with faults from `faults.inject_fault` in some partitions.
GX costs about 0.5-0.9 s per run, so each scenario is built and validated once per module.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlops_pipelines.lib.frames import EVENT_TIME, PARTITION, ROW_ID
from mlops_pipelines.lib.ingestion.conform import conform
from mlops_pipelines.lib.ingestion.faults import inject_fault
from mlops_pipelines.lib.validation.batches import index_partitions
from mlops_pipelines.lib.validation.gx import ValidationOutcome, validate_batch, validate_partitions
from mlops_pipelines.spec import ProjectSpec, load_specs

SPECS = load_specs()
ADULT = SPECS["adult_income"]
# bike_sharing has no nullable column: make 'hum' one, to fault a nullable column.
BIKE = SPECS["bike_sharing"].model_copy(
    update={
        "columns": {
            **SPECS["bike_sharing"].columns,
            "hum": SPECS["bike_sharing"].columns["hum"].model_copy(update={"nullable": True}),
        }
    }
)
EMPTY_DAY = "2011-01-08"


@dataclass(frozen=True, eq=False)
class Scenario:
    whole: pd.DataFrame  # every partition's rows, conformed at once
    keys: list[str]
    batches: dict[str, pd.DataFrame]  # each partition with rows, conformed alone
    alone: dict[str, ValidationOutcome]  # validate_batch, partition by partition
    together: dict[str, ValidationOutcome]  # validate_partitions, one call


def _conformed(raw: pd.DataFrame, spec: ProjectSpec) -> pd.DataFrame:
    result = conform(raw, spec)
    assert result.frame is not None, result.problems
    return result.frame


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def bike_days(shared_data_dir: Path) -> dict[str, pd.DataFrame]:
    hours = pd.read_csv(shared_data_dir / "bike_sharing" / "hour.csv")
    days = {str(day): rows.reset_index(drop=True) for day, rows in hours.groupby("dteday")}
    return {day: rows for day, rows in days.items() if day < EMPTY_DAY}


def with_system_columns(raw: pd.DataFrame, key: str) -> pd.DataFrame:
    out = raw.copy()
    out[EVENT_TIME] = pd.to_datetime(out["dteday"]) + pd.to_timedelta(out["hr"], unit="h")
    out[PARTITION] = key
    return out


def assert_same(got: ValidationOutcome, want: ValidationOutcome, key: str) -> None:
    pd.testing.assert_frame_equal(got.valid, want.valid, obj=f"{key} valid")
    pd.testing.assert_frame_equal(got.quarantine, want.quarantine, obj=f"{key} quarantine")
    assert got.expectations == want.expectations, key
    assert got.batch_problems == want.batch_problems, key
    assert (got.rows_in, got.passed) == (want.rows_in, want.passed), key


def run_both(frames: dict[str, pd.DataFrame], keys: list[str], spec: ProjectSpec) -> Scenario:
    """The partitions conformed and validated one by one (the old asset loop), and all at once."""
    batches = {key: _conformed(frame, spec) for key, frame in frames.items()}
    whole = _conformed(pd.concat(frames.values(), ignore_index=True), spec)
    alone = {key: validate_batch(batches.get(key, whole.iloc[0:0]), spec, key) for key in keys}
    return Scenario(whole, keys, batches, alone, validate_partitions(whole, spec, keys))


@pytest.fixture(scope="module")
def bike(shared_data_dir: Path) -> Scenario:
    """Five real days, four of them faulted, and a day without rows; rows numbered by position."""
    raw = bike_days(shared_data_dir)
    raw["2011-01-02"] = inject_fault(raw["2011-01-02"], "out_of_range", "temp", _rng(1))
    raw["2011-01-02"] = inject_fault(raw["2011-01-02"], "nulls", "hum", _rng(2), share=0.2)
    raw["2011-01-03"] = inject_fault(raw["2011-01-03"], "out_of_range", "atemp", _rng(3), share=0.3)
    day4 = inject_fault(raw["2011-01-04"], "nulls", "windspeed", _rng(5), share=0.05)
    day4 = inject_fault(day4, "duplicates", "", _rng(4))
    # Day 4 also repeats a row of day 1: a duplicate across partitions is no duplicate.
    raw["2011-01-04"] = pd.concat([day4, raw["2011-01-01"].iloc[[7]]], ignore_index=True)
    raw["2011-01-05"] = inject_fault(raw["2011-01-05"], "all_null", "hum")
    frames = {day: with_system_columns(rows, day) for day, rows in raw.items()}
    return run_both(frames, [*frames, EMPTY_DAY], BIKE)


@pytest.fixture(scope="module")
def adult(shared_data_dir: Path) -> Scenario:
    """Real adult rows in three partitions (one below min_rows), rows numbered by the reader."""
    raw = pd.read_csv(shared_data_dir / "adult" / "adult.data", **ADULT.source.read_options)
    parts = {"p1": raw.iloc[:150], "p2": raw.iloc[150:300], "p3": raw.iloc[300:350]}
    parts["p1"] = inject_fault(parts["p1"], "unseen_category", "education", _rng(6), share=0.05)
    parts["p1"] = inject_fault(parts["p1"], "nulls", "workclass", _rng(7), share=0.3)
    parts["p2"] = inject_fault(parts["p2"], "all_null", "occupation")
    parts["p2"] = inject_fault(parts["p2"], "nulls", "age", _rng(8), share=0.02)
    frames = {}
    for key, part in parts.items():
        part = part.reset_index(drop=True)
        part[EVENT_TIME] = pd.date_range("2024-01-01", periods=len(part), freq="min")
        part[PARTITION] = key
        part[ROW_ID] = np.arange(len(part)) + 1000
        frames[key] = part
    return run_both(frames, list(frames), ADULT)


@pytest.mark.parametrize("scenario", ["bike", "adult"])
def test_each_partition_gets_exactly_what_validate_batch_gives_it(
    scenario: str, request: pytest.FixtureRequest
) -> None:
    found: Scenario = request.getfixturevalue(scenario)
    assert list(found.together) == found.keys
    for key in found.keys:
        assert_same(found.together[key], found.alone[key], key)


def test_bike_faults_land_in_their_own_partitions(bike: Scenario) -> None:
    outcomes = bike.together
    assert outcomes["2011-01-01"].passed and outcomes["2011-01-01"].rows_quarantined == 0
    assert outcomes["2011-01-02"].passed and outcomes["2011-01-02"].rows_quarantined == 2
    assert outcomes["2011-01-02"].quarantine["reasons"].str.contains("column 'temp'").all()
    assert outcomes["2011-01-02"].valid["hum"].isna().sum() == 5  # nullable: partly null is fine
    assert outcomes["2011-01-03"].batch_problems == (
        "quarantined 7 of 22 rows (31.8%), above max_quarantine_share 20.0%",
    )
    reasons = outcomes["2011-01-04"].quarantine["reasons"]
    assert reasons.str.contains("duplicate of row ").sum() == 2
    # The null row was also resent: both copies are null, the second also a repeat.
    assert reasons.str.contains("column 'windspeed': null value not allowed").sum() == 2
    assert outcomes["2011-01-05"].batch_problems == (
        "column 'hum' is entirely null (expect_column_proportion_of_non_null_values_to_be_between)",
    )
    empty = outcomes[EMPTY_DAY]
    assert empty.batch_problems == ("row count 0 below minimum 1 (expect_table_row_count_to_be_between)",)
    assert empty.rows_in == 0 and list(empty.valid.columns) == list(bike.whole.columns)


def test_a_row_repeated_in_another_partition_is_no_duplicate(bike: Scenario) -> None:
    outcome = bike.together["2011-01-04"]
    assert (outcome.valid["instant"] == 8).sum() == 1  # day 1's hour 7, resent on day 4
    assert not outcome.quarantine["reasons"].str.contains("duplicate of row 7 ").any()


def test_the_same_two_days_as_one_batch_do_flag_the_repeat(bike: Scenario) -> None:
    both = pd.concat([bike.batches["2011-01-01"], bike.batches["2011-01-04"]], ignore_index=True)
    outcome = validate_batch(both, BIKE, "2011-01-01+04")
    reasons = outcome.quarantine["reasons"]
    assert reasons.str.startswith("duplicate of row 7 over all spec columns").sum() == 1


def test_adult_faults_land_in_their_own_partitions(adult: Scenario) -> None:
    outcomes = adult.together
    unseen = outcomes["p1"].quarantine
    assert len(unseen) == 8 and unseen["reasons"].str.contains("column 'education': value '__unseen").all()
    assert unseen["_row"].min() >= 1000  # the reader's numbers, not frame positions
    assert outcomes["p1"].passed and outcomes["p1"].valid["workclass"].isna().sum() >= 45
    assert "column 'occupation' is entirely null" in outcomes["p2"].batch_problems[0]
    assert outcomes["p2"].quarantine["reasons"].str.contains("column 'age': null").sum() == 3
    assert (
        outcomes["p3"].batch_problems[0]
        == "row count 50 below minimum 100 (expect_table_row_count_to_be_between)"
    )


def test_an_expectation_that_errors_errs_for_every_partition(bike: Scenario) -> None:
    keys = ["2011-01-02", EMPTY_DAY]
    frame = bike.whole[bike.whole[PARTITION].isin(keys)].drop(columns=["windspeed"])
    outcomes = validate_partitions(frame, BIKE, keys)
    for key in keys:
        errored = [(e.name, e.column) for e in outcomes[key].expectations if e.errored]
        assert errored == [
            ("expect_column_values_to_not_be_null", "windspeed"),
            ("expect_column_values_to_be_between", "windspeed"),
            ("expect_compound_columns_to_be_unique", None),
        ], key
        batch = bike.batches[key].drop(columns=["windspeed"]) if key in bike.batches else frame.iloc[0:0]
        assert_same(outcomes[key], validate_batch(batch, BIKE, key), key)


def test_partitions_must_name_every_row_once(bike: Scenario) -> None:
    whole = bike.whole
    with pytest.raises(ValueError, match=r"outside the 1 partition keys given, e.g. \['2011-01-02'"):
        validate_partitions(whole[whole[PARTITION] <= "2011-01-02"], BIKE, ["2011-01-01"])
    with pytest.raises(ValueError, match=r"partition keys must be distinct; repeated: \['2011-01-01'\]"):
        validate_partitions(whole, BIKE, ["2011-01-01", "2011-01-01"])
    with pytest.raises(ValueError, match="partition column 'day' not in the frame"):
        validate_partitions(whole, BIKE, ["2011-01-01"], partition_column="day")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from("abcd"), max_size=30), st.sets(st.sampled_from("abcdef"), min_size=4))
def test_partition_index_numbers_rows_within_their_partition(labels: list[str], extra: set[str]) -> None:
    keys = sorted(set(labels) | extra)
    index = index_partitions(pd.DataFrame({PARTITION: labels}, dtype=object), keys, PARTITION)
    expected_local = pd.Series(labels, dtype=object).groupby(labels).cumcount().to_numpy()
    assert index.local.tolist() == expected_local.tolist()
    assert index.sizes.tolist() == [labels.count(k) for k in keys]
    for key, members in zip(keys, index.members(), strict=True):
        assert members.tolist() == [i for i, label in enumerate(labels) if label == key]


@pytest.fixture(scope="module")
def unlabelled(shared_data_dir: Path) -> Scenario:
    """Days with labels missing: alone (1-01), beside defective labelled rows (1-02), and on rows
    that are defective too (1-03); bike_sharing's target `cnt` is not nullable."""
    raw = bike_days(shared_data_dir)
    raw["2011-01-01"] = inject_fault(raw["2011-01-01"], "nulls", "cnt", _rng(11), share=0.4)
    day2 = inject_fault(raw["2011-01-02"], "nulls", "cnt", _rng(12), share=0.4)
    labelled = day2.index[day2["cnt"].notna()]
    day2.loc[labelled[:4], "temp"] = 9.0  # 4 of the 14 labelled rows out of range
    raw["2011-01-02"] = day2
    raw["2011-01-03"] = inject_fault(raw["2011-01-03"], "nulls", "cnt", _rng(13), share=0.4)
    raw["2011-01-03"].loc[raw["2011-01-03"]["cnt"].isna(), "temp"] = 9.0
    raw["2011-01-04"] = inject_fault(raw["2011-01-04"], "all_null", "cnt")  # labels missing all day
    raw["2011-01-05"] = inject_fault(raw["2011-01-05"], "all_null", "temp")  # a feature: broken
    frames = {day: with_system_columns(rows, day) for day, rows in raw.items() if day <= "2011-01-05"}
    return run_both(frames, list(frames), BIKE)


def test_rows_without_a_label_are_quarantined_but_block_nothing(unlabelled: Scenario) -> None:
    for key in unlabelled.keys:
        assert_same(unlabelled.together[key], unlabelled.alone[key], key)
    day = unlabelled.together["2011-01-01"]
    assert day.rows_quarantined == 10 and day.rows_in == 24  # 42 %, above the 20 % share
    assert (
        day.quarantine["reasons"]
        .eq("column 'cnt': null value not allowed (expect_column_values_to_not_be_null)")
        .all()
    )
    assert day.passed, day.batch_problems
    assert day.valid["cnt"].notna().all()
    # A whole day without labels: every row quarantined, the expectation failed, nothing blocked.
    none = unlabelled.together["2011-01-04"]
    assert none.passed and none.rows_valid == 0 and none.rows_quarantined == none.rows_in == 23
    failed = [e for e in none.expectations if not e.success]
    assert [(e.column, e.message) for e in failed] == [
        ("cnt", "23 of 23 rows unexpected; no row has a label: not blocking")
    ]


def test_defective_labelled_rows_still_block_and_the_reason_counts_apart(unlabelled: Scenario) -> None:
    # 4 defective of the 14 labelled rows of a 23-row day: 28.6 %, with the 9 unlabelled apart.
    day = unlabelled.together["2011-01-02"]
    assert day.rows_quarantined == 13 and not day.passed
    assert day.batch_problems == (
        "quarantined 4 of 14 rows (28.6%), above max_quarantine_share 20.0%; "
        "9 row(s) without a label not counted",
    )
    # A row without a label that is also out of range is a defect: it counts.
    both = unlabelled.together["2011-01-03"]
    assert both.rows_quarantined == 9 and both.rows_in == 22
    assert both.batch_problems == ("quarantined 9 of 22 rows (40.9%), above max_quarantine_share 20.0%",)
    # A feature column null all day is a broken batch, as before.
    broken = unlabelled.together["2011-01-05"].batch_problems
    assert "column 'temp' is entirely null (expect_column_values_to_not_be_null)" in broken

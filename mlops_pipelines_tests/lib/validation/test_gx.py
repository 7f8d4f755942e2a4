"""Great Expectations validation of conformed batches: valid rows, quarantined rows, batch problems.

GX is slow to import and each run costs about 0.3-1 s whatever the size, so every scenario is
run once in a module-scoped fixture and several tests read its outcome.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops_pipelines.lib.frames import EVENT_TIME, ROW_ID
from mlops_pipelines.lib.ingestion.conform import QUARANTINE_COLUMNS, conform
from mlops_pipelines.lib.validation.gx import ValidationOutcome, validate_batch
from mlops_pipelines.lib.validation.suite import build_expectations
from mlops_pipelines.spec import ProjectSpec, ValidationSpec, load_specs

SPECS = load_specs()
BIKE = SPECS["bike_sharing"]
ADULT = SPECS["adult_income"]


def conformed(raw: pd.DataFrame, spec: ProjectSpec) -> pd.DataFrame:
    result = conform(raw, spec)
    assert result.frame is not None, result.problems
    return result.frame


def bike_batch(rows: int = 24) -> pd.DataFrame:
    hours = np.arange(rows)
    raw = pd.DataFrame(
        {
            "instant": hours + 1,
            "dteday": "2011-01-01",
            "season": 1,
            "yr": 0,
            "mnth": 1,
            "hr": hours % 24,
            "holiday": 0,
            "weekday": 6,
            "workingday": 0,
            "weathersit": 1 + hours % 3,
            "temp": 0.2 + hours / 100,
            "atemp": 0.25,
            "hum": 0.8,
            "windspeed": 0.1,
            "casual": hours,
            "registered": 2 * hours,
            "cnt": 3 * hours,
        }
    )
    raw[EVENT_TIME] = pd.Timestamp("2011-01-01") + pd.to_timedelta(hours, unit="h")
    return conformed(raw, BIKE)


def adult_batch(rows: int = 120) -> pd.DataFrame:
    """Adult's min_rows is 100: enough rows that the row count is not what fails."""
    base = {
        "age": 39,
        "workclass": "State-gov",
        "education": "Bachelors",
        "education_num": 13,
        "marital_status": "Never-married",
        "occupation": "Adm-clerical",
        "relationship": "Not-in-family",
        "race": "White",
        "sex": "Male",
        "capital_gain": 2174,
        "capital_loss": 0,
        "hours_per_week": 40,
        "native_country": "United-States",
        "income": "<=50K",
    }
    raw = pd.DataFrame([base] * rows)
    raw.insert(2, "fnlwgt", 77_516 + np.arange(rows))  # distinct rows
    raw[EVENT_TIME] = pd.date_range("2024-01-01", periods=rows, freq="min")
    return conformed(raw[[*ADULT.columns, EVENT_TIME]], ADULT)


def reasons_by_row(outcome: ValidationOutcome) -> dict[int, str]:
    return dict(zip(outcome.quarantine[ROW_ID], outcome.quarantine["reasons"], strict=True))


def assert_nothing_dropped(outcome: ValidationOutcome, frame: pd.DataFrame) -> None:
    assert outcome.rows_in == len(frame)
    assert outcome.rows_valid + outcome.rows_quarantined == outcome.rows_in


@pytest.fixture(scope="module")
def clean() -> ValidationOutcome:
    return validate_batch(bike_batch(), BIKE, "2011-01-01")


@pytest.fixture(scope="module")
def faulty() -> tuple[pd.DataFrame, ValidationOutcome]:
    """24 clean rows, then: 1.7 in [0, 1] temp, cnt -1, null hum and temp 1.2, a repeated row."""
    frame = bike_batch()
    frame.loc[2, "temp"] = 1.7
    frame.loc[5, "cnt"] = -1
    frame.loc[7, ["hum", "temp"]] = [np.nan, 1.2]
    frame = pd.concat([frame, frame.iloc[[10]]], ignore_index=True)  # row 24 repeats row 10
    return frame, validate_batch(frame, BIKE, "2011-01-01")


@pytest.fixture(scope="module")
def adult_categories() -> tuple[pd.DataFrame, ValidationOutcome]:
    frame = adult_batch()
    frame.loc[3, "education"] = "Kindergarten"  # unseen, the spec rejects it
    frame.loc[4, "native_country"] = "Atlantis"  # unseen, the spec accepts new countries
    frame.loc[5, "workclass"] = None  # nullable
    frame[ROW_ID] = np.arange(len(frame)) + 1000  # rows numbered by the reader
    return frame, validate_batch(frame, ADULT, "2024-01-01")


def test_clean_batch_passes_with_nothing_quarantined(clean: ValidationOutcome) -> None:
    assert clean.passed and clean.batch_problems == ()
    assert clean.rows_quarantined == 0 and clean.rows_valid == clean.rows_in == 24
    assert all(e.success and not e.errored for e in clean.expectations)
    names = {e.name for e in clean.expectations}
    assert {"expect_table_row_count_to_be_between", "expect_compound_columns_to_be_unique"} <= names
    pd.testing.assert_frame_equal(clean.valid, bike_batch())
    assert list(clean.quarantine.columns) == list(QUARANTINE_COLUMNS)


def test_expectation_outcomes_come_back_in_suite_order(clean: ValidationOutcome) -> None:
    expected = [(e.expectation_type, getattr(e, "column", None)) for e in build_expectations(BIKE)]
    assert [(e.name, e.column) for e in clean.expectations] == expected


def test_out_of_range_rows_are_quarantined_with_column_and_bounds(
    faulty: tuple[pd.DataFrame, ValidationOutcome],
) -> None:
    frame, outcome = faulty
    reasons = reasons_by_row(outcome)
    assert reasons[2] == "column 'temp': value 1.7 outside [0, 1] (expect_column_values_to_be_between)"
    assert reasons[5] == "column 'cnt': value -1 below minimum 0 (expect_column_values_to_be_between)"
    assert outcome.valid["instant"].tolist() == frame.drop(index=[2, 5, 7, 24])["instant"].tolist()
    assert_nothing_dropped(outcome, frame)


def test_a_row_with_several_faults_lists_every_reason_in_suite_order(
    faulty: tuple[pd.DataFrame, ValidationOutcome],
) -> None:
    reason = reasons_by_row(faulty[1])[7]
    assert reason == (
        "column 'temp': value 1.2 outside [0, 1] (expect_column_values_to_be_between); "
        "column 'hum': null value not allowed (expect_column_values_to_not_be_null)"
    )


def test_second_occurrence_of_a_duplicate_is_quarantined_first_kept(
    faulty: tuple[pd.DataFrame, ValidationOutcome],
) -> None:
    outcome = faulty[1]
    reasons = reasons_by_row(outcome)
    assert reasons[24] == "duplicate of row 10 over all spec columns (expect_compound_columns_to_be_unique)"
    assert 10 not in reasons
    assert (outcome.valid["instant"] == 11).sum() == 1
    unique = next(e for e in outcome.expectations if e.name == "expect_compound_columns_to_be_unique")
    assert not unique.success and unique.unexpected_count == 2  # GX flags both occurrences


def test_quarantine_share_at_the_limit_is_not_a_batch_problem(
    faulty: tuple[pd.DataFrame, ValidationOutcome],
) -> None:
    outcome = faulty[1]
    assert outcome.rows_quarantined == 4 and outcome.rows_in == 25  # 16% <= 20%
    assert outcome.passed, outcome.batch_problems


def test_quarantine_rows_have_the_shared_schema_and_json_payload(
    faulty: tuple[pd.DataFrame, ValidationOutcome],
) -> None:
    quarantine = faulty[1].quarantine
    assert list(quarantine.columns) == ["_partition", ROW_ID, "reasons", "payload"]
    assert str(quarantine[ROW_ID].dtype) == "int64"
    assert set(quarantine["_partition"]) == {"2011-01-01"}
    payload = json.loads(str(quarantine.set_index(ROW_ID).loc[7, "payload"]))
    assert payload["hum"] is None and payload["temp"] == 1.2 and payload["cnt"] == 21
    assert payload["dteday"].startswith("2011-01-01T00:00:00")
    assert payload[EVENT_TIME].startswith("2011-01-01T07:00:00")


def test_too_many_bad_rows_is_a_batch_problem_with_numbers() -> None:
    frame = bike_batch(10)
    frame.loc[:5, "hum"] = 1.5
    frame.index = pd.RangeIndex(500, 510)  # index labels must not leak into _row
    outcome = validate_batch(frame, BIKE, "2011-01-02")
    assert outcome.batch_problems == ("quarantined 6 of 10 rows (60.0%), above max_quarantine_share 20.0%",)
    assert not outcome.passed
    assert outcome.quarantine[ROW_ID].tolist() == [0, 1, 2, 3, 4, 5]
    assert_nothing_dropped(outcome, frame)


def test_unseen_category_is_quarantined_unless_the_spec_accepts_it(
    adult_categories: tuple[pd.DataFrame, ValidationOutcome],
) -> None:
    frame, outcome = adult_categories
    assert reasons_by_row(outcome) == {
        1003: "column 'education': value 'Kindergarten' not in the spec's 16 categories "
        "(expect_column_values_to_be_in_set)"
    }
    assert "Atlantis" in outcome.valid["native_country"].tolist()
    assert outcome.valid["workclass"].isna().sum() == 1
    assert outcome.passed, outcome.batch_problems
    assert_nothing_dropped(outcome, frame)


def test_empty_batch_fails_on_row_count_only() -> None:
    outcome = validate_batch(bike_batch().iloc[0:0], BIKE, "2011-01-03")
    assert outcome.batch_problems == ("row count 0 below minimum 1 (expect_table_row_count_to_be_between)",)
    assert outcome.rows_in == outcome.rows_valid == outcome.rows_quarantined == 0
    assert list(outcome.quarantine.columns) == list(QUARANTINE_COLUMNS)


def test_small_batch_below_min_rows_names_the_count(
    adult_categories: tuple[pd.DataFrame, ValidationOutcome],
) -> None:
    frame = adult_batch(40)
    outcome = validate_batch(frame, ADULT, "2024-01-02")
    assert "row count 40 below minimum 100 (expect_table_row_count_to_be_between)" in outcome.batch_problems
    assert outcome.rows_valid == 40  # the rows themselves are fine
    assert adult_categories[1].passed  # the 120-row twin passes


def test_all_null_column_fails_the_batch_nullable_or_not() -> None:
    frame = adult_batch()
    frame["occupation"] = None  # nullable: no row is bad, the batch is
    frame["age"] = pd.array([pd.NA] * len(frame), dtype="Int64")  # not nullable: every row is bad
    outcome = validate_batch(frame, ADULT, "2024-01-03")
    problems = outcome.batch_problems
    assert (
        "column 'occupation' is entirely null (expect_column_proportion_of_non_null_values_to_be_between)"
        in problems
    )
    assert "column 'age' is entirely null (expect_column_values_to_not_be_null)" in problems
    assert not any("'workclass'" in p for p in problems)  # partly null is fine
    assert outcome.rows_quarantined == len(frame)
    assert_nothing_dropped(outcome, frame)


def _all_null_occupation(rows: int, all_null_min_rows: int = 10) -> ValidationOutcome:
    """Adult's `occupation` is nullable; its min_rows (100) is lowered so only the nulls judge."""
    validation = ADULT.validation.model_copy(update={"min_rows": 1, "all_null_min_rows": all_null_min_rows})
    frame = adult_batch(rows)
    frame["occupation"] = None
    return validate_batch(frame, ADULT.model_copy(update={"validation": validation}), "2024-01-03")


def test_a_nullable_column_null_in_a_few_rows_is_reported_and_not_blocking() -> None:
    assert ADULT.validation.all_null_min_rows == 10  # the default
    small = _all_null_occupation(9)
    assert small.passed and small.batch_problems == ()
    (occupation,) = [e for e in small.expectations if e.column == "occupation" and not e.success]
    assert occupation.message == (
        "column 'occupation' is entirely null (expect_column_proportion_of_non_null_values_to_be_between); "
        "not blocking: 9 row(s), below validation.all_null_min_rows 10"
    )
    assert small.rows_valid == 9  # nothing quarantined: no row is bad


def test_a_nullable_column_null_in_enough_rows_blocks_and_the_setting_moves_the_bar() -> None:
    problem = (
        "column 'occupation' is entirely null (expect_column_proportion_of_non_null_values_to_be_between)"
    )
    assert _all_null_occupation(10).batch_problems == (problem,)
    assert _all_null_occupation(1, all_null_min_rows=1).batch_problems == (problem,)


def test_a_sparse_column_null_throughout_is_no_problem_and_has_no_all_null_check() -> None:
    columns = dict(ADULT.columns)
    columns["occupation"] = columns["occupation"].model_copy(update={"sparse": True})
    sparse = ADULT.model_copy(update={"columns": columns})
    frame = adult_batch()
    frame["occupation"] = None
    outcome = validate_batch(frame, sparse, "2024-01-03")
    assert outcome.passed and outcome.batch_problems == ()
    checks = {e.name for e in outcome.expectations if e.column == "occupation"}
    assert checks == {"expect_column_values_to_be_in_set"}  # its categories are still checked


def test_duplicates_are_kept_when_the_spec_allows_them() -> None:
    spec = BIKE.model_copy(update={"validation": ValidationSpec(min_rows=1, reject_duplicates=False)})
    frame = bike_batch(6)
    frame = pd.concat([frame, frame.iloc[[1]]], ignore_index=True)
    outcome = validate_batch(frame, spec, "2011-01-04")
    assert outcome.passed and outcome.rows_valid == 7 and outcome.rows_quarantined == 0
    assert "expect_compound_columns_to_be_unique" not in {e.name for e in outcome.expectations}


def test_expectation_that_errors_is_reported_apart_from_failed_data() -> None:
    frame = bike_batch(6).drop(columns=["windspeed"])  # skipped conform: a column is missing
    frame["temp"] = frame["temp"].astype(str)  # ... and one has the wrong dtype
    outcome = validate_batch(frame, BIKE, "2011-01-05")
    errored = [e for e in outcome.expectations if e.errored]
    assert {e.column for e in errored} >= {"windspeed"}
    assert all(not e.success for e in errored)
    problems = outcome.batch_problems
    assert any(p.startswith("validation errored: ") and "'windspeed'" in p for p in problems)
    assert "column 'temp' has dtype object, conform() makes it float64" in problems
    assert any("missing ['windspeed']" in p for p in problems)
    assert_nothing_dropped(outcome, frame)


def test_failed_data_is_not_reported_as_errored(faulty: tuple[pd.DataFrame, ValidationOutcome]) -> None:
    failed = [e for e in faulty[1].expectations if not e.success]
    assert failed and not any(e.errored for e in failed)
    assert not any(p.startswith("validation errored") for p in faulty[1].batch_problems)


def test_lost_rows_break_the_invariant(clean: ValidationOutcome) -> None:
    with pytest.raises(RuntimeError, match="validation lost rows: 25 in, 24 valid"):
        ValidationOutcome(clean.valid, clean.quarantine, clean.expectations, (), rows_in=25)


def test_suite_follows_the_spec() -> None:
    adult = {(e.expectation_type, getattr(e, "column", None)) for e in build_expectations(ADULT)}
    assert ("expect_column_values_to_be_in_set", "education") in adult
    assert ("expect_column_values_to_be_in_set", "native_country") not in adult  # unseen: accept
    assert ("expect_column_proportion_of_non_null_values_to_be_between", "workclass") in adult
    assert ("expect_column_values_to_not_be_null", "workclass") not in adult
    wine = [e.expectation_type for e in build_expectations(SPECS["wine_quality"])]
    assert "expect_compound_columns_to_be_unique" not in wine
    assert wine[0] == "expect_table_row_count_to_be_between"


def test_real_hour_csv_validates_clean(shared_data_dir: Path) -> None:
    raw = pd.read_csv(shared_data_dir / "bike_sharing" / "hour.csv")
    raw[EVENT_TIME] = pd.to_datetime(raw["dteday"]) + pd.to_timedelta(raw["hr"], unit="h")
    frame = conformed(raw, BIKE)
    frame.loc[100, "temp"] = 3.0  # one fault among 17,379 rows
    outcome = validate_batch(frame, BIKE, "all")
    assert outcome.passed, outcome.batch_problems
    assert reasons_by_row(outcome) == {
        100: "column 'temp': value 3.0 outside [0, 1] (expect_column_values_to_be_between)"
    }
    assert outcome.rows_valid == 17_378


def test_real_adult_data_quarantines_exactly_its_repeated_rows(shared_data_dir: Path) -> None:
    raw = pd.read_csv(shared_data_dir / "adult" / "adult.data", **ADULT.source.read_options)
    raw[EVENT_TIME] = pd.date_range("2024-01-01", periods=len(raw), freq="min")
    frame = conformed(raw, ADULT)
    outcome = validate_batch(frame, ADULT, "all")
    repeats = frame.duplicated(subset=list(ADULT.columns), keep="first")
    assert repeats.sum() > 0  # adult.data really holds repeated rows
    assert outcome.quarantine[ROW_ID].tolist() == np.flatnonzero(repeats).tolist()
    assert outcome.quarantine["reasons"].str.startswith("duplicate of row ").all()
    assert outcome.passed, outcome.batch_problems
    assert_nothing_dropped(outcome, frame)

"""Each fault injector produces its fault, and never touches its input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlops_pipelines.lib.ingestion.faults import FAULT_KINDS, inject_fault, unseen_value


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "temp": np.linspace(-5.0, 30.0, 20),
            "count": np.arange(20, dtype=np.int64),
            "weather": ["clear", "rain"] * 10,
            "when": pd.date_range("2024-01-01", periods=20, freq="h"),
        }
    )


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_input_is_never_mutated(frame: pd.DataFrame, kind: str) -> None:
    before = frame.copy()
    column = "weather" if kind == "unseen_category" else "temp"
    out = inject_fault(frame, kind, column)  # type: ignore[arg-type]
    pd.testing.assert_frame_equal(frame, before)
    assert out is not frame


def test_missing_and_extra_column(frame: pd.DataFrame) -> None:
    assert "temp" not in inject_fault(frame, "missing_column", "temp").columns
    extra = inject_fault(frame, "extra_column", "surprise")
    assert list(extra.columns) == [*frame.columns, "surprise"]
    # An existing name is not overwritten: the extra column gets its own name.
    assert "temp_extra" in inject_fault(frame, "extra_column", "temp").columns


def test_retyped_numeric_column_becomes_text(frame: pd.DataFrame) -> None:
    out = inject_fault(frame, "retyped", "temp", share=0.2)
    assert out["temp"].dtype == object
    assert all(isinstance(v, str) for v in out["temp"])
    junk = out["temp"][pd.to_numeric(out["temp"], errors="coerce").isna()]
    assert len(junk) == 4
    assert "n/a" in set(junk) and any(v.endswith("x") for v in junk)


def test_all_null_and_nulls(frame: pd.DataFrame) -> None:
    assert inject_fault(frame, "all_null", "weather")["weather"].isna().all()
    assert inject_fault(frame, "all_null", "when")["when"].isna().all()
    nulls = inject_fault(frame, "nulls", "count", share=0.25)
    assert nulls["count"].isna().sum() == 5
    assert nulls["count"].notna().sum() == 15


def test_out_of_range_exceeds_both_sides(frame: pd.DataFrame) -> None:
    out = inject_fault(frame, "out_of_range", "temp", share=0.2)
    changed = out["temp"] != frame["temp"]
    assert changed.sum() == 4
    assert (out["temp"][changed] > 300).sum() == 2 and (out["temp"][changed] < -300).sum() == 2
    ints = inject_fault(frame, "out_of_range", "count")
    assert ints["count"].dtype == np.int64 and ints["count"].max() > 19
    with pytest.raises(ValueError, match="out_of_range needs a numeric column; 'weather'"):
        inject_fault(frame, "out_of_range", "weather")


def test_unseen_category(frame: pd.DataFrame) -> None:
    out = inject_fault(frame, "unseen_category", "weather", share=0.1)
    assert (out["weather"] == unseen_value("weather")).sum() == 2
    with pytest.raises(ValueError, match="unseen_category needs a text column; 'temp'"):
        inject_fault(frame, "unseen_category", "temp")


def test_duplicates_follow_their_original(frame: pd.DataFrame) -> None:
    out = inject_fault(frame, "duplicates", "temp", share=0.1)
    assert len(out) == 22
    assert out.duplicated().sum() == 2
    first_dup = int(np.flatnonzero(out.duplicated().to_numpy())[0])
    pd.testing.assert_series_equal(out.iloc[first_dup], out.iloc[first_dup - 1], check_names=False)


def test_empty_keeps_schema(frame: pd.DataFrame) -> None:
    out = inject_fault(frame, "empty", "temp")
    assert out.empty
    assert out.dtypes.to_dict() == frame.dtypes.to_dict()


def test_rng_makes_faults_reproducible(frame: pd.DataFrame) -> None:
    a = inject_fault(frame, "nulls", "temp", rng=np.random.default_rng(3), share=0.3)
    b = inject_fault(frame, "nulls", "temp", rng=np.random.default_rng(3), share=0.3)
    c = inject_fault(frame, "nulls", "temp", rng=np.random.default_rng(4), share=0.3)
    pd.testing.assert_frame_equal(a, b)
    assert not a["temp"].isna().equals(c["temp"].isna())


def test_bad_requests_are_named(frame: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="column 'nope' not in frame"):
        inject_fault(frame, "nulls", "nope")
    with pytest.raises(ValueError, match="unknown fault kind 'melted'"):
        inject_fault(frame, "melted", "temp")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="share must be in"):
        inject_fault(frame, "nulls", "temp", share=0.0)
    with pytest.raises(ValueError, match="the frame has no rows"):
        inject_fault(frame.iloc[0:0], "duplicates", "temp")

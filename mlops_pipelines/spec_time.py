"""The spec's time axis (`time:`): which column holds the time, and how its values are read.

Kept apart from spec.py (the one file exempt from the size rule) so the time section can grow.
`format` says how the time column's values become timestamps:

- `auto` (default): detected from the values (lib/time_axis.detect_format): datetimes and
  date strings, whole numbers 1000..9999 as years, 1e8..1e11 as epoch seconds, 1e11..1e14 as
  epoch milliseconds (then microseconds, nanoseconds), 8-digit numbers as %Y%m%d, 6-digit
  ones as %y%m%d (1969..1999 and 2010..2068);
- `datetime`: date or datetime values or strings (ISO 8601 or one inferred format);
- `year`: a year number (2019 -> 2019-01-01), optionally with `month_column` (1..12) and then
  `day_column` (1..31; with `hour_column` too, data keyed by year, month, day and hour columns);
- `epoch_s`, `epoch_ms`, `epoch_us`, `epoch_ns`: a count since 1970-01-01 UTC;
- any strftime pattern containing '%', e.g. `%d/%m/%Y %H:%M` or `%Y%m%d`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

TIME_FORMATS = ("auto", "datetime", "year", "epoch_s", "epoch_ms", "epoch_us", "epoch_ns")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class ArrivalSpec(_Model):
    """For data with no time column: row i arrives at start + i * cadence."""

    start: datetime
    cadence: timedelta


class TimeSpec(_Model):
    column: str | None = None
    # How `column`'s values are read; see the module docstring.
    format: str = "auto"
    # Added to `column` as hours (bike_sharing stores the hour in its own column).
    hour_column: str | None = None
    # Added to a `year` column as months 1..12 (data keyed by year and month columns).
    month_column: str | None = None
    # Added to a year + month as the day of the month 1..31 (year, month, day [, hour] columns).
    day_column: str | None = None
    arrival: ArrivalSpec | None = None

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value not in TIME_FORMATS and "%" not in value:
            raise ValueError(
                f"unknown time format {value!r}: use one of {list(TIME_FORMATS)} or a strftime "
                "pattern such as '%Y%m%d'"
            )
        return value

    @model_validator(mode="after")
    def _one_axis(self) -> TimeSpec:
        if (self.column is None) == (self.arrival is None):
            raise ValueError("declare exactly one of 'column' or 'arrival'")
        if self.hour_column and not self.column:
            raise ValueError("'hour_column' needs 'column'")
        if self.month_column and not self.column:
            raise ValueError("'month_column' needs 'column'")
        if self.month_column and self.format not in ("auto", "year"):
            raise ValueError(f"'month_column' needs format 'year' (or 'auto'), not {self.format!r}")
        if self.day_column and not self.month_column:
            raise ValueError("'day_column' needs 'month_column' (and a year column)")
        return self

    @property
    def columns(self) -> list[str]:
        """Every data column the time axis reads."""
        found = [self.column, self.month_column, self.day_column, self.hour_column]
        return [c for c in found if c]

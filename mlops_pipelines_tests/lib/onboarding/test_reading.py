"""lib/onboarding/reading: the read_options `init` writes, and what it leaves alone."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops_pipelines.lib.ingestion.source_files import SourceError, read_file
from mlops_pipelines.lib.onboarding.reading import (
    missing_codes,
    percent_columns,
    placeholders,
    read_any,
    sniff_csv,
)


def test_a_file_saved_in_a_windows_code_page_reads_with_that_encoding(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"Date": ["01/12/2017", "02/12/2017"], "Temperature(°C)": [-5.2, 1.5], "Count": [3, 4]}
    )
    path = tmp_path / "seoul.csv"
    frame.to_csv(path, index=False, encoding="cp1252")
    read = read_any(path)
    assert read.options == {"encoding": "cp1252"} and read.empty == []
    assert list(read.frame.columns) == ["date", "temperature_c", "count"] and read.frame[
        "temperature_c"
    ].tolist() == [
        -5.2,
        1.5,
    ]
    with pytest.raises(
        SourceError, match=r"not UTF-8: set source.read_options.encoding \(cp1252 or latin-1\?\)"
    ):
        read_file(path, "csv", {})  # how ingestion reads a spec written without the option
    utf8 = tmp_path / "utf8.csv"
    frame.to_csv(utf8, index=False)
    assert read_any(utf8).options == {}  # UTF-8 needs no option


def test_a_workbook_named_csv_is_refused_not_decoded_into_garbage(tmp_path: Path) -> None:
    path = tmp_path / "book.csv"
    with zipfile.ZipFile(path, "w") as book:  # what an .xlsx is, renamed
        book.writestr("xl/workbook.xml", "<workbook/>" * 100)
    with pytest.raises(
        SourceError, match=r"book.csv: holds NUL bytes, so it is no text CSV .*save it as CSV in UTF-8"
    ):
        read_any(path)


def test_values_that_only_look_like_codes_stay_values(tmp_path: Path) -> None:
    """-200 inside a spread reaching -300, 9999 as a real maximum, a comma-separated file."""
    frame = pd.DataFrame(
        {
            "depth": np.r_[np.linspace(-300, 0, 97), [-200, -200, -200]],
            "price": np.r_[np.linspace(5000, 9999, 97), [9999, 9999, 9999]],
            "few": np.r_[np.zeros(98), [-999, -999]],  # under 3 rows: no pattern
        }
    )
    assert missing_codes(frame) == {}
    path = tmp_path / "plain.csv"
    frame.to_csv(path, index=False)
    assert "decimal" not in sniff_csv(path)
    dotted = tmp_path / "dotted.csv"
    frame.to_csv(dotted, sep=";", index=False)  # ';' but decimal dots: no decimal comma
    assert sniff_csv(dotted) == {"sep": ";"}


def test_quoted_numbers_with_thousands_separators_read_as_numbers(tmp_path: Path) -> None:
    path = tmp_path / "sales.csv"
    path.write_text(
        'day,revenue,city\n2024-01-01,"1,234.5","Paris, FR"\n2024-01-02,"12,000",Lyon\n', encoding="utf-8"
    )
    read = read_any(path)
    assert read.options == {"thousands": ","}
    assert read.frame["revenue"].tolist() == [1234.5, 12000.0]
    assert read.frame["city"].tolist() == ["Paris, FR", "Lyon"]
    plain = tmp_path / "plain.csv"
    plain.write_text('day,code,city\n2024-01-01,"1,23","Paris, FR"\n', encoding="utf-8")  # no 3-digit groups
    assert sniff_csv(plain) == {}


def test_placeholders_in_a_numeric_column_read_as_missing_there_only(tmp_path: Path) -> None:
    # Government exports write '-' or 'missing' for no reading; read as text, the column became a
    # category of every distinct number. A '-' in a text column is a value and stays one.
    path = tmp_path / "readings.csv"
    rows = [
        f"2024-01-{d:02d},{d * 1.5},{'-' if d % 4 == 0 else d},{'-' if d % 3 == 0 else 'north'}"
        for d in range(1, 29)
    ]
    rows[4] = "2024-01-05,missing,5,north"
    path.write_text("day,level,count,zone\n" + "\n".join(rows) + "\n", encoding="utf-8")
    read = read_any(path)
    assert read.options == {"na_values": {"level": ["missing"], "count": ["-"]}}
    assert read.frame["level"].dtype == "float64" and int(read.frame["level"].isna().sum()) == 1
    assert read.frame["count"].dtype == "float64" and int(read.frame["count"].isna().sum()) == 7
    assert read.frame["zone"].value_counts().to_dict() == {"north": 19, "-": 9}
    assert read_file(path, "csv", read.options)["count"].isna().sum() == 7  # ingestion reads it alike


def test_a_word_among_numbers_is_no_placeholder_and_the_column_stays_text(tmp_path: Path) -> None:
    frame = pd.DataFrame({"grade": ["1", "2", "-", "high", "3"], "size": ["1", "2", "?", "4", "5"]})
    assert placeholders(frame) == {"size": ["?"]}
    assert placeholders(pd.DataFrame({"price": ["1.234,5", "-", "2,0"]}), decimal=",", thousands=".") == {
        "price": ["-"]
    }


def test_a_placeholder_is_recorded_as_written_so_the_reader_matches_it(tmp_path: Path) -> None:
    path = tmp_path / "spaced.csv"
    path.write_text("a,b\n1, - \n2,3\n4,5\n", encoding="utf-8")  # pandas matches na_values unstripped
    read = read_any(path)
    assert read.options == {"na_values": {"b": [" - "]}}
    assert read_file(path, "csv", read.options)["b"].tolist()[1:] == [3.0, 5.0]
    assert read_file(path, "csv", {"na_values": {"b": ["-"]}})["b"].dtype == object  # stripped: no match


def test_percentages_read_as_numbers_and_are_named_for_the_reader(tmp_path: Path) -> None:
    # Lending-club exports write rates as '10.65%': as text, a category of every distinct rate.
    path = tmp_path / "loans.csv"
    path.write_text("Int Rate,grade,util\n10.65%,A,83.7%\n7.5 %,B,\n-0.5%,A,1%\n", encoding="utf-8")
    read = read_any(path)
    assert read.percent == ["int_rate", "util"]
    assert read.frame["int_rate"].tolist() == [10.65, 7.5, -0.5]
    assert read.frame["util"].dtype == "float64" and read.frame["util"].isna().sum() == 1
    assert read.frame["grade"].tolist() == ["A", "B", "A"]


def test_a_column_not_all_percentages_stays_text() -> None:
    frame = pd.DataFrame(
        {"mixed": ["10%", "12", "9%"], "word": ["10%", "n/a rate", "5%"], "ok": [".5%", "5.%", "12%"]}
    )
    assert percent_columns(frame) == ["ok"]


def _categorical_rows(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    return pd.DataFrame(
        {
            "a": rng.choice(["x", "y"], rows),
            "b": rng.choice(["p", "q", "r"], rows),
            "c": rng.choice(["lo", "hi"], rows),
            "label": rng.choice(["yes", "no"], rows),
        }
    )


def test_a_header_over_columns_of_short_text_is_kept(tmp_path: Path) -> None:
    # The csv Sniffer alone voted "no header" here: init named the columns col_1.. and the
    # target 'label' was not found.
    path = tmp_path / "categories.csv"
    _categorical_rows(300).to_csv(path, index=False)
    assert sniff_csv(path) == {}
    assert list(read_any(path).frame.columns) == ["a", "b", "c", "label"]


def test_a_headerless_file_of_short_text_stays_headerless(tmp_path: Path) -> None:
    path = tmp_path / "categories.csv"
    _categorical_rows(300).to_csv(path, index=False, header=False)
    assert sniff_csv(path) == {"header": None}
    read = read_any(path)
    assert list(read.frame.columns) == ["col_1", "col_2", "col_3", "col_4"] and len(read.frame) == 300

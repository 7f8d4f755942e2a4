"""Project specs: the packaged examples parse; every kind of bad spec names file, field and problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_pipelines.spec import (
    PACKAGED_PROJECTS,
    ProjectSpec,
    SpecError,
    load_spec,
    load_specs,
    spec_directories,
)


def _dump(tmp_path: Path, data: Any, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data, encoding="utf-8")
    return path


def _valid() -> dict[str, Any]:
    return yaml.safe_load((PACKAGED_PROJECTS / "wine_quality.yaml").read_text())


def test_packaged_examples_parse(specs: dict[str, ProjectSpec]) -> None:
    assert set(specs) == {"bike_sharing", "adult_income", "wine_quality", "demand_sim"}
    assert {"casual", "registered"} <= set(specs["bike_sharing"].features.exclude)
    assert specs["adult_income"].sensitive_attributes == ["sex", "race"]
    assert specs["adult_income"].time.arrival is not None


def test_a_new_project_is_one_yaml_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _valid() | {"name": "my_wine"}
    _dump(tmp_path, data, "mine.yaml")
    monkeypatch.setenv("MLOPS_PROJECTS_DIR", str(tmp_path))
    assert spec_directories()[-1] == tmp_path
    assert "my_wine" in load_specs()


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        ({"task": "ranking"}, "task", "Input should be"),
        ({"target": "sweetness"}, "<root>", "target"),
        ({"name": "Bad Name"}, "name", "lowercase"),
        ({"schema": {"quality": {"dtype": "float", "min": 5, "max": 1}}}, "schema.quality", "min"),
        (
            {"time": {"column": "quality", "arrival": {"start": "2024-01-01T00:00:00", "cadence": "PT1M"}}},
            "time",
            "exactly one",
        ),
        ({"colour": "red"}, "colour", "Extra inputs"),
        ({"source": {"kind": "url", "url": "https://example.org/x.csv"}}, "source", "sha256"),
        ({"kpis": [{"metric": "mae"}]}, "kpis.0", "floor"),
        ({"features": {"exclude": ["no_such_column"]}}, "<root>", "no_such_column"),
    ],
)
def test_invalid_spec_names_file_field_and_problem(
    tmp_path: Path, change: dict[str, Any], field: str, problem: str
) -> None:
    path = _dump(tmp_path, _valid() | change)
    with pytest.raises(SpecError) as err:
        load_spec(path)
    message = str(err.value)
    assert str(path) in message and f"field '{field}" in message and problem in message


def test_unreadable_or_malformed_files_are_clear(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read spec"):
        load_spec(tmp_path / "missing.yaml")
    with pytest.raises(SpecError, match="invalid YAML"):
        load_spec(_dump(tmp_path, "name: [unclosed"))
    with pytest.raises(SpecError, match="mapping at the top level"):
        load_spec(_dump(tmp_path, "- just\n- a list\n"))
    with pytest.raises(SpecError, match="does not exist"):
        load_specs([tmp_path / "no_dir"])


def test_a_sparse_column_must_be_nullable() -> None:
    from mlops_pipelines.spec import ColumnSpec

    assert ColumnSpec(dtype="str", nullable=True, sparse=True).sparse
    with pytest.raises(ValueError, match="sparse: true needs nullable: true"):
        ColumnSpec(dtype="str", sparse=True)


def test_a_spec_with_nothing_to_learn_from_is_refused_by_name(tmp_path: Path) -> None:
    """wine_quality with every feature excluded: refused at load, not by the first training run."""
    spec = _valid()
    features = [c for c in spec["schema"] if c != spec["target"]]
    with pytest.raises(SpecError, match=r"no feature columns: .*features.exclude \(quality, fixed_acidity"):
        load_spec(_dump(tmp_path, spec | {"features": {"exclude": features}}))
    # The twin: with one column kept, it loads.
    assert load_spec(_dump(tmp_path, spec | {"features": {"exclude": features[1:]}})).feature_columns == [
        features[0]
    ]

"""The spec's `promotion.approval`: off by default, durations like '72h', bad values named."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_pipelines.spec import PACKAGED_PROJECTS, ProjectSpec, SpecError, load_spec


def _with_approval(tmp_path: Path, approval: Any) -> Path:
    data = yaml.safe_load((PACKAGED_PROJECTS / "wine_quality.yaml").read_text())
    data.setdefault("promotion", {})["approval"] = approval
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_approval_is_off_for_every_packaged_project(specs: dict[str, ProjectSpec]) -> None:
    assert {name: s.promotion.approval.required for name, s in specs.items()} == dict.fromkeys(specs, False)
    assert next(iter(specs.values())).promotion.approval.expires_after == timedelta(hours=72)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("72h", timedelta(hours=72)),
        ("3d", timedelta(days=3)),
        ("90m", timedelta(minutes=90)),
        (3600, timedelta(hours=1)),
    ],
)
def test_required_approval_reads_its_expiry(tmp_path: Path, text: Any, expected: timedelta) -> None:
    spec = load_spec(_with_approval(tmp_path, {"required": True, "expires_after": text}))
    assert spec.promotion.approval.required and spec.promotion.approval.expires_after == expected


@pytest.mark.parametrize(
    ("approval", "problem"),
    [
        ({"required": True, "expires_after": "soon"}, "expires_after"),
        ({"required": True, "expires_after": "0h"}, "greater than 0"),
        ({"required": True, "by": "alice"}, "by"),
    ],
)
def test_a_bad_approval_section_names_the_field(
    tmp_path: Path, approval: dict[str, Any], problem: str
) -> None:
    path = _with_approval(tmp_path, approval)
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert (
        str(path) in str(err.value) and "promotion.approval" in str(err.value) and problem in str(err.value)
    )

"""The lineage every project's graph must have: an asset's upstream assets within its project."""

from __future__ import annotations

EXPECTED_DEPS: dict[str, set[str]] = {
    "raw": set(),
    "validated": {"raw"},
    "quarantine": {"raw"},
    "features": {"validated"},
    "model": {"features"},
    "evaluation": {"model"},
    "champion": {"model", "evaluation"},
    "predictions": {"features", "champion"},
    "drift": {"features", "champion"},
    "performance": {"predictions", "features", "champion"},
    "deployment": {"champion"},
}

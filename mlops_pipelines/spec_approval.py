"""The spec's human approval (`promotion.approval`): whether a promotion waits for a person.

Kept apart from spec.py (the one file exempt from the size rule). Off by default: the gate's
`promote` verdict moves the champion at once. With `required: true` the verdict becomes
`pending` instead, the project's alert sink is told, and the champion moves only when someone
approves (`mlops-pipelines approve`, or the approval job in the Dagster UI); an approval left
longer than `expires_after` is rejected with the reason "approval expired".
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class ApprovalSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    required: bool = False
    # '72h', '3d', '90m' (s, m, h, d, w), or anything pydantic reads as a timedelta.
    expires_after: timedelta = Field(default=timedelta(hours=72), gt=timedelta(0))

    @field_validator("expires_after", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        if isinstance(value, str) and (found := _DURATION.match(value)):
            return timedelta(seconds=float(found.group(1)) * _UNIT_SECONDS[found.group(2)])
        return value

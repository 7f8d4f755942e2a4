"""Every onboarding test reads files and may run `init` or `validate-spec`: each gets its own
state (`own_state`)."""

from __future__ import annotations

import pytest

from mlops_pipelines_tests.own_state import own_state

__all__ = ["own_state"]

pytestmark = pytest.mark.usefixtures("own_state")

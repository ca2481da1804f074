"""Which test servers this run needs, importable from any test folder (a test module cannot import
`conftest` by name: pytest loads several, and the first one imported answers to it)."""
from __future__ import annotations

import os

import pytest

PG_URL = os.environ.get("SACHNOI_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def services_required() -> bool:
    return os.environ.get("SACHNOI_REQUIRE_SERVICES") == "1"


def skip_or_fail(reason: str):
    """Skip the test for a missing server, or fail it where the run requires every server (CI)."""
    if services_required():
        pytest.fail(f"{reason} (required: SACHNOI_REQUIRE_SERVICES=1)")
    pytest.skip(reason)

"""Fault suite fixtures: ``--long`` runs the big sizes (CI runs small ones that fit in a few minutes)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def long_mode(request: pytest.FixtureRequest) -> bool:
    """True with ``--long`` (declared in tests/conftest.py) or ``TIENDO_FAULTS_LONG=1``."""
    return bool(request.config.getoption("--long", default=False)) or os.environ.get("TIENDO_FAULTS_LONG") == "1"

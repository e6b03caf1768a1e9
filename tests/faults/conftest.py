"""Fault suite options: ``--long`` runs the big sizes (CI runs small ones that fit in a few minutes)."""

from __future__ import annotations

import os

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--long",
        action="store_true",
        default=False,
        help="fault suite: big sizes (100,000 events, 20 kills) instead of the CI sizes",
    )


@pytest.fixture(scope="session")
def long_mode(request: pytest.FixtureRequest) -> bool:
    """True with ``--long`` (or ``TIENDO_FAULTS_LONG=1``, for runs where this conftest loads too late for flags)."""
    return bool(request.config.getoption("--long", default=False)) or os.environ.get("TIENDO_FAULTS_LONG") == "1"

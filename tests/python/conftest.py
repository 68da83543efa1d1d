"""Plain Python tests: no chain snapshot needed (shadows tests/conftest.py's `isolation`)."""

import pytest


@pytest.fixture(autouse=True)
def isolation() -> None:
    """These tests use no chain."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.relayer.support import Env, make_env


@pytest.fixture(autouse=True)
def isolation() -> None:
    """Shadow tests/conftest.py's brownie snapshot fixture: these tests run their own anvil."""


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp: Path = tmp_path_factory.mktemp("relayer")
    e = make_env(tmp)
    try:
        yield e
    finally:
        e.node.stop()

"""Fixtures shared by the stage tests."""
from __future__ import annotations

import pytest


@pytest.fixture
def store(tmp_path):
    """The folder the stages may fetch file:// URIs from."""
    (tmp_path / "store").mkdir()
    return tmp_path / "store"

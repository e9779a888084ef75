"""Unit tests never write to the user's cache: `runwright run` keeps its logs under
$RUNWRIGHT_CACHE/runs, so every test gets its own."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _private_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNWRIGHT_CACHE", str(tmp_path_factory.mktemp("cache")))

"""Shared test helpers: where the product owner's shared folder is, and small email builders."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
SEED = SHARED / "seed" / "000_f8498a7589e1df74.txt"


@pytest.fixture
def seed_text() -> str:
    """The unescaped wiki page (SPEC §2); skips where ../shared is absent."""
    if not SEED.exists():
        pytest.skip(f"the seed wiki page is not at {SEED}")
    from tests.seed import unescape_seed

    return unescape_seed(SEED.read_text("utf-8"))

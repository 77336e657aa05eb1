"""The wall clock for tests that store data "now" (the product never reads it below the CLI)."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)

"""Instants as sfbackup writes them: UTC, ISO 8601, milliseconds, `Z` (one format everywhere)."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """The local clock, timezone-aware in UTC (T0 comes from the org's clock instead)."""
    return datetime.now(UTC)


def format_time(value: datetime) -> str:
    """`2026-11-27T02:00:03.120Z`; `value` must be timezone-aware."""
    if value.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_time(value: str) -> datetime:
    """Parse a time written by `format_time` (any ISO 8601 form with an offset is accepted)."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return parsed.astimezone(UTC)

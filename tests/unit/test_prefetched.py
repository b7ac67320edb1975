"""Bulk pages are fetched one ahead of parsing: order, errors and early stops."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from sfbackup.backup.records import prefetched


def test_given_items_when_prefetched_then_order_and_count_are_kept() -> None:
    assert list(prefetched(iter(range(100)))) == list(range(100))


def test_given_producer_fails_when_prefetched_then_error_is_raised_after_the_good_items() -> None:
    def pages() -> Iterator[int]:
        yield 1
        yield 2
        raise RuntimeError("page 3 cut off")

    got: list[int] = []
    with pytest.raises(RuntimeError, match="page 3"):
        for item in prefetched(pages()):
            got.append(item)
    assert got == [1, 2]


def test_given_consumer_stops_early_then_the_producer_ends_instead_of_blocking() -> None:
    fetched: list[int] = []

    def pages() -> Iterator[int]:
        for i in range(1000):
            fetched.append(i)
            yield i

    stream = prefetched(pages())
    assert next(stream) == 0
    stream.close()
    deadline = time.monotonic() + 5
    while any(t.name == "sfbackup-prefetch" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(t.name == "sfbackup-prefetch" for t in threading.enumerate())
    assert len(fetched) <= 4  # one ahead, not the whole result

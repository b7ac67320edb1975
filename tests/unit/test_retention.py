"""The forget policy: restic's keep rules over complete snapshots, and the safety rules around them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sfbackup.errors import UsageError
from sfbackup.maintain.retention import ForgetPlan, RetentionPolicy, SnapshotInfo, parse_duration, plan_forget


def snap(when: datetime, state: str = "complete", suffix: str = "00000000") -> SnapshotInfo:
    return SnapshotInfo(f"{when.strftime('%Y%m%dT%H%M%SZ')}-{suffix}", when, state)


def nightly(days: int, start: datetime = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)) -> list[SnapshotInfo]:
    return [snap(start + timedelta(days=i)) for i in range(days)]


def kept_ids(plan: ForgetPlan) -> set[str]:
    return {s.id for s, _ in plan.keep}


def removed_ids(plan: ForgetPlan) -> set[str]:
    return {s.id for s, _ in plan.remove}


def test_given_a_year_of_nightly_snapshots_when_7_daily_4_weekly_12_monthly_then_restic_buckets_are_kept() -> None:
    snapshots = nightly(365)  # 2026-01-01 .. 2026-12-31
    plan = plan_forget(snapshots, RetentionPolicy(keep_daily=7, keep_weekly=4, keep_monthly=12))

    kept = {s.time.date().isoformat() for s, _ in plan.keep}
    last_7 = {f"2026-12-{d}" for d in range(25, 32)}
    # weekly: the newest snapshot of each ISO week (Sundays), the newest 4 weeks
    weekly = {"2026-12-31", "2026-12-27", "2026-12-20", "2026-12-13"}
    monthly = {f"2026-{m:02d}-{d}" for m, d in [(1, 31), (2, 28), (3, 31), (4, 30), (5, 31), (6, 30), (7, 31),
                                                 (8, 31), (9, 30), (10, 31), (11, 30), (12, 31)]}
    assert kept == last_7 | weekly | monthly
    assert len(plan.keep) + len(plan.remove) == 365
    reasons = dict((s.time.date().isoformat(), r) for s, r in plan.keep)
    assert reasons["2026-12-31"][0] == "newest complete snapshot (always kept)"
    assert "daily (2026-12-31)" in reasons["2026-12-31"]
    assert "weekly (2026-W53)" in reasons["2026-12-31"]
    assert reasons["2026-06-30"] == ["monthly (2026-06)"]


def test_given_keep_last_3_when_planned_then_the_three_newest_complete_are_kept() -> None:
    snapshots = nightly(10)
    plan = plan_forget(snapshots, RetentionPolicy(keep_last=3))
    assert kept_ids(plan) == {s.id for s in snapshots[-3:]}
    assert all(r == ["no keep rule matches"] for _, r in plan.remove)


def test_given_two_snapshots_a_day_when_keep_daily_then_the_newest_of_each_day_is_kept() -> None:
    base = datetime(2026, 3, 1, tzinfo=UTC)
    snapshots = [snap(base + timedelta(days=d, hours=h)) for d in range(3) for h in (2, 14)]
    plan = plan_forget(snapshots, RetentionPolicy(keep_daily=3))
    assert {s.time.hour for s, _ in plan.keep} == {14}
    assert len(plan.keep) == 3


def test_given_keep_within_when_planned_then_measured_from_the_newest_complete_snapshot() -> None:
    snapshots = nightly(30)
    plan = plan_forget(snapshots, RetentionPolicy(keep_within=timedelta(days=5)))
    assert kept_ids(plan) == {s.id for s in snapshots[-6:]}
    assert any("within 5d of the newest" in r for _, rs in plan.keep for r in rs)


def test_given_a_policy_keeping_nothing_when_planned_then_the_newest_complete_is_still_kept() -> None:
    snapshots = nightly(5)
    plan = plan_forget(snapshots, RetentionPolicy(keep_yearly=0, keep_within=timedelta(hours=0)))
    assert kept_ids(plan) == {snapshots[-1].id}


def test_given_failed_and_incomplete_older_than_the_newest_complete_when_planned_then_removed_with_reason() -> None:
    base = datetime(2026, 5, 1, 2, tzinfo=UTC)
    old_failed = snap(base, "failed")
    old_incomplete = snap(base + timedelta(days=1), "incomplete")
    old_exported = snap(base + timedelta(days=2), "exported")
    good = snap(base + timedelta(days=3))
    newer_incomplete = snap(base + timedelta(days=4), "incomplete")
    plan = plan_forget([old_failed, old_incomplete, old_exported, good, newer_incomplete], RetentionPolicy(keep_last=10))

    assert removed_ids(plan) == {old_failed.id, old_incomplete.id, old_exported.id}
    reasons = {s.id: r for s, r in [*plan.keep, *plan.remove]}
    assert reasons[old_failed.id] == [f"failed, older than the newest complete snapshot {good.id}"]
    assert "exported but never verified" in reasons[old_exported.id][0]
    assert "newer than the newest complete snapshot" in reasons[newer_incomplete.id][0]


def test_given_damaged_snapshots_and_a_running_one_newer_than_every_complete_then_never_touched() -> None:
    base = datetime(2026, 5, 1, 2, tzinfo=UTC)
    damaged = SnapshotInfo(snap(base + timedelta(hours=1)).id, base, "damaged", "not JSON")
    running = snap(base + timedelta(days=9), "running")
    snapshots = [damaged, *nightly(5, base + timedelta(days=1)), running]
    plan = plan_forget(snapshots, RetentionPolicy(keep_last=1))
    assert {running.id, damaged.id} <= kept_ids(plan)


def test_given_a_running_snapshot_older_than_the_newest_complete_then_it_is_a_dead_run_and_removed() -> None:
    base = datetime(2026, 5, 1, 2, tzinfo=UTC)
    dead = snap(base, "running")
    plan = plan_forget([dead, *nightly(3, base + timedelta(days=1))], RetentionPolicy(keep_last=3))
    assert dead.id in removed_ids(plan)
    reasons = {s.id: r for s, r in plan.remove}
    assert "a run that died" in reasons[dead.id][0]


def test_given_no_complete_snapshot_when_planned_then_nothing_is_removed() -> None:
    base = datetime(2026, 5, 1, 2, tzinfo=UTC)
    snapshots = [snap(base + timedelta(days=i), "incomplete") for i in range(3)]
    plan = plan_forget(snapshots, RetentionPolicy(keep_last=1))
    assert plan.remove == []
    assert all("no complete snapshot yet" in r[0] for _, r in plan.keep)


def test_given_a_plan_when_rows_then_oldest_first_with_action() -> None:
    snapshots = nightly(3)
    rows = plan_forget(snapshots, RetentionPolicy(keep_last=1)).rows()
    assert [r["action"] for r in rows] == ["remove", "remove", "keep"]
    assert [r["id"] for r in rows] == [s.id for s in snapshots]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30d", timedelta(days=30)), ("2w", timedelta(weeks=2)), ("36h", timedelta(hours=36)),
     ("1y6m", timedelta(days=365 + 180))],
)
def test_given_durations_when_parsed_then_timedelta(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "30", "d", "3x", "1d 2h", "-1d"])
def test_given_bad_durations_when_parsed_then_usage_error(text: str) -> None:
    with pytest.raises(UsageError):
        parse_duration(text)


_STATES = st.sampled_from(["complete", "complete", "complete", "running", "incomplete", "failed", "exported"])


@settings(max_examples=100, deadline=None)
@given(
    offsets=st.lists(st.integers(min_value=0, max_value=3 * 365 * 24), min_size=1, max_size=60, unique=True),
    states=st.lists(_STATES, min_size=60, max_size=60),
    daily=st.integers(0, 10),
    weekly=st.integers(0, 6),
    monthly=st.integers(0, 12),
    last=st.integers(0, 5),
)
def test_given_any_history_when_planned_then_safety_rules_hold(
    offsets: list[int], states: list[str], daily: int, weekly: int, monthly: int, last: int
) -> None:
    base = datetime(2024, 1, 1, tzinfo=UTC)
    snapshots = [snap(base + timedelta(hours=h), states[i]) for i, h in enumerate(offsets)]
    plan = plan_forget(snapshots, RetentionPolicy(keep_last=last, keep_daily=daily, keep_weekly=weekly,
                                                  keep_monthly=monthly))
    assert len(plan.keep) + len(plan.remove) == len(snapshots)
    assert kept_ids(plan).isdisjoint(removed_ids(plan))
    complete = sorted(s.id for s in snapshots if s.state == "complete")
    if complete:
        assert complete[-1] in kept_ids(plan)
    for s in snapshots:
        if s.state == "running" and (not complete or s.id > complete[-1]):
            assert s.id in kept_ids(plan)
        if s.state != "complete" and complete and s.id > complete[-1]:
            assert s.id in kept_ids(plan)
    kept_complete = [s for s, _ in plan.keep if s.state == "complete"]
    assert len(kept_complete) <= 1 + last + daily + weekly + monthly

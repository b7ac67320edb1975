"""Which snapshots to keep (`forget`) and which blobs nothing needs any more (`prune`), after
restic's snapshot policy, for a local repository or an S3 prefix alike (through the Store).

The policy (keep-last/-hourly/-daily/-weekly/-monthly/-yearly/-within) chooses among
`complete` snapshots, newest first: for each rule, the newest snapshot of each period (UTC) is
kept until the rule's count is used up. On top of the policy:

- the newest `complete` snapshot is always kept;
- `running` snapshots and snapshots whose manifest cannot be read are never touched;
- `incomplete`, `failed` and unverified (`exported`) snapshots older than the newest complete
  one are removed; newer ones are kept (they may still be resumed or verified).

`forget` removes snapshot folders only (the manifest first, so a half-removed folder is no
longer a snapshot). `prune` then deletes the blobs no remaining snapshot's files index names,
and temporary files older than an hour. Both work on an opened `Repository` and hold its
exclusive lock.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from sfbackup.errors import RepositoryError, StorageError, UsageError
from sfbackup.repository import DamagedSnapshot, Repository, layout
from sfbackup.repository.atomic import is_temporary
from sfbackup.repository.store import ObjectInfo, Store, local_copy

TEMPORARY_MIN_AGE = timedelta(hours=1)
_DELETE_CONCURRENCY = 8
_DURATION = re.compile(r"(\d+)([yYmwdh])")
_UNIT = {"y": timedelta(days=365), "m": timedelta(days=30), "w": timedelta(weeks=1),
         "d": timedelta(days=1), "h": timedelta(hours=1)}  # fmt: skip


@dataclass(frozen=True)
class SnapshotInfo:
    """What the policy needs of a snapshot: id, T0 and state (`damaged` when unreadable)."""

    id: str
    time: datetime
    state: str
    error: str | None = None

    @classmethod
    def of(cls, repository: Repository) -> list[SnapshotInfo]:
        """Every snapshot of `repository`, oldest first; an unreadable manifest is `damaged`."""
        return [
            cls(s.id, layout.snapshot_time(s.id), "damaged", s.error)
            if isinstance(s, DamagedSnapshot)
            else cls(s.id, s.manifest.t0, s.manifest.status)
            for s in repository.read_snapshots()
        ]


@dataclass(frozen=True)
class RetentionPolicy:
    """How many snapshots to keep per period; `keep_within` keeps everything that much younger
    than the newest complete snapshot."""

    keep_last: int = 0
    keep_hourly: int = 0
    keep_daily: int = 0
    keep_weekly: int = 0
    keep_monthly: int = 0
    keep_yearly: int = 0
    keep_within: timedelta | None = None

    def is_empty(self) -> bool:
        counts = (self.keep_last, self.keep_hourly, self.keep_daily, self.keep_weekly,
                  self.keep_monthly, self.keep_yearly)  # fmt: skip
        return not any(counts) and not self.keep_within

    def to_dict(self) -> dict[str, Any]:
        return {
            "keep_last": self.keep_last,
            "keep_hourly": self.keep_hourly,
            "keep_daily": self.keep_daily,
            "keep_weekly": self.keep_weekly,
            "keep_monthly": self.keep_monthly,
            "keep_yearly": self.keep_yearly,
            "keep_within_hours": None if self.keep_within is None else self.keep_within / timedelta(hours=1),
        }


@dataclass
class ForgetPlan:
    """Every snapshot, kept or removed, each with the reasons (oldest first)."""

    keep: list[tuple[SnapshotInfo, list[str]]] = field(default_factory=list)
    remove: list[tuple[SnapshotInfo, list[str]]] = field(default_factory=list)

    def rows(self) -> list[dict[str, Any]]:
        """One row per snapshot, oldest first: id, time, state, action, reasons."""
        entries = [(s, r, "keep") for s, r in self.keep] + [(s, r, "remove") for s, r in self.remove]
        entries.sort(key=lambda e: e[0].id)
        return [
            {"id": s.id, "time": s.time.isoformat(), "state": s.state, "action": action, "reasons": reasons}
            for s, reasons, action in entries
        ]


def parse_duration(text: str) -> timedelta:
    """`1y6m`, `30d`, `12h`, `2w` -> timedelta (y = 365 days, m = 30 days)."""
    pieces = _DURATION.findall(text)
    if not pieces or "".join(n + u for n, u in pieces) != text:
        raise UsageError(f"{text!r} is not a duration", hint="write e.g. 30d, 2w, 6m, 1y, 1y6m or 36h")
    return sum((int(n) * _UNIT[u.lower()] for n, u in pieces), timedelta())


_BUCKETS: tuple[tuple[str, str, Callable[[datetime], str]], ...] = (
    ("keep_hourly", "hourly", lambda t: t.strftime("%Y-%m-%d %H:00")),
    ("keep_daily", "daily", lambda t: t.strftime("%Y-%m-%d")),
    ("keep_weekly", "weekly", lambda t: "{}-W{:02d}".format(*t.isocalendar()[:2])),
    ("keep_monthly", "monthly", lambda t: t.strftime("%Y-%m")),
    ("keep_yearly", "yearly", lambda t: t.strftime("%Y")),
)


def plan_forget(snapshots: Iterable[SnapshotInfo], policy: RetentionPolicy) -> ForgetPlan:
    """Decide, for every snapshot, keep or remove, with reasons (restic's forget semantics)."""
    every = sorted(snapshots, key=lambda s: s.id)
    complete = [s for s in every if s.state == "complete"]
    newest = complete[-1] if complete else None
    reasons: dict[str, list[str]] = {s.id: [] for s in every}
    if newest is not None:
        reasons[newest.id].append("newest complete snapshot (always kept)")
        newest_first = list(reversed(complete))
        for rank, snap in enumerate(newest_first):
            if rank < policy.keep_last:
                reasons[snap.id].append(f"last {policy.keep_last}")
        for attribute, label, period in _BUCKETS:
            remaining = int(getattr(policy, attribute))
            last: str | None = None
            for snap in newest_first:
                if remaining <= 0:
                    break
                value = period(snap.time.astimezone(UTC))
                if value != last:
                    reasons[snap.id].append(f"{label} ({value})")
                    last = value
                    remaining -= 1
        if policy.keep_within is not None:
            cutoff = newest.time - policy.keep_within
            for snap in complete:
                if snap.time >= cutoff:
                    reasons[snap.id].append(f"within {_human(policy.keep_within)} of the newest")
    plan = ForgetPlan()
    for snap in every:
        why = reasons[snap.id]
        if snap.state == "complete":
            (plan.keep if why else plan.remove).append((snap, why or ["no keep rule matches"]))
        elif snap.state == "running" and newest is not None and snap.id < newest.id:
            # forget holds the exclusive lock, so no run is writing it: a run that died
            plan.remove.append((snap, [f"running but no run holds it (a run that died), older than the "
                                       f"newest complete snapshot {newest.id}"]))
        elif snap.state == "running":
            plan.keep.append((snap, ["running: a run may be using it or `run --resume` continues it"]))
        elif snap.state == "damaged":
            plan.keep.append((snap, [f"manifest unreadable, never removed automatically: {snap.error}"]))
        elif newest is not None and snap.id < newest.id:
            what = "exported but never verified" if snap.state == "exported" else snap.state
            plan.remove.append((snap, [f"{what}, older than the newest complete snapshot {newest.id}"]))
        else:
            since = (
                f"newer than the newest complete snapshot {newest.id}"
                if newest
                else "no complete snapshot yet"
            )
            plan.keep.append((snap, [f"{snap.state}, {since}: may still be resumed or verified"]))
    return plan


def _human(delta: timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    return f"{hours // 24}d" if hours % 24 == 0 else f"{hours}h"


# --- forget -------------------------------------------------------------------------------------


@dataclass
class ForgetResult:
    location: str
    policy: RetentionPolicy
    plan: ForgetPlan
    dry_run: bool
    removed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "repository": self.location,
            "dry_run": self.dry_run,
            "policy": self.policy.to_dict(),
            "snapshots": self.plan.rows(),
            "kept": len(self.plan.keep),
            "removed": self.removed,
        }


def forget_snapshots(
    repository: Repository, policy: RetentionPolicy, *, dry_run: bool = False
) -> ForgetResult:
    """Apply `policy` to the repository (folder or S3): plan, then (unless `dry_run`) remove the
    snapshot folders the plan removes, under an exclusive lock."""
    if policy.is_empty():
        raise UsageError(
            "no retention policy given: every snapshot would be kept",
            hint="give at least one of --keep-last, --keep-daily, --keep-weekly, --keep-monthly, "
            "--keep-yearly, --keep-within",
        )
    where = repository.store.describe()
    if dry_run:
        return ForgetResult(where, policy, plan_forget(SnapshotInfo.of(repository), policy), True)
    with repository.lock(exclusive=True, command="sfbackup forget"):
        plan = plan_forget(SnapshotInfo.of(repository), policy)
        # Under the exclusive lock no run or forget is at work: a folder without a manifest is
        # what an interrupted forget or a run killed before its first save left behind.
        for orphan in repository.orphaned_snapshot_ids():
            info = SnapshotInfo(orphan, layout.snapshot_time(orphan), "orphaned")
            plan.remove.append((info, ["folder without a manifest, left by an interrupted forget or run"]))
        result = ForgetResult(where, policy, plan, False)
        for snap, _reasons in plan.remove:
            remove_snapshot(repository.store, snap.id)
            result.removed.append(snap.id)
    return result


def remove_snapshot(store: Store, snapshot_id: str) -> None:
    """Delete a snapshot folder: its manifest first (it stops being a snapshot), then the rest,
    then its archive in `archives/` if there is one."""
    base = f"{layout.SNAPSHOTS_DIR}/{layout.validate_snapshot_id(snapshot_id)}"
    store.delete(f"{base}/{layout.MANIFEST_FILE}")
    _delete_all(store, [info.key for info in store.list(f"{base}/")])
    archive = layout.archive_key(snapshot_id)  # `upload --archive` copies, if any
    _delete_all(
        store, [info.key for info in store.list(archive) if info.key in (archive, f"{archive}.sha256")]
    )


def _delete_all(store: Store, keys: list[str]) -> None:
    if not keys:
        return
    with ThreadPoolExecutor(max_workers=_DELETE_CONCURRENCY, thread_name_prefix="sfbackup-delete") as pool:
        list(pool.map(store.delete, keys))


# --- prune --------------------------------------------------------------------------------------


@dataclass
class PrunePlan:
    """What prune deletes: unreferenced blobs and old temporary files."""

    snapshots: int = 0
    blobs_total: int = 0
    blobs_used: int = 0
    remove_blobs: list[ObjectInfo] = field(default_factory=list)
    remove_temporary: list[ObjectInfo] = field(default_factory=list)
    missing_blobs: list[str] = field(default_factory=list)

    @property
    def bytes_freed(self) -> int:
        return sum(o.size for o in self.remove_blobs) + sum(o.size for o in self.remove_temporary)


@dataclass
class PruneResult:
    location: str
    plan: PrunePlan
    dry_run: bool
    deleted: int = 0

    def to_dict(self) -> dict[str, Any]:
        plan = self.plan
        return {
            "repository": self.location,
            "dry_run": self.dry_run,
            "snapshots": plan.snapshots,
            "blobs_total": plan.blobs_total,
            "blobs_used": plan.blobs_used,
            "remove_blobs": [o.key for o in plan.remove_blobs],
            "remove_temporary": [o.key for o in plan.remove_temporary],
            "missing_blobs": plan.missing_blobs,
            "bytes_freed": plan.bytes_freed,
            "deleted": self.deleted,
        }


def plan_prune(store: Store, *, now: datetime | None = None) -> PrunePlan:
    """Blobs no snapshot folder's files index names, and temporary files older than an hour.

    Every folder under snapshots/ counts, with or without a manifest: when unsure, keep. An
    unreadable files index stops the plan (RepositoryError) rather than risk deleting data.
    """
    now = now or datetime.now(UTC)
    plan = PrunePlan()
    used: set[str] = set()
    snapshot_ids: set[str] = set()
    for info in store.list(f"{layout.SNAPSHOTS_DIR}/"):
        parts = info.key.split("/")
        if _old_temporary(info, now):
            plan.remove_temporary.append(info)
        elif (
            len(parts) == 4
            and parts[2] in (layout.FILES_DIR, layout.METADATA_DIR)
            and parts[3].endswith(".parquet")
            and not is_temporary(parts[3])
        ):  # a files index, or the metadata index: both name their blobs in a `sha256` column
            used |= _index_digests(store, info.key)
        if len(parts) >= 3 and layout.is_snapshot_id(parts[1]):
            snapshot_ids.add(parts[1])
    plan.snapshots = len(snapshot_ids)
    present: set[str] = set()
    for info in store.list(f"{layout.BLOBS_DIR}/"):  # streamed: a bucket may hold millions
        if _old_temporary(info, now):
            plan.remove_temporary.append(info)
        if not _is_blob_key(info.key):
            continue
        name = PurePosixPath(info.key).name
        plan.blobs_total += 1
        present.add(name)
        if name in used:
            plan.blobs_used += 1
        else:
            plan.remove_blobs.append(info)
    plan.remove_temporary += [i for i in store.list(f"{layout.LOCKS_DIR}/") if _old_temporary(i, now)]
    plan.missing_blobs = sorted(used - present)
    return plan


def _old_temporary(info: ObjectInfo, now: datetime) -> bool:
    if not is_temporary(PurePosixPath(info.key).name):
        return False
    return info.modified is not None and now - info.modified > TEMPORARY_MIN_AGE


def _is_blob_key(key: str) -> bool:
    parts = key.split("/")
    if len(parts) != 4:
        return False
    fan, name = parts[2], parts[3]
    return (
        len(name) == 64
        and name.startswith(fan)
        and len(fan) == 2
        and all(c in "0123456789abcdef" for c in name)
    )


def _index_digests(store: Store, key: str) -> set[str]:
    try:
        with local_copy(store, key) as path:
            table = pq.read_table(path, columns=["sha256"])
    except (StorageError, pa.ArrowException, KeyError, OSError) as exc:
        raise RepositoryError(
            f"cannot read the files index {store.describe(key)}: {exc}; nothing was pruned",
            hint="run `sfbackup verify` on that snapshot, or forget it, then prune again",
        ) from None
    return {d for d in table.column("sha256").to_pylist() if d}


def prune_repository(
    repository: Repository, *, dry_run: bool = False, now: datetime | None = None
) -> PruneResult:
    """Plan, then (unless `dry_run`) delete unreferenced blobs and old temporary files, under an
    exclusive lock."""
    store = repository.store
    if dry_run:
        return PruneResult(store.describe(), plan_prune(store, now=now), True)
    with repository.lock(exclusive=True, command="sfbackup prune"):
        plan = plan_prune(store, now=now)
        doomed = [o.key for o in plan.remove_temporary] + [o.key for o in plan.remove_blobs]
        _delete_all(store, doomed)
    return PruneResult(store.describe(), plan, False, deleted=len(doomed))

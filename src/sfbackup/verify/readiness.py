"""The cancellation checklist's evidence: notice deadline, record ownership, storage, API budget.

Salesforce must be told in writing at least 30 days before the contract ends; renewals are
triggered in the last 30 days, so 60 days is the safe margin (the default `notice_days`). Before
users are deactivated their records must be reassigned, hence the ownership table. The org's
storage in use beside the backup's size is a sanity check that nothing large is missing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from sfbackup.repository import Snapshot
from sfbackup.repository.manifest import ObjectState
from sfbackup.salesforce import query_rest, soql

if TYPE_CHECKING:
    from sfbackup.salesforce.client import SalesforceClient

#: Days before the notice deadline from which the report warns that it is near.
NOTICE_WARNING_DAYS = 14


@dataclass(frozen=True)
class NoticeDeadline:
    """When Salesforce must be told, and how close that is."""

    contract_end: date
    notice_days: int
    deadline: date
    days_left: int
    status: str  # "ok" | "near" | "passed"
    message: str

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["contract_end"] = self.contract_end.isoformat()
        data["deadline"] = self.deadline.isoformat()
        return data


def notice_deadline(contract_end: date, notice_days: int, *, today: date) -> NoticeDeadline:
    """The last day to give written notice, and whether it has passed or is near."""
    deadline = contract_end - timedelta(days=notice_days)
    days_left = (deadline - today).days
    if days_left < 0:
        status = "passed"
        message = (
            f"the notice deadline ({deadline.isoformat()}, {notice_days} days before the contract ends "
            f"on {contract_end.isoformat()}) passed {_days(-days_left)} ago: the contract may renew; "
            "contact Salesforce now"
        )
    elif days_left <= NOTICE_WARNING_DAYS:
        status = "near"
        left = "today is the last day" if days_left == 0 else f"only {_days(days_left)} left"
        message = (
            f"{left} to give Salesforce written notice (deadline "
            f"{deadline.isoformat()}, contract ends {contract_end.isoformat()})"
        )
    else:
        status = "ok"
        message = (
            f"{_days(days_left)} left to give Salesforce written notice (deadline {deadline.isoformat()}, "
            f"contract ends {contract_end.isoformat()})"
        )
    return NoticeDeadline(contract_end, notice_days, deadline, days_left, status, message)


def _days(count: int) -> str:
    return f"{count} day" if count == 1 else f"{count} days"


@dataclass
class OwnerRow:
    """How many live records of each object one user owns."""

    owner_id: str
    username: str | None = None
    name: str | None = None
    is_active: bool | None = None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "owner_id": self.owner_id,
            "username": self.username,
            "name": self.name,
            "is_active": self.is_active,
            "counts": dict(sorted(self.counts.items())),
            "total": self.total,
        }


def ownership_table(snapshot: Snapshot) -> list[OwnerRow]:
    """Per owner, the records of each backed-up object they own (from OwnerId; deleted rows excluded).

    Computed from the snapshot itself, so it costs no API calls and reflects the org at T0. Users'
    names and active flags come from the snapshot's User object when it was backed up.
    """
    owners: dict[str, OwnerRow] = {}
    for name in sorted(snapshot.manifest.objects):
        entry = snapshot.manifest.objects[name]
        if entry.state != ObjectState.DONE or "OwnerId" not in entry.fields:
            continue
        columns = ["OwnerId", "IsDeleted"] if "IsDeleted" in entry.fields else ["OwnerId"]
        table = pa.concat_tables(t.select(columns) for t in snapshot.iter_tables(name))
        if "IsDeleted" in columns:
            table = table.filter(pc.invert(pc.fill_null(table.column("IsDeleted"), False)))
        grouped = table.group_by("OwnerId").aggregate([("OwnerId", "count")])
        for owner_id, count in zip(
            grouped.column("OwnerId").to_pylist(), grouped.column("OwnerId_count").to_pylist(), strict=True
        ):
            if owner_id is None:
                continue
            owners.setdefault(owner_id, OwnerRow(owner_id)).counts[name] = int(count)
    _add_user_details(snapshot, owners)
    return sorted(owners.values(), key=lambda row: (-row.total, row.owner_id))


def _add_user_details(snapshot: Snapshot, owners: dict[str, OwnerRow]) -> None:
    entry = snapshot.manifest.objects.get("User")
    if entry is None or entry.state != ObjectState.DONE:
        return
    wanted = [c for c in ("Id", "Username", "Name", "IsActive") if c in entry.fields]
    if "Id" not in wanted:
        return
    for table in snapshot.iter_tables("User"):
        for row in table.select(wanted).to_pylist():
            owner = owners.get(str(row["Id"]))
            if owner is not None:
                owner.username = row.get("Username")
                owner.name = row.get("Name")
                owner.is_active = row.get("IsActive")


def name_owners_from_org(owners: list[OwnerRow], client: SalesforceClient) -> None:
    """Fill in the names of owners the snapshot cannot name (its User object not backed up) from the
    org's User records: a manager reads "Ana García", not `005...`."""
    unnamed = [o.owner_id for o in owners if o.name is None]
    by_id = {o.owner_id: o for o in owners}
    for condition in soql.in_clauses("Id", unnamed):
        query = soql.build_select("User", ["Id", "Name", "Username", "IsActive"], where=condition)
        for page in query_rest.iter_query_pages(client, query, include_deleted=False):
            for row in page:
                owner = by_id.get(str(row.get("Id")))
                if owner is not None:
                    owner.name, owner.username = row.get("Name"), row.get("Username")
                    owner.is_active = row.get("IsActive")


def storage_check(limits: dict[str, Any], backup_bytes: int) -> dict[str, Any]:
    """The org's data and file storage in use (from /limits) beside the backup's size."""
    result: dict[str, Any] = {"backup_bytes": backup_bytes}
    for key in ("DataStorageMB", "FileStorageMB"):
        item = limits.get(key)
        if isinstance(item, dict) and "Max" in item and "Remaining" in item:
            result[key] = {"max": item["Max"], "used": int(item["Max"]) - int(item["Remaining"])}
    daily = limits.get("DailyApiRequests")
    if isinstance(daily, dict) and "Max" in daily and "Remaining" in daily:
        result["daily_api_requests"] = {"max": daily["Max"], "remaining": daily["Remaining"]}
    return result

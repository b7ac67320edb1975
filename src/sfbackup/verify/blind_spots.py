"""What the backup user could not see, as findings: the verdict must not call such a backup SAFE.

From the manifest: each field field-level security hid (`hidden_fields`), each encrypted field
read masked (`masked_fields`), the file objects read without Query All Files and what the run's
preflight could not check (`access`). Against
the org, the independent count: each object's exported rows (not deleted) against
`/limits/recordCount`, which counts org-wide whatever the user's sharing. The user's own
COUNT() (org_compare) agrees with a backup that misses the records it cannot see; this count
does not.

`/limits/recordCount` is a cached, approximate snapshot (REST API Developer Guide, "Record
Count"): records created, changed or deleted shortly before T0 may be counted differently. A
shortfall up to the records the user can count with SystemModstamp in the 24 hours before T0
(queryAll) is that staleness (`record_count_stale`, info); beyond it is `records_not_visible`,
an error naming the object.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sfbackup.clock import parse_time
from sfbackup.errors import SalesforceError
from sfbackup.repository.manifest import Manifest, ObjectEntry, ObjectState
from sfbackup.salesforce import access
from sfbackup.salesforce.access import QUERY_ALL_FILES_OBJECTS
from sfbackup.salesforce.client import SalesforceClient
from sfbackup.salesforce.partitions import ReadPlan, iter_pages
from sfbackup.verify.findings import Finding, FindingFactory

#: How far before T0 a record's change may not be in /limits/recordCount yet.
STALENESS = access.RECORD_COUNT_STALENESS


def manifest_blind_spots(manifest: Manifest, finding: FindingFactory) -> list[Finding]:
    """Hidden fields, masked fields and files without Query All Files, as the run recorded them."""
    out: list[Finding] = []
    who = _who(manifest)
    for name, entry in sorted(manifest.objects.items()):
        if entry.state != ObjectState.DONE:
            continue
        for field_name in entry.hidden_fields:
            out.append(
                finding(
                    "hidden_field",
                    f"{name}.{field_name} was hidden from {who} by field-level security: the backup "
                    "has no value of it",
                    object=name,
                    actual=field_name,
                )
            )
        for field_name in entry.masked_fields:
            out.append(
                finding(
                    "masked_field",
                    f"{name}.{field_name} (Text (Encrypted)) was read masked by {who} (no View "
                    f"Encrypted Data): the backup holds null for its {entry.rows} rows, not the values",
                    object=name,
                    actual=field_name,
                )
            )
    for gap in manifest.access.blocking if manifest.access is not None else []:
        gap_object = str(gap["object"]) if gap.get("object") else None
        exported = gap_object is None or (
            gap_object in manifest.objects and manifest.objects[gap_object].state == ObjectState.DONE
        )
        if gap.get("kind") == "unchecked" and exported:
            out.append(
                finding(
                    "access_unchecked",
                    f"the run's preflight could not check what {who} cannot see: {gap.get('effect')}",
                    object=gap_object,
                )
            )
    if manifest.access is not None and manifest.access.permissions.get("query_all_files") is False:
        for name in QUERY_ALL_FILES_OBJECTS:
            if name in manifest.objects or name in manifest.files:
                out.append(
                    finding(
                        "files_not_visible",
                        f"{name} was read by {who} without Query All Files: Salesforce leaves out of "
                        "its queries the files it reaches only through records, so files may be missing",
                        object=name,
                    )
                )
    return out


@dataclass
class IndependentCount:
    """/limits/recordCount per object, and the findings of comparing it with the backup."""

    record_counts: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)


def compare_record_counts(
    manifest: Manifest,
    client: SalesforceClient,
    finding: FindingFactory,
    *,
    say: Callable[[str], None] = lambda _t: None,
) -> IndependentCount:
    """Each exported object's rows (not deleted) against the org-wide /limits/recordCount."""
    done = {name: e for name, e in manifest.objects.items() if e.state == ObjectState.DONE}
    out = IndependentCount()
    if not done:
        return out
    say("reading /limits/recordCount (org-wide counts, independent of the user's sharing)")
    try:
        out.record_counts = access.record_counts(client, done)
    except SalesforceError as exc:  # no /limits/recordCount (API before 40.0): nothing to compare
        say(f"/limits/recordCount not read ({exc.message}); the independent count was skipped")
        return out
    for name, entry in sorted(done.items()):
        org = out.record_counts.get(name)
        live = entry.rows - entry.deleted_rows
        if org is None or org <= live:
            continue
        shortfall = org - live
        try:
            recent = _changed_since(client, name, entry, manifest.t0 - STALENESS)
        except SalesforceError as exc:
            say(f"{name}: records changed before T0 not counted ({exc.message}); no staleness allowed")
            recent = 0
        numbers = f"/limits/recordCount counts {org} {name} records, the backup holds {live}"
        if shortfall > recent:
            out.findings.append(
                finding(
                    "records_not_visible",
                    f"{numbers}: {shortfall} {name} records not visible to {_who(manifest)} (sharing) are "
                    "not in the backup"
                    + (f" (at most {recent} of them may be the cached count lagging on recent changes)"
                       if recent else ""),
                    object=name,
                    expected=org,
                    actual=live,
                )
            )
        else:
            out.findings.append(
                finding(
                    "record_count_stale",
                    f"{numbers} (not deleted): {shortfall} fewer, within the {recent} changed in the "
                    "24 hours before T0 (the count is cached and approximate)",
                    object=name,
                    expected=org,
                    actual=live,
                )
            )
    return out


def _changed_since(client: SalesforceClient, name: str, entry: ObjectEntry, since: datetime) -> int:
    """Records of `name` changed at or after `since` (records created after T0 among them: the
    cut leaves them to the next snapshot, /limits/recordCount already counts them). An object the
    export read with a strategy refuses that condition (ContentDocumentLink allows nothing beside
    its ContentDocumentId filter): it is read as the export read it, and counted by us."""
    data = entry.extra.get("read")
    plan = ReadPlan.from_dict(data) if isinstance(data, dict) else None
    if plan is None or plan.plain:
        return access.changed_since(client, name, since, fields=entry.fields)
    if "SystemModstamp" not in entry.fields:
        return 0
    changed = 0
    for page in iter_pages(client, name, ["Id", "SystemModstamp"], plan, None,
                           include_deleted=entry.operation == "queryAll"):  # fmt: skip
        stamps = (r.get("SystemModstamp") for r in page)
        changed += sum(1 for stamp in stamps if stamp and parse_time(str(stamp)) >= since)
    return changed


def _who(manifest: Manifest) -> str:
    if manifest.access is not None:
        return manifest.access.username or manifest.access.user_id or "the backup user"
    return str(manifest.org.get("username") or "the backup user")

"""The cancellation-readiness report: report.json for machines, report.md and a self-contained
report.html (inline CSS, no external assets) written for a manager, with ONE verdict line.

SAFE TO CANCEL requires all of: verification passed (no error finding, so no failed objects or
missing files, structure or read-data intact), the snapshot compared with the org and matching,
nothing the backup user could not see (blind spots: records outside its sharing, hidden or
masked fields, files without Query All Files; these come first among the reasons), and nothing in
the org left out by the configuration. What Salesforce itself no longer serves
(`findings.NOT_SERVED`) cannot be in any backup: it is listed beside the verdict, never blocking.
SAFE covers what `safe_covers()` says, and the report says so.

The page reads top-down for a person deciding: the verdict and what stands in its way, the totals,
what to do before cancelling, then the details folded (records, files, what is not covered, every
finding, the technical facts). Objects show their labels beside their API names, files their names
and the records they belong to, owners their names (`labels.py`); sizes use one unit system.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sfbackup.clock import format_time
from sfbackup.repository.atomic import write_atomic
from sfbackup.ui.rates import human_size
from sfbackup.verify.findings import (
    BLIND_SPOT_KINDS,
    NOT_SERVED,
    SEVERITIES,
    Finding,
    Severity,
    count_by_severity,
    counted,
)
from sfbackup.verify.labels import NAMED_PER_FINDING, Labels

REPORT_FORMAT = "sfbackup-verification-report"
SAFE = "SAFE TO CANCEL"
NOT_SAFE = "NOT SAFE TO CANCEL"
REPORT_FILES: tuple[str, ...] = ("report.json", "report.md", "report.html")
#: What a SAFE verdict vouches for, said plainly so that it is not read as "everything".
SAFE_COVERS = (
    "records of the backed-up objects, their files (Attachments, Files/ContentVersions, Documents) "
    "and rich-text images"
)


def safe_covers(data: ReportData) -> str:
    """SAFE_COVERS, and whether the org's configuration (metadata) is in the snapshot too."""
    if data.metadata:
        return SAFE_COVERS + ", and the org's configuration (metadata: the types the Metadata API lists)"
    refused = any(f.kind == "metadata_refused" for f in data.findings)
    why = ("Salesforce refused the Metadata API to the backup user" if refused
           else "it was taken with --no-metadata")  # fmt: skip
    return (SAFE_COVERS + "; not the org's configuration (metadata: layouts, code, flows), which this "
            f"snapshot does not hold ({why})")


def _covers_suffix(data: ReportData) -> str:
    return f". SAFE covers the {safe_covers(data)}"


@dataclass
class ReportData:
    """Everything the report shows; built by `verify_snapshot`."""

    snapshot_id: str
    state: str
    t0: datetime
    org: dict[str, Any]
    repository: str
    level: str
    verified_at: datetime
    passed: bool
    against_org: bool
    ids: bool
    findings: list[Finding]
    objects: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    coverage: list[dict[str, Any]] = field(default_factory=list)
    metadata: list[dict[str, Any]] | None = None  # per type: listed, retrieved, failed; None: not backed up
    program_version: str = ""
    readiness: dict[str, Any] = field(default_factory=dict)  # notice, owners, storage (readiness.py)
    labels: Labels = field(default_factory=Labels)
    history: list[dict[str, Any]] = field(default_factory=list)  # earlier verifications, oldest first


@dataclass(frozen=True)
class Verdict:
    """The answer, the reasons it is NOT SAFE (blocking), and what to know before cancelling
    whatever the answer (data Salesforce itself no longer serves: `findings.NOT_SERVED`)."""

    safe: bool
    line: str
    reasons: tuple[str, ...]
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "safe": self.safe,
            "line": self.line,
            "reasons": list(self.reasons),
            "notes": list(self.notes),
        }


def verdict(data: ReportData) -> Verdict:
    """The one-line answer to "is everything in the backup, and can I prove it?"."""
    reasons: list[str] = []
    blind = [f for f in data.findings if f.kind in BLIND_SPOT_KINDS]
    for finding in blind:  # first: a backup that cannot see everything is never safe
        reasons.append(f"the backup user could not see everything: {finding.explanation}")
    errors = [f for f in data.findings if f.severity == "error" and f.kind not in BLIND_SPOT_KINDS]
    if errors:
        reasons.append(
            f"verification failed with {counted(len(errors), 'problem')}: "
            + "; ".join(_short(f) for f in errors[:5])
            + (" ..." if len(errors) > 5 else "")
        )
    if data.passed and data.state == "check_failed":
        reasons.append(
            "the snapshot's last full check (verify --read-data) found damaged data; run `sfbackup "
            "verify --read-data` again to see what, and take a new snapshot before cancelling"
        )
    if not data.against_org:
        reasons.append("the backup was not compared with the org (run `sfbackup verify --against-org`)")
    for warning in (f for f in data.findings if f.severity == "warning" and f.kind not in BLIND_SPOT_KINDS):
        reasons.append(_short(warning))
    if data.passed and data.state != "complete" and data.state != "check_failed":
        reasons.append(f"the snapshot is not complete: {_STATES.get(data.state, data.state)}")
    excluded = [str(c.get("object")) for c in data.coverage if c.get("status") == "excluded_by_config"]
    if excluded:
        # After cancellation what the backup lacks is lost: a configuration that left objects out
        # cannot be called safe, however well the rest verified.
        shown = ", ".join(data.labels.object(n) for n in excluded[:8]) + (" ..." if len(excluded) > 8 else "")
        reasons.append(
            f"{counted(len(excluded), 'object')} in the org {'is' if len(excluded) == 1 else 'are'} not in "
            f"this backup because its settings left {'it' if len(excluded) == 1 else 'them'} out ({shown}): "
            "back them up with `sfbackup run --preset everything` (the default when no objects are named)"
        )
    notes = _notes(data, [f for f in data.findings if f.severity == "info" and f.kind in NOT_SERVED])
    if reasons:
        return Verdict(False, f"{NOT_SAFE}: " + reasons[0], tuple(reasons), notes)
    listed, items = _not_served_summary(data)
    components = sum(int(r.get("retrieved") or 0) for r in data.metadata or [])
    types = sum(1 for r in data.metadata or [] if r.get("listed"))
    configuration = (f", with the org's configuration ({counted(components, 'metadata component')} of "
                     f"{counted(types, 'type')})") if data.metadata else ""  # fmt: skip
    line = (
        f"{SAFE}: the backup holds every record and file of the {counted(len(data.objects), 'object')} "
        f"it covers as Salesforce held them on {_when(data.t0)}{configuration}, and matches the org"
        + (f"; {_and(listed)} {'is' if items == 1 else 'are'} listed below" if listed else "")
        + _covers_suffix(data)
    )
    return Verdict(True, line, (), notes)


def _notes(data: ReportData, findings: list[Finding]) -> tuple[str, ...]:
    """One note per thing Salesforce no longer serves; objects refused for the same reason are one
    note naming them all (each object's own words are in "Not in the backup, and why")."""
    notes: list[str] = []
    grouped: dict[tuple[str, str], list[Finding]] = {}
    for finding in findings:
        if finding.kind == "not_exportable" and finding.object:
            grouped.setdefault((finding.title, finding.what_to_do), []).append(finding)
        else:
            notes.append(_note(data, finding))
    for (title, what_to_do), group in grouped.items():
        if len(group) == 1:
            notes.append(_note(data, group[0]))
            continue
        named = [data.labels.object(f.object) for f in group[:_NAMED_OBJECTS]]
        more = len(group) - len(named)
        notes.append(f"{title} ({len(group):,}): {', '.join(named)}{f' and {more:,} more' if more else ''}. "
                     f"What to do: {what_to_do}")  # fmt: skip
    return tuple(notes)


#: Objects a grouped note names before "and N more".
_NAMED_OBJECTS = 20


def _note(data: ReportData, finding: Finding) -> str:
    """`Files in Salesforce's Recycle Bin without content (Attachments): "a.pdf" on Contact "Jane
    Doe" (00P...). What to do: ...`: one thing Salesforce no longer serves, by name."""
    where = data.labels.object(finding.object)
    named, more = _named_items(data, finding)
    what = ", ".join(named) + (f" and {more:,} more" if more else "") if named else finding.explanation
    return f"{finding.title}{f' — {where}' if where else ''}: {what}. What to do: {finding.what_to_do}"


def _not_served_summary(data: ReportData) -> tuple[list[str], int]:
    """(`2 objects the API cannot query`, `1 file Salesforce no longer serves`), and how many things
    they count: for the SAFE line."""
    listed = []
    unreadable = sum(1 for c in data.coverage if c.get("status") == "not_queryable")
    if unreadable:
        listed.append(f"{counted(unreadable, 'object')} the API cannot query")
    refused = sum(1 for c in data.coverage if c.get("status") == "not_exportable")
    if refused:
        listed.append(f"{counted(refused, 'object')} Salesforce refuses to every API client")
    files = sum(
        len(f.actual) if isinstance(f.actual, list) else 1
        for f in data.findings
        if f.kind == "file_body_unavailable"
    )
    if files:
        listed.append(f"{counted(files, 'file')} Salesforce no longer serves")
    return listed, unreadable + refused + files


def _and(items: list[str]) -> str:
    """`a`, `a and b`, `a, b and c`."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _short(finding: Finding) -> str:
    """The explanation, cut at a word (never mid-Id) when it is long; the report has it whole."""
    text = finding.explanation
    return text if len(text) <= 200 else text[:197].rsplit(" ", 1)[0].rstrip(",;:") + " ..."


def to_json(data: ReportData) -> dict[str, Any]:
    """The report.json document."""
    decision = verdict(data)
    return {
        "format": REPORT_FORMAT,
        "format_version": 1,
        "program_version": data.program_version,
        "snapshot_id": data.snapshot_id,
        "state": data.state,
        "t0": format_time(data.t0),
        "org": data.org,
        "repository": data.repository,
        "verified_at": format_time(data.verified_at),
        "level": data.level,
        "against_org": data.against_org,
        "ids": data.ids,
        "passed": data.passed,
        "verdict": decision.to_dict(),
        "safe_covers": safe_covers(data),
        "counts": count_by_severity(data.findings),
        "totals": _totals(data),
        "objects": data.objects,
        "files": data.files,
        "coverage": data.coverage,
        "metadata": data.metadata,
        "readiness": data.readiness,
        "labels": data.labels.to_dict(),
        "history": data.history,
        "findings": [{**f.to_dict(), "title": f.title, "effect": f.effect} for f in data.findings],
    }


# --- plain words --------------------------------------------------------------------------------

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")  # fmt: skip
_STATES = {
    "complete": "complete",
    "exported": "finished; complete once a verification passes",
    "running": "still being written (or its run was killed)",
    "incomplete": "incomplete (its run stopped early)",
    "failed": "failed",
    "check_failed": "damaged (its last full check found damaged data)",
}
_LEVELS = {
    "structure": "every part and file checked present with its recorded size (contents not re-read)",
    "read-data": "every byte re-read, every checksum matched",
}
_COVERAGE = {
    "backed_up": "in the backup",
    "not_queryable": "Salesforce offers no API access to it",
    "excluded_by_config": "left out by the backup's settings",
    "not_exportable": "Salesforce refuses it to every API client",
    "derived": "computed by Salesforce from objects in the backup",
    "skipped": "skipped",
}
_SECTION_TITLES: dict[Severity, str] = {
    "error": "Problems: the backup is wrong or incomplete",
    "warning": "Warnings: something in Salesforce is not in the backup",
    "info": "Explained: nothing the backup could hold is lost",
}


def _when(value: datetime) -> str:
    """`27 November 2026, 02:00 UTC`."""
    return f"{value.day} {_MONTHS[value.month - 1]} {value.year}, {value:%H:%M} UTC"


def _level(level: str) -> str:
    if level.startswith("read-data-subset"):
        part = level.split(" ", 1)[-1]
        return f"a sample re-read (part {part.replace('/', ' of ')}), every checksum in it matched"
    return _LEVELS.get(level, level)


def _compared(data: ReportData) -> str:
    if not data.against_org:
        return "no"
    return "yes, the exact list of record Ids" if data.ids else "yes, record counts"


def _noun(count: int, noun: str) -> str:
    """The noun of `counted` without its number (the totals show the number apart)."""
    return counted(count, noun).split(" ", 1)[1]


def _count(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def size(value: Any) -> str:
    """Bytes in the one unit system every command uses (`human_size`); `-` when unknown."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "-"
    return human_size(value)


def _options(data: ReportData) -> str:
    """`--read-data --against-org --ids`: how to run this check again."""
    if data.level.startswith("read-data-subset"):
        flags = [f"--read-data-subset {data.level.split(' ', 1)[-1]}"]
    else:
        flags = ["--read-data"] if data.level == "read-data" else []
    flags += (["--against-org"] if data.against_org else []) + (["--ids"] if data.ids else [])
    return " ".join(flags) or "none (structure only)"


def _totals(data: ReportData) -> dict[str, int]:
    counts = count_by_severity(data.findings)
    return {
        "objects": len(data.objects),
        "records": sum(int(r.get("backup_rows") or 0) for r in data.objects),
        "files": sum(int(r.get("count") or 0) for r in data.files),
        "bytes": sum(int(r.get("bytes") or 0) for r in data.objects)
        + sum(int(r.get("bytes") or 0) for r in data.files),
        "problems": counts["error"],
        "warnings": counts["warning"],
    }


def _summary_rows(data: ReportData) -> list[tuple[str, str]]:
    org = data.org
    totals = _totals(data)
    integrity = (
        "no damaged or missing data found"
        if data.passed
        else f"{counted(totals['problems'], 'problem')} found (listed below)"
    )
    return [
        ("Salesforce org", f"{org.get('org_name') or '-'} ({org.get('org_id') or 'id unknown'})"),
        ("Backup taken", f"{_when(data.t0)} (records created later belong to the next backup)"),
        ("Backup state", _STATES.get(data.state, data.state)),
        ("Checked", _when(data.verified_at)),
        ("How it was checked", _level(data.level)),
        ("Compared with Salesforce", _compared(data)),
        ("Integrity", integrity),
        ("What SAFE TO CANCEL covers", safe_covers(data)),
    ]


def _technical_rows(data: ReportData) -> list[tuple[str, str]]:
    return [
        ("Snapshot", data.snapshot_id),
        ("Repository", data.repository),
        ("Instance", str(data.org.get("instance_url") or "-")),
        ("Cut-off (org clock): records created later are not in it", format_time(data.t0)),
        ("Checked at", format_time(data.verified_at)),
        ("Checks (sfbackup verify options)", _options(data)),
        ("sfbackup", data.program_version),
        ("Sizes", "1 KB = 1,024 bytes, 1 MB = 1,024 KB, as Salesforce counts storage"),
    ]  # fmt: skip


# --- tables ---------------------------------------------------------------------------------------

_OBJECT_COLUMNS = (
    "Object",
    "In Salesforce",
    "Org-wide (recordCount)",
    "In the backup",
    "of which deleted (Recycle Bin)",
    "Size",
    "Status",
)
_FILE_COLUMNS = (
    "Files of",
    "In Salesforce",
    "In the backup",
    "Size",
    "Content stored",
    "No content in Salesforce",
    "Checked",
)
_OWNER_COLUMNS = ("Owner", "Username", "Active", "Records", "By object")


def _status(data: ReportData, name: str) -> str:
    """`complete`, or the titles of the object's problems and warnings in plain words."""
    mine = [f for f in data.findings if f.object == name and f.severity != "info"]
    if not mine:
        return "complete"
    word = {"error": "problem", "warning": "warning"}
    return "; ".join(sorted({f"{word.get(f.severity, f.severity)}: {f.title}" for f in mine}))


def _object_rows(data: ReportData) -> list[list[str]]:
    return [
        [
            data.labels.object(row["object"]),
            _count(row.get("org_count")),
            _count(row.get("org_record_count")),
            _count(row.get("backup_rows")),
            _count(row.get("deleted_rows")),
            size(row.get("bytes")),
            _status(data, row["object"]),
        ]
        for row in data.objects
    ]


_METADATA_COLUMNS = ("Type", "Listed by the org", "In the backup", "Not retrieved", "Note")


def _metadata_rows(data: ReportData) -> list[list[str]]:
    return [[str(r["type"]), _count(r.get("listed")), _count(r.get("retrieved")),
             _count(r.get("failed")), str(r.get("reason") or "")]
            for r in data.metadata or [] if r.get("listed") or r.get("reason")]  # fmt: skip


def _file_rows(data: ReportData) -> list[list[str]]:
    rows = []
    for row in data.files:
        stored = (row.get("downloaded") or 0) + (row.get("deduplicated") or 0)
        rows.append(
            [
                data.labels.object(row["object"]),
                _count(row.get("org_count")),
                _count(row.get("count")),
                size(row.get("bytes")),
                _count(stored),
                _count(row.get("no_body")),
                str(row.get("checksum_status", "")),
            ]
        )
    return rows


def _not_covered(data: ReportData) -> list[list[str]]:
    rows = []
    for c in data.coverage:
        status = str(c.get("status"))
        if status == "backed_up":
            continue
        reason = str(c.get("reason") or "")
        if reason.startswith("describeGlobal:"):
            reason = ""  # the status says it in plain words
        rows.append(
            [
                data.labels.object(str(c.get("object"))),
                _COVERAGE.get(status, status.replace("_", " ")),
                reason,
            ]
        )
    return rows


def _readiness_facts(data: ReportData) -> list[tuple[str, str, str]]:
    """(label, text, css class) rows: notice deadline and the org's storage beside the backup."""
    facts: list[tuple[str, str, str]] = []
    notice = data.readiness.get("notice")
    if notice:
        css = {"passed": "error", "near": "warning"}.get(str(notice.get("status")), "")
        facts.append(("Notice to Salesforce", str(notice.get("message")), css))
    storage = data.readiness.get("storage") or {}
    for key, label in (("DataStorageMB", "Salesforce data storage in use"),
                       ("FileStorageMB", "Salesforce file storage in use")):  # fmt: skip
        item = storage.get(key)
        if isinstance(item, dict) and isinstance(item.get("used"), int) and isinstance(item.get("max"), int):
            mib = 1024 * 1024
            facts.append((label, f"{size(item['used'] * mib)} of {size(item['max'] * mib)}", ""))
    if storage:
        facts.append(("This backup's size", size(storage.get("backup_bytes")), ""))
    return facts


def _owner_rows(data: ReportData) -> list[list[str]]:
    rows = []
    for owner in data.readiness.get("owners") or []:
        counts = owner.get("counts") or {}
        by_object = ", ".join(
            f"{data.labels.objects.get(name, name)} {count:,}" for name, count in counts.items()
        )
        active = {True: "yes", False: "no"}.get(owner.get("is_active"), "-")
        rows.append(
            [
                owner.get("name") or f"unknown user ({owner['owner_id']})",
                owner.get("username") or "-",
                active,
                _count(owner.get("total")),
                by_object,
            ]
        )
    return rows


def _owners_note(data: ReportData) -> str:
    total = data.readiness.get("owners_total") or 0
    shown = len(data.readiness.get("owners") or [])
    more = f" (the {shown} with the most records; {total} in all)" if total > shown else ""
    return "Records each user owns, from the backup: reassign them before users are deactivated" + more + "."


def _named_items(data: ReportData, finding: Finding) -> tuple[list[str], int]:
    """The records or files a finding is about, by name (the first NAMED_PER_FINDING), and how
    many more there are."""
    actual = finding.actual
    if not isinstance(actual, list) or not actual or not all(isinstance(a, str) for a in actual):
        return [], 0
    shown = [
        data.labels.object(a) if a in data.labels.objects else data.labels.record(a)
        for a in actual[:NAMED_PER_FINDING]
    ]
    return shown, max(0, len(actual) - NAMED_PER_FINDING)


def _by_severity(findings: Iterable[Finding]) -> dict[Severity, list[Finding]]:
    grouped: dict[Severity, list[Finding]] = {s: [] for s in SEVERITIES}
    for finding in findings:
        grouped[finding.severity].append(finding)
    return grouped


def _history_rows(data: ReportData) -> list[list[str]]:
    rows = []
    for v in data.history:
        how = (
            str(v.get("level"))
            + (" against the org" if v.get("against_org") else "")
            + (" with Ids" if v.get("ids") else "")
        )
        verdict_line = str(v.get("verdict") or "")
        rows.append(
            [
                str(v.get("verified_at")),
                how,
                "passed" if v.get("passed") else "FAILED",
                "SAFE" if verdict_line.startswith(SAFE) else "NOT SAFE" if verdict_line else "-",
                str(v.get("report") or "-"),
            ]
        )
    return rows


# --- Markdown ---------------------------------------------------------------------------------


def _md_cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_table(columns: tuple[str, ...], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return lines


def render_markdown(data: ReportData) -> str:
    """report.md."""
    decision = verdict(data)
    org_label = data.org.get("org_name") or data.org.get("org_id") or ""
    out = [f"# Salesforce backup of {org_label}: can we cancel?", "", f"**{decision.line}**", ""]
    if len(decision.reasons) > 1:
        out += ["What stands in the way:", ""] + [f"- {_md_cell(r)}" for r in decision.reasons] + [""]
    if decision.notes:
        out += ["What Salesforce no longer serves or never offers to the API (not blocking):", ""]
        out += [f"- {_md_cell(n)}" for n in decision.notes] + [""]
    totals = _totals(data)
    out += [
        f"**{counted(totals['objects'], 'object')}, {counted(totals['records'], 'record')}, "
        f"{counted(totals['files'], 'file')}, {size(totals['bytes'])}; "
        f"{counted(totals['problems'], 'problem')}, {counted(totals['warnings'], 'warning')}**",
        "",
    ]
    out += [f"- **{k}:** {_md_cell(v)}" for k, v in _summary_rows(data)] + [""]
    facts = _readiness_facts(data)
    owners = _owner_rows(data)
    if facts or owners:
        out += ["## Before you cancel", ""] + [f"- **{label}:** {_md_cell(text)}" for label, text, _ in facts]
        if owners:
            out += ["", _owners_note(data), "", *_md_table(_OWNER_COLUMNS, owners)]
        out.append("")
    grouped = _by_severity(data.findings)
    for severity in SEVERITIES:
        if not grouped[severity]:
            continue
        out += [f"## {_SECTION_TITLES[severity]} ({len(grouped[severity])})", ""]
        for finding in grouped[severity]:
            where = data.labels.object(finding.object)
            out.append(f"- **{_md_cell(finding.title)}**" + (f" ({_md_cell(where)})" if where else ""))
            out.append(f"  - what it means: {_md_cell(finding.effect)}")
            if finding.what_to_do:
                out.append(f"  - what to do: {_md_cell(finding.what_to_do)}")
            named, more = _named_items(data, finding)
            if named:
                out.append(
                    "  - concerns: " + _md_cell(", ".join(named)) + (f" and {more:,} more" if more else "")
                )
            out.append(
                f"  - found: {_md_cell(finding.explanation)}"
                + (f" (`{finding.path}`)" if finding.path else "")
            )
        out.append("")
    out += ["## Records", "", *_md_table(_OBJECT_COLUMNS, _object_rows(data)), ""]
    if data.files:
        out += ["## Files", "", *_md_table(_FILE_COLUMNS, _file_rows(data)), ""]
    if data.metadata:
        out += ["## Configuration (metadata)", "", *_md_table(_METADATA_COLUMNS, _metadata_rows(data)), ""]
    out += ["## Not in the backup, and why", ""]
    missing = _not_covered(data)
    if missing:
        out += _md_table(("Object", "Why", "Detail"), missing)
    else:
        out.append(
            "Every object the org lists is in the backup." if data.coverage else "No coverage recorded."
        )
    out.append("")
    if data.history:
        history = _md_table(("Checked", "How", "Result", "Verdict", "Report"), _history_rows(data))
        out += ["## Earlier checks of this backup", "", *history, ""]
    out += ["## Technical details", ""] + [f"- {k}: {_md_cell(v)}" for k, v in _technical_rows(data)] + [""]
    return "\n".join(out)


# --- HTML -------------------------------------------------------------------------------------

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:72em;
color:#1b1f24;padding:0 1em;line-height:1.45}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #d0d7de}
h3{font-size:1em;margin:.2em 0}
.verdict{font-size:1.25em;font-weight:700;padding:.8em 1em;border-radius:6px;margin:1em 0}
.safe{background:#dafbe1;border:2px solid #1a7f37;color:#0f5323}
.unsafe{background:#ffebe9;border:2px solid #cf222e;color:#82071e}
.box{border:1px solid #d0d7de;border-radius:6px;padding:.6em 1em;margin:.8em 0}
.box.blocking{border-color:#cf222e;background:#fff8f7}.box.note{border-color:#bf8700;background:#fffbeb}
.totals{display:flex;flex-wrap:wrap;gap:.8em;margin:1em 0}
.total{border:1px solid #d0d7de;border-radius:6px;padding:.5em 1em;min-width:7em}
.total b{display:block;font-size:1.4em}.total.bad b{color:#cf222e}.total.warn b{color:#9a6700}
table{border-collapse:collapse;width:100%;margin:.5em 0;font-size:.92em}
th,td{border:1px solid #d0d7de;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.error{color:#cf222e;font-weight:600}.warning{color:#9a6700;font-weight:600}.info{color:#57606a}
.finding{border-left:4px solid #d0d7de;padding:.3em .8em;margin:.6em 0}
.finding.error{border-color:#cf222e;font-weight:normal;color:inherit}
.finding.warning{border-color:#bf8700;font-weight:normal;color:inherit}
.finding.info{border-color:#8c959f;color:inherit}
.finding p{margin:.2em 0}
details{margin:.6em 0}summary{cursor:pointer;font-weight:600}
details.section>summary{font-size:1.1em;padding:.3em 0;border-bottom:1px solid #d0d7de}
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dt{font-weight:600}dd{margin:0}
small,.muted{color:#57606a}code{font-size:.9em}
"""


def _h(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _html_table(columns: tuple[str, ...], rows: list[list[str]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f"<th>{_h(c)}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=n' if i in numeric else ''}>{_h(c)}</td>" for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _dl(rows: Iterable[tuple[str, str]]) -> str:
    return "<dl>" + "".join(f"<dt>{_h(k)}</dt><dd>{_h(v)}</dd>" for k, v in rows) + "</dl>"


def _section(title: str, body: str, *, open_: bool = False) -> str:
    """A folded section: the summary line always shows, the details on a click."""
    return (
        f'<details class="section"{" open" if open_ else ""}><summary>{_h(title)}</summary>{body}</details>'
    )


def _finding_html(data: ReportData, finding: Finding) -> str:
    where = data.labels.object(finding.object)
    named, more = _named_items(data, finding)
    parts = [
        f'<div class="finding {_h(finding.severity)}">',
        f"<h3>{_h(finding.title)}{' — ' + _h(where) if where else ''}</h3>",
        f"<p><b>What it means:</b> {_h(finding.effect)}</p>",
    ]
    if finding.what_to_do:
        parts.append(f"<p><b>What to do:</b> {_h(finding.what_to_do)}</p>")
    if named:
        items = "".join(f"<li>{_h(n)}</li>" for n in named)
        parts.append(
            f"<p><b>Concerns:</b></p><ul>{items}</ul>" + (f"<p>and {more:,} more</p>" if more else "")
        )
    detail = _h(finding.explanation) + (f"<br><small>{_h(finding.path)}</small>" if finding.path else "")
    if named or finding.severity == "info":
        parts.append(f"<details><summary>What was found</summary><p>{detail}</p></details></div>")
    else:  # nothing named above: the explanation is the only place that says which field or part
        parts.append(f"<p><b>What was found:</b> {detail}</p></div>")
    return "".join(parts)


def render_html(data: ReportData) -> str:
    """report.html: one file, inline CSS, readable without any network access."""
    decision = verdict(data)
    org_label = data.org.get("org_name") or data.org.get("org_id") or ""
    css = "safe" if decision.safe else "unsafe"
    totals = _totals(data)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Salesforce backup of {_h(org_label)}: {_h(SAFE if decision.safe else NOT_SAFE)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Salesforce backup of {_h(org_label)}: can we cancel?</h1>",
        f'<p class="muted">Checked {_h(_when(data.verified_at))}; backup taken {_h(_when(data.t0))}.</p>',
        # What SAFE covers is fine print beside the answer (it is in the summary below, in full).
        f'<div id="verdict" class="verdict {css}">{_h(decision.line.split(_covers_suffix(data))[0])}</div>',
    ]
    if len(decision.reasons) > 1:
        items = "".join(f"<li>{_h(r)}</li>" for r in decision.reasons)
        parts.append(f'<div class="box blocking"><h3>What stands in the way</h3><ul>{items}</ul></div>')
    if decision.notes:
        items = "".join(f"<li>{_h(n)}</li>" for n in decision.notes)
        parts.append(
            '<div class="box note"><h3>What Salesforce no longer serves or never offers to the API '
            "(not blocking)</h3>"
            f"<ul>{items}</ul></div>"
        )
    problems, warnings = totals["problems"], totals["warnings"]
    cards = [
        (_noun(totals["objects"], "Object"), _count(totals["objects"]), ""),
        (_noun(totals["records"], "Record"), _count(totals["records"]), ""),
        (_noun(totals["files"], "File"), _count(totals["files"]), ""),
        ("Size", size(totals["bytes"]), ""),
        (_noun(problems, "Problem"), _count(problems), "bad" if problems else ""),
        (_noun(warnings, "Warning"), _count(warnings), "warn" if warnings else ""),
    ]
    parts.append(
        '<div class="totals">'
        + "".join(f'<div class="total {c}"><b>{_h(v)}</b>{_h(k)}</div>' for k, v, c in cards)
        + "</div>"
    )
    parts.append(_dl(_summary_rows(data)))
    facts = _readiness_facts(data)
    owners = _owner_rows(data)
    if facts or owners:
        parts.append("<h2>Before you cancel</h2>")
        if facts:
            items = "".join(
                f'<dt>{_h(label)}</dt><dd class="{fact_css}">{_h(text)}</dd>'
                for label, text, fact_css in facts
            )
            parts.append(f"<dl>{items}</dl>")
        if owners:
            body = f"<p>{_h(_owners_note(data))}</p>" + _html_table(_OWNER_COLUMNS, owners, {3})
            parts.append(_section(f"Record owners: {counted(len(owners), 'user')}", body))
    grouped = _by_severity(data.findings)
    for severity in SEVERITIES:
        found = grouped[severity]
        if found:
            body = "".join(_finding_html(data, f) for f in found)
            parts.append(
                _section(f"{_SECTION_TITLES[severity]} ({len(found)})", body, open_=severity != "info")
            )
    record_problems = any(_status(data, r["object"]) != "complete" for r in data.objects)
    parts.append(
        _section(
            f"Records: {counted(totals['objects'], 'object')}, {counted(totals['records'], 'record')}",
            _html_table(_OBJECT_COLUMNS, _object_rows(data), {1, 2, 3, 4, 5}),
            open_=record_problems,
        )
    )
    if data.files:
        parts.append(
            _section(
                f"Files: {counted(totals['files'], 'file')}, "
                f"{size(sum(int(r.get('bytes') or 0) for r in data.files))}",
                _html_table(_FILE_COLUMNS, _file_rows(data), {1, 2, 3, 4, 5}),
            )
        )
    if data.metadata:
        components = sum(int(r.get("retrieved") or 0) for r in data.metadata)
        parts.append(
            _section(
                f"Configuration (metadata): {counted(components, 'component')}",
                _html_table(_METADATA_COLUMNS, _metadata_rows(data), {1, 2, 3}),
                open_=any(r.get("failed") for r in data.metadata),  # a type the org lacks is no news
            )
        )
    missing = _not_covered(data)
    if missing:
        parts.append(
            _section(
                f"Not in the backup, and why: {counted(len(missing), 'object')}",
                _html_table(("Object", "Why", "Detail"), missing),
                open_=any(c.get("status") == "excluded_by_config" for c in data.coverage),
            )
        )
    else:
        parts.append(
            "<p>Every object the org lists is in the backup.</p>"
            if data.coverage
            else "<p>No coverage recorded.</p>"
        )
    if data.history:
        parts.append(
            _section(
                f"Earlier checks of this backup: {len(data.history)}",
                _html_table(("Checked", "How", "Result", "Verdict", "Report"), _history_rows(data)),
            )
        )
    parts.append(_section("Technical details", _dl(_technical_rows(data))))
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_reports(data: ReportData, folder: Path) -> dict[str, Path]:
    """Write report.json, report.md and report.html into `folder`, each atomically."""
    documents = report_documents(data)
    written: dict[str, Path] = {}
    for name, body in documents.items():
        write_atomic(folder / name, body)
        written[name] = folder / name
    return written


def report_documents(data: ReportData) -> dict[str, bytes]:
    """The three reports as bytes (for stores that are not local folders)."""
    return {
        "report.json": (json.dumps(to_json(data), indent=2, ensure_ascii=False, default=str) + "\n").encode(),
        "report.md": render_markdown(data).encode(),
        "report.html": render_html(data).encode(),
    }

"""The cancellation-readiness report: report.json for machines, report.md and a self-contained
report.html (inline CSS, no external assets) a manager can read, with ONE verdict line.

SAFE TO CANCEL requires all of: verification passed (no error finding, so no failed objects or
missing files, structure or read-data intact), the snapshot compared with the org and matching,
nothing the backup user could not see (blind spots: records outside its sharing, hidden or
masked fields, files without Query All Files; these come first among the reasons), and nothing in
the org left out except what the configuration excluded on purpose (listed). SAFE covers what
`safe_covers()` says, and the report says so.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sfbackup.clock import format_time
from sfbackup.repository.atomic import write_atomic
from sfbackup.verify.findings import BLIND_SPOT_KINDS, NOT_SERVED, Finding, count_by_severity, counted

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
            f"verification failed with {len(errors)} problem(s): "
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
        reasons.append(f"the snapshot is {data.state}, not complete")
    excluded = [str(c.get("object")) for c in data.coverage if c.get("status") == "excluded_by_config"]
    if excluded:
        # After cancellation what the backup lacks is lost: a configuration that left objects out
        # cannot be called safe, however well the rest verified.
        shown = ", ".join(excluded[:8]) + (" ..." if len(excluded) > 8 else "")
        reasons.append(
            f"{len(excluded)} objects the org lists are not in this backup because the configuration "
            f"left them out ({shown}): back them up with `sfbackup run --preset everything` "
            "(the default when no objects are named)"
        )
    notes = tuple(
        f"{f.explanation}. What to do: {f.what_to_do}"
        for f in data.findings
        if f.severity == "info" and f.kind in NOT_SERVED
    )
    if reasons:
        return Verdict(False, f"{NOT_SAFE}: " + reasons[0], tuple(reasons), notes)
    listed = _not_served_summary(data)
    components = sum(int(r.get("retrieved") or 0) for r in data.metadata or [])
    types = sum(1 for r in data.metadata or [] if r.get("listed"))
    configuration = (f", with the org's configuration ({components:,} metadata components of {types} "
                     "types)") if data.metadata else ""
    line = (
        f"{SAFE}: every record and file of the {len(data.objects)} backed-up objects as of T0 "
        f"{format_time(data.t0)}{configuration} is in snapshot {data.snapshot_id}, matched against the "
        f"org and verified at level {data.level}"
        + (f"; {' and '.join(listed)} are listed below" if listed else "")
        + f". SAFE covers the {safe_covers(data)}"
    )
    return Verdict(True, line, (), notes)


def _not_served_summary(data: ReportData) -> list[str]:
    """`2 objects the API cannot query`, `1 file Salesforce no longer serves`: for the SAFE line."""
    listed = []
    unreadable = sum(1 for c in data.coverage if c.get("status") == "not_queryable")
    if unreadable:
        listed.append(f"{counted(unreadable, 'object')} the API cannot query")
    files = sum(
        len(f.actual) if isinstance(f.actual, list) else 1
        for f in data.findings
        if f.kind == "file_body_unavailable"
    )
    if files:
        listed.append(f"{counted(files, 'file')} Salesforce no longer serves")
    return listed


def _short(finding: Finding) -> str:
    text = finding.explanation
    return text if len(text) <= 200 else text[:197] + "..."


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
        "objects": data.objects,
        "files": data.files,
        "coverage": data.coverage,
        "metadata": data.metadata,
        "readiness": data.readiness,
        "findings": [f.to_dict() for f in data.findings],
    }


def _fmt_count(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _fmt_bytes(value: Any) -> str:
    if not isinstance(value, int):
        return "-"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{value} B"


def _summary_rows(data: ReportData) -> list[tuple[str, str]]:
    org = data.org
    return [
        ("Org", f"{org.get('org_name') or '-'} ({org.get('org_id') or 'id unknown'})"),
        ("Instance", str(org.get("instance_url") or "-")),
        ("Snapshot", data.snapshot_id),
        ("T0 (the snapshot's cut, org clock)", format_time(data.t0)),
        ("Snapshot state", data.state),
        ("Verified at", format_time(data.verified_at)),
        ("Verification level", data.level),
        (
            "Compared with the org",
            ("yes, exact Id lists" if data.ids else "yes, record counts") if data.against_org else "no",
        ),
        ("Result", "passed" if data.passed else "FAILED"),
        ("What SAFE TO CANCEL covers", safe_covers(data)),
    ]


_OBJECT_COLUMNS = (
    "Object",
    "State",
    "In the org",
    "Org-wide (recordCount)",
    "In the backup",
    "Deleted rows",
    "Parts",
    "Size",
    "Status",
)
_FILE_COLUMNS = (
    "Object",
    "Files",
    "In the org",
    "Size",
    "Downloaded",
    "Deduplicated",
    "Not stored",
    "No body in Salesforce",
    "Checksums",
)


_METADATA_COLUMNS = ("Type", "Listed by the org", "In the backup", "Not retrieved", "Note")


def _metadata_rows(data: ReportData) -> list[list[str]]:
    return [[str(r["type"]), _fmt_count(r.get("listed")), _fmt_count(r.get("retrieved")),
             _fmt_count(r.get("failed")), str(r.get("reason") or "")]
            for r in data.metadata or [] if r.get("listed") or r.get("reason")]  # fmt: skip


def _object_row(row: dict[str, Any]) -> list[str]:
    return [
        row["object"],
        row["state"],
        _fmt_count(row.get("org_count")),
        _fmt_count(row.get("org_record_count")),
        _fmt_count(row.get("backup_rows")),
        _fmt_count(row.get("deleted_rows")),
        _fmt_count(row.get("parts")),
        _fmt_bytes(row.get("bytes")),
        row.get("status", ""),
    ]


def _file_row(row: dict[str, Any]) -> list[str]:
    return [
        row["object"],
        _fmt_count(row.get("count")),
        _fmt_count(row.get("org_count")),
        _fmt_bytes(row.get("bytes")),
        _fmt_count(row.get("downloaded")),
        _fmt_count(row.get("deduplicated")),
        _fmt_count(row.get("not_stored")),
        _fmt_count(row.get("no_body")),
        str(row.get("checksum_status", "")),
    ]


def _not_covered(data: ReportData) -> list[dict[str, Any]]:
    return [c for c in data.coverage if c.get("status") != "backed_up"]


# --- before you cancel (readiness.py's evidence) --------------------------------------------------

_OWNER_COLUMNS = ("Owner", "Username", "Active", "Records", "By object")


def _readiness_facts(data: ReportData) -> list[tuple[str, str, str]]:
    """(label, text, css class) rows: notice deadline and the org's storage beside the backup."""
    facts: list[tuple[str, str, str]] = []
    notice = data.readiness.get("notice")
    if notice:
        css = {"passed": "error", "near": "warning"}.get(str(notice.get("status")), "")
        facts.append(("Notice to Salesforce", str(notice.get("message")), css))
    storage = data.readiness.get("storage") or {}
    for key, label in (
        ("DataStorageMB", "Org data storage in use"),
        ("FileStorageMB", "Org file storage in use"),
    ):
        item = storage.get(key)
        if isinstance(item, dict):
            facts.append((label, f"{item.get('used')} MB of {item.get('max')} MB", ""))
    if storage:
        facts.append(("This backup's size", _fmt_bytes(storage.get("backup_bytes")), ""))
    return facts


def _owner_rows(data: ReportData) -> list[list[str]]:
    rows = []
    for owner in data.readiness.get("owners") or []:
        counts = owner.get("counts") or {}
        by_object = ", ".join(f"{name} {count:,}" for name, count in counts.items())
        active = {True: "yes", False: "no"}.get(owner.get("is_active"), "-")
        rows.append(
            [
                owner.get("name") or owner["owner_id"],
                owner.get("username") or "-",
                active,
                _fmt_count(owner.get("total")),
                by_object,
            ]
        )
    return rows


def _owners_note(data: ReportData) -> str:
    total = data.readiness.get("owners_total") or 0
    shown = len(data.readiness.get("owners") or [])
    more = f" (the {shown} with the most records; {total} in all)" if total > shown else ""
    return (
        "Records each user owns, from the snapshot: reassign them before users are deactivated" + more + "."
    )


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
    out = [f"# Backup verification: {data.snapshot_id}", "", f"**{decision.line}**", ""]
    if decision.reasons[1:]:
        out += ["Reasons:", ""] + [f"- {r}" for r in decision.reasons] + [""]
    out += [f"- **{k}:** {v}" for k, v in _summary_rows(data)] + [""]
    facts = _readiness_facts(data)
    if facts or _owner_rows(data):
        out += ["## Before you cancel", ""] + [f"- **{label}:** {_md_cell(text)}" for label, text, _ in facts]
        if _owner_rows(data):
            out += ["", _owners_note(data), "", *_md_table(_OWNER_COLUMNS, _owner_rows(data))]
        out.append("")
    out += ["## Records", "", *_md_table(_OBJECT_COLUMNS, [_object_row(r) for r in data.objects]), ""]
    if data.files:
        out += ["## Files", "", *_md_table(_FILE_COLUMNS, [_file_row(r) for r in data.files]), ""]
    if data.metadata:
        out += ["## Configuration (metadata)", "", *_md_table(_METADATA_COLUMNS, _metadata_rows(data)), ""]
    out += ["## Not covered, and why", ""]
    missing = _not_covered(data)
    if missing:
        out += _md_table(
            ("Object", "Status", "Reason"),
            [[c["object"], c["status"], c.get("reason") or ""] for c in missing],
        )
    else:
        out.append(
            "Every object the org lists is in the backup." if data.coverage else "No coverage recorded."
        )
    out += ["", "## Findings", ""]
    if not data.findings:
        out.append("None.")
    for finding in data.findings:
        where = " ".join(x for x in (finding.object, finding.path) if x)
        out.append(
            f"- **{finding.severity} `{finding.kind}`** {_md_cell(where)}: {_md_cell(finding.explanation)}"
        )
        if finding.what_to_do:
            out.append(f"  - what to do: {_md_cell(finding.what_to_do)}")
    out.append("")
    return "\n".join(out)


# --- HTML -------------------------------------------------------------------------------------

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:72em;
color:#1b1f24;padding:0 1em;line-height:1.4}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.8em;border-bottom:1px solid #d0d7de}
.verdict{font-size:1.3em;font-weight:700;padding:.8em 1em;border-radius:6px;margin:1em 0}
.safe{background:#dafbe1;border:2px solid #1a7f37;color:#0f5323}
.unsafe{background:#ffebe9;border:2px solid #cf222e;color:#82071e}
table{border-collapse:collapse;width:100%;margin:.5em 0;font-size:.92em}
th,td{border:1px solid #d0d7de;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums}
.error{color:#cf222e;font-weight:600}.warning{color:#9a6700;font-weight:600}.info{color:#57606a}
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dt{font-weight:600}dd{margin:0}
small{color:#57606a}
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


def render_html(data: ReportData) -> str:
    """report.html: one file, inline CSS, readable without any network access."""
    decision = verdict(data)
    org_label = data.org.get("org_name") or data.org.get("org_id") or ""
    css = "safe" if decision.safe else "unsafe"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Backup verification {_h(data.snapshot_id)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Salesforce backup verification: {_h(org_label)}</h1>",
        f'<div id="verdict" class="verdict {css}">{_h(decision.line)}</div>',
    ]
    if len(decision.reasons) > 1:
        parts.append(
            "<p>All reasons:</p><ul>" + "".join(f"<li>{_h(r)}</li>" for r in decision.reasons) + "</ul>"
        )
    parts.append(
        "<dl>" + "".join(f"<dt>{_h(k)}</dt><dd>{_h(v)}</dd>" for k, v in _summary_rows(data)) + "</dl>"
    )
    facts = _readiness_facts(data)
    if facts or _owner_rows(data):
        parts.append("<h2>Before you cancel</h2>")
        items = "".join(
            f'<dt>{_h(label)}</dt><dd class="{css}">{_h(text)}</dd>' for label, text, css in facts
        )
        parts.append(f"<dl>{items}</dl>" if facts else "")
        if _owner_rows(data):
            parts.append(f"<p>{_h(_owners_note(data))}</p>")
            parts.append(_html_table(_OWNER_COLUMNS, _owner_rows(data), {3}))
    parts.append("<h2>Records</h2>")
    parts.append(_html_table(_OBJECT_COLUMNS, [_object_row(r) for r in data.objects], {2, 3, 4, 5, 6, 7}))
    if data.files:
        parts.append("<h2>Files</h2>")
        parts.append(_html_table(_FILE_COLUMNS, [_file_row(r) for r in data.files], {1, 2, 3, 4, 5, 6, 7}))
    if data.metadata:
        parts.append("<h2>Configuration (metadata)</h2>")
        parts.append(_html_table(_METADATA_COLUMNS, _metadata_rows(data), {1, 2, 3}))
    parts.append("<h2>Not covered, and why</h2>")
    missing = _not_covered(data)
    if missing:
        parts.append(
            _html_table(
                ("Object", "Status", "Reason"),
                [[c["object"], c["status"], c.get("reason") or ""] for c in missing],
            )
        )
    else:
        parts.append(
            "<p>Every object the org lists is in the backup.</p>"
            if data.coverage
            else "<p>No coverage recorded.</p>"
        )
    parts.append("<h2>Findings</h2>")
    if data.findings:
        rows = "".join(
            f'<tr><td class="{_h(f.severity)}">{_h(f.severity)}</td><td>{_h(f.kind)}</td>'
            f"<td>{_h(f.object or '')}</td><td>{_h(f.explanation)}"
            f"{'<br><small>' + _h(f.path) + '</small>' if f.path else ''}</td>"
            f"<td>{_h(f.what_to_do)}</td></tr>"
            for f in data.findings
        )
        parts.append(
            "<table><thead><tr><th>Severity</th><th>Kind</th><th>Object</th><th>What was found</th>"
            f"<th>What to do</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    else:
        parts.append("<p>None.</p>")
    parts.append(
        f"<p><small>sfbackup {_h(data.program_version)}, repository {_h(data.repository)}</small></p>"
    )
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

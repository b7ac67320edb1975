"""Findings, the cancellation verdict and the report renderers, without any repository."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from sfbackup.errors import UsageError
from sfbackup.repository.manifest import CoverageEntry, Manifest, ObjectEntry
from sfbackup.verify.checker import in_subset, parse_subset
from sfbackup.verify.findings import KINDS, Finding, FindingFactory, count_by_severity, name_ids
from sfbackup.verify.labels import Labels
from sfbackup.verify.org_compare import coverage_report
from sfbackup.verify.report import NOT_SAFE, SAFE, ReportData, render_html, render_markdown, to_json, verdict

SNAPSHOT = "20261127T020000Z-3f9a1c2e"
T0 = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
make = FindingFactory(SNAPSHOT, "/backups/acme")


def report(**overrides: Any) -> ReportData:
    values: dict[str, Any] = {
        "snapshot_id": SNAPSHOT,
        "state": "complete",
        "t0": T0,
        "org": {
            "org_id": "00D000000000001AAA",
            "org_name": "Acme Corp",
            "instance_url": "https://acme.example",
        },
        "repository": "/backups/acme",
        "level": "read-data",
        "verified_at": datetime(2026, 11, 27, 3, 0, tzinfo=UTC),
        "passed": True,
        "against_org": True,
        "ids": True,
        "findings": [],
        "objects": [
            {"object": "Account", "state": "done", "org_count": 10, "backup_rows": 10, "status": "ok"}
        ],
        "coverage": [
            {"object": "Account", "status": "backed_up", "reason": None},
            {"object": "ActivityHistory", "status": "not_queryable", "reason": "queryable is false"},
        ],
    }
    values.update(overrides)
    return ReportData(**values)


# --- findings ----------------------------------------------------------------------------------


def test_given_a_kind_when_made_then_severity_and_what_to_do_come_from_the_table() -> None:
    finding = make("missing_part", "part gone", object="Account", path="objects/Account/part-00000.parquet")

    assert finding.severity == "error"
    assert finding.snapshot_id == SNAPSHOT
    assert "/backups/acme" in finding.what_to_do and "{repo}" not in finding.what_to_do


def test_given_every_kind_then_deleted_since_export_is_the_explained_info_kind() -> None:
    assert KINDS["deleted_since_export"][0] == "info"
    assert KINDS["coverage_gap"][0] == "warning"
    assert all(severity in ("error", "warning", "info") for severity, _ in KINDS.values())
    assert "run --resume" in KINDS["object_failed"][1]


def test_given_finding_when_round_tripped_through_json_then_equal() -> None:
    finding = make("missing_ids", "2 missing", object="Account", expected=5, actual=["001A", "001B"])

    assert Finding.from_dict(json.loads(json.dumps(finding.to_dict()))) == finding


def test_given_many_ids_when_named_then_text_is_bounded() -> None:
    ids = [f"001{n:015d}" for n in range(30)]

    text = name_ids(ids, limit=3)

    assert text.endswith("and 27 more") and text.count(", ") == 2


def test_given_findings_when_counted_then_by_severity() -> None:
    findings = [make("missing_blob", "x"), make("coverage_gap", "y"), make("deleted_since_export", "z")]

    assert count_by_severity(findings) == {"error": 1, "warning": 1, "info": 1}


# --- read-data subsets --------------------------------------------------------------------------


def test_given_subsets_when_all_run_then_every_hash_is_read_exactly_once() -> None:
    hashes = [f"{n:08x}" + "0" * 56 for n in range(0, 2**32, 2**32 // 97)]

    picked = [sum(in_subset(h, (n, 7)) for n in range(1, 8)) for h in hashes]

    assert picked == [1] * len(hashes)


@pytest.mark.parametrize("text", ["0/3", "4/3", "1/0", "a/b", "1", "1/2/3"])
def test_given_bad_subset_text_when_parsed_then_usage_error(text: str) -> None:
    with pytest.raises(UsageError):
        parse_subset(text)


# --- verdict ------------------------------------------------------------------------------------


def test_given_everything_verified_against_org_then_safe_and_lists_what_the_api_cannot_query() -> None:
    decision = verdict(report())

    assert decision.safe
    assert decision.line.startswith(SAFE) and "1 object the API cannot query" in decision.line


def test_given_objects_left_out_by_configuration_then_not_safe_naming_them() -> None:
    coverage = [
        {"object": "Account", "status": "backed_up", "reason": None},
        {"object": "Lead", "status": "excluded_by_config", "reason": "not in the selected objects"},
    ]
    decision = verdict(report(coverage=coverage))

    assert not decision.safe
    assert decision.line.startswith(NOT_SAFE) and "Lead" in decision.line
    assert "--preset everything" in decision.line


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"against_org": False, "ids": False}, "not compared with the org"),
        (
            {"passed": False, "findings": [make("missing_part", "part-00001 of Account is missing")]},
            "missing",
        ),
        ({"findings": [make("coverage_gap", "Quote is not in the backup")]}, "Quote is not in the backup"),
        ({"state": "exported"}, "not complete"),
    ],
)
def test_given_a_gap_when_verdict_then_not_safe_with_the_reason(
    overrides: dict[str, Any], reason: str
) -> None:
    decision = verdict(report(**overrides))

    assert not decision.safe
    assert decision.line.startswith(NOT_SAFE)
    assert any(reason in r for r in decision.reasons)


def test_given_a_long_explanation_when_it_is_a_reason_then_it_is_cut_between_ids_never_inside_one() -> None:
    ids = [f"003{n:015d}" for n in range(30)]
    long = make("coverage_gap", "Contacts missing: " + ", ".join(ids), object="Contact")

    reason = verdict(report(findings=[long])).reasons[0]

    assert reason.endswith(" ...") and len(reason) <= 200
    assert all(word.rstrip(",") in ids for word in reason[len("Contacts missing: ") : -4].split())


def test_given_explained_deletions_only_then_still_safe() -> None:
    data = report(findings=[make("deleted_since_export", "3 Contact records were deleted since")])

    assert verdict(data).safe


def test_given_recycle_bin_files_salesforce_no_longer_serves_then_safe_with_a_note_naming_them() -> None:
    gone = make(
        "file_body_unavailable", "1 Attachment file ...", object="Attachment", actual=["00P000000000001AAA"]
    )
    labels = Labels({"Attachment": "Attachments"}, {"00P000000000001AAA": '"q3.pdf" on Contact "Jane Doe"'})

    decision = verdict(report(findings=[gone], labels=labels))

    assert decision.safe and "1 file Salesforce no longer serves" in decision.line
    assert decision.notes and '"q3.pdf" on Contact "Jane Doe" (00P000000000001AAA)' in decision.notes[0]
    assert "undelete" in decision.notes[0] and "before cancelling" in decision.notes[0]


def test_given_many_objects_refused_to_every_client_then_safe_with_one_note_naming_them_all() -> None:
    names = [f"Refused{n}__c" for n in range(25)]
    refused = [make("not_exportable", f"Salesforce refuses to let any API client query {n} this way", object=n)
               for n in names]  # fmt: skip
    coverage = [{"object": "Account", "status": "backed_up", "reason": None},
                *({"object": n, "status": "not_exportable", "reason": "refused"} for n in names)]  # fmt: skip

    decision = verdict(report(findings=refused, coverage=coverage))

    assert decision.safe and "25 objects Salesforce refuses to every API client" in decision.line
    assert len(decision.notes) == 1 and decision.notes[0].count("What to do") == 1
    assert "(25)" in decision.notes[0] and "Refused0__c" in decision.notes[0] and "and 5 more" in decision.notes[0]


# --- renderers ----------------------------------------------------------------------------------


def _visible(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<style>.*?</style>|<[^>]+>", " ", page, flags=re.S)))


def test_given_a_not_safe_report_when_rendered_then_a_manager_reads_plain_words_totals_first() -> None:
    gap = make("coverage_gap", "Quote is not in the backup", object="Quote")
    data = report(
        level="structure",
        findings=[gap],
        objects=[
            {
                "object": "Account",
                "state": "done",
                "org_count": 10,
                "backup_rows": 10,
                "bytes": 3 * 1024 * 1024,
            },
            {"object": "Invoice__c", "state": "done", "org_count": 1, "backup_rows": 1, "bytes": 2048},
        ],
        coverage=[
            {"object": "Account", "status": "backed_up", "reason": None},
            {"object": "Lead", "status": "excluded_by_config", "reason": "not in the selected objects"},
            {
                "object": "ActivityHistory",
                "status": "not_queryable",
                "reason": "describeGlobal: queryable is false",
            },
        ],
        readiness={
            "storage": {"backup_bytes": 3 * 1024 * 1024 + 2048, "DataStorageMB": {"used": 5, "max": 1024}}
        },
        labels=Labels({"Account": "Accounts", "Invoice__c": "Invoices", "Lead": "Leads"}),
    )

    page = render_html(data)
    text = _visible(page)
    markdown = render_markdown(data)

    assert text.index("NOT SAFE TO CANCEL") < text.index("Records") < text.index("Before you cancel")
    assert "1 Warning" in text and "1 warning" in markdown and "1 warnings" not in markdown.lower()
    assert "Invoices (Invoice__c)" in text and "Leads (Lead)" in text  # labels beside API names
    assert "left out by the backup's settings" in text and "Salesforce offers no API access" in text
    assert "Objects in Salesforce that are not in the backup" in text  # the kind's title, not its name
    assert not re.search(r"\bT0\b", text + markdown)
    for internal in ("describeGlobal", "excluded_by_config", "coverage_gap", "Verification level",
                     "Result", "MiB", "KiB"):  # fmt: skip
        assert internal not in text, internal
        assert internal not in markdown, internal
    assert "5.0 MB of 1.0 GB" in text and "3.0 MB" in text  # Salesforce's MB and the backup's: one unit
    assert "<details" in page  # details folded


def test_given_a_finding_kind_the_report_does_not_know_then_it_is_rendered_from_its_name_and_severity() -> (
    None
):
    other = Finding(
        kind="field_hidden_by_fls",
        severity="warning",
        object="Account",
        explanation="3 Account fields are hidden from the backup user",
        what_to_do="grant the backup user read access to them",
    )
    text = _visible(render_html(report(findings=[other])))

    assert "Field hidden by fls" in text and "something in Salesforce is not in the backup" in text
    assert "grant the backup user read access to them" in text
    assert "3 Account fields are hidden from the backup user" in text


def test_given_hostile_text_when_rendered_then_html_escapes_it_and_markdown_keeps_tables() -> None:
    hostile = make("missing_ids", "<script>alert(1)</script> | name", object="Account")
    data = report(passed=False, findings=[hostile])

    page = render_html(data)
    text = render_markdown(data)

    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "\\|" in text
    assert NOT_SAFE in page and NOT_SAFE in text


def test_given_report_when_html_then_it_needs_nothing_from_the_network() -> None:
    page = render_html(report())

    for marker in ("<link", "<script", "src=", "@import", "url("):
        assert marker not in page
    assert "<style>" in page


def test_given_report_when_json_then_machine_readable_summary() -> None:
    document = to_json(report(findings=[make("deleted_since_export", "gone")]))

    assert document["verdict"]["safe"] is True
    assert document["counts"] == {"error": 0, "warning": 0, "info": 1}
    assert document["findings"][0]["kind"] == "deleted_since_export"
    assert document["t0"] == "2026-11-27T02:00:00.000Z"


# --- coverage -----------------------------------------------------------------------------------


def _manifest(**kw: Any) -> Manifest:
    return Manifest(snapshot_id=SNAPSHOT, t0=T0, **kw)


def test_given_manifest_coverage_and_fresh_describe_when_compared_then_new_objects_are_gaps() -> None:
    manifest = _manifest(
        objects={"Account": ObjectEntry(state="done", rows=3)},
        coverage=[
            CoverageEntry("Account", "backed_up"),
            CoverageEntry("Lead", "excluded_by_config", "not in the selected objects"),
            CoverageEntry(
                "ContentFolderItem", "not_exportable", "MALFORMED_QUERY: Implementation restriction"
            ),
        ],
    )
    sobjects = [
        {"name": "Account", "queryable": True},
        {"name": "Quote__c", "queryable": True},
        {"name": "AccountChangeEvent", "queryable": False},
    ]

    rows, findings = coverage_report(manifest, sobjects, make)

    statuses = {r.object: r.status for r in rows}
    assert statuses == {
        "Account": "backed_up",
        "Lead": "excluded_by_config",
        "ContentFolderItem": "not_exportable",
        "Quote__c": "not_backed_up",
        "AccountChangeEvent": "not_queryable",
    }
    gaps = {f.object for f in findings if f.kind == "coverage_gap"}
    assert gaps == {"ContentFolderItem", "Quote__c"}
    assert all(f.severity == "warning" for f in findings if f.kind == "coverage_gap")


def test_given_file_records_without_bodies_when_coverage_then_gap_says_files_were_off() -> None:
    manifest = _manifest(
        objects={"Attachment": ObjectEntry(state="done", rows=4)},
        settings={"files": False},
        coverage=[CoverageEntry("Attachment", "backed_up")],
    )

    _rows, findings = coverage_report(manifest, None, make)

    assert [(f.kind, f.object) for f in findings] == [("coverage_gap", "Attachment")]
    assert "turned off" in findings[0].explanation


def test_given_no_coverage_and_no_org_when_reported_then_coverage_unknown() -> None:
    _rows, findings = coverage_report(_manifest(), None, make)

    assert [f.kind for f in findings] == ["coverage_unknown"]

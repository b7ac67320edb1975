"""What verification found: one `Finding` per problem (or explained difference), each naming its object.

Severities, from the point of view of a person about to cancel Salesforce:

- ``error``: the backup is wrong or incomplete. Verification fails (exit 4) and the snapshot is
  not marked `complete`.
- ``warning``: the snapshot is faithful to what was asked, but something in the org is not in it
  (an object Salesforce refused, an object that appeared since). Verification passes; the
  cancellation verdict is NOT SAFE until it is resolved or excluded on purpose.
- ``info``: a difference that is explained and loses nothing the backup could hold (a record
  deleted in the org since the export: the backup still holds it). The kinds in `NOT_SERVED` are
  data Salesforce itself no longer serves or never offers to the API: no backup can hold it, so it
  does not block SAFE TO CANCEL, but the verdict lists it with what to do before cancelling.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")

#: How many record ids a finding's explanation names before it says "and N more".
IDS_IN_TEXT = 20
#: How many record ids a finding carries in `actual` (report.json keeps them all up to this).
IDS_IN_DATA = 10_000

_RESUME = "run `sfbackup run --resume --repo {repo}` to finish the snapshot, then verify again"
_RERUN = (
    "the snapshot's data is damaged: take a new snapshot (`sfbackup run --repo {repo}`), or restore "
    "the damaged files from a copy (e.g. the S3 upload), then verify again"
)

_GRANT = (
    "grant the backup user {what} (`sfbackup check` names the exact Setup steps; docs/check.md), "
    "then take a new snapshot (`sfbackup run --repo {repo}`) and verify it"
)

#: Blind spots: what the backup user could not see. Each blocks SAFE TO CANCEL, reason first.
BLIND_SPOT_KINDS: tuple[str, ...] = (
    "records_not_visible",
    "hidden_field",
    "masked_field",
    "files_not_visible",
    "access_unchecked",
)

#: Every kind of finding: its default severity and what to do about it (`{repo}` is filled in).
KINDS: dict[str, tuple[Severity, str]] = {
    "snapshot_not_finished": ("error", _RESUME),
    "object_failed": ("error", _RESUME),
    "object_pending": ("error", _RESUME),
    "object_skipped": ("warning", "check why the object was skipped; include it and run again if it matters"),
    "object_blocked": (
        "warning",
        "Salesforce serves this object's data only with the query or permission its refusal names: "
        "give the backup user that permission (e.g. View All Data) and run again, or export it with "
        "the filter Salesforce asks for (Data Loader, a filtered SOQL export); exclude it on purpose "
        "(`--exclude`) only if its data is not needed",
    ),
    "object_derived": (
        "info",
        "nothing: Salesforce computes this object from others (UserRecordAccess from sharing) and the "
        "snapshot holds every one of them, so the access it answers can be worked out from the backup",
    ),
    "derived_sources_missing": (
        "warning",
        "back up the objects named (include them, or give the backup user access to them) and run "
        "again: without them the access this object answers cannot be worked out from the backup",
    ),
    "count_unavailable": (
        "info",
        "nothing: Salesforce refuses COUNT() on this object, so the org's records were counted by "
        "reading them, as the export read them",
    ),
    "files_missing": ("error", _RESUME),
    "missing_schema": ("error", _RERUN),
    "schema_damaged": ("error", _RERUN),
    "missing_part": ("error", _RERUN),
    "part_size_mismatch": ("error", _RERUN),
    "part_checksum_mismatch": ("error", _RERUN),
    "part_undecodable": ("error", _RERUN),
    "row_count_mismatch": ("error", _RERUN),
    "deleted_count_mismatch": ("error", _RERUN),
    "missing_index": ("error", _RERUN),
    "index_mismatch": ("error", _RERUN),
    "missing_blob": ("error", _RERUN),
    "blob_size_mismatch": ("error", _RERUN),
    "blob_checksum_mismatch": ("error", _RERUN),
    "salesforce_checksum_mismatch": ("error", _RERUN),
    "org_mismatch": (
        "error",
        "verify against the org the snapshot was taken from (check --instance-url and the credentials)",
    ),
    "org_count_mismatch": (
        "error",
        "records the org holds under the snapshot's predicate are not in the backup: run "
        "`sfbackup verify --against-org --ids` to name them, then take a new snapshot "
        "(`sfbackup run --repo {repo}`)",
    ),
    "missing_ids": (
        "error",
        "these records exist in the org but not in the backup: take a new snapshot "
        "(`sfbackup run --repo {repo}`) and verify it",
    ),
    "predicate_mismatch": (
        "error",
        "the manifest was changed by hand or damaged: restore it from a copy (e.g. the S3 upload) or "
        "take a new snapshot (`sfbackup run --repo {repo}`)",
    ),
    "org_query_failed": (
        "error",
        "the org could not be compared for this object; fix the cause named above and verify again",
    ),
    "records_not_visible": (
        "error",
        _GRANT.replace("{what}", "View All Data (or View All on this object)"),
    ),
    "hidden_field": (
        "warning",
        _GRANT.replace("{what}", "read access to these fields (field-level security)"),
    ),
    "masked_field": ("warning", _GRANT.replace("{what}", "View Encrypted Data")),
    "files_not_visible": ("warning", _GRANT.replace("{what}", "Query All Files")),
    "access_unchecked": (
        "warning",
        "run `sfbackup check` until it can check this (it names what the org refused), then take a "
        "new snapshot (`sfbackup run --repo {repo}`) and verify it",
    ),
    "record_count_stale": (
        "info",
        "nothing: /limits/recordCount is a cached, approximate count; the difference is within the "
        "records changed in the 24 hours before T0 (docs/check.md)",
    ),
    "deleted_since_export": ("info", "nothing: the backup keeps these records"),
    "files_without_body": (
        "info",
        "nothing: Salesforce holds no body for these files (a Document or ContentVersion that is only "
        "a link or URL); their metadata is kept",
    ),
    "file_body_unavailable": (
        "info",
        "if they matter, undelete them from Salesforce's Recycle Bin before cancelling and run the "
        "backup again (their details are in the backup already)",
    ),
    "coverage_gap": (
        "warning",
        "export the object (it may need a permission, or be excluded in the config on purpose), "
        "or accept that it is not backed up",
    ),
    "not_queryable": (
        "info",
        "nothing sfbackup can do: Salesforce offers no query access to these objects; export them by "
        "other means (Setup, Metadata API) if they hold data you need",
    ),
    "not_exportable": (
        "info",
        "nothing sfbackup can do: Salesforce refuses this object to every API client for the reason "
        "given (a required filter, an external or virtual object); export it by other means if it "
        "holds data you need",
    ),
    "metadata_missing": ("error", _RERUN),
    "metadata_not_backed_up": (
        "warning",
        "take a snapshot with metadata (`sfbackup run` without --no-metadata, backup.metadata = true): "
        "without it nobody can rebuild the org's objects, automation and security in the next system",
    ),
    "metadata_refused": (
        "warning",
        "give the backup user the Modify Metadata (or Modify All Data) permission the Metadata API "
        "requires, then take a new snapshot (`sfbackup run --repo {repo}`)",
    ),
    "metadata_not_retrieved": (
        "warning",
        "run `sfbackup run` again (a component deleted between listing and retrieving is gone from the "
        "org too); if Salesforce keeps refusing these components, export them by other means (Setup, "
        "the Salesforce CLI) or accept that they are not backed up",
    ),
    "metadata_not_in_snapshot": (
        "warning",
        "these components appeared in the org after the snapshot (or were missed): take a new snapshot "
        "(`sfbackup run --repo {repo}`) and verify it",
    ),
    "metadata_not_retrievable": (
        "info",
        "nothing sfbackup can do: Salesforce does not serve this type to this org (a feature it does "
        "not have, or a type that cannot be listed)",
    ),
    "coverage_unknown": (
        "warning",
        "run `sfbackup verify --against-org` so the org's object list is compared with the snapshot",
    ),
}


#: What a person reads about each kind: a title, and what it means for cancelling Salesforce. A kind
#: missing here (another module's) is still shown, by `kind_text`, from its name and severity.
TEXTS: dict[str, tuple[str, str]] = {
    "snapshot_not_finished": ("The backup run did not finish", "the backup is incomplete"),
    "object_failed": ("An object could not be backed up", "its records are not in the backup"),
    "object_pending": ("An object was not backed up yet", "its records are not in the backup"),
    "object_skipped": ("An object was skipped", "its records are not in the backup"),
    "files_missing": ("Files were not stored", "these files are not in the backup"),
    "missing_schema": ("An object's description is missing", "its records cannot be read back reliably"),
    "schema_damaged": ("An object's description is damaged", "its records cannot be read back reliably"),
    "missing_part": ("Part of the backed-up records is missing", "those records are not in the backup"),
    "part_size_mismatch": ("Part of the backed-up records is damaged", "those records cannot be trusted"),
    "part_checksum_mismatch": ("Part of the backed-up records is damaged", "those records cannot be trusted"),
    "part_undecodable": ("Part of the backed-up records cannot be read", "those records cannot be read back"),
    "row_count_mismatch": ("Records are missing from the backup's data", "the backup holds fewer records "
                           "than it recorded"),
    "deleted_count_mismatch": ("Deleted records do not add up", "the backup's Recycle Bin records cannot "
                               "be trusted"),
    "missing_index": ("A list of files is missing", "the files cannot be matched to their records"),
    "index_mismatch": ("A list of files is damaged", "the files cannot be matched to their records"),
    "missing_blob": ("A file's content is missing", "the file is not in the backup"),
    "blob_size_mismatch": ("A file's content is damaged", "the file cannot be trusted"),
    "blob_checksum_mismatch": ("A file's content is damaged", "the file cannot be trusted"),
    "salesforce_checksum_mismatch": ("A file differs from Salesforce's copy", "the file cannot be trusted"),
    "org_mismatch": ("The backup is of another org", "it proves nothing about this org"),
    "org_count_mismatch": ("Salesforce holds records the backup lacks", "those records would be lost"),
    "missing_ids": ("Salesforce holds records the backup lacks", "those records would be lost"),
    "predicate_mismatch": ("The backup's record of what it holds was changed", "it cannot be trusted"),
    "org_query_failed": ("An object could not be compared with Salesforce", "its completeness is unproven"),
    "deleted_since_export": ("Records deleted in Salesforce since the backup", "nothing is lost: the "
                             "backup keeps them"),
    "files_without_body": ("Files that are only links", "nothing is lost: Salesforce holds no content for "
                           "them"),
    "file_body_unavailable": ("Files in Salesforce's Recycle Bin without content", "Salesforce no longer "
                              "serves their content, so no backup can hold it"),
    "coverage_gap": ("Objects in Salesforce that are not in the backup", "their records would be lost"),
    "not_queryable": ("Objects Salesforce offers no API access to", "no backup tool can read them"),
    "not_exportable": ("Objects Salesforce refuses to every API client", "no backup tool can read them"),
    "object_derived": ("Objects Salesforce computes from others", "nothing is lost: the backup holds "
                       "what they are computed from"),
    "derived_sources_missing": ("Objects computed from data the backup lacks", "what they answer cannot "
                                "be worked out from the backup"),
    "coverage_unknown": ("Not compared with Salesforce's list of objects", "objects may be missing unseen"),
    "records_not_visible": ("Records the backup user cannot see", "those records are not in the backup"),
    "hidden_field": ("A field hidden from the backup user", "the backup has no value of it"),
    "masked_field": ("An encrypted field read masked", "the backup holds no real value of it"),
    "files_not_visible": ("Files the backup user cannot see", "those files are not in the backup"),
    "record_count_stale": ("Salesforce's cached record count is a little behind", "nothing is lost: the "
                           "difference is within recent changes"),
}  # fmt: skip

_EFFECT_BY_SEVERITY: dict[Severity, str] = {
    "error": "the backup is wrong or incomplete",
    "warning": "something in Salesforce is not in the backup",
    "info": "explained; nothing the backup could hold is lost",
}


def kind_text(kind: str, severity: Severity) -> tuple[str, str]:
    """(title, effect) of a finding kind for people: from `TEXTS`, else from its name and severity."""
    known = TEXTS.get(kind)
    if known is not None:
        return known
    return kind.replace("_", " ").capitalize(), _EFFECT_BY_SEVERITY[severity]


#: Info kinds for data Salesforce itself does not serve: listed beside the verdict, never blocking.
NOT_SERVED: frozenset[str] = frozenset({"file_body_unavailable", "not_queryable", "not_exportable"})


@dataclass(frozen=True)
class Finding:
    """One thing verification found, precise enough for a person to act on."""

    kind: str
    severity: Severity
    object: str | None = None
    snapshot_id: str | None = None
    path: str | None = None
    expected: Any = None
    actual: Any = None
    explanation: str = ""
    what_to_do: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "severity": self.severity,
            "object": self.object,
            "snapshot_id": self.snapshot_id,
            "path": self.path,
            "expected": self.expected,
            "actual": self.actual,
            "explanation": self.explanation,
            "what_to_do": self.what_to_do,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        severity = data.get("severity", "error")
        if severity not in SEVERITIES:
            severity = "error"
        return cls(
            kind=str(data["kind"]),
            severity=severity,
            object=data.get("object"),
            snapshot_id=data.get("snapshot_id"),
            path=data.get("path"),
            expected=data.get("expected"),
            actual=data.get("actual"),
            explanation=str(data.get("explanation") or ""),
            what_to_do=str(data.get("what_to_do") or ""),
        )

    @property
    def title(self) -> str:
        return kind_text(self.kind, self.severity)[0]

    @property
    def effect(self) -> str:
        return kind_text(self.kind, self.severity)[1]

    def one_line(self) -> str:
        """`error missing_part Account objects/Account/part-00001.parquet: ...`, for terminals."""
        where = "".join(f" {x}" for x in (self.object, self.path) if x)
        return f"{self.severity:<7} {self.kind}{where}: {self.explanation}"


class FindingFactory:
    """Builds findings for one snapshot, filling severity and what-to-do from `KINDS`."""

    def __init__(self, snapshot_id: str | None, repo: str) -> None:
        self.snapshot_id = snapshot_id
        self.repo = repo

    def __call__(
        self,
        kind: str,
        explanation: str,
        *,
        object: str | None = None,
        path: str | None = None,
        expected: Any = None,
        actual: Any = None,
        severity: Severity | None = None,
        what_to_do: str | None = None,
    ) -> Finding:
        default_severity, default_todo = KINDS[kind]
        return Finding(
            kind=kind,
            severity=severity or default_severity,
            object=object,
            snapshot_id=self.snapshot_id,
            path=path,
            expected=expected,
            actual=actual,
            explanation=explanation,
            what_to_do=(what_to_do if what_to_do is not None else default_todo).replace("{repo}", self.repo),
        )


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """`1 file`, `3 files`, `1,204 entries` (with `plural`): a number with its noun agreeing."""
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"


def name_ids(ids: Iterable[str], limit: int = IDS_IN_TEXT) -> str:
    """`001A, 001B and 3 more` for an explanation."""
    listed = sorted(ids)
    shown = ", ".join(listed[:limit])
    return f"{shown} and {len(listed) - limit} more" if len(listed) > limit else shown


def count_by_severity(findings: Iterable[Finding]) -> dict[str, int]:
    counts: dict[str, int] = dict.fromkeys(SEVERITIES, 0)
    for finding in findings:
        counts[finding.severity] += 1
    return counts

"""`manifest.json`: what a snapshot asked for, what it wrote, every count and checksum.

The dataclasses mirror docs/repository-format.md. `from_dict` checks the shape strictly: a
manifest edited into something else is refused with a RepositoryError naming the file and the
key, never half-read. Keys this version does not know are kept in `extra` and written back,
so a newer sfbackup's additions survive a rewrite by this one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sfbackup.clock import format_time, parse_time, utc_now
from sfbackup.errors import RepositoryError, StorageError
from sfbackup.repository.layout import JOURNAL_FILE, is_snapshot_id, validate_relative_path
from sfbackup.salesforce.cut import Cut

__all__ = [
    "AccessRecord",
    "CoverageEntry",
    "Cut",
    "ErrorKind",
    "ErrorRecord",
    "FilesEntry",
    "Manifest",
    "ObjectEntry",
    "ObjectState",
    "PartInfo",
    "ResumePoint",
    "SnapshotState",
    "VerificationRecord",
    "load",
    "save",
]

if TYPE_CHECKING:
    from sfbackup.repository.store import Store

MANIFEST_FORMAT = "sfbackup-manifest"
MANIFEST_FORMAT_VERSION = 1


class SnapshotState(StrEnum):
    """`running` -> `exported` (every object and file saved) -> `complete` (verified), or
    `incomplete` (resumable) / `failed`. Only the verifier moves a snapshot to `complete`."""

    RUNNING = "running"
    EXPORTED = "exported"
    INCOMPLETE = "incomplete"
    FAILED = "failed"
    COMPLETE = "complete"


class ObjectState(StrEnum):
    """How the export of one object stands."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


class ErrorKind(StrEnum):
    """`unsupported`: Salesforce refuses the object for a known, permanent reason; `blocked`:
    Salesforce would serve its data with another query or permission than sfbackup has (the
    snapshot lacks it, and says what to do); `derived`: the object stores no data, Salesforce computes
    it from other objects (UserRecordAccess from sharing), so the snapshot holds its sources instead;
    `stopped`: the run stopped on purpose (signal, API reserve) before the object finished; `error`:
    anything else."""

    ERROR = "error"
    UNSUPPORTED = "unsupported"
    BLOCKED = "blocked"
    DERIVED = "derived"
    STOPPED = "stopped"


SNAPSHOT_STATES: tuple[str, ...] = tuple(SnapshotState)
_PROMOTABLE = (SnapshotState.EXPORTED, SnapshotState.COMPLETE)
OBJECT_STATES: tuple[str, ...] = tuple(ObjectState)
OBJECT_APIS: tuple[str, ...] = ("bulk2", "rest")
OBJECT_OPERATIONS: tuple[str, ...] = ("query", "queryAll")
PART_FORMATS: tuple[str, ...] = ("parquet", "csv")
#: `no_body`: Salesforce holds no body (a URL-only Document, an external link);
#: `unavailable`: a deleted record whose body Salesforce no longer serves.
FILE_STATUSES: tuple[str, ...] = (
    "downloaded",
    "deduplicated",
    "failed",
    "missing",
    "no_body",
    "unavailable",
)


class _Shape:
    """Reads one JSON object, raising RepositoryError with the file and key path on a bad shape."""

    def __init__(self, data: Any, where: str, source: str) -> None:
        if not isinstance(data, dict):
            raise _shape_error(source, where, "an object", data)
        self.data: dict[str, Any] = data
        self.where = where
        self.source = source
        self.used: set[str] = set()

    def _get(self, key: str, required: bool) -> Any:
        self.used.add(key)
        if key not in self.data:
            if required:
                raise RepositoryError(
                    f"{self.source}: {self._at(key)} is missing",
                    hint=_HINT,
                    path=self.source,
                )
            return None
        return self.data[key]

    def _at(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def fail(self, key: str, expected: str, found: Any) -> RepositoryError:
        return _shape_error(self.source, self._at(key), expected, found)

    def str_(self, key: str, *, choices: tuple[str, ...] | None = None) -> str:
        value = self._get(key, True)
        if not isinstance(value, str) or (choices is not None and value not in choices):
            raise self.fail(key, f"one of {list(choices)}" if choices else "a string", value)
        return value

    def opt_str(self, key: str) -> str | None:
        value = self._get(key, False)
        if value is not None and not isinstance(value, str):
            raise self.fail(key, "a string or null", value)
        return value

    def int_(self, key: str, default: int | None = None) -> int:
        value = self._get(key, default is None)
        if value is None and default is not None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.fail(key, "a whole number >= 0", value)
        return value

    def number(self, key: str, default: float = 0.0) -> float:
        value = self._get(key, False)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, "a number", value)
        return float(value)

    def bool_(self, key: str, default: bool) -> bool:
        value = self._get(key, False)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.fail(key, "true or false", value)
        return value

    def time(self, key: str) -> datetime:
        value = self.str_(key)
        try:
            return parse_time(value)
        except ValueError:
            raise self.fail(key, "an ISO 8601 time with a zone", value) from None

    def opt_time(self, key: str) -> datetime | None:
        return None if self._get(key, False) is None else self.time(key)

    def dict_(self, key: str) -> dict[str, Any]:
        value = self._get(key, False)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, "an object", value)
        return value

    def opt_dict(self, key: str) -> dict[str, Any] | None:
        value = self._get(key, False)
        if value is not None and not isinstance(value, dict):
            raise self.fail(key, "an object or null", value)
        return value

    def list_(self, key: str) -> list[Any]:
        value = self._get(key, False)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(key, "a list", value)
        return value

    def str_list(self, key: str) -> list[str]:
        values = self.list_(key)
        if not all(isinstance(v, str) for v in values):
            raise self.fail(key, "a list of strings", values)
        return list(values)

    def dict_list(self, key: str) -> list[dict[str, Any]]:
        values = self.list_(key)
        if not all(isinstance(v, dict) for v in values):
            raise self.fail(key, "a list of objects", values)
        return list(values)

    def path(self, key: str) -> str:
        value = self.str_(key)
        try:
            return validate_relative_path(value)
        except RepositoryError:
            raise self.fail(key, "a relative path inside the snapshot", value) from None

    def opt_path(self, key: str) -> str | None:
        return None if self._get(key, False) is None else self.path(key)

    def sha256(self, key: str) -> str:
        value = self.str_(key)
        if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
            raise self.fail(key, "a SHA-256 hex digest", value)
        return value

    def opt_cut(self, key: str) -> Cut | None:
        value = self.opt_dict(key)
        if value is None:
            return None
        try:
            return Cut.from_dict(value)
        except (KeyError, TypeError, ValueError, RepositoryError):
            raise self.fail(key, 'a cut {"field": <field or null>, "t0": <ISO time>}', value) from None

    def extra(self) -> dict[str, Any]:
        return {k: v for k, v in self.data.items() if k not in self.used}


_HINT = (
    "the manifest was changed by hand or damaged; restore it from a copy (for example the S3 "
    "upload) or `sfbackup forget` this snapshot"
)


def _shape_error(source: str, where: str, expected: str, found: Any) -> RepositoryError:
    shown = json.dumps(found)[:80] if _jsonable(found) else repr(found)[:80]
    return RepositoryError(
        f"{source}: {where or 'the document'} should be {expected}, found {shown}",
        hint=_HINT,
        path=source,
    )


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


@dataclass
class PartInfo:
    """One written part file: its path relative to the snapshot folder, row count, size, SHA-256."""

    path: str
    rows: int
    bytes: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "rows": self.rows, "bytes": self.bytes, "sha256": self.sha256}

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "part", source: str = "<manifest>") -> PartInfo:
        s = _Shape(data, where, source)
        return cls(path=s.path("path"), rows=s.int_("rows"), bytes=s.int_("bytes"), sha256=s.sha256("sha256"))


@dataclass(frozen=True)
class ErrorRecord:
    """Why an object (or the run, when `object` is None) did not finish: Salesforce's error code
    (or our error class's name) and message, never a secret."""

    code: str
    message: str
    kind: ErrorKind = ErrorKind.ERROR
    object: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"code": self.code, "message": self.message, "kind": str(self.kind)}
        if self.object is not None:
            data["object"] = self.object
        return data

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "error", source: str = "<manifest>") -> ErrorRecord:
        s = _Shape(data, where, source)
        kind = s.opt_str("kind") or ErrorKind.ERROR
        if kind not in tuple(ErrorKind):
            raise s.fail("kind", f"one of {list(ErrorKind)}", kind)
        return cls(
            code=s.opt_str("code") or "",
            message=s.opt_str("message") or "",
            kind=ErrorKind(kind),
            object=s.opt_str("object"),
        )


@dataclass(frozen=True)
class ResumePoint:
    """Where `run --resume` continues a Bulk export: the job, the locator of the next page (None
    once the last page is written) and the deleted rows counted so far."""

    bulk_job_id: str
    locator: str | None
    api_version: str
    deleted_rows: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"bulk_job_id": self.bulk_job_id, "locator": self.locator,
                "api_version": self.api_version, "deleted_rows": self.deleted_rows}  # fmt: skip

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "resume", source: str = "<manifest>") -> ResumePoint:
        s = _Shape(data, where, source)
        return cls(
            bulk_job_id=s.str_("bulk_job_id"),
            locator=s.opt_str("locator"),
            api_version=s.opt_str("api_version") or "",
            deleted_rows=s.int_("deleted_rows", 0),
        )


#: `CreatedDate <= 2026-11-27T02:00:00Z`, as manifests before the structured cut wrote it.
_LEGACY_PREDICATE = re.compile(r"^(\w+) <= (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)$")


def _legacy_cut(s: _Shape) -> Cut | None:
    """The cut of an entry written with only its `predicate` text."""
    predicate = s.opt_str("predicate")
    if predicate is None:
        return None
    match = _LEGACY_PREDICATE.match(predicate)
    if match is None:
        raise s.fail("predicate", "a cut such as 'CreatedDate <= 2026-11-27T02:00:00Z'", predicate)
    return Cut(match.group(1), parse_time(match.group(2)))


@dataclass(frozen=True)
class VerificationRecord:
    """One verification of the snapshot, passed or not (every `verify` adds one)."""

    verified_at: datetime
    level: str  # structure | read-data | read-data-subset n/t
    passed: bool
    errors: int = 0
    warnings: int = 0
    against_org: bool = False
    ids: bool = False
    verdict: str = ""
    report: str = ""  # its reports' folder in the snapshot, `reports/<time>-<level>` ("" before 0.x)

    @property
    def reads_every_byte(self) -> bool:
        return self.level == "read-data"

    @property
    def safe(self) -> bool:
        return self.verdict.startswith("SAFE TO CANCEL")

    @property
    def strength(self) -> tuple[bool, bool, int]:
        """How much this verification proves: compared with the org, with exact Ids, then how much
        data it re-read (structure < a read-data subset < read-data)."""
        depth = 2 if self.level == "read-data" else 1 if self.level.startswith("read-data") else 0
        return (self.against_org, self.ids, depth)

    def describe(self) -> str:
        """`read-data against the org with Ids`, for people."""
        return (
            self.level + (" against the org" if self.against_org else "") + (" with Ids" if self.ids else "")
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "verified_at": format_time(self.verified_at), "level": self.level, "passed": self.passed,
            "errors": self.errors, "warnings": self.warnings, "against_org": self.against_org,
            "ids": self.ids, "verdict": self.verdict, "report": self.report,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, data: Any, *, where: str, source: str) -> VerificationRecord:
        s = _Shape(data, where, source)
        return cls(
            verified_at=s.time("verified_at"),
            level=s.str_("level"),
            passed=s.bool_("passed", False),
            errors=s.int_("errors", 0),
            warnings=s.int_("warnings", 0),
            against_org=s.bool_("against_org", False),
            ids=s.bool_("ids", False),
            verdict=s.opt_str("verdict") or "",
            report=s.opt_str("report") or "",
        )


def standing_verification(records: list[VerificationRecord]) -> VerificationRecord | None:
    """The verification that stands for the snapshot: the newest one when it found errors (damage
    found later is never hidden by an older proof), else the strongest one, the newest among
    equals. A weaker check therefore never replaces the evidence of a stronger one, whether that
    said SAFE (read-data without --against-org after a check against the org, which may be
    impossible to redo once the org is gone) or found a problem (a structure check does not clear
    records the org holds and the backup lacks); a check at least as strong does."""
    if not records:
        return None
    if not records[-1].passed:
        return records[-1]
    return max(reversed(records), key=lambda v: v.strength)


@dataclass
class ObjectEntry:
    """The export of one sObject inside a snapshot."""

    state: ObjectState = ObjectState.PENDING
    api: str | None = None
    operation: str | None = None
    soql: str | None = None
    cut: Cut | None = None
    fields: list[str] = field(default_factory=list)
    excluded_fields: list[dict[str, str]] = field(default_factory=list)
    #: Fields field-level security hid from the backup user (FieldDefinition lists them, the
    #: describe did not): not in the backup.
    hidden_fields: list[str] = field(default_factory=list)
    #: Encrypted fields the backup user read masked (no View Encrypted Data): stored as null.
    masked_fields: list[str] = field(default_factory=list)
    rows: int = 0
    deleted_rows: int = 0
    parts: list[PartInfo] = field(default_factory=list)
    schema_path: str | None = None
    schema_sha256: str | None = None
    format: str = "parquet"
    started_at: datetime | None = None
    finished_at: datetime | None = None
    seconds: float = 0.0
    api_calls: int = 0
    error: ErrorRecord | None = None
    resume: ResumePoint | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def predicate(self) -> str | None:
        """The cut as the SOQL condition the export used (None: the object has no cut field)."""
        return self.cut.condition() if self.cut else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": str(self.state),
            "api": self.api,
            "operation": self.operation,
            "soql": self.soql,
            "cut": self.cut.to_dict() if self.cut else None,
            "predicate": self.predicate,
            "fields": list(self.fields),
            "excluded_fields": [dict(e) for e in self.excluded_fields],
            "hidden_fields": list(self.hidden_fields),
            "masked_fields": list(self.masked_fields),
            "rows": self.rows,
            "deleted_rows": self.deleted_rows,
            "parts": [p.to_dict() for p in self.parts],
            "schema_path": self.schema_path,
            "schema_sha256": self.schema_sha256,
            "format": self.format,
            "started_at": _opt_time(self.started_at),
            "finished_at": _opt_time(self.finished_at),
            "seconds": self.seconds,
            "api_calls": self.api_calls,
            "error": self.error.to_dict() if self.error else None,
            "resume": self.resume.to_dict() if self.resume else None,
            **self.extra,
        }

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "object", source: str = "<manifest>") -> ObjectEntry:
        s = _Shape(data, where, source)
        api = s.opt_str("api")
        if api is not None and api not in OBJECT_APIS:
            raise s.fail("api", f"one of {list(OBJECT_APIS)} or null", api)
        operation = s.opt_str("operation")
        if operation is not None and operation not in OBJECT_OPERATIONS:
            raise s.fail("operation", f"one of {list(OBJECT_OPERATIONS)} or null", operation)
        excluded = s.dict_list("excluded_fields")
        for i, item in enumerate(excluded):
            _Shape(item, f"{where}.excluded_fields[{i}]", source).str_("field")
        cut = s.opt_cut("cut") if s.data.get("cut") is not None else _legacy_cut(s)
        s.used.add("predicate")  # derived from the cut; written for people and other tools
        error, resume = s.opt_dict("error"), s.opt_dict("resume")
        return cls(
            state=ObjectState(s.str_("state", choices=OBJECT_STATES)),
            api=api,
            operation=operation,
            soql=s.opt_str("soql"),
            cut=cut,
            fields=s.str_list("fields"),
            excluded_fields=excluded,
            hidden_fields=s.str_list("hidden_fields"),
            masked_fields=s.str_list("masked_fields"),
            rows=s.int_("rows", 0),
            deleted_rows=s.int_("deleted_rows", 0),
            parts=[
                PartInfo.from_dict(p, where=f"{where}.parts[{i}]", source=source)
                for i, p in enumerate(s.list_("parts"))
            ],
            schema_path=s.opt_path("schema_path"),
            schema_sha256=None if s.opt_str("schema_sha256") is None else s.sha256("schema_sha256"),
            format=s.str_("format", choices=PART_FORMATS) if "format" in s.data else "parquet",
            started_at=s.opt_time("started_at"),
            finished_at=s.opt_time("finished_at"),
            seconds=s.number("seconds"),
            api_calls=s.int_("api_calls", 0),
            error=None
            if error is None
            else ErrorRecord.from_dict(error, where=f"{where}.error", source=source),
            resume=None
            if resume is None
            else ResumePoint.from_dict(resume, where=f"{where}.resume", source=source),
            extra=s.extra(),
        )


@dataclass
class FilesEntry:
    """The files (blobs) of one file object (Attachment, ContentVersion, Document) in a snapshot."""

    index_path: str | None = None
    index_bytes: int = 0
    index_sha256: str | None = None
    count: int = 0
    bytes: int = 0
    downloaded: int = 0
    deduplicated: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    api_calls_saved: int = 0
    api_calls: int = 0
    cut: Cut | None = None
    include_deleted: bool = True
    latest_only: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index_path": self.index_path,
            "index_bytes": self.index_bytes,
            "index_sha256": self.index_sha256,
            "count": self.count,
            "bytes": self.bytes,
            "downloaded": self.downloaded,
            "deduplicated": self.deduplicated,
            "failed": [dict(f) for f in self.failed],
            "missing": list(self.missing),
            "api_calls_saved": self.api_calls_saved,
            "api_calls": self.api_calls,
            "cut": self.cut.to_dict() if self.cut else None,
            "include_deleted": self.include_deleted,
            "latest_only": self.latest_only,
            **self.extra,
        }

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "files", source: str = "<manifest>") -> FilesEntry:
        s = _Shape(data, where, source)
        return cls(
            index_path=s.opt_path("index_path"),
            index_bytes=s.int_("index_bytes", 0),
            index_sha256=None if s.opt_str("index_sha256") is None else s.sha256("index_sha256"),
            count=s.int_("count", 0),
            bytes=s.int_("bytes", 0),
            downloaded=s.int_("downloaded", 0),
            deduplicated=s.int_("deduplicated", 0),
            failed=s.dict_list("failed"),
            missing=s.str_list("missing"),
            api_calls_saved=s.int_("api_calls_saved", 0),
            api_calls=s.int_("api_calls", 0),
            cut=s.opt_cut("cut"),
            include_deleted=s.bool_("include_deleted", True),
            latest_only=s.bool_("latest_only", False),
            extra=s.extra(),
        )


@dataclass
class MetadataEntry:
    """The org's configuration in a snapshot: every component listMetadata listed, in the index
    (`metadata/index.parquet`: one row per file, its blob's SHA-256), counted per type."""

    index_path: str | None = None
    index_bytes: int = 0
    index_sha256: str | None = None
    package_path: str | None = None
    package_sha256: str | None = None
    api_version: str = ""
    #: per type: {"listed": n, "retrieved": n, "failed": n}
    types: dict[str, dict[str, int]] = field(default_factory=dict)
    #: types the API refused to list, each {"type", "reason"}
    not_retrievable: list[dict[str, str]] = field(default_factory=list)
    #: listed components a retrieve did not return, each {"type", "full_name", "problem"}
    failed: list[dict[str, str]] = field(default_factory=list)
    components: int = 0
    files: int = 0
    bytes: int = 0
    new_blobs: int = 0
    retrieves: int = 0
    api_calls: int = 0
    error: str | None = None  # why nothing could be retrieved (e.g. the user lacks Modify Metadata)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index_path": self.index_path,
            "index_bytes": self.index_bytes,
            "index_sha256": self.index_sha256,
            "package_path": self.package_path,
            "package_sha256": self.package_sha256,
            "api_version": self.api_version,
            "types": {name: dict(counts) for name, counts in sorted(self.types.items())},
            "not_retrievable": [dict(t) for t in self.not_retrievable],
            "failed": [dict(f) for f in self.failed],
            "components": self.components,
            "files": self.files,
            "bytes": self.bytes,
            "new_blobs": self.new_blobs,
            "retrieves": self.retrieves,
            "api_calls": self.api_calls,
            "error": self.error,
            **self.extra,
        }

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "metadata", source: str = "<manifest>") -> MetadataEntry:
        s = _Shape(data, where, source)
        types: dict[str, dict[str, int]] = {}
        for name, counts in s.dict_("types").items():
            c = _Shape(counts, f"{where}.types.{name}", source)
            types[str(name)] = {str(k): c.int_(str(k), 0) for k in c.data}
        return cls(
            index_path=s.opt_path("index_path"),
            index_bytes=s.int_("index_bytes", 0),
            index_sha256=None if s.opt_str("index_sha256") is None else s.sha256("index_sha256"),
            package_path=s.opt_path("package_path"),
            package_sha256=None if s.opt_str("package_sha256") is None else s.sha256("package_sha256"),
            api_version=s.opt_str("api_version") or "",
            types=types,
            not_retrievable=s.dict_list("not_retrievable"),
            failed=s.dict_list("failed"),
            components=s.int_("components", 0),
            files=s.int_("files", 0),
            bytes=s.int_("bytes", 0),
            new_blobs=s.int_("new_blobs", 0),
            retrieves=s.int_("retrieves", 0),
            api_calls=s.int_("api_calls", 0),
            error=s.opt_str("error"),
            extra=s.extra(),
        )


@dataclass
class CoverageEntry:
    """What happened to one object describeGlobal lists (`backed_up`, `excluded_by_config`, ...)."""

    object: str
    status: str
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"object": self.object, "status": self.status, "reason": self.reason}

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "coverage", source: str = "<manifest>") -> CoverageEntry:
        s = _Shape(data, where, source)
        return cls(object=s.str_("object"), status=s.str_("status"), reason=s.opt_str("reason"))


@dataclass
class AccessRecord:
    """Who the backup ran as, and what its preflight found that user cannot see."""

    user_id: str
    username: str | None
    permissions: dict[str, bool]  # view_all_data, query_all_files, view_encrypted_data, modify_all_data
    gaps: list[dict[str, Any]]  # backup.preflight Gap.to_dict(): kind, object, fields, effect, fix, ...
    checked_at: datetime

    @property
    def blocking(self) -> list[dict[str, Any]]:
        return [g for g in self.gaps if g.get("blocks_safe")]

    def to_dict(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "username": self.username,
            "permissions": dict(self.permissions),
            "gaps": [dict(g) for g in self.gaps],
            "checked_at": format_time(self.checked_at),
        }

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "access", source: str = "<manifest>") -> AccessRecord:
        s = _Shape(data, where, source)
        permissions = s.dict_("permissions")
        if not all(isinstance(v, bool) for v in permissions.values()):
            raise s.fail("permissions", "an object of true/false values", permissions)
        gaps = s.dict_list("gaps")
        for i, gap in enumerate(gaps):
            g = _Shape(gap, f"{where}.gaps[{i}]", source)
            g.str_("kind")
            g.bool_("blocks_safe", False)
            g.str_list("fields")
        return cls(
            user_id=s.str_("user_id"),
            username=s.opt_str("username"),
            permissions=dict(permissions),
            gaps=gaps,
            checked_at=s.time("checked_at"),
        )


@dataclass
class Manifest:
    """A snapshot's `manifest.json`."""

    snapshot_id: str
    t0: datetime
    created_at: datetime = field(default_factory=utc_now)
    program_version: str = ""
    state: SnapshotState = SnapshotState.RUNNING
    finished_at: datetime | None = None
    parent: str | None = None
    org: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    objects: dict[str, ObjectEntry] = field(default_factory=dict)
    files: dict[str, FilesEntry] = field(default_factory=dict)
    coverage: list[CoverageEntry] = field(default_factory=list)
    api: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    errors: list[ErrorRecord] = field(default_factory=list)
    verification: dict[str, Any] | None = None  # the verification that made it complete
    verifications: list[VerificationRecord] = field(default_factory=list)  # every one, oldest first
    access: AccessRecord | None = None  # the backup user and its blind spots (the run's preflight)
    metadata: MetadataEntry | None = None  # None: the run did not back up metadata (--no-metadata)
    journal_seq: int = 0  # the last journal line this manifest holds (0: none; see load())
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def standing_verification(self) -> VerificationRecord | None:
        """The verification whose report stands for the snapshot (`standing_verification`)."""
        return standing_verification(self.verifications)

    @property
    def check_failed(self) -> bool:
        """True when the newest verification that re-read every byte failed: the data on disk is
        damaged, whatever the state says, until a later full check passes."""
        deep = [v for v in self.verifications if v.reads_every_byte]
        return bool(deep) and not deep[-1].passed

    @property
    def status(self) -> str:
        """The state as commands should treat it: `check_failed` for a complete snapshot whose
        newest full read-data check failed (not complete for upload, forget or the verdict)."""
        if self.state == SnapshotState.COMPLETE and self.check_failed:
            return "check_failed"
        return str(self.state)

    def __post_init__(self) -> None:
        if not self.program_version:
            from sfbackup import __version__

            self.program_version = __version__

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": MANIFEST_FORMAT,
            "format_version": MANIFEST_FORMAT_VERSION,
            "snapshot_id": self.snapshot_id,
            "program_version": self.program_version,
            "state": str(self.state),
            "created_at": format_time(self.created_at),
            "finished_at": _opt_time(self.finished_at),
            "t0": format_time(self.t0),
            "parent": self.parent,
            "org": self.org,
            "settings": self.settings,
            "objects": {name: entry.to_dict() for name, entry in self.objects.items()},
            "files": {name: entry.to_dict() for name, entry in self.files.items()},
            "coverage": [c.to_dict() for c in self.coverage],
            "api": self.api,
            "summary": self.summary,
            "errors": [e.to_dict() for e in self.errors],
            "verification": self.verification,
            "verifications": [v.to_dict() for v in self.verifications],
            "access": self.access.to_dict() if self.access else None,
            "metadata": self.metadata.to_dict() if self.metadata is not None else None,
            **({"journal_seq": self.journal_seq} if self.journal_seq else {}),
            **self.extra,
        }

    def to_json(self) -> bytes:
        return (json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n").encode("utf-8")

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "<manifest>") -> Manifest:
        """Build from parsed JSON; RepositoryError (naming `source` and the key) on a bad shape."""
        s = _Shape(data, "", source)
        if s.str_("format") != MANIFEST_FORMAT:
            raise s.fail("format", repr(MANIFEST_FORMAT), s.data["format"])
        version = s.data.get("format_version")
        s.used.add("format_version")
        if version != MANIFEST_FORMAT_VERSION:
            raise RepositoryError(
                f"{source}: manifest format_version {version!r} is not one this sfbackup reads "
                f"(it reads {MANIFEST_FORMAT_VERSION})",
                hint="use the sfbackup version that wrote this snapshot, or a newer one",
                path=source,
            )
        snapshot_id = s.str_("snapshot_id")
        if not is_snapshot_id(snapshot_id):
            raise s.fail("snapshot_id", "a snapshot id like 20261127T020000Z-3f9a1c2e", snapshot_id)
        parent = s.opt_str("parent")
        if parent is not None and not is_snapshot_id(parent):
            raise s.fail("parent", "a snapshot id or null", parent)
        objects = {
            str(name): ObjectEntry.from_dict(value, where=f"objects.{name}", source=source)
            for name, value in s.dict_("objects").items()
        }
        files = {
            str(name): FilesEntry.from_dict(value, where=f"files.{name}", source=source)
            for name, value in s.dict_("files").items()
        }
        access = s.opt_dict("access")
        return cls(
            snapshot_id=snapshot_id,
            t0=s.time("t0"),
            created_at=s.time("created_at"),
            program_version=s.str_("program_version"),
            state=SnapshotState(s.str_("state", choices=SNAPSHOT_STATES)),
            finished_at=s.opt_time("finished_at"),
            parent=parent,
            org=s.dict_("org"),
            settings=s.dict_("settings"),
            objects=objects,
            files=files,
            coverage=[
                CoverageEntry.from_dict(c, where=f"coverage[{i}]", source=source)
                for i, c in enumerate(s.list_("coverage"))
            ],
            api=s.dict_("api"),
            summary=s.dict_("summary"),
            errors=[
                ErrorRecord.from_dict(e, where=f"errors[{i}]", source=source)
                for i, e in enumerate(s.dict_list("errors"))
            ],
            verification=s.opt_dict("verification"),
            verifications=[
                VerificationRecord.from_dict(v, where=f"verifications[{i}]", source=source)
                for i, v in enumerate(s.dict_list("verifications"))
            ],
            access=None if access is None else AccessRecord.from_dict(access, source=source),
            metadata=_opt_metadata(s, source),
            journal_seq=s.int_("journal_seq", default=0),
            extra=s.extra(),
        )

    def transition(self, state: SnapshotState | str) -> None:
        """Move to `state`, enforcing the format's rules: `complete` is reached only from
        `exported` (by verify) and is final; a resumed run may go back to `running`."""
        if state not in SNAPSHOT_STATES:
            raise ValueError(f"unknown snapshot state {state!r}; expected one of {SNAPSHOT_STATES}")
        state = SnapshotState(state)
        if self.state == SnapshotState.COMPLETE and state != SnapshotState.COMPLETE:
            raise RepositoryError(f"snapshot {self.snapshot_id} is complete; its manifest is never changed")
        if state == SnapshotState.COMPLETE and self.state not in _PROMOTABLE:
            raise RepositoryError(
                f"snapshot {self.snapshot_id} is {self.state}; only an exported snapshot can become complete",
                hint="finish the run (`sfbackup run --resume`) before verifying it",
            )
        self.state = state

    def part_paths(self) -> list[str]:
        """Every part, files index and schema path the manifest names (relative to the snapshot)."""
        paths: list[str] = []
        for entry in self.objects.values():
            paths.extend(p.path for p in entry.parts)
            if entry.schema_path:
                paths.append(entry.schema_path)
        paths.extend(f.index_path for f in self.files.values() if f.index_path)
        if self.metadata is not None:
            paths.extend(p for p in (self.metadata.index_path, self.metadata.package_path) if p)
        return paths


def load(store: Store, key: str) -> Manifest:
    """Read and validate the manifest stored under `key`; for a `running` snapshot, with the
    object entries its journal (`manifest.journal` beside it) holds beyond the manifest."""
    source = store.describe(key)
    try:
        with store.open(key) as handle:
            raw = handle.read()
    except StorageError as exc:
        if store.exists(key):
            raise RepositoryError(f"cannot read {source}: {exc.message}", path=source) from exc
        raise RepositoryError(
            f"{source} does not exist",
            hint="the snapshot folder has no manifest: it was interrupted before its first save",
            path=source,
        ) from None
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RepositoryError(f"{source} is not valid JSON: {exc}", hint=_HINT, path=source) from None
    manifest = Manifest.from_dict(data, source=source)
    if manifest.state == SnapshotState.RUNNING:
        apply_journal(manifest, store, journal_key(key))
    return manifest


def journal_key(manifest_key: str) -> str:
    """The key of the journal beside the manifest stored under `manifest_key`."""
    return f"{manifest_key.rsplit('/', 1)[0]}/{JOURNAL_FILE}" if "/" in manifest_key else JOURNAL_FILE


def journal_line(seq: int, name: str, entry: ObjectEntry) -> bytes:
    """One journal line: object `name`'s entry as checkpointed, numbered `seq`."""
    line = {"seq": seq, "object": name, "entry": entry.to_dict()}
    return (json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def apply_journal(manifest: Manifest, store: Store, key: str) -> None:
    """Apply the journal's lines numbered after `manifest.journal_seq`, in order.

    A run appends (and fsyncs) one line per checkpoint between full saves of the manifest, and
    writes each line only after the files it names. The journal ends at the first line that is
    not whole JSON ending in a newline: that is where a killed run's last append was cut, and
    nothing after it was ever acknowledged. A whole line of the wrong shape is damage: refused.
    """
    source = store.describe(key)
    try:
        with store.open(key) as handle:
            raw = handle.read()
    except StorageError:
        if store.stat(key) is None:
            return  # no checkpoint since the last full save
        raise
    for number, line in enumerate(raw.split(b"\n")[:-1], start=1):  # the last piece has no newline
        try:
            data = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return
        s = _Shape(data, f"line {number}", source)
        seq, name = s.int_("seq"), s.str_("object")
        if seq <= manifest.journal_seq:
            continue  # already in the manifest (saved after this line)
        manifest.objects[name] = ObjectEntry.from_dict(
            s.data.get("entry"), where=f"line {number}.entry", source=source
        )
        manifest.journal_seq = seq


def save(manifest: Manifest, store: Store, key: str) -> None:
    """Write the manifest under `key` (atomically in a folder: temp file, fsync, rename)."""
    store.put_stream(key, [manifest.to_json()])


def _opt_metadata(s: _Shape, source: str) -> MetadataEntry | None:
    data = s.opt_dict("metadata")
    return None if data is None else MetadataEntry.from_dict(data, source=source)


def _opt_time(value: datetime | None) -> str | None:
    return None if value is None else format_time(value)

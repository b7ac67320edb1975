"""`manifest.json`: what a snapshot asked for, what it wrote, every count and checksum.

The dataclasses mirror docs/repository-format.md. `from_dict` checks the shape strictly: a
manifest edited into something else is refused with a RepositoryError naming the file and the
key, never half-read. Keys this version does not know are kept in `extra` and written back,
so a newer sfbackup's additions survive a rewrite by this one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sfbackup.errors import RepositoryError, StorageError
from sfbackup.repository.layout import is_snapshot_id, validate_relative_path

if TYPE_CHECKING:
    from sfbackup.repository.store import Store

MANIFEST_FORMAT = "sfbackup-manifest"
MANIFEST_FORMAT_VERSION = 1

SNAPSHOT_STATES: tuple[str, ...] = ("running", "exported", "incomplete", "failed", "complete")
OBJECT_STATES: tuple[str, ...] = ("pending", "running", "done", "failed", "skipped")
OBJECT_APIS: tuple[str, ...] = ("bulk2", "rest")
OBJECT_OPERATIONS: tuple[str, ...] = ("query", "queryAll")
PART_FORMATS: tuple[str, ...] = ("parquet", "csv")
#: `no_body`: Salesforce holds no body (a URL-only Document, an external link);
#: `unavailable`: a deleted record whose body Salesforce no longer serves.
FILE_STATUSES: tuple[str, ...] = (
    "downloaded", "deduplicated", "failed", "missing", "no_body", "unavailable",
)


def format_time(value: datetime) -> str:
    """ISO 8601 UTC with milliseconds and `Z`: `2026-11-27T02:00:03.120Z`."""
    if value.tzinfo is None:
        raise ValueError("manifest times must be timezone-aware")
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_time(value: str) -> datetime:
    """Parse a time written by `format_time` (any ISO 8601 form with an offset is accepted)."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return parsed.astimezone(UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)


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


@dataclass
class ObjectEntry:
    """The export of one sObject inside a snapshot."""

    state: str = "pending"
    api: str | None = None
    operation: str | None = None
    soql: str | None = None
    predicate: str | None = None
    fields: list[str] = field(default_factory=list)
    excluded_fields: list[dict[str, str]] = field(default_factory=list)
    rows: int = 0
    deleted_rows: int = 0
    parts: list[PartInfo] = field(default_factory=list)
    schema_path: str | None = None
    format: str = "parquet"
    started_at: datetime | None = None
    finished_at: datetime | None = None
    seconds: float = 0.0
    api_calls: int = 0
    error: dict[str, Any] | None = None
    resume: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "api": self.api,
            "operation": self.operation,
            "soql": self.soql,
            "predicate": self.predicate,
            "fields": list(self.fields),
            "excluded_fields": [dict(e) for e in self.excluded_fields],
            "rows": self.rows,
            "deleted_rows": self.deleted_rows,
            "parts": [p.to_dict() for p in self.parts],
            "schema_path": self.schema_path,
            "format": self.format,
            "started_at": _opt_time(self.started_at),
            "finished_at": _opt_time(self.finished_at),
            "seconds": self.seconds,
            "api_calls": self.api_calls,
            "error": self.error,
            "resume": self.resume,
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
        return cls(
            state=s.str_("state", choices=OBJECT_STATES),
            api=api,
            operation=operation,
            soql=s.opt_str("soql"),
            predicate=s.opt_str("predicate"),
            fields=s.str_list("fields"),
            excluded_fields=excluded,
            rows=s.int_("rows", 0),
            deleted_rows=s.int_("deleted_rows", 0),
            parts=[
                PartInfo.from_dict(p, where=f"{where}.parts[{i}]", source=source)
                for i, p in enumerate(s.list_("parts"))
            ],
            schema_path=s.opt_path("schema_path"),
            format=s.str_("format", choices=PART_FORMATS) if "format" in s.data else "parquet",
            started_at=s.opt_time("started_at"),
            finished_at=s.opt_time("finished_at"),
            seconds=s.number("seconds"),
            api_calls=s.int_("api_calls", 0),
            error=s.opt_dict("error"),
            resume=s.opt_dict("resume"),
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
            **self.extra,
        }

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "files", source: str = "<manifest>") -> FilesEntry:
        s = _Shape(data, where, source)
        return cls(
            index_path=s.opt_path("index_path"),
            index_bytes=s.int_("index_bytes", 0),
            index_sha256=None if s.data.get("index_sha256") is None else s.sha256("index_sha256"),
            count=s.int_("count", 0),
            bytes=s.int_("bytes", 0),
            downloaded=s.int_("downloaded", 0),
            deduplicated=s.int_("deduplicated", 0),
            failed=s.dict_list("failed"),
            missing=s.str_list("missing"),
            api_calls_saved=s.int_("api_calls_saved", 0),
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
class Manifest:
    """A snapshot's `manifest.json`."""

    snapshot_id: str
    t0: datetime
    created_at: datetime = field(default_factory=utc_now)
    program_version: str = ""
    state: str = "running"
    finished_at: datetime | None = None
    parent: str | None = None
    org: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    objects: dict[str, ObjectEntry] = field(default_factory=dict)
    files: dict[str, FilesEntry] = field(default_factory=dict)
    coverage: list[CoverageEntry] = field(default_factory=list)
    api: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    verification: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

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
            "state": self.state,
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
            "errors": self.errors,
            "verification": self.verification,
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
        return cls(
            snapshot_id=snapshot_id,
            t0=s.time("t0"),
            created_at=s.time("created_at"),
            program_version=s.str_("program_version"),
            state=s.str_("state", choices=SNAPSHOT_STATES),
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
            errors=s.dict_list("errors"),
            verification=s.opt_dict("verification"),
            extra=s.extra(),
        )

    def transition(self, state: str) -> None:
        """Move to `state`, enforcing the format's rules: `complete` is reached only from
        `exported` (by verify) and is final; a resumed run may go back to `running`."""
        if state not in SNAPSHOT_STATES:
            raise ValueError(f"unknown snapshot state {state!r}; expected one of {SNAPSHOT_STATES}")
        if self.state == "complete" and state != "complete":
            raise RepositoryError(f"snapshot {self.snapshot_id} is complete; its manifest is never changed")
        if state == "complete" and self.state not in ("exported", "complete"):
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
        return paths


def load(store: Store, key: str) -> Manifest:
    """Read and validate the manifest stored under `key`."""
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
    return Manifest.from_dict(data, source=source)


def save(manifest: Manifest, store: Store, key: str) -> None:
    """Write the manifest under `key` (atomically in a folder: temp file, fsync, rename)."""
    store.put_stream(key, [manifest.to_json()])


def _opt_time(value: datetime | None) -> str | None:
    return None if value is None else format_time(value)

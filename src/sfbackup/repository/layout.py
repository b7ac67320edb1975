"""Where everything lives in a repository (docs/repository-format.md), and the snapshot id.

Every name that comes from outside (a snapshot id typed by a user, an object name from an org,
a hash read from a manifest) is validated here before it becomes part of a path.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from sfbackup.errors import RepositoryError, UsageError

LAYOUT_VERSION = 1
REPOSITORY_FORMAT = "sfbackup-repository"

REPOSITORY_FILE = "repository.json"
SNAPSHOTS_DIR = "snapshots"
BLOBS_DIR = "blobs"
LOCKS_DIR = "locks"
ARCHIVES_DIR = "archives"
MANIFEST_FILE = "manifest.json"
#: Beside a `running` manifest: one line per object checkpoint since its last full save.
JOURNAL_FILE = "manifest.journal"
SCHEMA_DIR = "schema"
OBJECTS_DIR = "objects"
FILES_DIR = "files"
REPORTS_DIR = "reports"
METADATA_DIR = "metadata"

PART_FORMATS: tuple[str, ...] = ("parquet", "csv")

_SNAPSHOT_ID = re.compile(r"^(\d{8}T\d{6}Z)-([0-9a-f]{8})$")
_OBJECT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def new_snapshot_id(t0: datetime) -> str:
    """`<T0 as YYYYMMDDTHHMMSSZ>-<8 hex random>`; ids sort by time. `t0` must be timezone-aware."""
    if t0.tzinfo is None:
        raise ValueError("t0 must be timezone-aware (the org's clock, in UTC)")
    stamp = t0.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(4)}"


def is_snapshot_id(value: str) -> bool:
    """True when `value` is shaped like a snapshot id and its timestamp is a real time."""
    match = _SNAPSHOT_ID.match(value)
    if match is None:
        return False
    try:
        datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ")
    except ValueError:
        return False
    return True


def validate_snapshot_id(value: str) -> str:
    """Return `value` if it is a snapshot id, else raise UsageError (never use it in a path first)."""
    if not is_snapshot_id(value):
        raise UsageError(
            f"{value!r} is not a snapshot id",
            hint="snapshot ids look like 20261127T020000Z-3f9a1c2e (or use 'latest'); "
            "`sfbackup snapshots` lists them",
        )
    return value


def snapshot_time(snapshot_id: str) -> datetime:
    """The T0 encoded in a snapshot id (UTC, second precision)."""
    stamp = validate_snapshot_id(snapshot_id).split("-", 1)[0]
    return datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def validate_object_name(name: str) -> str:
    """Return `name` if it is a safe sObject API name (letters, digits, `_`), else raise."""
    if not _OBJECT_NAME.match(name):
        raise RepositoryError(
            f"{name!r} is not a valid Salesforce object name, refusing to use it in a path",
            hint="object names are API names such as Account or Invoice__c",
        )
    return name


def validate_sha256(value: str) -> str:
    """Return `value` if it is 64 lower-case hex digits, else raise."""
    if not _SHA256.match(value):
        raise RepositoryError(f"{value!r} is not a SHA-256 hex digest (64 lower-case hex digits)")
    return value


def validate_relative_path(value: str) -> str:
    """Return `value` if it is a relative POSIX path that stays inside its folder, else raise.

    Paths in a manifest are relative to the snapshot folder; one edited to `../..` or `/etc`
    must never be followed.
    """
    pure = PurePosixPath(value)
    if not value or pure.is_absolute() or ".." in pure.parts or "\\" in value or value != str(pure):
        raise RepositoryError(f"{value!r} is not a safe relative path inside a snapshot")
    return value


# Paths relative to the snapshot folder (the strings a manifest stores).


def part_relpath(object_name: str, index: int, fmt: str) -> str:
    """`objects/<Object>/part-00000.<fmt>`."""
    if fmt not in PART_FORMATS:
        raise ValueError(f"unknown part format {fmt!r}; expected one of {PART_FORMATS}")
    if index < 0:
        raise ValueError("part index must be >= 0")
    return f"{OBJECTS_DIR}/{validate_object_name(object_name)}/part-{index:05d}.{fmt}"


def schema_relpath(object_name: str) -> str:
    """`schema/<Object>.json`."""
    return f"{SCHEMA_DIR}/{validate_object_name(object_name)}.json"


def files_index_relpath(object_name: str) -> str:
    """`files/<Object>.parquet`."""
    return f"{FILES_DIR}/{validate_object_name(object_name)}.parquet"


def metadata_index_relpath() -> str:
    """`metadata/index.parquet`: every listed metadata component and the blobs of its files."""
    return f"{METADATA_DIR}/index.parquet"


def metadata_package_relpath() -> str:
    """`metadata/package.xml`: the package.xml naming every component the snapshot retrieved."""
    return f"{METADATA_DIR}/package.xml"


# Keys relative to the repository root (the same in a folder and under an S3 prefix).


def snapshot_key(snapshot_id: str, relpath: str = MANIFEST_FILE) -> str:
    """`snapshots/<id>/<relpath>` (the manifest by default), both parts validated."""
    return f"{SNAPSHOTS_DIR}/{validate_snapshot_id(snapshot_id)}/{validate_relative_path(relpath)}"


def report_relpath(verified_at: datetime, level: str, *, against_org: bool, ids: bool) -> str:
    """`reports/<time>-<level>[-against-org[-ids]]`: one verification's reports in its snapshot, e.g.
    `reports/20261204T190449.123Z-read-data-against-org-ids` (milliseconds: two checks in one
    second keep both)."""
    stamp = verified_at.astimezone(UTC)
    name = stamp.strftime("%Y%m%dT%H%M%S") + f".{stamp.microsecond // 1000:03d}Z-"
    name += re.sub(r"[^a-z0-9]+", "-", level.lower().replace("/", "of")).strip("-")
    name += ("-against-org" if against_org else "") + ("-ids" if ids else "")
    return f"{REPORTS_DIR}/{name}"


def archive_key(snapshot_id: str) -> str:
    """`archives/<snapshot-id>.tar.gz`: where `sfbackup upload --archive` puts a snapshot."""
    return f"{ARCHIVES_DIR}/{validate_snapshot_id(snapshot_id)}.tar.gz"


# Absolute paths under a repository root.


def repository_file(root: Path) -> Path:
    return root / REPOSITORY_FILE


def snapshots_dir(root: Path) -> Path:
    return root / SNAPSHOTS_DIR


def snapshot_dir(root: Path, snapshot_id: str) -> Path:
    return root / SNAPSHOTS_DIR / validate_snapshot_id(snapshot_id)


def manifest_path(root: Path, snapshot_id: str) -> Path:
    return snapshot_dir(root, snapshot_id) / MANIFEST_FILE


def blobs_dir(root: Path) -> Path:
    """`blobs/sha256`: the folder whose `<2 hex>/<64 hex>` files are the blobs."""
    return root / BLOBS_DIR / "sha256"


def blob_path(root: Path, sha256: str) -> Path:
    digest = validate_sha256(sha256)
    return blobs_dir(root) / digest[:2] / digest


def locks_dir(root: Path) -> Path:
    return root / LOCKS_DIR


def resolve_in_snapshot(snapshot_root: Path, relpath: str) -> Path:
    """The absolute path of a manifest-relative path, after checking it stays in the snapshot."""
    return snapshot_root.joinpath(*PurePosixPath(validate_relative_path(relpath)).parts)

"""`sfbackup repair`: find every blob the snapshots name that is missing or damaged, and mend it.

After restic's `repair` and borg's `check --repair`, but never by dropping data: a blob is
mended only with bytes that hash to its name. The blobs a snapshot names are those of its files
indexes (`files/<Object>.parquet`), its binaries indexes (`files/<Object>.binaries.parquet`: base64
fields and rich-text images) and its metadata index (`metadata/index.parquet`). Each stored blob
is re-read and hashed (a size check alone misses a flipped byte). A damaged or missing one is
fetched, in this order, from

- the S3 mirror `sfbackup upload` wrote (`blobs/sha256/<2 hex>/<64 hex>` under the prefix), and
- the org: the record's body URL `sobjects/<Object>/<Id>/<Field>` (file objects and base64
  fields) or `sobjects/<Object>/<Id>/richTextImageFields/<Field>/<refid>` (rich-text images);
  each record naming the blob is tried until one serves the same bytes. Metadata comes only
  from S3 (a retrieve today may differ from the snapshot's).

The snapshot's own files whose SHA-256 the manifest records (parts, schemas, the files and
metadata indexes, package.xml) are checked first and mended from the mirror's copy under
`snapshots/<id>/` (the org cannot give back a past snapshot's records). Manifests are never
rewritten: one that cannot be read is reported, its snapshot skipped.

Whatever no source can mend is reported with each reason (not in the mirror, the org no longer
serves it, the org serves other bytes now). Repair writes blobs (through the BlobStore,
which replaces a damaged copy) and those files, under the repository's exclusive lock; manifests
stay as they are, so a snapshot whose full check failed is verified again by the caller.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from sfbackup.errors import OrgUnreachable, RepositoryError, SalesforceError, StorageError, UsageError
from sfbackup.repository import Repository, Snapshot, layout
from sfbackup.repository.atomic import AtomicFile, ensure_dir
from sfbackup.repository.blobs import BlobChecksumMismatch, BlobSizeMismatch, BlobStore
from sfbackup.repository.store import Store, sha256_file
from sfbackup.salesforce.client import SalesforceClient
from sfbackup.salesforce.objects import FILE_BODY_FIELDS
from sfbackup.ui.progress import NullProgress, Progress

METADATA = "metadata"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class BlobOwner:
    """One place a snapshot names a blob: a file body, a base64 field or image, a metadata file."""

    snapshot_id: str
    kind: str  # "file" | "binary" | "metadata"
    object: str  # the Salesforce object, or the metadata type
    record_id: str  # the record's Id, or the metadata component's full name
    field: str | None = None
    refid: str | None = None
    size: int | None = None

    def body_path(self) -> str | None:
        """The body's REST path below the data URL, or None when the org cannot serve it."""
        if self.kind == METADATA or not self.field:
            return None
        if self.refid:
            return f"sobjects/{self.object}/{self.record_id}/richTextImageFields/{self.field}/{self.refid}"
        return f"sobjects/{self.object}/{self.record_id}/{self.field}"

    def describe(self) -> str:
        if self.kind == METADATA:
            return f"metadata {self.object} {self.record_id}"
        where = f"{self.object} {self.record_id}"
        return f"{where} {self.field} image {self.refid}" if self.refid else f"{where} {self.field}"


def blob_owners(snapshot: Snapshot) -> dict[str, list[BlobOwner]]:
    """Every blob `snapshot` names, by SHA-256, with the records (or components) that name it.

    RepositoryError when an index the manifest names cannot be read: what it names is unknown.
    """
    owners: dict[str, list[BlobOwner]] = {}
    sid = snapshot.id

    def add(digest: Any, owner: BlobOwner) -> None:
        if digest:
            owners.setdefault(layout.validate_sha256(str(digest)), []).append(owner)

    manifest = snapshot.manifest
    for name, entry in sorted(manifest.files.items()):
        if not entry.index_path:
            continue
        body_field = FILE_BODY_FIELDS.get(name)
        for row in _index_rows(snapshot, entry.index_path, ("Id", "Size", "sha256")):
            add(row["sha256"], BlobOwner(sid, "file", name, str(row["Id"]), body_field, None, row["Size"]))
    for name, obj in sorted(manifest.objects.items()):
        saved = obj.extra.get("binaries")
        if not isinstance(saved, dict) or not saved.get("index_path"):
            continue
        rows = _index_rows(snapshot, str(saved["index_path"]), ("Id", "Field", "RefId", "Size", "sha256"))
        for row in rows:
            add(row["sha256"], BlobOwner(sid, "binary", name, str(row["Id"]), row["Field"], row["RefId"],
                                         row["Size"]))  # fmt: skip
    if manifest.metadata is not None and manifest.metadata.index_path:
        columns = ("type", "full_name", "size", "sha256")
        for row in _index_rows(snapshot, manifest.metadata.index_path, columns):
            component = BlobOwner(sid, METADATA, str(row["type"]), str(row["full_name"]), size=row["size"])
            add(row["sha256"], component)
    return owners


def _index_rows(snapshot: Snapshot, relpath: str, columns: tuple[str, ...]) -> list[dict[str, Any]]:
    path = snapshot.resolve(relpath)
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise RepositoryError(
            f"cannot read {path} of snapshot {snapshot.id}: {exc}; the blobs it names are unknown",
            hint="mend the index from a copy (the S3 mirror holds one), or forget the snapshot",
            path=str(path),
        ) from None
    present = [c for c in columns if c in table.column_names]
    return [{c: row.get(c) for c in columns} for row in table.select(present).to_pylist()]


@dataclass(frozen=True)
class SnapshotFile:
    """A file of a snapshot folder whose SHA-256 the manifest records (a part, a schema, an index)."""

    snapshot_id: str
    relpath: str
    sha256: str
    size: int | None
    what: str


def snapshot_files(snapshot: Snapshot) -> list[SnapshotFile]:
    """Every file of `snapshot` the manifest names with its SHA-256, indexes first (the blobs a
    snapshot names are read from them)."""
    sid, manifest = snapshot.id, snapshot.manifest
    found: list[SnapshotFile] = []
    for name, files in sorted(manifest.files.items()):
        if files.index_path and files.index_sha256:
            size = files.index_bytes or None
            what = f"the files index of {name}"
            found.append(SnapshotFile(sid, files.index_path, files.index_sha256, size, what))
    metadata = manifest.metadata
    if metadata is not None and metadata.index_path and metadata.index_sha256:
        size = metadata.index_bytes or None
        index = SnapshotFile(sid, metadata.index_path, metadata.index_sha256, size, "the metadata index")
        found.append(index)
    if metadata is not None and metadata.package_path and metadata.package_sha256:
        found.append(SnapshotFile(sid, metadata.package_path, metadata.package_sha256, None, "package.xml"))
    for name, entry in sorted(manifest.objects.items()):
        if entry.schema_path and entry.schema_sha256:
            schema = SnapshotFile(sid, entry.schema_path, entry.schema_sha256, None, f"the schema of {name}")
            found.append(schema)
        for part in entry.parts:
            found.append(SnapshotFile(sid, part.path, part.sha256, part.bytes, f"a part of {name}"))
    return found


@dataclass
class FileRepair:
    """A part, schema or index that was missing or damaged, and whether the S3 mirror mended it."""

    file: SnapshotFile
    problem: str
    mended_from: str | None = None
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self.file), "problem": self.problem, "mended_from": self.mended_from,
                "reasons": list(self.reasons)}  # fmt: skip


@dataclass
class BlobRepair:
    """One blob that was missing or damaged: what was found, and whether (and how) it was mended."""

    sha256: str
    problem: str  # "missing" | "size" (truncated or padded) | "checksum" (bytes changed)
    owners: list[BlobOwner]
    mended_from: str | None = None  # "s3" | "org"
    reasons: list[str] = field(default_factory=list)  # why each source could not mend it

    @property
    def snapshots(self) -> list[str]:
        return sorted({o.snapshot_id for o in self.owners})

    def to_dict(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "problem": self.problem,
            "mended_from": self.mended_from,
            "reasons": list(self.reasons),
            "snapshots": self.snapshots,
            "owners": [asdict(o) for o in self.owners[:20]],
        }


@dataclass
class RepairResult:
    """What `repair_repository` checked, mended and could not mend."""

    repository: str
    snapshots: list[str] = field(default_factory=list)
    blobs_checked: int = 0
    bytes_checked: int = 0
    damaged: list[BlobRepair] = field(default_factory=list)
    files: list[FileRepair] = field(default_factory=list)  # parts, schemas, indexes
    sources: list[str] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)  # snapshot id -> why its manifest is not

    @property
    def mended(self) -> list[BlobRepair]:
        return [b for b in self.damaged if b.mended_from]

    @property
    def unmended(self) -> list[BlobRepair]:
        return [b for b in self.damaged if not b.mended_from]

    @property
    def intact(self) -> bool:
        """Every blob and file of every snapshot asked for is intact (and each manifest was read)."""
        return not self.unmended and not self.files_unmended and not self.unreadable

    @property
    def files_unmended(self) -> list[FileRepair]:
        return [f for f in self.files if not f.mended_from]

    def snapshots_still_damaged(self) -> set[str]:
        damaged = {s for b in self.unmended for s in b.snapshots}
        return damaged | {f.file.snapshot_id for f in self.files_unmended} | set(self.unreadable)

    def to_dict(self) -> dict[str, Any]:
        return {
            "repository": self.repository,
            "snapshots": list(self.snapshots),
            "sources": list(self.sources),
            "blobs_checked": self.blobs_checked,
            "bytes_checked": self.bytes_checked,
            "damaged": len(self.damaged),
            "mended": len(self.mended),
            "unmended": len(self.unmended),
            "unreadable_manifests": dict(self.unreadable),
            "blobs": [b.to_dict() for b in self.damaged],
            "files": [f.to_dict() for f in self.files],
        }


def repair_repository(
    repository: Repository,
    snapshot_ids: list[str],
    *,
    s3: Store | None = None,
    client: SalesforceClient | None = None,
    progress: Progress | None = None,
) -> RepairResult:
    """Check every blob the snapshots `snapshot_ids` name and mend each damaged one from `s3`
    (the upload mirror), then from the org through `client`. Never raises on damage: what stays
    damaged is in the result with its reasons."""
    progress = progress or NullProgress()
    if not repository.is_local:
        raise UsageError(
            f"repair mends a local repository; {repository.store.describe()} is in S3",
            hint="pass the local repository folder as --repo and the bucket as --from-s3",
        )
    result = RepairResult(str(repository.path), sources=[s for s, on in (("s3", s3), ("org", client)) if on])
    with repository.lock(exclusive=True, command="sfbackup repair"):
        owners: dict[str, list[BlobOwner]] = {}
        for snapshot_id in snapshot_ids:
            try:
                snapshot = repository.snapshot(snapshot_id)
            except RepositoryError as exc:  # its blobs are unknown; the others are still mended
                result.unreadable[snapshot_id] = exc.message
                continue
            result.snapshots.append(snapshot.id)
            for item in snapshot_files(snapshot):
                problem = _file_problem(snapshot.resolve(item.relpath), item)
                if problem is not None:
                    fixing = FileRepair(item, problem)
                    _mend_file(snapshot, fixing, s3)
                    result.files.append(fixing)
                    level = "info" if fixing.mended_from else "error"
                    what = f"mended from {fixing.mended_from}" if fixing.mended_from else "NOT mended"
                    progress.message(level, f"{snapshot.id}/{item.relpath} ({problem}): {what}")
            try:
                named_blobs = blob_owners(snapshot)
            except RepositoryError as exc:
                result.unreadable[snapshot.id] = exc.message
                continue
            for digest, named in named_blobs.items():
                owners.setdefault(digest, []).extend(named)
        blobs = repository.blobs
        progress.phase("check", f"re-reading the {len(owners)} blobs of {len(result.snapshots)} snapshots")
        for count, (digest, named) in enumerate(sorted(owners.items()), start=1):
            problem = _problem(blobs, digest, _expected_size(named))
            result.blobs_checked += 1
            result.bytes_checked += _expected_size(named) or 0
            progress.transfer("blobs", count, len(owners), result.bytes_checked)
            if problem is not None:
                result.damaged.append(BlobRepair(digest, problem, named))
        if result.damaged:
            progress.phase("mend", f"{len(result.damaged)} blobs missing or damaged")
        for repair in result.damaged:
            _mend(blobs, repair, s3, client)
            level = "info" if repair.mended_from else "error"
            what = f"mended from {repair.mended_from}" if repair.mended_from else "NOT mended"
            progress.message(level, f"blob {repair.sha256} ({repair.problem}): {what}")
    return result


def _expected_size(owners: list[BlobOwner]) -> int | None:
    return next((int(o.size) for o in owners if o.size is not None), None)


def _problem(blobs: BlobStore, digest: str, size: int | None) -> str | None:
    if not blobs.has(digest):
        return "missing"
    if size is not None and not blobs.has(digest, size=size):
        return "size"
    return None if blobs.intact(digest) else "checksum"


def _mend(blobs: BlobStore, repair: BlobRepair, s3: Store | None, client: SalesforceClient | None) -> None:
    size = _expected_size(repair.owners)

    def store(chunks: Iterator[bytes]) -> None:
        blobs.put_stream(chunks, expected_size=size, extra_hashers=(), expected_sha256=repair.sha256)

    if s3 is not None:
        reason = _from_s3(s3, repair.sha256, store)
        if reason is None:
            repair.mended_from = "s3"
            return
        repair.reasons.append(f"S3: {reason}")
    askable = [o for o in repair.owners if o.body_path() is not None]
    if client is not None:
        for owner in askable:
            reason = _from_org(client, owner, store)
            if reason is None:
                repair.mended_from = "org"
                return
            repair.reasons.append(f"org, {owner.describe()}: {reason}")
    if client is None and askable:
        repair.reasons.append("the org was not asked (add --from-org)")
    if not askable:
        repair.reasons.append("the org cannot serve it: metadata files are mended only from the S3 mirror")
    if s3 is None:
        repair.reasons.append("no S3 mirror was given (add --from-s3 s3://bucket/prefix)")


def _file_problem(path: Path, item: SnapshotFile) -> str | None:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return "missing"
    if item.size is not None and size != item.size:
        return "size"
    return None if sha256_file(path) == item.sha256 else "checksum"


def _mend_file(snapshot: Snapshot, repair: FileRepair, s3: Store | None) -> None:
    """Copy the mirror's `snapshots/<id>/<relpath>` over the damaged file if it hashes right."""
    if s3 is None:
        repair.reasons.append("only the S3 mirror holds another copy (add --from-s3 s3://bucket/prefix); "
                              "the next run takes a new snapshot")  # fmt: skip
        return
    item = repair.file
    key = layout.snapshot_key(snapshot.id, item.relpath)
    target = snapshot.resolve(item.relpath)
    ensure_dir(target.parent)
    pending = AtomicFile(target)
    digest = hashlib.sha256()
    try:
        if s3.stat(key) is None:
            pending.abort()
            repair.reasons.append(f"S3: {s3.describe(key)} is not in the mirror")
            return
        with s3.open(key) as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
                pending.write(chunk)
        if digest.hexdigest() != item.sha256:
            pending.abort()
            repair.reasons.append(f"S3: the mirror's copy is damaged too (SHA-256 {digest.hexdigest()}, "
                                  f"the manifest records {item.sha256})")  # fmt: skip
            return
        pending.commit(overwrite=True)
    except StorageError as exc:
        pending.abort()
        repair.reasons.append(f"S3: {exc.message}")
        return
    except BaseException:
        pending.abort()
        raise
    repair.mended_from = "s3"


def _from_s3(s3: Store, digest: str, store: Callable[[Iterator[bytes]], None]) -> str | None:
    key = f"{layout.BLOBS_DIR}/sha256/{digest[:2]}/{digest}"
    try:
        if s3.stat(key) is None:
            return f"{s3.describe(key)} is not in the mirror"
        with s3.open(key) as handle:
            store(iter(lambda: handle.read(_CHUNK), b""))
    except (BlobChecksumMismatch, BlobSizeMismatch) as exc:
        return f"the mirror's copy is damaged too ({exc.message})"
    except StorageError as exc:
        return exc.message
    return None


def _from_org(
    client: SalesforceClient, owner: BlobOwner, store: Callable[[Iterator[bytes]], None]
) -> str | None:
    path = owner.body_path()
    assert path is not None
    try:
        client.download(client.data_path(path), store)
    except (BlobChecksumMismatch, BlobSizeMismatch) as exc:
        return f"the org serves other bytes now ({exc.message})"
    except SalesforceError as exc:
        code = f"{exc.status} {exc.error_code}".strip() if exc.error_code else str(exc.status or "")
        return f"the org no longer serves it ({code}: {exc.message})"
    except OrgUnreachable as exc:
        return exc.message
    return None

"""A repository, in a local folder or under an S3 prefix: open it, list and read its snapshots,
lock it; in a folder also create it and write a new snapshot.

Everything is read through the repository's Store (`sfbackup.repository.store`), so a folder and
`s3://bucket/prefix` are read the same way. Writing is local only: a run writes a folder and
`sfbackup upload` mirrors a snapshot to S3. Reading follows restic's order (manifests first);
writing keeps the format's rule that a manifest only names files that already exist: parts,
indexes and schemas are written (each atomically) before the manifest that points at them is saved.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from sfbackup.clock import format_time, utc_now
from sfbackup.errors import RepositoryError, SnapshotNotFound, StorageError, UsageError, storage_error
from sfbackup.repository import layout
from sfbackup.repository import manifest as manifest_io
from sfbackup.repository.atomic import DIR_MODE, FILE_MODE, ensure_dir, fsync_dir, write_atomic
from sfbackup.repository.blobs import BlobStore
from sfbackup.repository.lock import RepositoryLock, acquire
from sfbackup.repository.manifest import Manifest, PartInfo
from sfbackup.repository.store import (
    LocalStore,
    S3Store,
    Store,
    StoreFiles,
    is_s3_url,
    local_copy,
    store_from_url,
    store_url,
)
from sfbackup.salesforce.arrow_types import schema_from_json, schema_to_json
from sfbackup.salesforce.schema import FieldSpec, ObjectSchema

if TYPE_CHECKING:
    import pandas as pd

    from sfbackup.config import S3Settings
    from sfbackup.repository.writers import CsvPartWriter, ParquetPartWriter

_LOCAL_ONLY_HINT = "runs write to a local folder; `sfbackup upload` mirrors a snapshot from it to S3"


class Repository:
    """An opened repository (use `Repository.open`, or `init` / `open_or_init` for a folder)."""

    def __init__(self, store: Store, info: dict[str, Any]) -> None:
        self.store = store
        self.info = info
        self.location = store_url(store)
        self.files = StoreFiles(store)

    def __repr__(self) -> str:
        return f"Repository({self.location!r})"

    @property
    def repository_id(self) -> str:
        return str(self.info.get("repository_id", ""))

    @property
    def is_local(self) -> bool:
        return isinstance(self.store, LocalStore)

    @property
    def path(self) -> Path:
        """The repository folder; UsageError for a repository in S3 (writing is local only)."""
        if not isinstance(self.store, LocalStore):
            raise UsageError(
                f"{self.store.describe()} is in S3: only a local repository folder can be written to",
                hint=_LOCAL_ONLY_HINT,
            )
        return self.store.root

    @cached_property
    def blobs(self) -> BlobStore:
        """The blob store that runs write file bodies into (local only)."""
        return BlobStore(self.path)

    @classmethod
    def init(cls, path: str | os.PathLike[str]) -> Repository:
        """Create a repository in folder `path` (new or empty); UsageError if one is there."""
        root = local_folder(path)
        if layout.repository_file(root).exists():
            raise UsageError(
                f"{root} already holds an sfbackup repository", hint="open it instead of creating it"
            )
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise UsageError(
                f"{root} exists and is not an empty folder; refusing to create a repository there",
                hint="choose a new or empty folder",
            )
        ensure_dir(root)
        with contextlib.suppress(OSError):
            root.chmod(DIR_MODE)
        for folder in (layout.snapshots_dir(root), layout.blobs_dir(root), layout.locks_dir(root)):
            ensure_dir(folder)
        info = {
            "format": layout.REPOSITORY_FORMAT,
            "layout_version": layout.LAYOUT_VERSION,
            "repository_id": uuid.uuid4().hex,
            "created_at": format_time(utc_now()),
        }
        write_atomic(layout.repository_file(root), (json.dumps(info, indent=2) + "\n").encode())
        return cls(LocalStore(root), info)

    @classmethod
    def open(cls, location: str | os.PathLike[str] | Store, s3: S3Settings | None = None) -> Repository:
        """Open the repository at `location`: a folder, `s3://bucket/prefix` (endpoint, region,
        SSE... from `s3`), or a Store. RepositoryError (exit 10) if there is none or its layout
        version is one this sfbackup does not know; StorageError when S3 cannot be reached."""
        store = store_from_url(location, s3) if isinstance(location, str | os.PathLike) else location
        where = store.describe()
        marker = store.describe(layout.REPOSITORY_FILE)
        try:
            with store.open(layout.REPOSITORY_FILE) as handle:
                raw = handle.read()
        except StorageError as exc:
            if isinstance(store, S3Store) and exc.details.get("s3_error") == "NoSuchBucket":
                raise RepositoryError(
                    f"the bucket {store.bucket!r} does not exist (endpoint {store.endpoint}), so there "
                    f"is no sfbackup repository at s3://{store.bucket}/{store.prefix}".rstrip("/"),
                    hint="check the bucket's name in --repo s3://BUCKET/PREFIX, and --endpoint-url and "
                    "--region; a bucket gets a repository from `sfbackup upload --bucket BUCKET` once "
                    "the bucket is created (e.g. `aws s3 mb s3://BUCKET`)",
                    path=where,
                    bucket=store.bucket,
                ) from None
            if store.stat(layout.REPOSITORY_FILE) is not None:
                raise RepositoryError(f"cannot read {marker}: {exc.message}", path=marker) from exc
            raise RepositoryError(
                f"no sfbackup repository at {where} ({layout.REPOSITORY_FILE} not found)",
                hint="check --repo: `sfbackup run --repo PATH` creates a repository folder on first "
                "use, and `sfbackup upload` fills an s3://bucket/prefix",
                path=where,
            ) from None
        try:
            info = json.loads(raw)
        except ValueError as exc:
            raise RepositoryError(f"{marker} is not valid JSON: {exc}", path=marker) from None
        if not isinstance(info, dict) or info.get("format") != layout.REPOSITORY_FORMAT:
            raise RepositoryError(f"{marker} is not an sfbackup repository marker", path=marker)
        version = info.get("layout_version")
        if version != layout.LAYOUT_VERSION:
            raise RepositoryError(
                f"repository {where} has layout version {version!r}; this sfbackup reads only layout "
                f"version {layout.LAYOUT_VERSION}",
                hint=f"use an sfbackup release that supports layout version {version}",
                path=where,
                layout_version=version if isinstance(version, int) else None,
            )
        return cls(store, info)

    @classmethod
    def open_or_init(cls, path: str | os.PathLike[str]) -> Repository:
        """Open the repository folder `path`, creating it when the folder is new or empty."""
        root = local_folder(path)
        if not layout.repository_file(root).exists() and (not root.exists() or not any(root.iterdir())):
            return cls.init(root)
        return cls.open(root)

    def lock(self, *, exclusive: bool, command: str) -> contextlib.AbstractContextManager[RepositoryLock]:
        """`with repo.lock(exclusive=True, command="sfbackup prune"):` the repository lock
        (`sfbackup.repository.lock`), in the folder or the bucket; the only way to take it."""
        return acquire(self.store, exclusive=exclusive, command=command)

    # --- snapshots ---------------------------------------------------------------------------------

    def snapshot_ids(self) -> list[str]:
        """Ids of snapshot folders holding a manifest, oldest first (manifests are not read).

        The folders come from one listing with a delimiter, not from every key under snapshots/
        (thousands per snapshot on S3); each folder's manifest is then looked up, several at once."""
        folders = self._snapshot_folders()
        keys = [layout.snapshot_key(sid) for sid in folders]
        if self.is_local or len(keys) < 2:
            present = [self.store.exists(key) for key in keys]
        else:
            with ThreadPoolExecutor(max_workers=8, thread_name_prefix="sfbackup-list") as pool:
                present = list(pool.map(self.store.exists, keys))
        return [sid for sid, there in zip(folders, present, strict=True) if there]

    def orphaned_snapshot_ids(self) -> list[str]:
        """Ids of snapshot folders without a manifest (left by an interrupted `forget`, or by a run
        killed before its first save), oldest first."""
        return sorted(set(self._snapshot_folders()) - set(self.snapshot_ids()))

    def _snapshot_folders(self) -> list[str]:
        names = self.store.folders(f"{layout.SNAPSHOTS_DIR}/")
        return sorted(name for name in names if layout.is_snapshot_id(name))

    def snapshots(self) -> list[Snapshot]:
        """Every snapshot whose manifest can be read, oldest first. A damaged manifest is left out
        (`read_snapshots` lists it): one rotten old snapshot must not stop every later run."""
        return [s for s in self.read_snapshots() if isinstance(s, Snapshot)]

    def read_snapshots(self) -> list[Snapshot | DamagedSnapshot]:
        """Every snapshot, oldest first, one whose manifest cannot be read as a DamagedSnapshot."""
        found: list[Snapshot | DamagedSnapshot] = []
        for sid in self.snapshot_ids():
            try:
                found.append(self._load(sid))
            except (RepositoryError, StorageError) as exc:
                found.append(DamagedSnapshot(sid, exc.message))
        return found

    def latest(self, state: str | None = None) -> Snapshot | None:
        """The newest snapshot (with `state` as its status, when given: a complete snapshot whose
        last full check failed is `check_failed`), or None.

        Ids sort by T0 to the second; snapshots cut in the same second are ordered by when their
        manifests were created (milliseconds), not by the ids' random suffixes."""
        ids = self.snapshot_ids()
        while ids:
            stamp = ids[-1].split("-", 1)[0]
            same_second = [sid for sid in ids if sid.startswith(stamp)]
            ids = ids[: len(ids) - len(same_second)]
            group = sorted((self._load(sid) for sid in same_second), key=lambda s: s.manifest.created_at)
            for snap in reversed(group):
                if state is None or snap.manifest.status == state:
                    return snap
        return None

    def snapshot(self, id_or_latest: str) -> Snapshot:
        """The snapshot with that id, the newest for `latest`, the newest complete one for
        `latest-complete` (what to read a backup from); SnapshotNotFound otherwise."""
        if id_or_latest == LATEST_COMPLETE:
            complete = self.latest(state="complete")
            if complete is None:
                raise SnapshotNotFound(
                    f"repository {self.store.describe()} has no complete snapshot",
                    hint=f"`sfbackup snapshots --repo {self.location}` lists each snapshot's state; "
                    "`sfbackup verify` completes an exported one",
                )
            return complete
        if id_or_latest == "latest":
            found = self.latest()
            if found is None:
                raise SnapshotNotFound(
                    f"repository {self.store.describe()} has no snapshot yet",
                    hint="`sfbackup run --repo PATH` takes one; `sfbackup upload` copies one to S3",
                )
            return found
        sid = layout.validate_snapshot_id(id_or_latest)
        key = layout.snapshot_key(sid)
        if not self.store.exists(key):
            raise SnapshotNotFound(
                f"no snapshot {sid} in {self.store.describe()}",
                hint=f"`sfbackup snapshots --repo {self.location}` lists the snapshots there",
                snapshot_id=sid,
            )
        return Snapshot(self, sid, manifest_io.load(self.store, key))

    def _load(self, snapshot_id: str) -> Snapshot:
        """A snapshot `snapshot_ids` just found (its manifest is not looked up a second time)."""
        return Snapshot(self, snapshot_id, manifest_io.load(self.store, layout.snapshot_key(snapshot_id)))

    def new_snapshot(
        self,
        t0: datetime,
        *,
        org: Mapping[str, Any] | None = None,
        settings: Mapping[str, Any] | None = None,
        parent: str | None = None,
    ) -> SnapshotWriter:
        """Create the folder and the `running` manifest of a new snapshot cut at `t0` (local only)."""
        sid = layout.new_snapshot_id(t0)
        folder = layout.snapshot_dir(self.path, sid)
        ensure_dir(folder.parent)
        folder.mkdir(mode=DIR_MODE)  # fails if the (random) id somehow exists: never reuse a folder
        created = Manifest(
            snapshot_id=sid, t0=t0, org=dict(org or {}), settings=dict(settings or {}), parent=parent
        )
        writer = SnapshotWriter(self, sid, created)
        writer.save()
        return writer

    def resume_snapshot(self, snapshot_id: str) -> SnapshotWriter:
        """A writer over an existing snapshot (`run --resume`; local only)."""
        snap = self.snapshot(snapshot_id)
        return SnapshotWriter(self, snap.id, snap.manifest)


#: The snapshot name meaning "the newest snapshot whose state is complete".
LATEST_COMPLETE = "latest-complete"


def local_folder(location: str | os.PathLike[str]) -> Path:
    """`location` as a folder to write a repository in; UsageError for `s3://` (writing is local only)."""
    if is_s3_url(location):
        raise UsageError(
            f"cannot write a snapshot to {location}: only a local repository folder can be written to",
            hint=_LOCAL_ONLY_HINT,
        )
    path = Path(location)
    if path.exists() and not path.is_dir():
        raise UsageError(
            f"the repository {path} is a file, not a folder",
            hint="pass --repo a folder (an existing repository, or a new one to create)",
        )
    return path


@dataclass(frozen=True)
class DamagedSnapshot:
    """A snapshot folder whose manifest cannot be read, and why."""

    id: str
    error: str


class Snapshot:
    """A snapshot read back through the repository's Store: its manifest, tables and file indexes."""

    def __init__(self, repository: Repository, snapshot_id: str, manifest: Manifest) -> None:
        self.repository = repository
        self.id = snapshot_id
        self.manifest = manifest

    def __repr__(self) -> str:
        return f"Snapshot({self.id!r}, state={self.manifest.state!r})"

    @property
    def path(self) -> Path:
        """The snapshot folder (a local repository only)."""
        return layout.snapshot_dir(self.repository.path, self.id)

    def key(self, relpath: str = layout.MANIFEST_FILE) -> str:
        """The store key of a manifest-relative path (checked to stay inside the snapshot)."""
        return layout.snapshot_key(self.id, relpath)

    def resolve(self, relpath: str) -> Path:
        """Absolute path of a manifest-relative path (a local repository only)."""
        return layout.resolve_in_snapshot(self.path, relpath)

    def objects(self) -> list[str]:
        return sorted(self.manifest.objects)

    def reports(self) -> list[str]:
        """Names of the verification reports stored beside the manifest (`report.html`, ...)."""
        prefix = self.key("report.")
        return sorted(item.key.rsplit("/", 1)[-1] for item in self.repository.store.list(prefix))

    def _entry(self, object_name: str) -> manifest_io.ObjectEntry:
        entry = self.manifest.objects.get(object_name)
        if entry is None:
            raise SnapshotNotFound(
                f"snapshot {self.id} has no object {object_name}",
                hint=f"objects in it: {', '.join(self.objects()) or 'none'}",
            )
        return entry

    def schema_document(self, object_name: str) -> dict[str, Any]:
        """The parsed `schema/<Object>.json` (describe, arrow_schema, fields)."""
        entry = self._entry(object_name)
        store = self.repository.store
        key = self.key(entry.schema_path or layout.schema_relpath(object_name))
        try:
            with store.open(key) as handle:
                document = json.loads(handle.read())
        except (StorageError, OSError, ValueError) as exc:
            reason = exc.message if isinstance(exc, StorageError) else str(exc)
            raise RepositoryError(
                f"cannot read the schema {store.describe(key)}: {reason}", path=store.describe(key)
            ) from None
        if not isinstance(document, dict) or not isinstance(document.get("arrow_schema"), list):
            raise RepositoryError(f"{store.describe(key)} has no arrow_schema list", path=store.describe(key))
        return document

    def schema(self, object_name: str) -> pa.Schema:
        """The Arrow schema the object's parts were written with."""
        try:
            return schema_from_json(
                self.schema_document(object_name)["arrow_schema"], object_name=object_name
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise RepositoryError(
                f"the saved schema of {object_name} in snapshot {self.id} is damaged: {exc}"
            ) from exc

    def iter_tables(self, object_name: str) -> Iterator[pa.Table]:
        """Each part of an object in order, as a typed table (memory: one part at a time; a part
        in S3 is spooled to a temporary file first)."""
        from sfbackup.repository.writers import read_part

        entry = self._entry(object_name)
        schema = self.schema(object_name)
        store = self.repository.store
        for part in entry.parts:
            key = self.key(part.path)
            try:
                with local_copy(store, key) as path:
                    table = read_part(path, schema)
            except FileNotFoundError:
                raise RepositoryError(
                    f"part {part.path} of {object_name} is missing from snapshot {self.id}",
                    hint=f"run `sfbackup verify --repo {self.repository.location}` for the full list "
                    "of problems",
                    path=store.describe(key),
                ) from None
            except (pa.ArrowInvalid, OSError) as exc:
                raise RepositoryError(
                    f"cannot read {store.describe(key)}: {exc}", path=store.describe(key)
                ) from exc
            yield table

    def read(self, object_name: str) -> pa.Table:
        """Every part of an object as one typed table (Parquet, or CSV typed by the saved schema)."""
        schema = self.schema(object_name)
        tables = list(self.iter_tables(object_name))
        return pa.concat_tables(tables) if tables else schema.empty_table()

    def read_pandas(self, object_name: str) -> pd.DataFrame:
        """`read()` as a pandas DataFrame (decimals as `decimal.Decimal`, datetimes tz-aware)."""
        frame: pd.DataFrame = self.read(object_name).to_pandas()
        return frame

    def files(self, object_name: str) -> pa.Table:
        """The files index (`files/<Object>.parquet`) of a file object."""
        entry = self.manifest.files.get(object_name)
        if entry is None or entry.index_path is None:
            raise SnapshotNotFound(f"snapshot {self.id} has no files index for {object_name}")
        return self._read_index(entry.index_path, "files index")


    def metadata_index(self) -> pa.Table | None:
        """The metadata index (`metadata/index.parquet`: one row per file of each component, its
        blob's SHA-256), or None when the snapshot holds no metadata."""
        entry = self.manifest.metadata
        if entry is None or entry.index_path is None:
            return None
        return self._read_index(entry.index_path, "metadata index")

    def _read_index(self, relpath: str, what: str) -> pa.Table:
        store = self.repository.store
        key = self.key(relpath)
        try:
            with local_copy(store, key) as path:
                return pq.read_table(path)
        except (FileNotFoundError, pa.ArrowInvalid, OSError) as exc:
            raise RepositoryError(f"cannot read the {what} {store.describe(key)}: {exc}",
                                  path=store.describe(key)) from exc  # fmt: skip


class SnapshotWriter(Snapshot):
    """A snapshot being written in a local folder: create parts, schemas and file indexes, then
    `save()` the manifest, or `checkpoint()` one object's entry into the journal beside it."""

    def __init__(self, repository: Repository, snapshot_id: str, manifest: Manifest) -> None:
        super().__init__(repository, snapshot_id, manifest)
        self._present: set[str] = set()  # parts are write-once: a path seen once is not checked again
        self._journal: int | None = None  # the journal's descriptor, open for appends
        self._saved = False
        self._pending: dict[str, Future[int]] = {}  # schemas being written in the background
        self._pending_lock = threading.Lock()
        self._background: ThreadPoolExecutor | None = None

    def save(self) -> None:
        """Write the manifest atomically (call after the files it names are closed). It then holds
        every journal line, so a journal left by a dead run, or this run's once the snapshot is no
        longer `running`, is removed."""
        self._check_present(self.manifest.part_paths())
        manifest_io.save(self.manifest, self.repository.store, self.key())
        self._saved = True
        if self._journal is None or self.manifest.state != manifest_io.SnapshotState.RUNNING:
            self._close_journal()
            with contextlib.suppress(FileNotFoundError):
                self._journal_path().unlink()

    def checkpoint(self, object_name: str) -> None:
        """Make the manifest's entry of `object_name` durable without rewriting the manifest: one
        fsynced line appended to the journal (call after the files the entry names are closed).
        Readers of the `running` snapshot apply it (`manifest.load`); the next `save()` holds it."""
        entry = self.manifest.objects[object_name]
        paths = [p.path for p in entry.parts] + ([entry.schema_path] if entry.schema_path else [])
        self._check_present(paths)
        if self.manifest.state != manifest_io.SnapshotState.RUNNING or not self._saved:
            self.save()  # only a running manifest is read with its journal
            return
        created = self._journal is None
        self.manifest.journal_seq += 1
        line = manifest_io.journal_line(self.manifest.journal_seq, object_name, entry)
        try:
            if self._journal is None:
                self._journal = os.open(
                    self._journal_path(), os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE
                )
            written = 0
            while written < len(line):
                written += os.write(self._journal, line[written:])
            os.fsync(self._journal)
            if created:
                fsync_dir(self.path)
        except OSError as exc:
            raise storage_error("append to", self._journal_path(), exc) from exc

    def _journal_path(self) -> Path:
        return self.resolve(layout.JOURNAL_FILE)

    def _close_journal(self) -> None:
        if self._journal is not None:
            with contextlib.suppress(OSError):
                os.close(self._journal)
            self._journal = None

    def _check_present(self, relpaths: Sequence[str]) -> None:
        self._wait_written(relpaths)
        missing = []
        for relpath in relpaths:
            if relpath not in self._present:
                if self.resolve(relpath).is_file():
                    self._present.add(relpath)
                else:
                    missing.append(relpath)
        if missing:
            raise RepositoryError(
                f"refusing to save the manifest of {self.id}: "
                f"it names files that do not exist: {missing[:5]}",
                hint="close part writers and write indexes before saving the manifest",
            )

    def part_path(self, object_name: str, index: int, fmt: str) -> Path:
        """Absolute path of part `index` of an object."""
        return self.resolve(layout.part_relpath(object_name, index, fmt))

    def open_part(
        self,
        object_name: str,
        index: int,
        fmt: str,
        schema: pa.Schema,
        *,
        neutralize_formulas: bool = False,
    ) -> ParquetPartWriter | CsvPartWriter:
        """A part writer for `objects/<Object>/part-<index>.<fmt>`; its PartInfo path is manifest-ready."""
        from sfbackup.repository.writers import open_part_writer

        path = self.part_path(object_name, index, fmt)
        return open_part_writer(fmt, path, schema, root=self.path, neutralize_formulas=neutralize_formulas)

    def write_schema(
        self,
        object_schema: ObjectSchema,
        fields: Sequence[FieldSpec],
        arrow_schema: pa.Schema,
        *,
        background: bool = False,
    ) -> PartInfo:
        """Write `schema/<Object>.json`; return its manifest-relative path, size and SHA-256.

        `background`: the write (and its fsyncs) happens in this writer's own thread, so a caller
        planning a thousand objects does not wait for the disk; `save()` and `checkpoint()` wait
        for the schemas the manifest names, so none is named before it is durable."""
        relpath = layout.schema_relpath(object_schema.name)
        document = {
            "describe": object_schema.raw,
            "arrow_schema": schema_to_json(arrow_schema),
            "fields": [spec.to_dict() for spec in fields],
        }
        # Compact: with an indent json falls back to its pure-Python encoder, 4x slower, and a
        # thousand-object org's schemas are 20 MB of describes (`python -m json.tool` reads them).
        body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
        self._wait_written([relpath])  # an earlier write of the same schema lands first
        if background:
            with self._pending_lock:
                if self._background is None:
                    self._background = ThreadPoolExecutor(1, thread_name_prefix="sfbackup-schemas")
                self._pending[relpath] = self._background.submit(write_atomic, self.resolve(relpath), body)
        else:
            write_atomic(self.resolve(relpath), body)
        return PartInfo(relpath, rows=0, bytes=len(body), sha256=hashlib.sha256(body).hexdigest())

    def _wait_written(self, relpaths: Sequence[str]) -> None:
        """Wait for the background writes of `relpaths` (their errors are raised here)."""
        for relpath in relpaths:
            future = self._pending.get(relpath)
            if future is not None:
                future.result()
                with self._pending_lock:
                    self._pending.pop(relpath, None)

    def write_files_index(self, object_name: str, table: pa.Table) -> PartInfo:
        """Write `files/<Object>.parquet` atomically; return its path, rows, bytes and SHA-256."""
        from sfbackup.repository.writers import ParquetPartWriter

        relpath = layout.files_index_relpath(object_name)
        writer = ParquetPartWriter(self.resolve(relpath), table.schema, root=self.path)
        try:
            writer.write(table)
        except BaseException:
            writer.abort()
            raise
        return writer.close()

"""A repository on local disk: create, open, list snapshots, write a new one, read one back.

Reading follows restic's order (manifests first); writing keeps the format's rule that a
manifest only names files that already exist: parts, indexes and schemas are written (each
atomically) before the manifest that points at them is saved.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from sfbackup.errors import RepositoryError, SnapshotNotFound, UsageError
from sfbackup.repository import layout
from sfbackup.repository import manifest as manifest_io
from sfbackup.repository.atomic import DIR_MODE, ensure_dir, write_atomic
from sfbackup.repository.blobs import BlobStore
from sfbackup.repository.lock import RepositoryLock, acquire
from sfbackup.repository.manifest import Manifest, PartInfo, format_time, utc_now
from sfbackup.salesforce.arrow_types import schema_from_json, schema_to_json
from sfbackup.salesforce.schema import FieldSpec, ObjectSchema

if TYPE_CHECKING:
    import pandas as pd

    from sfbackup.repository.writers import CsvPartWriter, ParquetPartWriter


class Repository:
    """An opened repository folder (use `Repository.open` or `Repository.init`)."""

    def __init__(self, path: Path, info: dict[str, Any]) -> None:
        self.path = path
        self.info = info
        self.blobs = BlobStore(path)

    @property
    def repository_id(self) -> str:
        return str(self.info.get("repository_id", ""))

    @classmethod
    def init(cls, path: str | os.PathLike[str]) -> Repository:
        """Create a repository in `path` (a new or empty folder); UsageError if one is there."""
        root = Path(path)
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
        return cls(root, info)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Repository:
        """Open an existing repository; RepositoryError (exit 10) if there is none or its layout
        version is one this sfbackup does not know."""
        root = Path(path)
        marker = layout.repository_file(root)
        try:
            info = json.loads(marker.read_bytes())
        except FileNotFoundError:
            raise RepositoryError(
                f"no sfbackup repository at {root} ({layout.REPOSITORY_FILE} not found)",
                hint="check the path; `sfbackup run --repository PATH` creates a repository on first "
                "use (or call Repository.init)",
                path=str(root),
            ) from None
        except (OSError, ValueError) as exc:
            raise RepositoryError(f"cannot read {marker}: {exc}", path=str(marker)) from exc
        if not isinstance(info, dict) or info.get("format") != layout.REPOSITORY_FORMAT:
            raise RepositoryError(f"{marker} is not an sfbackup repository marker", path=str(marker))
        version = info.get("layout_version")
        if version != layout.LAYOUT_VERSION:
            raise RepositoryError(
                f"repository {root} has layout version {version!r}; this sfbackup reads only layout "
                f"version {layout.LAYOUT_VERSION}",
                hint=f"use an sfbackup release that supports layout version {version}",
                path=str(root),
                layout_version=version if isinstance(version, int) else None,
            )
        return cls(root, info)

    @classmethod
    def open_or_init(cls, path: str | os.PathLike[str]) -> Repository:
        """Open the repository at `path`, creating it when the folder is new or empty."""
        root = Path(path)
        if not layout.repository_file(root).exists() and (not root.exists() or not any(root.iterdir())):
            return cls.init(root)
        return cls.open(root)

    def lock(self, *, exclusive: bool, command: str) -> contextlib.AbstractContextManager[RepositoryLock]:
        """`with repo.lock(exclusive=False, command="sfbackup run"):` (see lock.acquire)."""
        return acquire(self, exclusive=exclusive, command=command)

    # --- snapshots ---------------------------------------------------------------------------------

    def snapshot_ids(self) -> list[str]:
        """Ids of snapshot folders holding a manifest, oldest first (manifests are not read)."""
        folder = layout.snapshots_dir(self.path)
        if not folder.is_dir():
            return []
        return sorted(
            entry.name
            for entry in folder.iterdir()
            if layout.is_snapshot_id(entry.name) and (entry / layout.MANIFEST_FILE).is_file()
        )

    def snapshots(self) -> list[Snapshot]:
        """Every snapshot, oldest first; RepositoryError on a damaged manifest."""
        return [self.snapshot(sid) for sid in self.snapshot_ids()]

    def latest(self, state: str | None = None) -> Snapshot | None:
        """The newest snapshot (in `state`, when given), or None."""
        for sid in reversed(self.snapshot_ids()):
            snap = self.snapshot(sid)
            if state is None or snap.manifest.state == state:
                return snap
        return None

    def snapshot(self, id_or_latest: str) -> Snapshot:
        """The snapshot with that id, or the newest for `latest`; SnapshotNotFound otherwise."""
        if id_or_latest == "latest":
            found = self.latest()
            if found is None:
                raise SnapshotNotFound(
                    f"repository {self.path} has no snapshot yet", hint="run `sfbackup run` first"
                )
            return found
        sid = layout.validate_snapshot_id(id_or_latest)
        path = layout.manifest_path(self.path, sid)
        if not path.is_file():
            raise SnapshotNotFound(
                f"no snapshot {sid} in {self.path}",
                hint="`sfbackup snapshots` lists the snapshots there",
                snapshot_id=sid,
            )
        return Snapshot(self, sid, manifest_io.load(path))

    def new_snapshot(
        self,
        t0: datetime,
        *,
        org: Mapping[str, Any] | None = None,
        settings: Mapping[str, Any] | None = None,
        parent: str | None = None,
    ) -> SnapshotWriter:
        """Create the folder and the `running` manifest of a new snapshot cut at `t0`."""
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
        """A writer over an existing snapshot (`run --resume`)."""
        snap = self.snapshot(snapshot_id)
        return SnapshotWriter(self, snap.id, snap.manifest)


class Snapshot:
    """A snapshot read back: its manifest, tables and file indexes."""

    def __init__(self, repository: Repository, snapshot_id: str, manifest: Manifest) -> None:
        self.repository = repository
        self.id = snapshot_id
        self.manifest = manifest
        self.path = layout.snapshot_dir(repository.path, snapshot_id)

    def __repr__(self) -> str:
        return f"Snapshot({self.id!r}, state={self.manifest.state!r})"

    def resolve(self, relpath: str) -> Path:
        """Absolute path of a manifest-relative path (checked to stay inside the snapshot)."""
        return layout.resolve_in_snapshot(self.path, relpath)

    def objects(self) -> list[str]:
        return sorted(self.manifest.objects)

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
        path = self.resolve(entry.schema_path or layout.schema_relpath(object_name))
        try:
            document = json.loads(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise RepositoryError(f"cannot read the schema {path}: {exc}", path=str(path)) from exc
        if not isinstance(document, dict) or not isinstance(document.get("arrow_schema"), list):
            raise RepositoryError(f"{path} has no arrow_schema list", path=str(path))
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
        """Each part of an object in order, as a typed table (memory: one part at a time)."""
        from sfbackup.repository.writers import read_part

        entry = self._entry(object_name)
        schema = self.schema(object_name)
        for part in entry.parts:
            path = self.resolve(part.path)
            try:
                yield read_part(path, schema)
            except FileNotFoundError:
                raise RepositoryError(
                    f"part {part.path} of {object_name} is missing from snapshot {self.id}",
                    hint="run `sfbackup verify` for the full list of problems",
                    path=str(path),
                ) from None
            except (pa.ArrowInvalid, OSError) as exc:
                raise RepositoryError(f"cannot read {path}: {exc}", path=str(path)) from exc

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
        path = self.resolve(entry.index_path)
        try:
            return pq.read_table(path)
        except (FileNotFoundError, pa.ArrowInvalid, OSError) as exc:
            raise RepositoryError(f"cannot read the files index {path}: {exc}", path=str(path)) from exc


class SnapshotWriter(Snapshot):
    """A snapshot being written: create parts, schemas and file indexes, then `save()` the manifest."""

    def save(self) -> None:
        """Write the manifest atomically (call after the files it names are closed)."""
        # Parts are write-once, so a path seen once need not be checked again at each checkpoint.
        present: set[str] = self.__dict__.setdefault("_present", set())
        missing = []
        for relpath in self.manifest.part_paths():
            if relpath not in present:
                if self.resolve(relpath).is_file():
                    present.add(relpath)
                else:
                    missing.append(relpath)
        if missing:
            raise RepositoryError(
                f"refusing to save the manifest of {self.id}: "
                f"it names files that do not exist: {missing[:5]}",
                hint="close part writers and write indexes before saving the manifest",
            )
        manifest_io.save(self.manifest, self.path / layout.MANIFEST_FILE)

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
        self, object_schema: ObjectSchema, fields: Sequence[FieldSpec], arrow_schema: pa.Schema
    ) -> str:
        """Write `schema/<Object>.json`; return its manifest-relative path."""
        relpath = layout.schema_relpath(object_schema.name)
        document = {
            "describe": object_schema.raw,
            "arrow_schema": schema_to_json(arrow_schema),
            "fields": [spec.to_dict() for spec in fields],
        }
        write_atomic(self.resolve(relpath), json.dumps(document, indent=1, ensure_ascii=False).encode())
        return relpath

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

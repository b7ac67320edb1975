"""The repository (docs/repository-format.md), in a folder or under an S3 prefix: layout, atomic
writes, manifests, blobs, locks."""

from __future__ import annotations

from sfbackup.repository.atomic import AtomicFile, atomic_writer, is_temporary, write_atomic
from sfbackup.repository.blobs import BlobSizeMismatch, BlobStore, BlobWrite
from sfbackup.repository.layout import LAYOUT_VERSION, new_snapshot_id, validate_snapshot_id
from sfbackup.repository.lock import LockInfo, RepositoryLock, list_locks, remove_all, remove_stale
from sfbackup.repository.manifest import (
    OBJECT_STATES,
    SNAPSHOT_STATES,
    CoverageEntry,
    FilesEntry,
    Manifest,
    ObjectEntry,
    PartInfo,
)
from sfbackup.repository.repository import DamagedSnapshot, Repository, Snapshot, SnapshotWriter, local_folder

__all__ = [
    "LAYOUT_VERSION",
    "OBJECT_STATES",
    "SNAPSHOT_STATES",
    "AtomicFile",
    "BlobSizeMismatch",
    "BlobStore",
    "BlobWrite",
    "CoverageEntry",
    "DamagedSnapshot",
    "FilesEntry",
    "LockInfo",
    "Manifest",
    "ObjectEntry",
    "PartInfo",
    "Repository",
    "RepositoryLock",
    "Snapshot",
    "SnapshotWriter",
    "atomic_writer",
    "is_temporary",
    "list_locks",
    "local_folder",
    "new_snapshot_id",
    "remove_all",
    "remove_stale",
    "validate_snapshot_id",
    "write_atomic",
]

"""Build small repositories for upload / forget / prune tests by writing the format directly
(docs/repository-format.md), without an org or the export pipeline."""

from __future__ import annotations

import hashlib
import os
import uuid
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from sfbackup.repository import Repository, SnapshotWriter
from sfbackup.repository.manifest import FilesEntry, ObjectEntry, PartInfo

FILES_SCHEMA = pa.schema(
    [("Id", pa.string()), ("Size", pa.int64()), ("sha256", pa.string()), ("status", pa.string())]
)


def add_snapshot(
    repo: Repository,
    t0: datetime,
    *,
    state: str = "complete",
    bodies: list[bytes] | None = None,
    rows: int = 3,
) -> SnapshotWriter:
    """A snapshot cut at `t0` in `state`, with one Account part, a schema and an Attachment files
    index naming one blob per entry of `bodies` (stored in the blob store)."""
    writer = repo.new_snapshot(t0, org={"org_id": "00D000000000001AAA"})
    part_rel = "objects/Account/part-00000.parquet"
    part_path = writer.resolve(part_rel)
    part_path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table(
        {"Id": [f"001{uuid.uuid4().hex[:15]}" for _ in range(rows)], "Name": [f"n{i}" for i in range(rows)]}
    )
    pq.write_table(table, part_path)
    schema_rel = "schema/Account.json"
    schema_path = writer.resolve(schema_rel)
    schema_path.parent.mkdir(parents=True, exist_ok=True)
    schema_path.write_text('{"describe": {}, "arrow_schema": [], "fields": []}')
    writer.manifest.objects["Account"] = ObjectEntry(
        state="done",
        api="rest",
        operation="queryAll",
        rows=rows,
        parts=[PartInfo(part_rel, rows, part_path.stat().st_size, _sha(part_path))],
        schema_path=schema_rel,
    )
    digests = [repo.blobs.put_bytes(body).sha256 for body in bodies or []]
    index = pa.table(
        {
            "Id": [f"00P{i:015d}" for i in range(len(digests))],
            "Size": [len(b) for b in bodies or []],
            "sha256": digests,
            "status": ["downloaded"] * len(digests),
        },
        schema=FILES_SCHEMA,
    )
    info = writer.write_files_index("Attachment", index)
    writer.manifest.files["Attachment"] = FilesEntry(
        index_path=info.path,
        index_bytes=info.bytes,
        index_sha256=info.sha256,
        count=len(digests),
        bytes=sum(len(b) for b in bodies or []),
        downloaded=len(digests),
    )
    if state != "running":
        writer.manifest.transition("exported" if state == "complete" else state)
        if state == "complete":
            writer.manifest.transition("complete")
    writer.save()
    return writer


def blob_key(body: bytes) -> str:
    digest = hashlib.sha256(body).hexdigest()
    return f"blobs/sha256/{digest[:2]}/{digest}"


def random_bodies(count: int, size: int = 2000) -> list[bytes]:
    return [os.urandom(size) for _ in range(count)]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()

"""Checks a snapshot against its own manifest, after restic's `check`.

Structural (always): every part, schema, files index and blob the manifest names exists with the
size it recorded; Parquet footers' row counts add up to the manifest's counts; each files index
matches its manifest entry (rows, bytes, SHA-256); unfinished objects and missing files are named.

`read_data`: every part and blob is re-read: SHA-256 against the manifest (and, for a blob, its
name), MD5 of ContentVersion bodies against Salesforce's `Checksum`, every Parquet/CSV part fully
decoded and its rows counted. `subset=(n, t)` re-reads only the parts and blobs whose SHA-256
falls in subset n of t (by hash prefix), so a large repository is read in full over t runs.

Files are reached through `RepoFiles` (paths relative to the repository root; a Repository's
`files`, over its Store), so the same checks run on a local folder and on S3.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sfbackup.errors import UsageError
from sfbackup.repository.manifest import ErrorKind, FilesEntry, Manifest, ObjectEntry, ObjectState, PartInfo
from sfbackup.salesforce.arrow_types import count_deleted, schema_from_json
from sfbackup.salesforce.objects import FILE_OBJECTS, derived_sources
from sfbackup.ui.progress import NullProgress, Progress
from sfbackup.verify.findings import Finding, FindingFactory, counted, name_ids

CHUNK = 1 << 20
_HEX = frozenset("0123456789abcdef")

#: Files-index statuses for files Salesforce itself holds no body for (see export_files).
BODILESS_STATUSES: frozenset[str] = frozenset({"no_body", "unavailable"})


class RepoFiles(Protocol):
    """Read access to a repository's files by POSIX path relative to its root."""

    def describe(self) -> str:
        """Where the repository is (`/backups/acme`, `s3://bucket/prefix`)."""
        ...

    def size(self, relpath: str) -> int | None:
        """The size of the file, or None when it does not exist."""
        ...

    def open(self, relpath: str) -> BinaryIO:
        """Open for reading; FileNotFoundError when it does not exist."""
        ...

    def local_copy(self, relpath: str) -> AbstractContextManager[Path]:
        """A local file with the content for the `with` block (the file itself, or a temporary
        copy of a remote one, removed afterwards): Parquet readers need to seek."""
        ...


def parse_subset(text: str) -> tuple[int, int]:
    """`"3/7"` -> (3, 7); UsageError unless 1 <= n <= t."""
    try:
        n_text, t_text = text.split("/")
        n, t = int(n_text), int(t_text)
    except ValueError:
        raise UsageError(
            f"--read-data-subset {text!r} is not of the form n/t", hint="e.g. --read-data-subset 1/7"
        ) from None
    if t < 1 or not 1 <= n <= t:
        raise UsageError(
            f"--read-data-subset {text!r}: n must be between 1 and t",
            hint="run 1/t, 2/t ... t/t on successive days to read everything once",
        )
    return n, t


def in_subset(sha256: str, subset: tuple[int, int] | None) -> bool:
    """Whether a part or blob with this SHA-256 is read under `subset` (all of them when None)."""
    if subset is None:
        return True
    n, t = subset
    return int(sha256[:8], 16) % t == n - 1


def blob_relpath(sha256: str) -> str:
    return f"blobs/sha256/{sha256[:2]}/{sha256}"


@dataclass
class ObjectCheck:
    """What the checks saw of one object (for the report)."""

    name: str
    state: str
    api: str | None
    operation: str | None
    rows: int
    deleted_rows: int
    parts: int
    bytes: int
    rows_in_files: int | None = None  # from the footers (or decoding, for CSV under read_data)
    parts_read: int = 0


@dataclass
class FilesCheck:
    """What the checks saw of one file object (for the report)."""

    name: str
    count: int
    bytes: int
    downloaded: int
    deduplicated: int
    failed: int
    missing: int
    blobs: int = 0  # distinct blobs the index names
    blobs_present: int = 0
    blobs_read: int = 0
    md5_checked: int = 0
    problems: int = 0
    no_body: int = 0  # links/URLs: Salesforce holds no body
    unavailable: int = 0  # deleted files whose body Salesforce no longer serves

    @property
    def checksum_status(self) -> str:
        if self.problems:
            return "FAILED"
        if self.blobs_read == 0:
            return "sizes checked"
        if self.blobs_read < self.blobs:
            return f"{self.blobs_read} of {self.blobs} re-hashed, all match"
        return "all re-hashed, all match"


@dataclass
class CheckResult:
    findings: list[Finding] = field(default_factory=list)
    objects: dict[str, ObjectCheck] = field(default_factory=dict)
    files: dict[str, FilesCheck] = field(default_factory=dict)


def check_snapshot(
    manifest: Manifest,
    files: RepoFiles,
    finding: FindingFactory,
    *,
    read_data: bool = False,
    subset: tuple[int, int] | None = None,
    progress: Progress | None = None,
) -> CheckResult:
    """Run the structural checks (and `read_data` checks) of one snapshot; never raises on damage."""
    checker = _Checker(manifest, files, finding, read_data or subset is not None, subset, progress)
    return checker.run()


class _Checker:
    def __init__(
        self,
        manifest: Manifest,
        files: RepoFiles,
        finding: FindingFactory,
        read_data: bool,
        subset: tuple[int, int] | None,
        progress: Progress | None,
    ) -> None:
        self.manifest = manifest
        self.files = files
        self.f = finding
        self.read_data = read_data
        self.subset = subset
        self.progress = progress or NullProgress()
        self.base = f"snapshots/{manifest.snapshot_id}/"
        self.result = CheckResult()

    def add(self, kind: str, explanation: str, **where: Any) -> None:
        self.result.findings.append(self.f(kind, explanation, **where))

    def check_derived(self, name: str, why: str) -> None:
        """An object Salesforce computes from others (UserRecordAccess from sharing): explained when
        the snapshot holds every source the org lists, a warning naming the missing ones otherwise."""
        listed = {c.object for c in self.manifest.coverage} | set(self.manifest.objects)
        sources = derived_sources(name, listed)
        missing = [s for s in sources
                   if (e := self.manifest.objects.get(s)) is None or e.state != ObjectState.DONE]  # fmt: skip
        if missing:
            shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
            self.add("derived_sources_missing", f"{name} is not exported, and the snapshot lacks "
                     f"{len(missing)} of the {len(sources)} objects it is computed from ({shown}); {why}",
                     object=name, expected=len(sources), actual=missing)  # fmt: skip
        else:
            self.add("object_derived", f"{name} is not exported: the snapshot holds all {len(sources)} "
                     f"objects it is computed from; {why}", object=name, actual=len(sources))  # fmt: skip

    def run(self) -> CheckResult:
        for name in sorted(self.manifest.objects):
            self.check_object(name, self.manifest.objects[name])
        for name in sorted(self.manifest.files):
            self.check_files(name, self.manifest.files[name])
        for name, done in sorted(self.manifest.objects.items()):
            if done.state == ObjectState.DONE and isinstance(done.extra.get("binaries"), dict):
                self.check_binaries(name, done.extra["binaries"])
        for name in FILE_OBJECTS:
            entry = self.manifest.objects.get(name)
            wanted = self.manifest.settings.get("files") is not False
            exported = entry is not None and entry.state == ObjectState.DONE and entry.rows > 0
            if wanted and exported and entry and name not in self.manifest.files:
                self.add("files_missing", f"the manifest holds {entry.rows} {name} records but no files "
                         f"index: their bodies were not exported", object=name, expected=entry.rows,
                         actual=0)  # fmt: skip
        return self.result

    # --- records ------------------------------------------------------------------------------

    def check_object(self, name: str, entry: ObjectEntry) -> None:
        status = ObjectCheck(
            name,
            entry.state,
            entry.api,
            entry.operation,
            entry.rows,
            entry.deleted_rows,
            len(entry.parts),
            sum(p.bytes for p in entry.parts),
        )
        self.result.objects[name] = status
        if entry.state == ObjectState.FAILED:
            error = entry.error
            reason = (
                f"{error.code or 'error'}: {error.message or 'no message recorded'}"
                if error
                else ("error: no message recorded")
            )
            self.add("object_failed",
                     f"the export of {name} failed ({reason}); its records are not (all) in this snapshot",
                     object=name, expected="done", actual="failed")  # fmt: skip
            return
        if entry.state in (ObjectState.PENDING, ObjectState.RUNNING):
            self.add("object_pending", f"the export of {name} did not finish (state "
                     f"{entry.state}); {entry.rows} rows were saved so far", object=name, expected="done",
                     actual=entry.state)  # fmt: skip
        elif entry.state == ObjectState.SKIPPED:
            error = entry.error
            if error is not None and error.kind == ErrorKind.BLOCKED:
                words = error.message if error.code in error.message else f"{error.code}: {error.message}"
                self.add("object_blocked", f"{name} is not in this snapshot: Salesforce serves it only with "
                         f"another query or permission ({words})", object=name,
                         expected="done", actual="skipped")  # fmt: skip
            elif error is not None and error.kind == ErrorKind.DERIVED:
                self.check_derived(name, error.message)
            elif error is not None and error.kind == ErrorKind.UNSUPPORTED:
                self.add("not_exportable", f"Salesforce refuses to let any API client query {name} "
                         f"this way ({error.code}: {error.message})", object=name,
                         expected="done", actual="skipped")  # fmt: skip
            else:
                self.add("object_skipped", f"{name} was skipped; its records are not in this snapshot",
                         object=name, expected="done", actual="skipped")  # fmt: skip
            return
        if entry.schema_path and self.files.size(self.base + entry.schema_path) is None:
            self.add("missing_schema", f"the saved schema of {name} is missing", object=name,
                     path=entry.schema_path)  # fmt: skip
        elif entry.schema_path and entry.schema_sha256 and self.read_data:
            actual = self._sha256(self.base + entry.schema_path)
            if actual != entry.schema_sha256:
                self.add("schema_damaged", f"the saved schema of {name} has SHA-256 {actual}, the manifest "
                         f"recorded {entry.schema_sha256}: its parts cannot be read back typed",
                         object=name, path=entry.schema_path, expected=entry.schema_sha256,
                         actual=actual)  # fmt: skip
        schema = self._schema(entry) if self.read_data else None
        rows_seen = 0
        counted_all = True
        deleted_seen: int | None = 0
        for part in entry.parts:
            rows, deleted = self.check_part(name, entry, part, schema)
            if rows is None:
                counted_all = False
            else:
                rows_seen += rows
            deleted_seen = None if deleted is None or deleted_seen is None else deleted_seen + deleted
        parts_total = sum(p.rows for p in entry.parts)
        if parts_total != entry.rows:
            self.add("row_count_mismatch",
                     f"the manifest says {name} has {entry.rows} rows, but its parts list {parts_total}",
                     object=name, expected=entry.rows, actual=parts_total)  # fmt: skip
        if counted_all:
            status.rows_in_files = rows_seen
        if (
            self.read_data
            and self.subset is None
            and counted_all
            and deleted_seen is not None
            and entry.state == ObjectState.DONE
            and deleted_seen != entry.deleted_rows
        ):
            self.add("deleted_count_mismatch", f"the manifest says {name} has {entry.deleted_rows} "
                     f"deleted rows, the parts hold {deleted_seen}", object=name,
                     expected=entry.deleted_rows, actual=deleted_seen)  # fmt: skip

    def check_part(
        self, name: str, entry: ObjectEntry, part: PartInfo, schema: pa.Schema | None
    ) -> tuple[int | None, int | None]:
        """(rows found, deleted rows found) of one part; None where they could not be counted."""
        relpath = self.base + part.path
        size = self.files.size(relpath)
        if size is None:
            self.add("missing_part", f"part {part.path} of {name} ({part.rows} rows) is missing",
                     object=name, path=part.path, expected=part.bytes, actual=None)  # fmt: skip
            return None, None
        if size != part.bytes:
            self.add("part_size_mismatch",
                     f"part {part.path} of {name} is {size} bytes, the manifest recorded {part.bytes}",
                     object=name, path=part.path, expected=part.bytes, actual=size)  # fmt: skip
        read = self.read_data and in_subset(part.sha256, self.subset)
        if read:
            self.result.objects[name].parts_read += 1
            actual = self._sha256(relpath)
            if actual != part.sha256:
                self.add(
                    "part_checksum_mismatch",
                    f"part {part.path} of {name} has SHA-256 {actual}, the manifest recorded {part.sha256}",
                    object=name,
                    path=part.path,
                    expected=part.sha256,
                    actual=actual,
                )
        rows, deleted, error = self._count_rows(relpath, entry.format, schema if read else None, decode=read)
        if error is not None:
            self.add("part_undecodable", f"part {part.path} of {name} cannot be read: {error}",
                     object=name, path=part.path)  # fmt: skip
            return None, None
        if rows is not None and rows != part.rows:
            self.add("row_count_mismatch",
                     f"part {part.path} of {name} holds {rows} rows, the manifest recorded {part.rows}",
                     object=name, path=part.path, expected=part.rows, actual=rows)  # fmt: skip
        return (rows if rows is not None else None), deleted

    def _count_rows(
        self, relpath: str, fmt: str, schema: pa.Schema | None, *, decode: bool
    ) -> tuple[int | None, int | None, str | None]:
        """(rows, deleted rows, error). Structural: Parquet footer only; decode: every value."""
        try:
            if fmt == "parquet":
                with self.files.local_copy(relpath) as local:
                    parquet = pq.ParquetFile(local)
                    footer_rows = parquet.metadata.num_rows
                    if not decode:
                        return footer_rows, None, None
                    rows = 0
                    deleted = 0
                    for batch in parquet.iter_batches(batch_size=65536):
                        rows += batch.num_rows
                        deleted += count_deleted(batch)
                    if rows != footer_rows:
                        return None, None, f"the footer says {footer_rows} rows, decoding found {rows}"
                    return rows, deleted, None
            if not decode or schema is None:
                return None, None, None  # CSV has no footer: rows are counted under --read-data
            from sfbackup.repository.writers import read_csv_part

            with self.files.local_copy(relpath) as local:
                table = read_csv_part(local, schema)
            return table.num_rows, count_deleted(table), None
        except FileNotFoundError:
            return None, None, "the file disappeared while it was read"
        except (pa.ArrowException, OSError, ValueError) as exc:
            return None, None, str(exc)[:300]

    def _schema(self, entry: ObjectEntry) -> pa.Schema | None:
        if not entry.schema_path:
            return None
        try:
            with self.files.open(self.base + entry.schema_path) as handle:
                document = json.loads(handle.read())
            return schema_from_json(document["arrow_schema"])
        except (OSError, ValueError, KeyError, TypeError):
            return None  # reported as missing_schema, or the part fails to decode

    # --- files --------------------------------------------------------------------------------

    def check_files(self, name: str, entry: FilesEntry) -> None:
        status = FilesCheck(
            name,
            entry.count,
            entry.bytes,
            entry.downloaded,
            entry.deduplicated,
            len(entry.failed),
            len(entry.missing),
        )
        self.result.files[name] = status
        if entry.failed or entry.missing:
            ids = [str(item.get("id")) for item in entry.failed] + list(entry.missing)
            self.add("files_missing", f"{len(ids)} {name} file bodies are not in the backup "
                     f"({len(entry.failed)} failed, {len(entry.missing)} not downloaded yet): "
                     f"{name_ids(ids)}", object=name, expected=0, actual=ids[:10_000])  # fmt: skip
        table = self._read_index(name, entry)
        if table is None:
            return
        self._check_index_totals(name, entry, table)
        listed = set(str(item.get("id")) for item in entry.failed) | set(entry.missing)
        rows = table.select(
            [c for c in ("Id", "Size", "SalesforceChecksum", "sha256", "status") if c in table.column_names]
        ).to_pylist()
        no_body = [str(r.get("Id")) for r in rows if r.get("status") == "no_body"]
        if no_body:
            have = "has" if len(no_body) == 1 else "have"
            self.add("files_without_body", f"{counted(len(no_body), name + ' file')} {have} no body in "
                     f"Salesforce (links or URLs only): {name_ids(no_body)}", object=name,
                     path=entry.index_path, actual=no_body[:10_000])  # fmt: skip
        unavailable = [str(r.get("Id")) for r in rows if r.get("status") == "unavailable"]
        status.no_body, status.unavailable = len(no_body), len(unavailable)
        if unavailable:
            held = (
                "is in the backup without its body"
                if len(unavailable) == 1
                else ("are in the backup without their bodies")
            )
            self.add("file_body_unavailable", f"{counted(len(unavailable), name + ' file')} in Salesforce's "
                     f"Recycle Bin {held}, which Salesforce no longer serves: {name_ids(unavailable)}",
                     object=name, path=entry.index_path, actual=unavailable[:10_000])  # fmt: skip
        unlisted = [
            str(r.get("Id"))
            for r in rows
            if not r.get("sha256")
            and str(r.get("Id")) not in listed
            and r.get("status") not in BODILESS_STATUSES
        ]
        if unlisted:
            self.add(
                "files_missing",
                f"{len(unlisted)} {name} rows of the files index have no stored body: {name_ids(unlisted)}",
                object=name,
                path=entry.index_path,
                expected=0,
                actual=unlisted[:10_000],
            )
        blobs: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            digest = row.get("sha256")
            if digest:
                blobs.setdefault(str(digest), []).append(row)
        status.blobs = len(blobs)
        bytes_read = 0
        for count, (digest, owners) in enumerate(sorted(blobs.items()), start=1):
            read_before = status.blobs_read
            self.check_blob(name, digest, owners, status)
            if status.blobs_read > read_before:
                bytes_read += int(owners[0].get("Size") or 0)
            self.progress.transfer(f"{name} bodies", count, len(blobs), bytes_read)
        status.problems = sum(1 for x in self.result.findings if x.object == name and x.kind in _BLOB_KINDS)

    def _read_index(self, name: str, entry: FilesEntry) -> pa.Table | None:
        if not entry.index_path:
            if entry.count:
                self.add(
                    "missing_index",
                    f"the manifest lists {entry.count} {name} files but no files index",
                    object=name,
                )
            return None
        relpath = self.base + entry.index_path
        size = self.files.size(relpath)
        if size is None:
            self.add("missing_index", f"the files index {entry.index_path} of {name} is missing",
                     object=name, path=entry.index_path)  # fmt: skip
            return None
        if size != entry.index_bytes:
            self.add("index_mismatch",
                     f"the files index of {name} is {size} bytes, the manifest recorded {entry.index_bytes}",
                     object=name, path=entry.index_path, expected=entry.index_bytes, actual=size)  # fmt: skip
        if entry.index_sha256:
            actual = self._sha256(relpath)
            if actual != entry.index_sha256:
                self.add("index_mismatch", f"the files index of {name} has SHA-256 {actual}, the "
                         f"manifest recorded {entry.index_sha256}", object=name, path=entry.index_path,
                         expected=entry.index_sha256, actual=actual)  # fmt: skip
        try:
            with self.files.local_copy(relpath) as local:
                return pq.read_table(local)
        except (pa.ArrowException, OSError, ValueError) as exc:
            self.add("part_undecodable", f"the files index of {name} cannot be read: {str(exc)[:300]}",
                     object=name, path=entry.index_path)  # fmt: skip
            return None

    def _check_index_totals(self, name: str, entry: FilesEntry, table: pa.Table) -> None:
        if table.num_rows != entry.count:
            self.add(
                "index_mismatch",
                f"the files index of {name} has {table.num_rows} rows, the manifest says {entry.count} files",
                object=name,
                path=entry.index_path,
                expected=entry.count,
                actual=table.num_rows,
            )
        if "Size" in table.column_names:
            total = int(pc.sum(table.column("Size")).as_py() or 0)
            if total != entry.bytes:
                self.add(
                    "index_mismatch",
                    f"the files index of {name} adds up to {total} bytes, the manifest says {entry.bytes}",
                    object=name,
                    path=entry.index_path,
                    expected=entry.bytes,
                    actual=total,
                )

    def check_binaries(self, name: str, saved: dict[str, Any]) -> None:
        """An object's base64 bodies and rich-text images: the index, and every blob it names."""
        relpath = self.base + str(saved.get("index_path") or "")
        if not saved.get("index_path") or self.files.size(relpath) is None:
            self.add("missing_index", f"the binaries index of {name} is missing", object=name,
                     path=saved.get("index_path"))  # fmt: skip
            return
        recorded = saved.get("index_sha256")
        if recorded:  # snapshots written before it was recorded have only the count to go on
            actual = self._sha256(relpath)
            if actual != recorded:
                self.add("index_mismatch", f"the binaries index of {name} has SHA-256 {actual}, the "
                         f"manifest recorded {recorded}", object=name, path=saved.get("index_path"),
                         expected=recorded, actual=actual)  # fmt: skip
        with self.files.local_copy(relpath) as local:
            rows = pq.read_table(local).to_pylist()
        downloaded = [r for r in rows if r.get("status") in ("downloaded", "deduplicated")]
        if len(downloaded) != int(saved.get("count") or 0):
            self.add("index_mismatch", f"the binaries index of {name} lists {len(downloaded)} bodies, the "
                     f"manifest says {saved.get('count')}", object=name, path=saved.get("index_path"),
                     expected=saved.get("count"), actual=len(downloaded))  # fmt: skip
        status = FilesCheck(name, len(rows), int(saved.get("bytes") or 0), len(downloaded), 0, 0, 0)
        for row in downloaded:
            self.check_blob(name, str(row.get("sha256") or ""), [row], status)

    def check_blob(self, name: str, digest: str, owners: list[dict[str, Any]], status: FilesCheck) -> None:
        ids = [str(o.get("Id")) for o in owners]
        if len(digest) != 64 or not set(digest) <= _HEX:
            self.add("index_mismatch",
                     f"the files index of {name} names {digest!r}, not a SHA-256 (files {name_ids(ids)})",
                     object=name)  # fmt: skip
            return
        relpath = blob_relpath(digest)
        size = self.files.size(relpath)
        if size is None:
            self.add("missing_blob", f"the body of {name} {name_ids(ids)} (blob {digest}) is missing",
                     object=name, path=relpath, expected=owners[0].get("Size"), actual=None)  # fmt: skip
            return
        status.blobs_present += 1
        expected_size = owners[0].get("Size")
        if expected_size is not None and size != int(expected_size):
            self.add("blob_size_mismatch",
                     f"the body of {name} {name_ids(ids)} is {size} bytes, Salesforce said {expected_size}",
                     object=name, path=relpath, expected=int(expected_size), actual=size)  # fmt: skip
        if not (self.read_data and in_subset(digest, self.subset)):
            return
        sha, md5 = self._digests(relpath)
        status.blobs_read += 1
        if sha != digest:
            self.add("blob_checksum_mismatch",
                     f"the body of {name} {name_ids(ids)} has SHA-256 {sha}, its name says {digest}",
                     object=name, path=relpath, expected=digest, actual=sha)  # fmt: skip
        checksums = {str(o["SalesforceChecksum"]).lower() for o in owners if o.get("SalesforceChecksum")}
        if checksums:
            status.md5_checked += 1
            if md5 not in checksums:
                self.add("salesforce_checksum_mismatch", f"the body of {name} {name_ids(ids)} has "
                         f"MD5 {md5}, Salesforce's Checksum is {', '.join(sorted(checksums))}",
                         object=name, path=relpath, expected=sorted(checksums), actual=md5)  # fmt: skip

    # --- hashing ------------------------------------------------------------------------------

    def _chunks(self, relpath: str) -> Iterator[bytes]:
        with self.files.open(relpath) as handle:
            while chunk := handle.read(CHUNK):
                yield chunk

    def _sha256(self, relpath: str) -> str | None:
        digest = hashlib.sha256()
        try:
            for chunk in self._chunks(relpath):
                digest.update(chunk)
        except FileNotFoundError:
            return None
        return digest.hexdigest()

    def _digests(self, relpath: str) -> tuple[str | None, str | None]:
        sha = hashlib.sha256()
        md5 = hashlib.md5(usedforsecurity=False)
        try:
            for chunk in self._chunks(relpath):
                sha.update(chunk)
                md5.update(chunk)
        except FileNotFoundError:
            return None, None
        return sha.hexdigest(), md5.hexdigest()


_BLOB_KINDS = frozenset(
    {
        "missing_blob",
        "blob_size_mismatch",
        "blob_checksum_mismatch",
        "salesforce_checksum_mismatch",
        "index_mismatch",
    }
)

"""`sfbackup upload`: mirror one snapshot of a local repository to S3, resumably, manifest last.

The bucket gets the repository layout under the prefix: blobs and parts first, then files
indexes, schemas and reports, then `manifest.json`, so a reader of the bucket never sees a
manifest whose data is not there yet. An object already in the bucket with the same size and
SHA-256 is skipped: a rerun sends nothing, a nightly run sends only new blobs. The SHA-256 is
known from the upload ledger for an object listed unchanged since an earlier upload proved it
(`upload_ledger`), else from our `sha256` metadata (one HEAD). Afterwards the prefix is listed
and compared with the snapshot, and the result is recorded in
`snapshots/<id>/uploads/<bucket>-<prefix-hash>.json` beside the (immutable) manifest.

`archive=True` sends one streamed `archives/<snapshot-id>.tar.gz` instead (tar -> gzip -> a
multipart upload through a bounded queue; nothing is staged on disk), plus `<name>.sha256`.
"""

from __future__ import annotations

import hashlib
import json
import queue
import tarfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sfbackup.clock import format_time, utc_now
from sfbackup.config import S3Settings
from sfbackup.errors import RepositoryError, SnapshotNotFound, StorageError, UsageError
from sfbackup.maintain.repair import blob_owners
from sfbackup.maintain.upload_ledger import Proved, load_ledger, save_ledger
from sfbackup.repository import Repository, Snapshot, layout
from sfbackup.repository.atomic import is_temporary, write_atomic
from sfbackup.repository.store import ObjectInfo, RequestCounts, S3Store, Store, s3_store, sha256_file
from sfbackup.ui.progress import NullProgress, Progress
from sfbackup.ui.rates import human_size

UPLOADS_DIR = "uploads"
DEFAULT_CONCURRENCY = 8


@dataclass(frozen=True)
class UploadItem:
    """One local file and the key it gets in the bucket."""

    key: str
    path: Path
    size: int
    sha256: str | None  # known from the manifest or the blob's name; else hashed when needed


@dataclass
class UploadResult:
    """What `upload_snapshot` did, as recorded in `snapshots/<id>/uploads/<bucket>-<hash>.json`."""

    snapshot_id: str
    bucket: str
    prefix: str
    endpoint_url: str | None
    mode: str  # "mirror" | "archive"
    objects: int = 0
    uploaded: int = 0
    skipped: int = 0
    bytes_total: int = 0
    bytes_uploaded: int = 0
    verified: bool = False
    missing: list[str] = field(default_factory=list)
    archive_key: str | None = None
    archive_sha256: str | None = None
    started_at: str = ""
    finished_at: str = ""
    seconds: float = 0.0
    record_path: str | None = None
    #: S3 requests sent, by operation (ListObjectsV2, HeadObject, PutObject, GetObject...)
    requests: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def upload_snapshot(
    repo_path: str | Path,
    snapshot_id: str,
    s3: S3Settings,
    *,
    force: bool = False,
    archive: bool = False,
    progress: Progress | None = None,
    store: Store | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> UploadResult:
    """Upload snapshot `snapshot_id` (or `latest`: the newest complete one) of the repository at
    `repo_path` to the bucket in `s3`. Only `complete` snapshots upload unless `force`.

    `store` replaces the S3Store built from `s3` (tests inject failures at this seam).
    Raises StorageError naming bucket, key and endpoint when S3 refuses; a rerun resumes.
    """
    progress = progress or NullProgress()
    repository = Repository.open(repo_path)
    if not repository.is_local:
        raise UsageError(
            f"upload copies a snapshot of a local repository to S3; {repository.store.describe()} "
            "is already in S3",
            hint="pass the local repository folder as --repo, and the bucket as --bucket/--prefix",
        )
    snapshot = _pick_snapshot(repository, snapshot_id, force=force)
    target = store if store is not None else s3_store(s3)
    bucket = target.bucket if isinstance(target, S3Store) else (s3.bucket or "")
    prefix = target.prefix if isinstance(target, S3Store) else s3.prefix.strip("/")
    result = UploadResult(
        snapshot_id=snapshot.id,
        bucket=bucket,
        prefix=prefix,
        endpoint_url=s3.endpoint_url,
        mode="archive" if archive else "mirror",
        started_at=format_time(utc_now()),
    )
    started = time.monotonic()
    counts = getattr(target, "requests", None)
    before = counts.snapshot() if isinstance(counts, RequestCounts) else {}
    with repository.lock(exclusive=False, command="sfbackup upload"):
        _check_bucket_repository(repository, target)
        with Repository.open(target).lock(exclusive=False, command="sfbackup upload"):
            if archive:
                _upload_archive(repository, snapshot, target, result, progress)
            else:
                _upload_mirror(repository, snapshot, target, result, progress, concurrency)
    if isinstance(counts, RequestCounts):
        result.requests = RequestCounts.since(before, counts.snapshot())
    result.finished_at = format_time(utc_now())
    result.seconds = round(time.monotonic() - started, 3)
    suffix = "-archive" if archive else ""
    record = snapshot.path / UPLOADS_DIR / f"{_safe_name(bucket)}-{prefix_hash(prefix)}{suffix}.json"
    result.record_path = str(record)
    write_atomic(record, (json.dumps(result.to_dict(), indent=2) + "\n").encode())
    progress.message(
        "info" if result.verified else "error",
        f"upload of {snapshot.id} to s3://{bucket}/{prefix}: {result.uploaded} sent, "
        f"{result.skipped} already there, {'verified' if result.verified else 'NOT verified'}, "
        f"{describe_requests(result.requests)}",
        uploaded=result.uploaded,
        skipped=result.skipped,
        requests=result.requests,
    )
    return result


def describe_requests(requests: dict[str, int]) -> str:
    """`14 S3 requests (ListObjectsV2 11, GetObject 2, PutObject 1)`, largest first."""
    parts = ", ".join(f"{kind} {n}" for kind, n in sorted(requests.items(), key=lambda kv: (-kv[1], kv[0])))
    return f"{sum(requests.values())} S3 requests" + (f" ({parts})" if parts else "")


def prefix_hash(prefix: str) -> str:
    """The 12 hex digits that name a prefix in upload records."""
    return hashlib.sha256(prefix.strip("/").encode()).hexdigest()[:12]


def _safe_name(bucket: str) -> str:
    return "".join(c if c.isalnum() or c in "-._" else "_" for c in bucket) or "bucket"


def _pick_snapshot(repository: Repository, snapshot_id: str, *, force: bool) -> Snapshot:
    if snapshot_id == "latest":
        found = repository.latest(None if force else "complete")
        if found is None:
            raise SnapshotNotFound(
                f"repository {repository.path} has no {'' if force else 'complete '}snapshot to upload",
                hint="run `sfbackup run` and `sfbackup verify`, or pass --force to upload it unverified",
            )
        return found
    snapshot = repository.snapshot(snapshot_id)
    if snapshot.manifest.status != "complete" and not force:
        raise UsageError(
            f"snapshot {snapshot.id} is {snapshot.manifest.status}, not complete; only verified "
            "snapshots whose last full check passed are uploaded",
            hint=f"run `sfbackup verify {snapshot.id} --repo {repository.path}` first, or pass --force",
        )
    return snapshot


def _check_bucket_repository(repository: Repository, target: Store) -> None:
    """Refuse to mix two repositories under one prefix; write `repository.json` when absent
    (before the bucket's lock can be taken: the lock belongs to the repository there)."""
    marker = repository.path / layout.REPOSITORY_FILE
    if not target.exists(layout.REPOSITORY_FILE):
        target.put_file(layout.REPOSITORY_FILE, marker)
        return
    with target.open(layout.REPOSITORY_FILE) as handle:
        try:
            remote = json.loads(handle.read())
        except ValueError:
            remote = {}
    theirs = remote.get("repository_id") if isinstance(remote, dict) else None
    if theirs and repository.repository_id and theirs != repository.repository_id:
        raise UsageError(
            f"{target.describe()} already holds another repository (id {theirs}); this one is "
            f"{repository.repository_id}",
            hint="give each repository its own --prefix",
        )


# --- what a snapshot consists of ----------------------------------------------------------------


def snapshot_items(
    repository: Repository, snapshot: Snapshot
) -> tuple[list[UploadItem], list[UploadItem], UploadItem]:
    """(blobs + parts, indexes + schemas + reports, manifest): the three upload phases, in order."""
    base = f"{layout.SNAPSHOTS_DIR}/{snapshot.id}"
    manifest = snapshot.manifest
    data: list[UploadItem] = []
    for entry in manifest.objects.values():
        for part in entry.parts:
            data.append(_item(f"{base}/{part.path}", snapshot.resolve(part.path), part.sha256))
    for digest in sorted(referenced_blobs(snapshot)):
        data.append(
            _item(f"{layout.BLOBS_DIR}/sha256/{digest[:2]}/{digest}", repository.blobs.path(digest), digest)
        )
    named = {f"{base}/{part.path}" for e in manifest.objects.values() for part in e.parts}
    index_sha = {f.index_path: f.index_sha256 for f in manifest.files.values() if f.index_path}
    if manifest.metadata is not None and manifest.metadata.index_path:
        index_sha[manifest.metadata.index_path] = manifest.metadata.index_sha256
    metadata: list[UploadItem] = []
    for path in sorted(p for p in snapshot.path.rglob("*") if p.is_file()):
        relative = path.relative_to(snapshot.path).as_posix()
        key = f"{base}/{relative}"
        first = relative.split("/", 1)[0]
        if (
            key in named
            or relative == layout.MANIFEST_FILE
            or first == UPLOADS_DIR
            or is_temporary(path.name)
        ):
            continue
        metadata.append(_item(key, path, index_sha.get(relative)))
    manifest_path = snapshot.path / layout.MANIFEST_FILE
    return data, metadata, _item(f"{base}/{layout.MANIFEST_FILE}", manifest_path, None)


def referenced_blobs(snapshot: Snapshot) -> set[str]:
    """SHA-256s of every blob the snapshot's files, binaries and metadata indexes name."""
    return set(blob_owners(snapshot))


def _item(key: str, path: Path, sha256: str | None) -> UploadItem:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise RepositoryError(
            f"{path} is named by the snapshot but missing locally; nothing was uploaded from it",
            hint="run `sfbackup verify --repo <repository>` to see what is damaged",
            path=str(path),
        ) from None
    return UploadItem(key, path, size, sha256)


# --- mirror -------------------------------------------------------------------------------------


def _upload_mirror(
    repository: Repository,
    snapshot: Snapshot,
    target: Store,
    result: UploadResult,
    progress: Progress,
    concurrency: int,
) -> None:
    data, metadata, manifest = snapshot_items(repository, snapshot)
    everything = [*data, *metadata, manifest]
    result.objects = len(everything)
    result.bytes_total = sum(item.size for item in everything)
    where = f"s3://{result.bucket}/{result.prefix}".rstrip("/")
    progress.phase("list", f"listing what {where} already holds")
    remote = _remote_listing(target, snapshot.id)
    ledger, problem = load_ledger(target)
    if problem:
        progress.message("warning", problem)
    known = _Known(remote, ledger, {})
    counter = _Counter(progress, len(everything))
    phases = (
        ("data", data, f"{len(data)} file bodies and record parts"),
        ("metadata", metadata, f"{len(metadata)} files indexes, schemas and reports"),
        ("manifest", [manifest], "manifest.json, last"),
    )
    for name, items, what in phases:  # each phase is complete before the next starts
        progress.phase(name, f"{what} ({human_size(sum(item.size for item in items))})")
        _run_phase(items, target, known, result, counter, concurrency)
    progress.phase("check", f"every object of the snapshot is in {where} with its size")
    after = _remote_listing(target, snapshot.id)
    result.missing = [item.key for item in everything if _size(after.get(item.key)) != item.size]
    result.verified = not result.missing
    kept = {key: entry for key, entry in ledger.items() if key.startswith(f"{layout.BLOBS_DIR}/")}
    kept.update(known.proved)  # blobs other snapshots name stay proved while the listing shows them unchanged
    entries = {key: entry for key, entry in kept.items() if _unchanged(after.get(key), entry)}
    if entries != ledger:
        try:
            save_ledger(target, entries)
        except StorageError as exc:  # the snapshot is there and checked; the next upload HEADs more
            progress.message("warning", f"the upload ledger was not saved: {exc.message}")


def _remote_listing(target: Store, snapshot_id: str) -> dict[str, ObjectInfo]:
    """Every blob of the bucket and every object of this snapshot there, by key (one listing)."""
    found: dict[str, ObjectInfo] = {}
    for prefix in (f"{layout.BLOBS_DIR}/sha256/", f"{layout.SNAPSHOTS_DIR}/{snapshot_id}/"):
        found.update((info.key, info) for info in target.list(prefix))
    return found


def _size(info: ObjectInfo | None) -> int | None:
    return None if info is None else info.size


def _unchanged(listed: ObjectInfo | None, entry: Proved) -> bool:
    """The listed object is the one `entry` proved: same size, same ETag."""
    return listed is not None and listed.size == entry.size and listed.etag == entry.etag


@dataclass
class _Known:
    """What the upload knows of the bucket: its listing, the ledger read, and what it proves now."""

    remote: dict[str, ObjectInfo]
    ledger: dict[str, Proved]
    proved: dict[str, Proved]
    lock: threading.Lock = field(default_factory=threading.Lock)

    def prove(self, key: str, size: int, etag: str | None, sha256: str) -> None:
        if etag:
            with self.lock:
                self.proved[key] = Proved(size, etag, sha256)


class _Counter:
    """Thread-safe totals for progress events."""

    def __init__(self, progress: Progress, total: int) -> None:
        self.progress = progress
        self.total = total
        self.done = 0
        self.bytes = 0
        self.lock = threading.Lock()

    def add(self, size: int) -> None:
        with self.lock:
            self.done += 1
            self.bytes += size
            done, sent = self.done, self.bytes
        self.progress.transfer("upload", done, self.total, sent)


def _run_phase(
    items: list[UploadItem],
    target: Store,
    known: _Known,
    result: UploadResult,
    counter: _Counter,
    concurrency: int,
) -> None:
    lock = threading.Lock()

    def one(item: UploadItem) -> None:
        sent = _upload_one(item, target, known)
        with lock:
            if sent:
                result.uploaded += 1
                result.bytes_uploaded += item.size
            else:
                result.skipped += 1
        counter.add(item.size if sent else 0)

    if not items:
        return
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="sfbackup-upload")
    futures = [pool.submit(one, item) for item in items]
    try:
        done, _pending = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f.exception() for f in done if f.exception() is not None]
        if failed:
            assert failed[0] is not None
            raise failed[0]
    finally:
        # On a failure or Ctrl-C, queued uploads are dropped; running ones finish their object.
        for future in futures:
            future.cancel()
        pool.shutdown(wait=True)


def _upload_one(item: UploadItem, target: Store, known: _Known) -> bool:
    """Send `item` unless the bucket already has it with the same size and SHA-256: proved by the
    ledger when the listing shows the object it proved (no request), else by a HEAD (metadata)."""
    listed = known.remote.get(item.key)
    if listed is not None and listed.size == item.size:
        digest = item.sha256 or sha256_file(item.path)
        entry = known.ledger.get(item.key)
        if entry is not None and entry.sha256 == digest and _unchanged(listed, entry):
            known.prove(item.key, entry.size, entry.etag, digest)
            return False
        stat = target.stat(item.key)
        if stat is not None and stat.size == item.size and stat.sha256 == digest:
            known.prove(item.key, stat.size, stat.etag, digest)
            return False
    # What is sent is hashed as it is on disk: a damaged local copy must never reach the bucket
    # with the checksum of the good one (its name, or the manifest's).
    actual = sha256_file(item.path)
    if item.sha256 is not None and actual != item.sha256:
        raise StorageError(
            f"{item.path} is damaged: its bytes hash to {actual}, not to the {item.sha256} it should "
            "have; it was not uploaded",
            hint="run `sfbackup repair --all --from-org` (or --from-s3 with another mirror) to mend it; "
            "`sfbackup verify --read-data` shows which snapshots it affects",
            path=str(item.path),
        )
    sent = target.put_file(item.key, item.path, sha256=actual)
    etag = sent.etag
    if etag is None:  # a multipart upload answers no ETag; the object's metadata proves what it holds
        stat = target.stat(item.key)
        etag = stat.etag if stat is not None and stat.sha256 == actual else None
    known.prove(item.key, sent.size, etag, actual)
    return True


# --- archive ------------------------------------------------------------------------------------


def _upload_archive(
    repository: Repository, snapshot: Snapshot, target: Store, result: UploadResult, progress: Progress
) -> None:
    key = layout.archive_key(snapshot.id)
    sidecar = f"{key}.sha256"
    data, metadata, manifest = snapshot_items(repository, snapshot)
    members = [
        (layout.REPOSITORY_FILE, repository.path / layout.REPOSITORY_FILE),
        *((item.key, item.path) for item in (*data, *metadata, manifest)),
    ]
    result.archive_key = key
    result.objects = 1
    result.bytes_total = sum(path.stat().st_size for _name, path in members)
    existing = target.stat(key)
    if existing is not None and target.exists(sidecar):
        # the sidecar is written only after the archive arrived whole
        with target.open(sidecar) as handle:
            result.archive_sha256 = handle.read().decode().split()[0]
        result.skipped = 1
        result.verified = True
        return
    progress.phase("archive", f"{len(members)} files as one stream to {target.describe(key)}")
    stream = _TarStream(members)
    info = target.put_stream(key, stream.chunks())
    result.archive_sha256 = info.sha256
    target.put_stream(sidecar, [f"{info.sha256}  {snapshot.id}.tar.gz\n".encode()])
    result.uploaded = 1
    result.bytes_uploaded = info.size
    progress.transfer("upload", 1, 1, info.size)
    stat = target.stat(key)
    result.verified = stat is not None and stat.size == info.size
    if not result.verified:
        result.missing = [key]


class _TarStream:
    """tar.gz of `members` produced by a thread into a bounded queue; `chunks()` yields it.

    Memory stays at `depth` chunks whatever the snapshot's size; if the consumer stops (upload
    failed), the producer is told to stop too.
    """

    _END = b""

    def __init__(self, members: list[tuple[str, Path]], *, depth: int = 16) -> None:
        self.members = members
        self.queue: queue.Queue[bytes] = queue.Queue(maxsize=depth)
        self.stopped = threading.Event()
        self.error: BaseException | None = None

    def write(self, data: bytes) -> int:
        if data:
            self._put(bytes(data))
        return len(data)

    def _put(self, data: bytes) -> None:
        while not self.stopped.is_set():
            try:
                self.queue.put(data, timeout=0.2)
                return
            except queue.Full:
                continue
        raise _Stopped

    def _produce(self) -> None:
        try:
            with tarfile.open(fileobj=self, mode="w|gz", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
                for name, path in self.members:
                    tar.add(path, arcname=name, recursive=False, filter=_normalise)
        except _Stopped:
            return
        except BaseException as exc:
            self.error = exc
        try:
            self._put(self._END)
        except _Stopped:
            return

    def chunks(self) -> Iterator[bytes]:
        producer = threading.Thread(target=self._produce, name="sfbackup-archive", daemon=True)
        producer.start()
        try:
            while True:
                chunk = self.queue.get()
                if chunk == self._END:
                    break
                yield chunk
            if self.error is not None:
                raise StorageError(f"building the archive failed: {self.error}") from self.error
        finally:
            self.stopped.set()
            producer.join()


class _Stopped(Exception):
    """The consumer of a _TarStream went away."""


def _normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info

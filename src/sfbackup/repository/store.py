"""Where a repository's files live: a local folder or an S3 prefix, behind one small protocol.

Keys are relative POSIX paths inside the store (`snapshots/<id>/manifest.json`,
`blobs/sha256/ab/ab...`), the same as the repository layout on disk. `LocalStore` writes
atomically (temporary name, fsync, rename); `S3Store` sends every object with an S3-verified
SHA-256 checksum and keeps our own SHA-256 in the object metadata (`sha256`) so a rerun can tell
an object it already sent from one that merely has the same name.

`tests/integration/test_store_suite.py` runs one conformance suite over both.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Protocol, runtime_checkable

from sfbackup.config import S3Settings
from sfbackup.errors import StorageError, UsageError
from sfbackup.repository.atomic import AtomicFile
from sfbackup.repository.layout import LOCKS_DIR

#: Part size for multipart uploads; S3's minimum is 5 MiB, 10000 parts at most (so 80 GB per object).
DEFAULT_PART_SIZE = 8 * 2**20
_CHUNK = 1 << 20
_AWS_KEY_ID = re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")


@dataclass(frozen=True)
class StatInfo:
    """Size of a stored object and, when the store knows them, its SHA-256 (hex) and its ETag
    (S3's token for this version of the object, without quotes; changes when it is rewritten)."""

    size: int
    sha256: str | None = None
    etag: str | None = None


@dataclass(frozen=True)
class ObjectInfo(StatInfo):
    """One listed object: its key, size, ETag when the store has one, and last-modified time."""

    key: str = ""
    modified: datetime | None = None


@runtime_checkable
class Store(Protocol):
    """A flat namespace of immutable-by-convention objects addressed by relative keys."""

    def describe(self, key: str = "") -> str:
        """Where `key` lives, for messages (`/backups/acme/x`, `s3://bucket/prefix/x at <endpoint>`)."""
        ...

    def put_file(self, key: str, path: str | os.PathLike[str], *, sha256: str | None = None) -> StatInfo:
        """Store the file at `path` under `key` (replacing it); `sha256` saves re-hashing it."""
        ...

    def put_stream(self, key: str, chunks: Iterable[bytes]) -> StatInfo:
        """Store the concatenation of `chunks` under `key`, streaming (memory stays flat)."""
        ...

    def open(self, key: str) -> BinaryIO:
        """A binary stream of the object; StorageError when it does not exist."""
        ...

    def stat(self, key: str) -> StatInfo | None:
        """Size (and SHA-256 when known) of `key`, or None when it does not exist."""
        ...

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object whose key starts with `prefix`, sorted by key (temporary files included)."""
        ...

    def folders(self, prefix: str) -> Iterator[str]:
        """Names of the folders directly under `prefix` (which ends with `/`), sorted; on S3 one
        listing with a delimiter (1,000 folders a request), whatever the folders hold."""
        ...

    def delete(self, key: str) -> None:
        """Remove `key`; removing a missing key is not an error."""
        ...

    def exists(self, key: str) -> bool:
        """True when `key` exists."""
        ...


def validate_key(key: str) -> str:
    """Return `key` if it is a relative POSIX path that stays inside the store, else raise."""
    pure = PurePosixPath(key)
    if not key or pure.is_absolute() or ".." in pure.parts or "\\" in key or str(pure) != key:
        raise StorageError(f"{key!r} is not a valid store key (a relative path without '..')")
    return key


def sha256_file(path: str | os.PathLike[str]) -> str:
    """SHA-256 (hex) of a local file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# Local folder


class LocalStore:
    """A store over a local folder (a repository's root)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def describe(self, key: str = "") -> str:
        return str(self.path(key)) if key else str(self.root)

    def path(self, key: str) -> Path:
        """The local file that holds `key`."""
        return self.root.joinpath(*PurePosixPath(validate_key(key)).parts)

    def put_file(self, key: str, path: str | os.PathLike[str], *, sha256: str | None = None) -> StatInfo:
        with open(path, "rb") as source:
            return self.put_stream(key, iter(lambda: source.read(_CHUNK), b""))

    def put_stream(self, key: str, chunks: Iterable[bytes]) -> StatInfo:
        digest = hashlib.sha256()
        size = 0
        try:
            with AtomicFile(self.path(key)) as target:
                for chunk in chunks:
                    digest.update(chunk)
                    size += target.write(chunk)
        finally:
            _close(chunks)
        return StatInfo(size, digest.hexdigest())

    def open(self, key: str) -> BinaryIO:
        try:
            return self.path(key).open("rb")
        except FileNotFoundError:
            raise StorageError(f"{self.describe(key)} does not exist", path=self.describe(key)) from None
        except OSError as exc:
            raise StorageError(f"cannot read {self.describe(key)}: {exc.strerror or exc}") from exc

    def stat(self, key: str) -> StatInfo | None:
        path = self.path(key)
        try:
            result = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return StatInfo(result.st_size) if path.is_file() else None

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        found: list[ObjectInfo] = []
        head = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = self.path(head) if head else self.root  # walk only the folder the prefix names
        if not start.is_dir():
            return iter(found)
        for folder, _dirs, files in os.walk(start):
            base = Path(folder).relative_to(self.root).as_posix()
            for name in files:
                key = name if base == "." else f"{base}/{name}"
                if not key.startswith(prefix):
                    continue
                try:
                    info = os.stat(os.path.join(folder, name))
                except FileNotFoundError:
                    continue  # removed while listing
                modified = datetime.fromtimestamp(info.st_mtime, UTC)
                found.append(ObjectInfo(size=info.st_size, key=key, modified=modified))
        return iter(sorted(found, key=lambda item: item.key))

    def folders(self, prefix: str) -> Iterator[str]:
        start = self.path(prefix.rstrip("/")) if prefix.strip("/") else self.root
        try:
            entries = [entry for entry in os.scandir(start) if entry.is_dir(follow_symlinks=False)]
        except (FileNotFoundError, NotADirectoryError):
            entries = []
        # As in a bucket, where a folder is the prefix of some key: an empty folder is none.
        return iter(sorted(entry.name for entry in entries if _holds_a_file(entry.path)))

    def delete(self, key: str) -> None:
        path = self.path(key)
        try:
            path.unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StorageError(f"cannot remove {path}: {exc.strerror or exc}", path=str(path)) from exc
        # Drop folders left empty, but never the root or a top-level folder (snapshots/, blobs/).
        parent = path.parent
        while len(parent.relative_to(self.root).parts) > 1:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent

    def exists(self, key: str) -> bool:
        return self.stat(key) is not None


# ---------------------------------------------------------------------------------------------
# S3 (and S3-compatible stores: MinIO, Ceph, R2)


class S3Store:
    """A store under `s3://bucket/prefix/` through a boto3 S3 client.

    Every PUT carries `ChecksumAlgorithm="SHA256"` (S3 rejects a body that arrived damaged) and
    our SHA-256 in the metadata key `sha256`; large files go up in parallel multipart uploads.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str,
        client: Any,
        *,
        sse: str | None = None,
        kms_key_id: str | None = None,
        storage_class: str | None = None,
        part_size: int = DEFAULT_PART_SIZE,
        max_concurrency: int = 8,
    ) -> None:
        if not bucket:
            raise UsageError("no S3 bucket given", hint="pass --bucket NAME or set [s3] bucket in the config")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client
        self.sse = None if sse in (None, "none") else sse
        self.kms_key_id = kms_key_id
        self.storage_class = storage_class
        self.part_size = max(part_size, 5 * 2**20)
        self.requests = RequestCounts()
        events = getattr(getattr(client, "meta", None), "events", None)
        if events is not None:  # botocore's hook, fired once per HTTP request (retries included)
            events.register("before-send.s3", self.requests.on_send)
        from boto3.s3.transfer import TransferConfig

        self.transfer_config = TransferConfig(
            multipart_threshold=self.part_size,
            multipart_chunksize=self.part_size,
            max_concurrency=max_concurrency,
        )

    @property
    def endpoint(self) -> str:
        return str(getattr(getattr(self.client, "meta", None), "endpoint_url", "") or "AWS S3")

    def describe(self, key: str = "") -> str:
        where = f"s3://{self.bucket}/{self._key(key) if key else self.prefix}".rstrip("/")
        return f"{where} (endpoint {self.endpoint})"

    def _key(self, key: str) -> str:
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _extra_args(self, key: str, sha256: str | None) -> dict[str, Any]:
        extra: dict[str, Any] = {"ChecksumAlgorithm": "SHA256"}
        if sha256 is not None:
            extra["Metadata"] = {"sha256": sha256}
        if self.sse is not None:
            extra["ServerSideEncryption"] = self.sse
            if self.sse == "aws:kms" and self.kms_key_id:
                extra["SSEKMSKeyId"] = self.kms_key_id
        # Lock objects live minutes and must stay readable: never in an archive class.
        if self.storage_class and not key.startswith(f"{LOCKS_DIR}/"):
            extra["StorageClass"] = self.storage_class
        return extra

    def put_file(self, key: str, path: str | os.PathLike[str], *, sha256: str | None = None) -> StatInfo:
        digest = sha256 or sha256_file(path)
        size = os.path.getsize(path)
        with self._errors("upload", key):
            if size < self.part_size:  # one PUT; no transfer manager (and its threads) per small blob
                with open(path, "rb") as body:
                    response = self.client.put_object(
                        Bucket=self.bucket, Key=self._key(key), Body=body, **self._extra_args(key, digest)
                    )
                return StatInfo(size, digest, _etag(response.get("ETag")))
            self.client.upload_file(
                os.fspath(path),
                self.bucket,
                self._key(key),
                ExtraArgs=self._extra_args(key, digest),
                Config=self.transfer_config,
            )
        return StatInfo(size, digest)

    def put_stream(self, key: str, chunks: Iterable[bytes]) -> StatInfo:
        iterator = iter(chunks)
        try:
            return self._put_iterator(key, iterator)
        finally:
            _close(iterator)  # a generator's producer learns at once that nobody reads any more

    def _put_iterator(self, key: str, iterator: Iterator[bytes]) -> StatInfo:
        first = bytearray()
        for chunk in iterator:
            first += chunk
            if len(first) >= self.part_size:
                break
        else:  # the whole stream fits in one part: one PUT, with its SHA-256 in the metadata
            body = bytes(first)
            digest = hashlib.sha256(body).hexdigest()
            with self._errors("upload", key):
                response = self.client.put_object(
                    Bucket=self.bucket, Key=self._key(key), Body=body, **self._extra_args(key, digest)
                )
            return StatInfo(len(body), digest, _etag(response.get("ETag")))
        reader = _HashingReader(bytes(first), iterator)
        with self._errors("upload", key):
            # The SHA-256 is known only after the last byte, too late for the metadata; S3 still
            # checks every part's checksum. Callers that need the digest get it returned.
            self.client.upload_fileobj(
                reader,
                self.bucket,
                self._key(key),
                ExtraArgs=self._extra_args(key, None),
                Config=self.transfer_config,
            )
        return StatInfo(reader.size, reader.digest.hexdigest())

    def open(self, key: str) -> BinaryIO:
        with self._errors("download", key):
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        body: BinaryIO = response["Body"]
        return body

    def stat(self, key: str) -> StatInfo | None:
        from botocore.exceptions import ClientError

        try:
            with self._errors("read the metadata of", key, passthrough=(ClientError,)):
                head = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise _storage_error(exc, "read the metadata of", self.describe(key)) from None
        metadata = {k.lower(): v for k, v in (head.get("Metadata") or {}).items()}
        # Only our own metadata counts: S3's ChecksumSHA256 of a multipart object is a checksum of
        # part checksums, which compares equal to nothing we hold.
        return StatInfo(int(head["ContentLength"]), metadata.get("sha256"), _etag(head.get("ETag")))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        full = f"{self.prefix}/{prefix}" if self.prefix else prefix
        strip = len(self.prefix) + 1 if self.prefix else 0
        with self._errors("list", prefix):
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
                for item in page.get("Contents", []):
                    key = str(item["Key"])[strip:]
                    yield ObjectInfo(
                        size=int(item["Size"]),
                        etag=_etag(item.get("ETag")),
                        key=key,
                        modified=item.get("LastModified"),
                    )

    def folders(self, prefix: str) -> Iterator[str]:
        full = f"{self.prefix}/{prefix}" if self.prefix else prefix
        with self._errors("list", prefix):
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full, Delimiter="/"):
                for common in page.get("CommonPrefixes", []):
                    yield str(common["Prefix"])[len(full) :].rstrip("/")

    def delete(self, key: str) -> None:
        with self._errors("delete", key):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def exists(self, key: str) -> bool:
        return self.stat(key) is not None

    @contextlib.contextmanager
    def _errors(
        self, action: str, key: str, *, passthrough: tuple[type[BaseException], ...] = ()
    ) -> Iterator[None]:
        """Turn boto3/botocore failures into StorageError naming bucket, key and endpoint."""
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        try:
            yield
        except passthrough:
            raise
        except NoCredentialsError:
            raise StorageError(
                f"cannot {action} {self.describe(key)}: no AWS credentials were found",
                hint="set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or AWS_PROFILE / [s3] profile), "
                "or run where an instance or pod role provides them",
                bucket=self.bucket,
            ) from None
        except ClientError as exc:
            raise _storage_error(exc, action, self.describe(key)) from None
        except S3UploadFailedError as exc:
            cause = exc.__context__
            if isinstance(cause, ClientError):
                raise _storage_error(cause, action, self.describe(key)) from None
            raise StorageError(f"cannot {action} {self.describe(key)}: {_scrub(str(exc))}") from None
        except BotoCoreError as exc:
            raise StorageError(
                f"cannot {action} {self.describe(key)}: {_scrub(str(exc))}",
                hint="check the endpoint URL, the network and the region; rerunning resumes",
                bucket=self.bucket,
            ) from None


class RequestCounts:
    """The S3 requests one client sent, by operation (`ListObjectsV2`, `HeadObject`, `PutObject`,
    `UploadPart`...), retries included: what the bucket's owner is billed for."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def on_send(self, event_name: str = "", **_kwargs: Any) -> None:
        """botocore `before-send.s3.<Operation>` handler (returns None: the request goes out)."""
        kind = event_name.rsplit(".", 1)[-1] or "unknown"
        with self._lock:
            self._counts[kind] = self._counts.get(kind, 0) + 1

    def snapshot(self) -> dict[str, int]:
        """The counts so far, by operation name, sorted."""
        with self._lock:
            return dict(sorted(self._counts.items()))

    @staticmethod
    def since(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
        """What was sent between two snapshots (operations with no request left out)."""
        spent = {kind: count - before.get(kind, 0) for kind, count in after.items()}
        return {kind: count for kind, count in sorted(spent.items()) if count > 0}


class _HashingReader(io.RawIOBase):
    """A read-only file over byte chunks that hashes what passes through (for upload_fileobj)."""

    def __init__(self, head: bytes, rest: Iterator[bytes]) -> None:
        self._buffer = bytearray(head)
        self._rest = rest
        self.digest = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._rest, None)
            if chunk is None:
                break
            self._buffer += chunk
        cut = len(self._buffer) if size < 0 else min(size, len(self._buffer))
        out = bytes(self._buffer[:cut])
        del self._buffer[:cut]
        self.digest.update(out)
        self.size += len(out)
        return out

    def readinto(self, target: Any) -> int:
        data = self.read(len(target))
        target[: len(data)] = data
        return len(data)


def _holds_a_file(folder: str) -> bool:
    return any(files for _root, _dirs, files in os.walk(folder))


def _close(chunks: Any) -> None:
    close = getattr(chunks, "close", None)
    if callable(close):
        close()


def _etag(value: Any) -> str | None:
    """An ETag as S3 sends it (`"9b2c..."`, quoted) -> `9b2c...`; None when absent."""
    return (str(value).strip('"') or None) if value else None


def _error_code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


_HINTS = {
    "NoSuchBucket": "create the bucket first, or check the bucket name and --endpoint-url",
    "AccessDenied": "the credentials lack permission (s3:PutObject, s3:GetObject, s3:ListBucket, "
    "s3:DeleteObject on the bucket and prefix); check the IAM/bucket policy",
    "InvalidAccessKeyId": "the AWS access key is not known to this endpoint; check the credentials "
    "(they are never printed) and --endpoint-url",
    "SignatureDoesNotMatch": "the AWS secret key does not match the access key; check the credentials",
    "ExpiredToken": "the session token expired; refresh the credentials (aws sso login, new role session)",
    "PermanentRedirect": "the bucket is in another region; pass --region",
    "AuthorizationHeaderMalformed": "the region is wrong for this bucket; pass --region",
    "KMS.NotFoundException": "the KMS key was not found; check --kms-key-id",
    "403": "access denied: the credentials lack s3:GetObject, or the key is missing and they lack "
    "s3:ListBucket (S3 then answers 403 instead of 404)",
}


def _storage_error(exc: Any, action: str, where: str) -> StorageError:
    code = _error_code(exc)
    message = _scrub(str(exc.response.get("Error", {}).get("Message", "") or exc))
    return StorageError(
        f"cannot {action} {where}: {code or 'error'}: {message}",
        hint=_HINTS.get(code, "check the bucket, the credentials and the endpoint; rerunning resumes"),
        s3_error=code,
    )


def _scrub(text: str) -> str:
    """Drop anything shaped like an AWS access key id from a message."""
    return _AWS_KEY_ID.sub("[REDACTED]", text)


# ---------------------------------------------------------------------------------------------
# Opening a store from a URL


def parse_s3_url(url: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` -> ("bucket", "some/prefix")."""
    if not url.startswith("s3://"):
        raise UsageError(f"{url!r} is not an s3:// URL")
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not bucket:
        raise UsageError(f"{url!r} names no bucket", hint="write s3://BUCKET/PREFIX")
    return bucket, prefix.strip("/")


def is_s3_url(location: str | os.PathLike[str]) -> bool:
    return isinstance(location, str) and location.startswith("s3://")


_SESSIONS: dict[tuple[str | None, str | None], Any] = {}
_SESSIONS_LOCK = threading.Lock()


def make_s3_client(s3: S3Settings) -> Any:
    """A boto3 S3 client: credentials from the standard AWS chain (env, profile, instance role),
    `endpoint_url` for MinIO/Ceph/R2/moto (path-style addressing there), standard retries."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError

    config = Config(
        retries={"max_attempts": 10, "mode": "standard"},
        s3={"addressing_style": "path"} if s3.endpoint_url else {},
        # upload's 8 workers each run up to 8 multipart transfer threads: with botocore's default
        # pool of 10 the rest reconnect (a TLS handshake each on real S3) on every part
        max_pool_connections=64,
    )
    try:
        with _SESSIONS_LOCK:  # a boto3 Session is not thread-safe; reusing one saves ~0.5 s a client
            session = _SESSIONS.get((s3.profile, s3.region))
            if session is None:
                session = boto3.session.Session(profile_name=s3.profile, region_name=s3.region)
                _SESSIONS[(s3.profile, s3.region)] = session
            return session.client("s3", endpoint_url=s3.endpoint_url, config=config)
    except BotoCoreError as exc:
        raise StorageError(
            f"cannot set up the S3 client (profile {s3.profile!r}, region {s3.region!r}, "
            f"endpoint {s3.endpoint_url or 'AWS'}): {_scrub(str(exc))}",
            hint="check [s3] profile/region/endpoint_url or the AWS_* environment variables",
        ) from None


def s3_store(s3: S3Settings, *, client: Any = None) -> S3Store:
    """The S3Store the settings describe (bucket, prefix, SSE, storage class)."""
    if not s3.bucket:
        raise UsageError("no S3 bucket given", hint="pass --bucket NAME or set [s3] bucket in the config")
    return S3Store(
        s3.bucket,
        s3.prefix,
        client if client is not None else make_s3_client(s3),
        sse=s3.sse,
        kms_key_id=s3.kms_key_id,
        storage_class=s3.storage_class,
    )


def store_from_url(
    location: str | os.PathLike[str], s3_settings: S3Settings | None = None, *, client: Any = None
) -> Store:
    """`s3://bucket/prefix` -> S3Store (endpoint, region, SSE from `s3_settings`); a path -> LocalStore."""
    if is_s3_url(location):
        bucket, prefix = parse_s3_url(str(location))
        from dataclasses import replace

        settings = replace(s3_settings or S3Settings(), bucket=bucket, prefix=prefix)
        return s3_store(settings, client=client)
    return LocalStore(location)


def store_url(store: Store) -> str:
    """What `--repo` takes to reach `store` again: its folder, or `s3://bucket/prefix`."""
    if isinstance(store, LocalStore):
        return str(store.root)
    if isinstance(store, S3Store):
        return f"s3://{store.bucket}/{store.prefix}".rstrip("/")
    return store.describe()


@contextlib.contextmanager
def local_copy(store: Store, key: str) -> Iterator[Path]:
    """A local file with the content of `key` for the `with` block: the file itself in a
    LocalStore, else a temporary copy spooled in 1 MiB chunks and removed afterwards (Parquet
    readers need to seek; memory stays flat). FileNotFoundError when `key` does not exist."""
    if isinstance(store, LocalStore):
        path = store.path(key)
        if not path.is_file():
            raise FileNotFoundError(store.describe(key))
        yield path
        return
    if store.stat(key) is None:
        raise FileNotFoundError(store.describe(key))
    with tempfile.TemporaryDirectory(prefix="sfbackup-") as folder:
        target = Path(folder) / PurePosixPath(key).name
        with store.open(key) as source, target.open("wb") as sink:
            shutil.copyfileobj(source, sink, _CHUNK)
        yield target


class StoreFiles:
    """Files of the repository in a Store by repository-relative path (`verify.checker.RepoFiles`)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def describe(self) -> str:
        return self.store.describe()

    def size(self, relpath: str) -> int | None:
        stat = self.store.stat(relpath)
        return None if stat is None else stat.size

    def open(self, relpath: str) -> BinaryIO:
        if self.store.stat(relpath) is None:
            raise FileNotFoundError(self.store.describe(relpath))
        return self.store.open(relpath)

    def local_copy(self, relpath: str) -> contextlib.AbstractContextManager[Path]:
        return local_copy(self.store, relpath)

"""Files under their real names (`sfbackup restore-files`): each body written once per linked
record as `<out>/<Object>/<record name> (<Id>)/<file name>`, checked against its SHA-256 as it is
written, from a folder or an S3 repository.

Who a file belongs to: an Attachment its ParentId, a File (ContentVersion) every LinkedEntityId of
its ContentDocumentLinks, a Document its folder. A File's real name is its PathOnClient (the index
holds the Title); only each document's latest version unless `all_versions`. Names from Salesforce
are data: they are sanitised before they reach a path.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sfbackup.errors import StorageError, UsageError
from sfbackup.inspect.labels import Labels
from sfbackup.repository import Snapshot
from sfbackup.repository.layout import BLOBS_DIR, validate_sha256

#: Bytes a sanitised name may take (most file systems allow 255).
MAX_NAME_BYTES = 180
_STORED = ("downloaded", "deduplicated")
_FORBIDDEN = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
_DEVICES = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))}


def safe_name(name: str | None, *, fallback: str = "file") -> str:
    """`name` as one harmless path component on Linux, macOS and Windows: no separators, no control
    or reserved characters, no `.`/`..`, no device names (CON, NUL, COM1...), at most MAX_NAME_BYTES."""
    text = unicodedata.normalize("NFC", name or "")
    text = _FORBIDDEN.sub("_", text).strip().rstrip(". ")
    if not text.strip("._ "):
        text = fallback
    stem, dot, ext = text.rpartition(".") if "." in text[1:] else (text, "", "")
    if (stem if dot else text).split(".")[0].upper() in _DEVICES:
        text = "_" + text
        stem = "_" + stem if dot else stem
    if len(text.encode()) > MAX_NAME_BYTES:
        ext = f".{ext}" if dot and len(ext) <= 16 else ""
        base = (stem if ext else text).encode()[: MAX_NAME_BYTES - len(ext.encode())]
        text = base.decode(errors="ignore").rstrip(". ") + ext
    return text


def numbered(name: str, n: int | str) -> str:
    """`Quote.pdf` -> `Quote (2).pdf` (or `Quote (v2).pdf` for n="v2")."""
    stem, dot, ext = name.rpartition(".")
    return f"{stem} ({n}).{ext}" if dot and stem else f"{name} ({n})"


@dataclass(frozen=True)
class FileCopy:
    """One body to write for one linked record."""

    file_object: str
    file_id: str
    sha256: str
    size: int
    name: str
    owner_object: str
    owner_id: str


@dataclass
class RestoreResult:
    """What restore-files did."""

    written: list[tuple[Path, FileCopy]] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)  # already there with the same bytes
    damaged: list[tuple[FileCopy, str]] = field(default_factory=list)
    not_stored: dict[str, int] = field(default_factory=dict)  # index status -> files


def base_name(path_on_client: str | None) -> str | None:
    """The file name at the end of a PathOnClient (`C:\\scans\\a.pdf` -> `a.pdf`)."""
    if not path_on_client:
        return None
    return re.split(r"[\\/]", path_on_client)[-1] or None


def _with_extension(name: str, extension: str | None) -> str:
    if extension and not name.lower().endswith(f".{extension.lower()}"):
        return f"{name}.{extension}"
    return name


def plan_copies(
    snapshot: Snapshot, labels: Labels, *, object_filter: str | None = None, record_id: str | None = None,
    all_versions: bool = False, include_deleted: bool = False, result: RestoreResult | None = None,
) -> Iterator[FileCopy]:  # fmt: skip
    """Every (file, linked record) pair to write, filtered to one object or record when asked."""
    result = result or RestoreResult()
    versions: dict[str, dict[str, Any]] = {}
    if "ContentVersion" in snapshot.manifest.files and "ContentVersion" in snapshot.manifest.objects:
        for table in snapshot.iter_tables("ContentVersion"):
            cols = [c for c in ("Id", "PathOnClient", "IsLatest", "VersionNumber") if c in table.column_names]
            for row in table.select(cols).to_pylist():
                versions[row["Id"]] = row
    for file_object in sorted(snapshot.manifest.files):
        rows = snapshot.files(file_object).to_pylist()
        if file_object == "ContentVersion" and not all_versions:
            rows = _latest_versions(rows, versions)
        for row in rows:
            if row["IsDeleted"] and not include_deleted:
                continue
            if row["status"] not in _STORED or not row["sha256"]:
                result.not_stored[row["status"]] = result.not_stored.get(row["status"], 0) + 1
                continue
            name = row["Name"] or row["Id"]
            if file_object == "ContentVersion":
                version = versions.get(row["Id"], {})
                name = _with_extension(base_name(version.get("PathOnClient")) or name, row["FileExtension"])
                if all_versions and version.get("VersionNumber"):
                    name = numbered(name, f"v{version['VersionNumber']}")
                owners = list(row["LinkedEntityIds"] or [])
            elif file_object == "Document":
                name = _with_extension(name, row["FileExtension"])
                owners = [row["ParentId"]] if row["ParentId"] else []
            else:
                owners = [row["ParentId"]] if row["ParentId"] else []
            for owner in dict.fromkeys(owners):
                owner_object = labels.object_of(owner) or "Other"
                if object_filter and owner_object.lower() != object_filter.lower():
                    continue
                if record_id and owner[:15] != record_id[:15]:
                    continue
                yield FileCopy(file_object, row["Id"], row["sha256"], int(row["Size"] or 0), name,
                               owner_object, owner)  # fmt: skip


def _latest_versions(rows: list[dict[str, Any]], versions: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Each ContentDocument's latest version (IsLatest; else the newest SystemModstamp)."""
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:
        document = row["ParentId"] or row["Id"]
        flagged = versions.get(row["Id"], {}).get("IsLatest")
        held = latest.get(document)
        if (
            flagged
            or held is None
            or (
                not versions.get(held["Id"], {}).get("IsLatest")
                and row["SystemModstamp"] > held["SystemModstamp"]
            )
        ):
            latest[document] = row
    return list(latest.values())


def restore_files(
    snapshot: Snapshot, out: Path, *, object_name: str | None = None, record_id: str | None = None,
    all_versions: bool = False, include_deleted: bool = False,
) -> RestoreResult:  # fmt: skip
    """Write the snapshot's file bodies under `out`; a body whose SHA-256 differs is reported and not
    left behind."""
    if record_id and not re.fullmatch(r"[A-Za-z0-9]{15}([A-Za-z0-9]{3})?", record_id):
        raise UsageError(f"--id {record_id!r} is not a Salesforce Id", hint="give the 15 or 18 character Id")
    labels = Labels(snapshot)
    result = RestoreResult()
    out.mkdir(parents=True, exist_ok=True)
    taken: dict[Path, set[str]] = {}
    copies = plan_copies(
        snapshot,
        labels,
        object_filter=object_name,
        record_id=record_id,
        all_versions=all_versions,
        include_deleted=include_deleted,
        result=result,
    )
    for copy in copies:
        record_name = labels.record_name(copy.owner_id)
        folder_name = safe_name(f"{record_name} ({copy.owner_id})" if record_name else copy.owner_id)
        folder = out / safe_name(copy.owner_object) / folder_name
        used = taken.setdefault(folder, set())
        base = safe_name(copy.name)
        name, n = base, 1
        while name.lower() in used:
            n += 1
            name = numbered(base, n)
        used.add(name.lower())
        target = folder / name
        if target.is_file() and _sha256_of(target) == copy.sha256:
            result.unchanged.append(target)
            continue
        folder.mkdir(parents=True, exist_ok=True)
        problem = write_checked(snapshot, copy, target)
        if problem:
            result.damaged.append((copy, problem))
        else:
            result.written.append((target, copy))
    return result


def blob_key(sha256: str) -> str:
    """The store key of a body (`blobs/sha256/<2>/<64>`)."""
    digest = validate_sha256(sha256)
    return f"{BLOBS_DIR}/sha256/{digest[:2]}/{digest}"


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def write_checked(snapshot: Snapshot, copy: FileCopy, target: Path) -> str | None:
    """Stream the body to a temporary name while hashing it; rename it into place only when its
    SHA-256 is the one the index names. The reason when not."""
    temporary = target.with_name(f".{target.name[:100]}.restoring-{os.getpid()}")
    digest = hashlib.sha256()
    try:
        store = snapshot.repository.store
        with store.open(blob_key(copy.sha256)) as source, temporary.open("wb") as sink:
            while chunk := source.read(1 << 20):
                digest.update(chunk)
                sink.write(chunk)
    except (StorageError, OSError) as exc:
        temporary.unlink(missing_ok=True)
        return f"cannot read its body: {exc.message if isinstance(exc, StorageError) else exc}"
    if digest.hexdigest() != copy.sha256:
        temporary.unlink(missing_ok=True)
        return f"its body is damaged: SHA-256 {digest.hexdigest()} instead of {copy.sha256}"
    os.replace(temporary, target)
    return None

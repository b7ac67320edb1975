"""Is the org's configuration in the snapshot? The metadata index against the manifest (and the
org's own listing, with `against_org`).

Structure: the index exists with the size and SHA-256 the manifest recorded; per type, the
components it names as retrieved and failed add up to the manifest's counts; every retrieved file's
blob exists with its size (and, with `read_data`, hashes to its name). Against the org: every
component listMetadata lists now is in the index, by type and name (one that appeared since the
snapshot is a warning, as a new object is).
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from sfbackup.errors import SfbackupError
from sfbackup.repository.manifest import Manifest, MetadataEntry
from sfbackup.salesforce.client import SalesforceClient
from sfbackup.salesforce.metadata import MetadataApi, list_everything
from sfbackup.verify.checker import RepoFiles, blob_relpath, in_subset
from sfbackup.verify.findings import Finding, FindingFactory, name_ids

OBJECT = "metadata"  # the `object` of every metadata finding


@dataclass
class MetadataCheck:
    """What the checks saw: findings, and one row per type for the report."""

    findings: list[Finding] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    components: int = 0
    backed_up: bool = False


def check_metadata(
    manifest: Manifest,
    files: RepoFiles,
    finding: FindingFactory,
    *,
    read_data: bool = False,
    subset: tuple[int, int] | None = None,
    client: SalesforceClient | None = None,
) -> MetadataCheck:
    """Check the snapshot's metadata; never raises on damage (findings say what is wrong)."""
    result = MetadataCheck()
    entry = manifest.metadata
    if entry is None:
        skipped = manifest.settings.get("metadata") is False
        result.findings.append(finding(
            "metadata_not_backed_up",
            "the org's configuration (custom objects and fields, layouts, flows, profiles, permission "
            "sets, reports, email templates, Apex...) is not in this snapshot"
            + (" (it was taken with --no-metadata)" if skipped else ""),
            object=OBJECT,
        ))  # fmt: skip
        return result
    if entry.error is not None:
        result.findings.append(finding("metadata_refused", "the org's configuration could not be retrieved: "
                                       f"{entry.error}", object=OBJECT))  # fmt: skip
        return result
    result.backed_up = True
    result.components = entry.components
    add = result.findings.append
    for refused in entry.not_retrievable:
        add(finding("metadata_not_retrievable", f"Salesforce would not list {refused.get('type')} "
                    f"components: {refused.get('reason')}", object=OBJECT, path=str(refused.get("type"))))
    base = f"snapshots/{manifest.snapshot_id}/"
    table = _read_index(entry, files, base, finding, add)
    if entry.package_path and entry.package_sha256:
        actual = _sha256(files, base + entry.package_path)
        if actual != entry.package_sha256:
            state = "damaged" if actual else "missing"
            add(finding("metadata_missing", f"the snapshot's package.xml is {state}", object=OBJECT,
                        path=entry.package_path, expected=entry.package_sha256, actual=actual))
    listed: dict[str, set[str]] = defaultdict(set)
    retrieved: dict[str, set[str]] = defaultdict(set)
    failed: dict[str, dict[str, str]] = defaultdict(dict)
    if table is not None:
        for row in table.to_pylist():
            type_name, name = str(row["type"]), str(row["full_name"])
            listed[type_name].add(name)
            if row["status"] == "retrieved":
                retrieved[type_name].add(name)
                _check_blob(row, files, finding, add, read_data=read_data, subset=subset)
            else:
                failed[type_name][name] = str(row.get("problem") or "not retrieved")
        for type_name, counts in sorted(entry.types.items()):
            expected = counts.get("retrieved", 0)
            if len(retrieved[type_name]) != expected:
                add(finding("metadata_missing", f"the manifest counts {expected} retrieved {type_name} "
                            f"components, the metadata index holds {len(retrieved[type_name])}",
                            object=OBJECT, path=entry.index_path, expected=expected,
                            actual=len(retrieved[type_name])))  # fmt: skip
    if failed:
        parts = [f"{t} ({name_ids(names, 5)})" for t, names in sorted(failed.items())]
        example = next(iter(next(iter(failed.values())).values()))
        count = sum(len(v) for v in failed.values())
        add(finding("metadata_not_retrieved", f"{count} metadata component(s) the org listed are not in the "
                    f"snapshot: {'; '.join(parts)}. Salesforce said: {example}", object=OBJECT,
                    actual={t: sorted(v) for t, v in failed.items()}))  # fmt: skip
    if client is not None and table is not None:
        _against_org(client, listed, finding, add)
    for type_name, counts in sorted(entry.types.items()):
        result.rows.append({"type": type_name, "listed": counts.get("listed", 0),
                            "retrieved": len(retrieved[type_name]) if table is not None else None,
                            "failed": len(failed[type_name]), "reason": None})  # fmt: skip
    for refused in entry.not_retrievable:  # like objects the API cannot query: listed, with the reason
        reason = f"Salesforce would not list it: {refused.get('reason')}"
        result.rows.append({"type": str(refused.get("type")), "listed": None, "retrieved": None,
                            "failed": None, "reason": reason})
    return result


def _read_index(entry: MetadataEntry, files: RepoFiles, base: str, finding: FindingFactory,
                add: Any) -> pa.Table | None:  # fmt: skip
    if not entry.index_path:
        add(finding("missing_index", "the manifest records metadata but no metadata index", object=OBJECT))
        return None
    relpath = base + entry.index_path
    size = files.size(relpath)
    if size is None:
        add(finding("missing_index", f"the metadata index {entry.index_path} is missing", object=OBJECT,
                    path=entry.index_path))
        return None
    if size != entry.index_bytes:
        add(finding("index_mismatch", f"the metadata index is {size} bytes, the manifest recorded "
                    f"{entry.index_bytes}", object=OBJECT, path=entry.index_path, expected=entry.index_bytes,
                    actual=size))  # fmt: skip
    if entry.index_sha256:
        actual = _sha256(files, relpath)
        if actual != entry.index_sha256:
            add(finding("index_mismatch", f"the metadata index has SHA-256 {actual}, the manifest recorded "
                        f"{entry.index_sha256}", object=OBJECT, path=entry.index_path,
                        expected=entry.index_sha256, actual=actual))  # fmt: skip
    try:
        with files.local_copy(relpath) as local:
            return pq.read_table(local)
    except (pa.ArrowException, OSError, ValueError) as exc:
        add(finding("part_undecodable", f"the metadata index cannot be read: {str(exc)[:300]}", object=OBJECT,
                    path=entry.index_path))
        return None


def _check_blob(row: dict[str, Any], files: RepoFiles, finding: FindingFactory, add: Any, *,
                read_data: bool, subset: tuple[int, int] | None) -> None:  # fmt: skip
    digest = str(row.get("sha256") or "")
    what = f"{row['type']} {row['full_name']} ({row.get('file_name')})"
    relpath = blob_relpath(digest) if len(digest) == 64 else None
    size = files.size(relpath) if relpath else None
    if relpath is None or size is None:
        add(finding("metadata_missing", f"the file of {what} (blob {digest or 'none'}) is missing",
                    object=OBJECT, path=relpath))
        return
    if row.get("size") is not None and size != int(row["size"]):
        add(finding("blob_size_mismatch", f"the file of {what} is {size} bytes, the index says {row['size']}",
                    object=OBJECT, path=relpath, expected=row["size"], actual=size))
    if read_data and in_subset(digest, subset):
        actual = _sha256(files, relpath)
        if actual != digest:
            add(finding("blob_checksum_mismatch", f"the file of {what} has SHA-256 {actual}, its name says "
                        f"{digest}", object=OBJECT, path=relpath, expected=digest, actual=actual))


def _sha256(files: RepoFiles, relpath: str) -> str | None:
    """The file's SHA-256, None when it is missing."""
    digest = hashlib.sha256()
    try:
        with files.open(relpath) as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    except FileNotFoundError:
        return None
    return digest.hexdigest()


def _against_org(client: SalesforceClient, listed: dict[str, set[str]], finding: FindingFactory,
                 add: Any) -> None:  # fmt: skip
    try:
        listing = list_everything(MetadataApi(client))
    except SfbackupError as exc:
        add(finding("org_query_failed", f"the org's metadata could not be listed: {exc.message}",
                    object=OBJECT))
        return
    absent: Counter[str] = Counter()
    names: dict[str, list[str]] = defaultdict(list)
    for props in listing.components:
        if props.full_name not in listed.get(props.type, set()):
            absent[props.type] += 1
            names[props.type].append(props.full_name)
    if absent:
        parts = [f"{t} ({name_ids(names[t], 5)})" for t in sorted(absent)]
        add(finding("metadata_not_in_snapshot", f"{sum(absent.values())} metadata component(s) the org lists "
                    f"now are not in the snapshot: {'; '.join(parts)}", object=OBJECT,
                    actual={t: sorted(v) for t, v in names.items()}))  # fmt: skip

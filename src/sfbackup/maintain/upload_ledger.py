"""The upload ledger: which bucket objects an earlier upload proved to hold which SHA-256.

A listing (ListObjectsV2, 1,000 keys a request) gives each object's size and ETag, not its
SHA-256; proving the SHA-256 took one HEAD per object (our `sha256` metadata). The ledger keeps
what such a proof found: `key -> (size, ETag, SHA-256)`, recorded only for an object this upload
sent (the ETag S3 answered to our PUT) or whose metadata it read. The ETag is S3's token for one
version of an object: rewriting the object (other bytes, same size) gives it another ETag. So an
object listed with the size and ETag of its entry is the object that was proved, and the entry's
SHA-256 is its SHA-256; anything else (not in the ledger, another ETag, another size) is proved
again with a HEAD, or sent.

Kept in the bucket as `uploads/ledger.json.gz` (so every machine uploading to the prefix shares
it), with the SHA-256 of its entries inside: a ledger that is damaged or of an unknown format is
ignored (the upload then proves every object as before, and writes a good ledger). An entry is a
fact about an object, not about who wrote it, so concurrent uploads that each rewrite the ledger
can lose entries (costing HEADs the next time) but never make a wrong one.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from sfbackup.errors import StorageError
from sfbackup.repository.store import Store

LEDGER_KEY = "uploads/ledger.json.gz"
FORMAT = "sfbackup-upload-ledger"
VERSION = 1
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Proved:
    """An object of the bucket whose SHA-256 was proved while it had this size and ETag."""

    size: int
    etag: str
    sha256: str


def load_ledger(store: Store) -> tuple[dict[str, Proved], str | None]:
    """(entries, why the ledger was ignored or None). No ledger yet is not a problem: ({}, None)."""
    try:
        with store.open(LEDGER_KEY) as handle:
            raw = handle.read()
    except StorageError as exc:
        if store.stat(LEDGER_KEY) is None:
            return {}, None
        return {}, f"the upload ledger {store.describe(LEDGER_KEY)} cannot be read ({exc.message})"
    try:
        document = json.loads(gzip.decompress(raw))
        return _entries(document), None
    except (OSError, EOFError, ValueError, TypeError, KeyError) as exc:
        return {}, (
            f"the upload ledger {store.describe(LEDGER_KEY)} is damaged or not one this sfbackup "
            f"reads ({exc}); every object is checked with its metadata instead, and the ledger rewritten"
        )


def save_ledger(store: Store, entries: dict[str, Proved]) -> None:
    """Write the ledger (replacing it) with `entries`, sorted by key."""
    body = {key: [p.size, p.etag, p.sha256] for key, p in sorted(entries.items())}
    document = {"format": FORMAT, "version": VERSION, "entries": body, "sha256": _digest(body)}
    data = gzip.compress(json.dumps(document, separators=(",", ":")).encode(), mtime=0)
    store.put_stream(LEDGER_KEY, [data])


def _entries(document: Any) -> dict[str, Proved]:
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ValueError(f"not an {FORMAT}")
    if document.get("version") != VERSION:
        raise ValueError(f"version {document.get('version')!r}, not {VERSION}")
    body = document["entries"]
    if not isinstance(body, dict) or document.get("sha256") != _digest(body):
        raise ValueError("its entries do not hash to the SHA-256 it records")
    entries: dict[str, Proved] = {}
    for key, value in body.items():
        size, etag, sha256 = value
        if not (isinstance(size, int) and size >= 0 and isinstance(etag, str) and etag):
            raise ValueError(f"malformed entry for {key!r}")
        if not (isinstance(sha256, str) and _SHA256.match(sha256)):
            raise ValueError(f"malformed SHA-256 for {key!r}")
        entries[key] = Proved(size, etag, sha256)
    return entries


def _digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()

"""`sfbackup browse`: a snapshot as a small local web site, offline.

Served by the standard library's threading HTTP server on 127.0.0.1 only; DuckDB answers every
query over the snapshot's views (sql.py), so a list view pages through millions of rows by Id
(keyset paging) without loading them. Pages: a search across objects, list views with a name
filter, a record page (fields by label, lookups as links to the parent, related lists from the
schema's child relationships, the record's files with download and inline view for images/PDFs).

Record data is hostile input: every value is HTML-escaped; the pages carry no script at all and a
Content-Security-Policy that forbids any (`default-src 'none'`), so a `<script>` stored in a
record is shown as text and never runs. Requests need the random token printed with the URL (a
cookie after the first visit); object names from a path must be an object of the snapshot, Ids
match Salesforce's pattern, values reach DuckDB as parameters, files are found by Id in the index.
"""

from __future__ import annotations

import hmac
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pyarrow.parquet as pq

from sfbackup.errors import StorageError
from sfbackup.inspect.labels import Labels, ObjectInfo
from sfbackup.inspect.restore_files import base_name, blob_key, safe_name
from sfbackup.inspect.rich_text import plain_text, sanitise
from sfbackup.inspect.sql import open_views, quote_name
from sfbackup.inspect.tables import readable_objects
from sfbackup.repository import Snapshot
from sfbackup.repository.store import local_copy

PAGE_SIZE = 50
_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
_INLINE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"}
_CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; frame-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'self'")  # fmt: skip
_STYLE = b"""body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1b1b1b}
header{background:#0b5cab;color:#fff;padding:8px 16px;display:flex;gap:16px;align-items:center}
header a{color:#fff;text-decoration:none;font-weight:600}main{padding:16px}
input[type=search]{padding:4px 8px;width:320px}table{border-collapse:collapse;margin:8px 0}
td,th{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
td{overflow-wrap:break-word}.files td{white-space:nowrap}
.files td:first-child{white-space:normal;overflow-wrap:anywhere}
li{overflow-wrap:anywhere}
th{background:#f3f3f3}.label{color:#555;width:220px}.muted{color:#777}.deleted{color:#b00}
pre{white-space:pre-wrap;margin:0;font:inherit}section{margin-bottom:24px}img.preview,img.rich{max-width:240px}
"""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


@dataclass
class Page:
    status: int
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()
    stream: Iterator[bytes] | None = None


class BrowseApp:
    """The pages of one snapshot; `handle(path, query)` -> Page. Thread-safe (one DuckDB cursor at a time)."""

    def __init__(self, snapshot: Snapshot, connection: Any) -> None:
        self.snapshot = snapshot
        self.labels = Labels(snapshot)
        self.connection = connection
        self.lock = threading.Lock()
        self.objects = set(readable_objects(snapshot))
        self.file_objects = {n for n, f in snapshot.manifest.files.items() if f.index_path}
        self._binaries: dict[str, dict[tuple[str, str, str], str]] = {}

    # --- data -----------------------------------------------------------------------------------

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        with self.lock:
            return list(self.connection.execute(sql, params or []).fetchall())

    def info(self, name: str) -> ObjectInfo:
        return self.labels.info(name)

    def name_of(self, record_id: str | None) -> str | None:
        return self.labels.record_name(record_id) if record_id else None

    # --- routing --------------------------------------------------------------------------------

    def handle(self, path: str, query: dict[str, list[str]]) -> Page:
        arg = {k: v[0] for k, v in query.items() if v}
        parts = [p for p in path.split("/") if p]
        if not parts:
            return self.home()
        if parts == ["style.css"]:
            return Page(200, _STYLE, "text/css; charset=utf-8")
        if parts == ["search"]:
            return self.search(arg.get("q", ""))
        if len(parts) == 2 and parts[0] == "o" and parts[1] in self.objects:
            return self.list_view(parts[1], arg.get("q", ""), arg.get("after", ""),
                                  field_filter=(arg.get("field", ""), arg.get("value", "")))  # fmt: skip
        if len(parts) == 2 and parts[0] == "r" and _ID.match(parts[1]):
            return self.record(parts[1])
        if len(parts) == 3 and parts[0] == "f" and parts[1] in self.file_objects and _ID.match(parts[2]):
            return self.file(parts[1], parts[2], inline=arg.get("inline") == "1")
        if len(parts) == 5 and parts[0] == "rt" and parts[1] in self.objects and _ID.match(parts[2]):
            return self.rich_text_image(parts[1], parts[2], parts[3], parts[4])
        return self.not_found("no such page")

    # --- pages ----------------------------------------------------------------------------------

    def layout(self, title: str, body: str, status: int = 200) -> Page:
        org = self.snapshot.manifest.org.get("org_name") or ""
        html = (
            "<!doctype html><html lang=en><head><meta charset=utf-8>"
            f"<title>{_e(title)} - sfbackup browse</title><link rel=stylesheet href=/style.css></head><body>"
            f"<header><a href=/>sfbackup browse</a><span>{_e(org)} snapshot {_e(self.snapshot.id)}</span>"
            "<form action=/search method=get><input type=search name=q placeholder='Search names, Ids' "
            "aria-label=Search></form></header>"
            f"<main><h1>{_e(title)}</h1>{body}</main></body></html>"
        )
        return Page(status, html.encode())

    def not_found(self, what: str) -> Page:
        return self.layout("Not found", f"<p>{_e(what)}</p>", status=404)

    def home(self) -> Page:
        rows = []
        for name in sorted(self.objects):
            entry = self.snapshot.manifest.objects[name]
            label = self.info(name).label_plural
            rows.append(
                f"<tr><td><a href='/o/{quote(name)}'>{_e(label)}</a></td><td class=muted>{_e(name)}</td>"
                f"<td>{entry.rows - entry.deleted_rows:,}</td><td>{entry.deleted_rows:,}</td></tr>"
            )
        body = ("<table><tr><th>Object</th><th>API name</th><th>Records</th><th>Deleted</th></tr>"
                + "".join(rows) + "</table>")  # fmt: skip
        return self.layout("Objects", body)

    def _name_column(self, name: str) -> str | None:
        return self.info(name).name_field

    def search(self, text: str) -> Page:
        text = text.strip()
        if _ID.match(text) and self.labels.object_of(text):
            return Page(303, b"", headers=(("Location", f"/r/{text}"),))
        if not text:
            return self.layout("Search", "<p>Type a name or an Id.</p>")
        sections = []
        for name in sorted(self.objects):
            field = self._name_column(name)
            if field is None or self.snapshot.manifest.objects[name].rows == 0:
                continue
            hits = self.query(
                f"SELECT Id, {quote_name(field)} FROM {quote_name(name)} "
                f"WHERE CAST({quote_name(field)} AS VARCHAR) ILIKE ? ORDER BY 2 LIMIT 20",
                [f"%{text}%"],
            )
            if hits:
                links = "".join(f"<li><a href='/r/{_e(i)}'>{_e(n)}</a></li>" for i, n in hits)
                sections.append(
                    f"<section><h2>{_e(self.info(name).label_plural)}</h2><ul>{links}</ul></section>"
                )
        body = "".join(sections) or f"<p>Nothing found for “{_e(text)}”.</p>"
        return self.layout(f"Search: {text}", body)

    def list_view(
        self, name: str, text: str, after: str, *, field_filter: tuple[str, str] = ("", "")
    ) -> Page:
        info = self.info(name)
        field = info.name_field
        shown = [f for f in info.fields.values() if f.name not in ("Id", "IsDeleted", "MasterRecordId")][:6]
        if field and info.fields.get(field) not in shown:
            shown = [info.fields[field], *shown[:5]]
        where, params = [], []
        if text and field:
            where.append(f"CAST({quote_name(field)} AS VARCHAR) ILIKE ?")
            params.append(f"%{text}%")
        by_field, by_value = field_filter
        if by_field in info.fields and by_value:  # a field of this object, never a name from the request
            spec = info.fields[by_field]
            api_value = next((v for v, label in spec.picklist.items() if label == by_value), by_value)
            where.append(f"CAST({quote_name(by_field)} AS VARCHAR) = ?")
            params.append(api_value)
            if spec not in shown:
                shown = [*shown[:5], spec]
        count_sql = f"SELECT count(*) FROM {quote_name(name)}" + (
            f" WHERE {' AND '.join(where)}" if where else ""
        )
        total = self.query(count_sql, params)[0][0]
        if after and _ID.match(after):
            where.append("Id > ?")
            params.append(after)
        columns = ", ".join(["Id", *(quote_name(f.name) for f in shown)])
        rows = self.query(
            f"SELECT {columns} FROM {quote_name(name)}" + (f" WHERE {' AND '.join(where)}" if where else "")
            + f" ORDER BY Id LIMIT {PAGE_SIZE + 1}",
            params,
        )  # fmt: skip
        more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        head = "".join(f"<th>{_e(f.label)}</th>" for f in shown)
        body_rows = []
        for row in rows:
            cells = "".join(
                f"<td>{self._value(f, v, short=True)}</td>" for f, v in zip(shown, row[1:], strict=True)
            )
            body_rows.append(f"<tr><td><a href='/r/{_e(row[0])}'>{_e(row[0])}</a></td>{cells}</tr>")
        nav = ""
        if more:
            following = urlencode({"q": text, "field": by_field, "value": by_value, "after": rows[-1][0]})
            nav = f"<p><a rel=next href='/o/{quote(name)}?{_e(following)}'>Next {PAGE_SIZE}</a></p>"
        options = "".join(
            f"<option value='{_e(f.name)}'{' selected' if f.name == by_field else ''}>{_e(f.label)}</option>"
            for f in info.fields.values()
        )
        form = (
            f"<form method=get action='/o/{quote(name)}'><input type=search name=q value='{_e(text)}' "
            f"placeholder='Filter by {_e(info.label_of(field) if field else 'name')}'> "
            f"<select name=field aria-label=Field><option value=''>field…</option>{options}</select> "
            f"= <input name=value value='{_e(by_value)}' aria-label=Value> <button>Filter</button></form>"
        )
        body = (f"{form}<p class=muted>{total:,} records</p><table><tr><th>Id</th>{head}</tr>"
                + "".join(body_rows) + f"</table>{nav}")  # fmt: skip
        return self.layout(info.label_plural, body)

    def binaries(self, name: str) -> dict[tuple[str, str, str], str]:
        """(record Id, field, refid) -> sha256 of the rich-text images the snapshot holds for `name`
        (its binaries index, docs/repository-format.md)."""
        if name not in self._binaries:
            found: dict[tuple[str, str, str], str] = {}
            saved = self.snapshot.manifest.objects[name].extra.get("binaries")
            if isinstance(saved, dict) and isinstance(saved.get("index_path"), str):
                key = self.snapshot.key(saved["index_path"])
                with local_copy(self.snapshot.repository.store, key) as path:
                    for row in pq.read_table(path, columns=["Id", "Field", "RefId", "sha256"]).to_pylist():
                        if row["RefId"] and row["sha256"]:
                            found[(row["Id"], row["Field"], row["RefId"])] = row["sha256"]
            self._binaries[name] = found
        return self._binaries[name]

    def _rich(self, name: str, record_id: str, field: str, html: str) -> str:
        held = self.binaries(name)

        def image_url(refid: str) -> str | None:
            if (record_id, field, refid) in held:
                return f"/rt/{quote(name)}/{quote(record_id)}/{quote(field)}/{quote(refid)}"
            return None

        return f"<div class=rich>{sanitise(html, image_url)}</div>"

    def rich_text_image(self, name: str, record_id: str, field: str, refid: str) -> Page:
        sha = self.binaries(name).get((record_id, field, refid))
        if sha is None:
            return self.not_found(f"no image {refid} of {field} in this snapshot")
        with self.snapshot.repository.store.open(blob_key(sha)) as handle:
            body = handle.read(64 << 20)
        mime = _image_type(body)
        if mime is None:  # not an image we serve inline: never let a browser guess
            return Page(200, body, "application/octet-stream", (("Content-Disposition", "attachment"),))
        return Page(200, body, mime)

    def _value(
        self, spec: Any, value: Any, *, short: bool = False, where: tuple[str, str] | None = None
    ) -> str:
        if value is None:
            return ""
        if spec.html and isinstance(value, str):
            if short or where is None:
                text = plain_text(value)
                return _e(text[:80] + "…" if len(text) > 80 else text)
            return self._rich(where[0], where[1], spec.name, value)
        if spec.is_lookup and isinstance(value, str) and _ID.match(value):
            name = self.name_of(value)
            return f"<a href='/r/{_e(value)}'>{_e(name or value)}</a>"
        if spec.picklist:
            value = spec.picklist.get(value, value)
        text = str(value)
        if short and len(text) > 80:
            text = text[:80] + "…"
        return f"<pre>{_e(text)}</pre>" if "\n" in text else _e(text)

    def record(self, record_id: str) -> Page:
        name = self.labels.object_of(record_id)
        if name is None:
            return self.not_found(f"no object in this snapshot has Ids like {record_id}")
        info = self.info(name)
        columns = list(info.fields)
        found = self.query(
            f"SELECT {', '.join(quote_name(c) for c in columns)} FROM {quote_name(name + '_all')} "
            "WHERE Id = ? OR left(Id, 15) = left(?, 15) LIMIT 1",
            [record_id, record_id],
        )
        if not found:
            return self.not_found(f"no {info.label} {record_id} in this snapshot")
        values = dict(zip(columns, found[0], strict=True))
        title = str(values.get(info.name_field or "Id") or record_id)
        deleted = " <span class=deleted>(deleted)</span>" if values.get("IsDeleted") else ""
        fields = "".join(
            f"<tr><td class=label>{_e(spec.label)}</td>"
            f"<td>{self._value(spec, values[spec.name], where=(name, values['Id']))}</td></tr>"
            for spec in info.fields.values()
        )
        body = f"<p class=muted>{_e(info.label)} {_e(values['Id'])}{deleted}</p><table>{fields}</table>"
        body += self._related(name, values["Id"]) + self._files(values["Id"])
        return self.layout(title, body)

    def _related(self, name: str, record_id: str) -> str:
        sections = []
        seen = set()
        for child in self.info(name).children:
            if child.child not in self.objects or (child.child, child.field) in seen:
                continue
            seen.add((child.child, child.field))
            info = self.info(child.child)
            if child.field not in info.fields:
                continue
            label = info.name_field or "Id"
            rows = self.query(
                f"SELECT Id, {quote_name(label)} FROM {quote_name(child.child)} "
                f"WHERE {quote_name(child.field)} = ? "
                "ORDER BY 2 LIMIT 51",
                [record_id],
            )
            if not rows:
                continue
            items = "".join(f"<li><a href='/r/{_e(i)}'>{_e(n or i)}</a></li>" for i, n in rows[:50])
            more = "<li class=muted>more not shown</li>" if len(rows) > 50 else ""
            title = f"{info.label_plural} ({info.label_of(child.field)})"
            sections.append(f"<section class=related><h2>{_e(title)}</h2><ul>{items}{more}</ul></section>")
        return "".join(sections)

    def _file_name(self, obj: str, file_id: str, name: str | None, ext: str | None) -> str:
        """The file's real name: a File's PathOnClient (its base name), else the index name with
        its extension."""
        if obj == "ContentVersion" and "ContentVersion" in self.objects:
            found = self.query('SELECT PathOnClient FROM "ContentVersion_all" WHERE Id = ?', [file_id])
            if found and found[0][0]:
                name = base_name(str(found[0][0])) or name
        name = str(name or file_id)
        if ext and not name.lower().endswith(f".{str(ext).lower()}"):
            name = f"{name}.{ext}"
        return name

    def _files(self, record_id: str) -> str:
        rows = []
        for name in sorted(self.file_objects):
            owner = "list_contains(LinkedEntityIds, ?)" if name == "ContentVersion" else "ParentId = ?"
            rows += [
                (name, *r)
                for r in self.query(
                    "SELECT Id, Name, FileExtension, ContentType, Size, status "
                    f"FROM {quote_name('files_' + name)} "
                    f"WHERE {owner} AND NOT IsDeleted ORDER BY Name",
                    [record_id],
                )
            ]
        if not rows:
            return ""
        items = []
        for obj, file_id, fname, ext, ctype, size, status in rows:
            shown = _e(self._file_name(obj, file_id, fname, ext))
            href = f"/f/{obj}/{_e(file_id)}"
            if status in ("downloaded", "deduplicated"):
                links = f"<a class=download href='{href}'>download</a>"
                mime = _mime(ctype, ext)
                if mime in _INLINE_TYPES:
                    links += f" · <a href='{href}?inline=1'>view</a>"
                    if mime.startswith("image/"):
                        links += f"<br><img class=preview alt='' src='{href}?inline=1'>"
            else:
                links = f"<span class=muted>not in the backup ({_e(status)})</span>"
            items.append(f"<tr><td>{shown}</td><td>{int(size or 0):,} bytes</td><td>{links}</td></tr>")
        return f"<section class=files><h2>Files</h2><table>{''.join(items)}</table></section>"

    def file(self, name: str, file_id: str, *, inline: bool) -> Page:
        found = self.query(
            f"SELECT Name, FileExtension, ContentType, sha256 FROM {quote_name('files_' + name)} "
            "WHERE Id = ?",
            [file_id],
        )
        if not found or not found[0][3]:
            return self.not_found(f"no stored body for {file_id}")
        fname, ext, ctype, sha = found[0]
        filename = safe_name(self._file_name(name, file_id, fname, ext))
        ctype = _mime(ctype, ext)
        show_inline = inline and ctype in _INLINE_TYPES
        disposition = "inline" if show_inline else "attachment"
        try:
            handle = self.snapshot.repository.store.open(blob_key(sha))
        except StorageError:
            return self.not_found(f"the body of {file_id} is missing from the repository")

        def chunks() -> Iterator[bytes]:
            with handle:
                while chunk := handle.read(1 << 20):
                    yield chunk

        ascii_name = filename.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
        headers = (
            (
                "Content-Disposition",
                f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}",
            ),
        )
        return Page(200, b"", ctype if show_inline else "application/octet-stream", headers, stream=chunks())


#: ContentVersion.FileType (what the files index holds for a File) -> the MIME type to serve it as.
_FILE_TYPES = {"PDF": "application/pdf", "PNG": "image/png", "JPG": "image/jpeg", "JPEG": "image/jpeg",
               "GIF": "image/gif", "WEBP": "image/webp"}  # fmt: skip


def _image_type(body: bytes) -> str | None:
    """The type of an image body by its first bytes (PNG, JPEG, GIF, WebP), else None."""
    if body.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if body.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if body[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if body[:4] == b"RIFF" and body[8:12] == b"WEBP":
        return "image/webp"
    return None


def _mime(content_type: str | None, extension: str | None) -> str:
    """A MIME type for a body: the index's when it is one, else from a File's type or extension."""
    text = (content_type or "").strip()
    if "/" in text:
        return text.lower()
    return (
        _FILE_TYPES.get(text.upper())
        or _FILE_TYPES.get((extension or "").upper())
        or "application/octet-stream"
    )


class _Handler(BaseHTTPRequestHandler):
    server: BrowseServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: record data in a URL never goes to a terminal or a log."""

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        token = (query.pop("token", [""]) or [""])[0]
        cookie = self.headers.get("Cookie", "")
        cookie_token = next(
            (c.split("=", 1)[1] for c in cookie.split("; ") if c.startswith("sfb_token=")), ""
        )
        if not (
            hmac.compare_digest(token, self.server.token)
            or hmac.compare_digest(cookie_token, self.server.token)
        ):
            self._send(Page(403, b"forbidden: open the URL sfbackup browse printed (it carries the token)\n",
                            "text/plain; charset=utf-8"))  # fmt: skip
            return
        if token:  # first visit: keep the token in a cookie and drop it from the address bar
            rest = urlencode({k: v[0] for k, v in query.items()})
            self._send(Page(303, b"", headers=(
                ("Location", url.path + (f"?{rest}" if rest else "")),
                ("Set-Cookie", f"sfb_token={self.server.token}; HttpOnly; SameSite=Strict; Path=/"),
            )))  # fmt: skip
            return
        try:
            page = self.server.app.handle(url.path, query)
        except Exception as exc:  # a page that fails says so, the server stays up
            page = self.server.app.layout("Error", f"<p>{_e(type(exc).__name__)}: {_e(exc)}</p>", status=500)
        self._send(page)

    def _send(self, page: Page) -> None:
        self.send_response(page.status)
        self.send_header("Content-Type", page.content_type)
        self.send_header("Content-Security-Policy", _CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-store")
        for key, value in page.headers:
            self.send_header(key, value)
        if page.stream is None:
            self.send_header("Content-Length", str(len(page.body)))
            self.end_headers()
            self.wfile.write(page.body)
            return
        self.end_headers()
        try:
            for chunk in page.stream:
                self.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True


class BrowseServer(ThreadingHTTPServer):
    """The web app of one snapshot on 127.0.0.1 (`port` 0: a free one), with a random token."""

    daemon_threads = True

    def __init__(self, snapshot: Snapshot, *, port: int = 0) -> None:
        self._stack = ExitStack()
        connection = self._stack.enter_context(open_views(snapshot))
        self.app = BrowseApp(snapshot, connection)
        self.token = secrets.token_urlsafe(24)
        super().__init__(("127.0.0.1", port), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/?token={self.token}"

    def server_close(self) -> None:
        super().server_close()
        self._stack.close()

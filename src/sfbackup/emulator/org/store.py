"""The emulated org's store: describes, synthetic data in SQLite, SOQL, writes and file bodies.

The HTTP server (`sfbackup.emulator.http.server`) uses only what `docs/architecture.md` lists under
"Emulator: store <-> HTTP server": `EmulatedOrg`, `OrgConfig`, `OrgCredentials`, `OrgError`,
`Cursor` and `Blob`. Values come out exactly as Salesforce sends them: REST records with
`attributes`, fields in SELECT order, datetimes `2024-11-07T07:00:00.000+0000`; Bulk CSV with every
value quoted and datetimes `2024-11-07T07:00:00.000Z`.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import functools
import hashlib
import io
import json
import mimetypes
import os
import shutil
import sqlite3
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO, Literal

import numpy as np
import numpy.typing as npt

from sfbackup.emulator.org import access as access_model
from sfbackup.emulator.org import datagen
from sfbackup.emulator.org.catalog import (
    CASCADE_DELETE,
    ObjectDef,
    build_catalog,
    internal_entities,
    shape_rows,
)
from sfbackup.emulator.org.metadata import MetadataCatalog
from sfbackup.emulator.org.soql import (
    Node,
    OrgError,
    Plan,
    compile_query,
    parse,
    parse_datetime,
    sql_datetime,
)
from sfbackup.emulator.org.sql_render import (
    NUL_MARK,
    after_sql,
    csv_line_sql,
    java_double_text,
    nul_marked_text,
    printf_formats,
    real_text,
)

__all__ = ["Blob", "Cursor", "EmulatedOrg", "OrgConfig", "OrgCredentials", "OrgError"]

_GENERATOR_VERSION = 3  # 2: users, permissions and schema objects (org.access); 3: enterprise shape
_ADDRESS_KEYS = {
    "City": "city",
    "Country": "country",
    "GeocodeAccuracy": "geocodeAccuracy",
    "Latitude": "latitude",
    "Longitude": "longitude",
    "PostalCode": "postalCode",
    "State": "state",
    "Street": "street",
}


@dataclass
class OrgConfig:
    """What the emulated org holds. `records` Accounts; other objects derive from it, from at most
    `datagen.DERIVED_CAP` (1M) Accounts: a 5M org has 5M Accounts and a 1M org's other objects.
    `org_shape` "enterprise" adds the objects and quirks of a real enterprise org (docs/emulator.md);
    `operation_too_large` makes its Task/Event queries answer OPERATION_TOO_LARGE, as they do for a
    user without View All Data."""

    records: int = 200
    seed: int = 1
    large_file_bytes: int = 20 * 2**20
    daily_api_limit: int = 100_000
    extra_objects: int = 0
    org_shape: Literal["default", "enterprise"] = "default"
    operation_too_large: bool = False

    def data_key(self) -> str:
        """Identity of the generated data (what a reused database must match)."""
        data = asdict(self)
        del data["daily_api_limit"]
        if self.org_shape == "default":  # the default org's data is what it was before shapes
            del data["org_shape"], data["operation_too_large"]
        if self.records > datagen.DERIVED_CAP:  # smaller orgs are what they were before the cap
            data["derived_cap"] = datagen.DERIVED_CAP
        return json.dumps({**data, "generator": _GENERATOR_VERSION}, sort_keys=True)


@dataclass(frozen=True)
class OrgCredentials:
    """Logins the emulator accepts. Secrets are hidden from repr."""

    username: str
    password: str = field(repr=False)
    security_token: str = field(repr=False)
    consumer_key: str
    consumer_secret: str = field(repr=False)
    org_id: str
    user_id: str
    jwt_certificate_pem: str = field(repr=False)
    jwt_private_key_pem: str = field(repr=False)
    organization_name: str


@dataclass
class Blob:
    """A file body, streamed: `chunks()` never holds it whole in memory."""

    size: int
    content_type: str
    source: Callable[[int], Iterator[bytes]] = field(repr=False)

    def chunks(self, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        return self.source(chunk_size)


@functools.lru_cache(maxsize=1)
def _jwt_material() -> tuple[str, str]:
    """A self-signed certificate and its RSA key for JWT bearer logins (one per process)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sfbackup-emulator")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


SELECTIVE_FRACTION = 0.3
#: System fields a create may set (Salesforce's "Set Audit Fields upon Record Creation"; tests backdate).
_AUDIT_FIELDS = frozenset({"CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById"})


class Cursor:
    """The result of one query: its size, and its rows as REST records or as a Bulk CSV."""

    def __init__(
        self, org: EmulatedOrg, plan: Plan, api_version: str, access: access_model.Access | None = None
    ) -> None:
        self._org = org
        self._plan = plan
        self._access = access or org.access(access_model.ADMIN)
        self._prefix = f"/services/data/v{api_version}"
        self.object_name: str = plan.obj.name
        self.is_count: bool = plan.is_count
        self.is_selective: bool = plan.is_selective
        self.fields: list[str] = plan.fields
        self.paging_refusal: OrgError | None = plan.paging_refusal
        self._agg_rows: list[dict[str, Any]] | None = None
        # (next offset, last row's sort key) of a sequential read
        self._resume: tuple[int, tuple[Any, ...]] | None = None
        self._subplans: dict[int, tuple[Plan, str]] = {}  # child subquery -> compiled plan and SQL
        if plan.is_aggregate:
            self._agg_rows = self._aggregate()
            self.total_size: int = len(self._agg_rows)
        else:
            sql = f"SELECT COUNT(*){plan.from_sql}{plan.where_sql}"
            count = int(org._fetchone(sql, plan.params)[0])
            count = max(0, count - plan.offset)
            self.total_size = count if plan.limit is None else min(count, plan.limit)
            if self.is_selective and count and not plan.key_lookup:
                # Salesforce's selectivity threshold: an indexed filter is selective only when it
                # targets under 30% of the object's rows ("CreatedDate <= now" is not).
                rows = int(org._fetchone(f"SELECT COUNT(*){plan.from_sql}", [])[0])
                self.is_selective = count <= SELECTIVE_FRACTION * rows

    def _aggregate(self) -> list[dict[str, Any]]:
        p = self._plan
        sql = f"SELECT {', '.join(p.rest_cols)}{p.from_sql}{p.where_sql}{p.group_sql}{p.order_sql}"
        if p.limit is not None or p.offset:
            sql += f" LIMIT {p.limit if p.limit is not None else -1} OFFSET {p.offset}"
        out = []
        for row in self._org._fetchall(sql, p.params):
            rec: dict[str, Any] = {"attributes": {"type": "AggregateResult"}}
            for key, kind, index in p.agg_items:
                value = row[index]
                rec[key] = bool(value) if kind == "bool" and value is not None else value
            out.append(rec)
        return out

    def rest_records(self, offset: int, limit: int) -> list[dict[str, Any]]:
        """REST JSON records `offset`..`offset+limit` of the result (COUNT() queries have none)."""
        if self.is_count:
            return []
        if self._agg_rows is not None:
            return self._agg_rows[offset : offset + limit]
        count = max(0, min(limit, self.total_size - offset))
        if count == 0:
            return []
        p = self._plan
        assert p.root is not None
        keys = [term[0] for term in p.order_terms]
        columns = ", ".join([*p.rest_cols, *keys])
        resume = self._resume
        if resume is not None and resume[0] == offset and len(keys) == len(resume[1]):
            # The next page of a sequential read: continue after the last row's sort key (keyset
            # paging, so page k costs the same as page 1) instead of skipping `offset` rows.
            after, after_params = after_sql(p.order_terms, resume[1])
            where = (p.where_sql + " AND " if p.where_sql else " WHERE ") + after
            sql = f"SELECT {columns}{p.from_sql}{where}{p.order_sql} LIMIT ?"
            params = [*p.params, *after_params, count]
        else:
            sql = f"SELECT {columns}{p.from_sql}{p.where_sql}{p.order_sql} LIMIT ? OFFSET ?"
            params = [*p.params, count, p.offset + offset]
        rows = self._org._fetchall(sql, params)
        if rows and keys:
            self._resume = (offset + len(rows), tuple(rows[-1][len(rows[-1]) - len(keys) :]))
        return [self._render(row, p.root) for row in rows]

    def _render(self, row: tuple[Any, ...], node: Node) -> dict[str, Any]:
        record_id = row[node.id_index] if node.id_index is not None else None
        # Polymorphic lookups resolve to Salesforce's `Name` entity; the url names the real object.
        type_name = row[node.type_index] if node.type_index is not None else node.type_name
        rec: dict[str, Any] = {
            "attributes": {
                "type": "Name" if node.type_index is not None else type_name,
                "url": f"{self._prefix}/sobjects/{type_name}/{record_id}",
            }
        }
        for key, kind, arg in node.items:
            if kind == "value":
                rec[key] = row[arg]
            elif kind == "bool":
                rec[key] = None if row[arg] is None else bool(row[arg])
            elif kind == "parent":
                rec[key] = None if row[arg.id_index] is None else self._render(row, arg)
            elif kind == "address":
                parts = {_ADDRESS_KEYS[k]: row[i] for k, i in arg.items()}
                rec[key] = parts if any(v is not None for v in parts.values()) else None
            elif kind == "location":
                lat, lon = row[arg[0]], row[arg[1]]
                rec[key] = None if lat is None and lon is None else {"latitude": lat, "longitude": lon}
            elif kind == "blob":
                id_index, obj_name, field_name, length_index = arg
                rec[key] = (
                    None
                    if row[length_index] is None
                    else f"{self._prefix}/sobjects/{obj_name}/{row[id_index]}/{field_name}"
                )
            elif kind == "subquery":
                rec[key] = self._children(arg, record_id)
        return rec

    def _children(self, arg: tuple[Any, str, str], parent_id: Any) -> dict[str, Any] | None:
        sub, child_name, link_field = arg
        compiled = self._subplans.get(id(sub))
        if compiled is None:
            sub.object_name = child_name
            plan = compile_query(
                sub,
                self._access.catalog,
                include_deleted=self._plan.include_deleted,  # queryAll returns deleted children too
                api="rest",
                today=self._org.now().date(),
            )
            self._access.restrict(plan)
            where = (plan.where_sql + " AND " if plan.where_sql else " WHERE ") + f't0."{link_field}" = ?'
            sql = f"SELECT {', '.join(plan.rest_cols)}{plan.from_sql}{where}{plan.order_sql}"
            sql += f" LIMIT {plan.limit if plan.limit is not None else -1} OFFSET {plan.offset}"
            compiled = self._subplans[id(sub)] = (plan, sql)
        plan, sql = compiled
        rows = self._org._fetchall(sql, [*plan.params, parent_id])
        if not rows:
            return None
        assert plan.root is not None
        records = [self._render(r, plan.root) for r in rows]
        return {"totalSize": len(records), "done": True, "records": records}

    def write_csv(self, out: BinaryIO, *, delimiter: str = ",", line_ending: str = "\n") -> int:
        """Bulk 2.0 CSV of every row, header first; returns the number of rows written."""
        return len(self.render_csv(out, delimiter=delimiter, line_ending=line_ending)) - 1

    def render_csv(
        self,
        out: BinaryIO,
        *,
        delimiter: str = ",",
        line_ending: str = "\n",
        on_rows: Callable[[bytes, npt.NDArray[np.int64]], None] | None = None,
    ) -> npt.NDArray[np.int64]:
        """`write_csv`, returning the byte offset where each row ends: [header end, row 1 end, ...].
        `on_rows(data, ends)` sees the rows after the header as they are written, in file order.

        SQLite formats each row in C (`printf`) with every value between 0xFF bytes, which valid
        UTF-8 text never contains; quote doubling and the 0xFF -> quote swap then run on whole
        batches. The bytes are exactly what `csv.writer(quoting=QUOTE_ALL)` writes, several times faster."""
        p = self._plan
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=delimiter, quoting=csv.QUOTE_ALL, lineterminator=line_ending).writerow(
            p.csv_header
        )
        header = buffer.getvalue().encode("utf-8")
        out.write(header)
        ends = [np.array([len(header)], dtype=np.int64)]
        if self.is_count or self._agg_rows is not None or not p.csv_cols:
            return ends[0]
        sql = f"SELECT {csv_line_sql(p.csv_cols, p.csv_real_cols)}{p.from_sql}{p.where_sql}{p.order_sql}"
        if p.limit is not None or p.offset:
            sql += f" LIMIT {p.limit if p.limit is not None else -1} OFFSET {p.offset}"
        field_format = delimiter.encode("utf-8").join([b"\xff%s\xff"] * len(p.csv_cols))
        formats = printf_formats(field_format + line_ending.encode("utf-8"), len(p.csv_cols))
        split = self._split_rowid()
        if split is None:
            ends += self._write_lines(out, sql, [*formats, *p.params], len(header), on_rows)
            return np.concatenate(ends)
        # Two halves by rowid, rendered at once on two connections (SQLite runs without the GIL).
        where = (p.where_sql + " AND " if p.where_sql else " WHERE ") + "t0.rowid BETWEEN ? AND ?"
        sql = f"SELECT {csv_line_sql(p.csv_cols, p.csv_real_cols)}{p.from_sql}{where}{p.order_sql}"
        low, middle, high = split
        with tempfile.TemporaryFile() as tail, ThreadPoolExecutor(1) as pool:
            tail_params = [*formats, *p.params, middle + 1, high]
            tail_ends = pool.submit(self._write_lines, tail, sql, tail_params, 0, None)
            ends += self._write_lines(out, sql, [*formats, *p.params, low, middle], len(header), on_rows)
            position = int(ends[-1][-1])
            tail_batches = tail_ends.result()  # before touching the file the other thread writes
            tail.seek(0)
            for batch_ends in tail_batches:
                data = tail.read(int(batch_ends[-1]) - int(tail.tell()))
                out.write(data)
                ends.append(position + batch_ends)
                if on_rows is not None:
                    on_rows(data, ends[-1])
        return np.concatenate(ends)

    def _split_rowid(self) -> tuple[int, int, int] | None:
        """(first, middle, last) rowid when the result is big, whole and in rowid order, else None."""
        p = self._plan
        if (
            self.total_size < _SPLIT_ROWS
            or p.limit is not None
            or p.offset
            or p.order_sql != " ORDER BY t0.rowid"
        ):
            return None
        # the base table alone: both ends come straight from its b-tree, whatever the query joins
        low, high = self._org._fetchone(f'SELECT MIN(rowid), MAX(rowid) FROM "{p.obj.name}"', [])
        return None if low is None else (int(low), (int(low) + int(high)) // 2, int(high))

    def _write_lines(
        self,
        out: BinaryIO,
        sql: str,
        params: list[Any],
        position: int,
        on_rows: Callable[[bytes, npt.NDArray[np.int64]], None] | None,
    ) -> list[npt.NDArray[np.int64]]:
        """Write the CSV lines `sql` selects; returns the end offset of each line, from `position`."""
        ends = []
        for batch in self._org._batches(sql, params, 5000):
            lines = [row[0] for row in batch]
            raw = b"".join(lines)
            # each row grows by its number of quotes (doubled); 0xFF -> '"' keeps the length
            starts = np.zeros(len(lines), dtype=np.int64)
            np.cumsum(np.fromiter(map(len, lines), np.int64, len(lines))[:-1], out=starts[1:])
            quotes = np.add.reduceat(np.frombuffer(raw, dtype=np.uint8) == 34, starts, dtype=np.int64)
            sizes = np.diff(np.append(starts, len(raw))) + quotes
            ends.append(position + np.cumsum(sizes))
            position = int(ends[-1][-1])
            data = raw.replace(b'"', b'""').replace(b"\xff", b'"').replace(NUL_MARK, b"\x00")
            out.write(data)
            if on_rows is not None:
                on_rows(data, ends[-1])
        return ends


_SPLIT_ROWS = 50_000  # results this big render in two halves at once


class _Connection(sqlite3.Connection):
    """The org's SQLite connections."""


class EmulatedOrg:
    """One emulated Salesforce org backed by a SQLite file (reused when generated with the same config)."""

    def __init__(self, config: OrgConfig, db_path: str | None = None) -> None:
        self.config = config
        generated = build_catalog(
            config.extra_objects,
            seed=config.seed,
            shape=config.org_shape,
            operation_too_large=config.operation_too_large,
        )
        self._catalog: dict[str, ObjectDef] = access_model.org_catalog(generated)
        self._unlisted = access_model.unlisted(generated)
        self._tmpdir: str | None = None
        if db_path is None:
            self._tmpdir = tempfile.mkdtemp(prefix="sfbackup-emulator-")
            db_path = os.path.join(self._tmpdir, "org.sqlite")
        self.db_path = db_path
        self._connections: list[_Connection] = []
        self._idle: list[_Connection] = []
        self._writer: _Connection | None = None
        self._lock = threading.RLock()
        self._metadata: MetadataCatalog | None = None
        self._finalizer = weakref.finalize(self, EmulatedOrg._cleanup, self._connections, self._tmpdir)
        self._open_or_generate(generated)
        org_id = self._fetchone('SELECT "Id" FROM "Organization"', [])[0]
        admin = self._fetchone('SELECT "Id", "Username" FROM "User" ORDER BY rowid LIMIT 1', [])
        restricted = self._fetchone(
            'SELECT "Id", "Username" FROM "User" WHERE "Username" = ?', [access_model.INTEGRATION_USERNAME]
        )
        cert, key = _jwt_material()
        seed = config.seed
        #: who can log in, by kind: the admin and the restricted integration user (org.access)
        self.users: dict[str, OrgCredentials] = {
            kind: OrgCredentials(
                username=username,
                password=f"emulator-password-{seed}" + suffix,
                security_token=f"EMU{token}{seed:06d}",
                consumer_key=f"3MVG9emulator.consumer.key.{seed}",
                consumer_secret=f"emulator-secret-{seed}",
                org_id=org_id,
                user_id=user_id,
                jwt_certificate_pem=cert,
                jwt_private_key_pem=key,
                organization_name="Emulated Org",
            )
            for kind, (user_id, username), suffix, token in (
                (access_model.ADMIN, admin, "", "TOKEN"),
                (access_model.RESTRICTED, restricted, "-integration", "INTEG"),
            )
        }
        self.credentials = self.users[access_model.ADMIN]
        self._access = {
            kind: access_model.build_access(kind, creds.user_id, self._catalog, self._fetchall)
            for kind, creds in self.users.items()
        }

    # storage -------------------------------------------------------------------------------------
    @staticmethod
    def _cleanup(connections: list[_Connection], tmpdir: str | None) -> None:
        for conn in connections:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        connections.clear()
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)

    def close(self) -> None:
        """Close every connection (and remove the temporary database, if this org made one)."""
        self._finalizer()

    def _open(self) -> _Connection:
        conn = sqlite3.connect(
            self.db_path, timeout=30, isolation_level=None, check_same_thread=False, factory=_Connection
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.create_function("sfb_real", 1, real_text, deterministic=True)
        conn.create_function("sfb_java_double", 1, java_double_text, deterministic=True)
        conn.create_function("sfb_nul_marked", 1, nul_marked_text, deterministic=True)
        with self._lock:
            self._connections.append(conn)
        return conn

    @contextlib.contextmanager
    def _reader(self) -> Iterator[_Connection]:
        """A pooled connection for reading, lent to one thread at a time.

        A pool rather than one connection per thread: the server runs a thread per HTTP connection,
        and SQLite keeps a closed connection's file descriptor until every connection is closed."""
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self._open()
        try:
            yield conn
        finally:
            with self._lock:
                self._idle.append(conn)

    def _fetchone(self, sql: str, params: list[Any]) -> Any:
        with self._reader() as conn:
            return conn.execute(sql, params).fetchone()

    def _fetchall(self, sql: str, params: list[Any]) -> list[Any]:
        with self._reader() as conn:
            return conn.execute(sql, params).fetchall()

    def _batches(self, sql: str, params: list[Any], size: int) -> Iterator[list[Any]]:
        with self._reader() as conn:
            rows = conn.execute(sql, params)
            while batch := rows.fetchmany(size):
                yield batch

    def _conn(self) -> _Connection:
        """The write connection; use it only while holding `self._lock` (writes are serialised)."""
        if self._writer is None:
            self._writer = self._open()
        return self._writer

    def access(self, kind: str) -> access_model.Access:
        """What user `kind` (`access.ADMIN` or `access.RESTRICTED`) may read."""
        return self._access[kind]

    def _open_or_generate(self, generated: dict[str, ObjectDef]) -> None:
        key = self.config.data_key()
        if os.path.exists(self.db_path):
            try:
                conn = sqlite3.connect(self.db_path)
                row = conn.execute("SELECT value FROM _meta WHERE key = 'config'").fetchone()
                conn.close()
                if row and row[0] == key:
                    return
            except sqlite3.Error:
                pass
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(self.db_path + suffix)
        building = f"{self.db_path}.{os.getpid()}.{threading.get_ident()}.building"
        with contextlib.suppress(FileNotFoundError):
            os.remove(building)
        conn = sqlite3.connect(building, isolation_level=None)
        conn.execute("PRAGMA page_size=16384")
        conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("BEGIN")
        datagen.create_schema(conn, generated)
        datagen.Generator(
            conn,
            generated,
            seed=self.config.seed,
            records=self.config.records,
            large_file_bytes=self.config.large_file_bytes,
            shape_rows=shape_rows(self.config.org_shape),
        ).run()
        access_model.install(conn, self._catalog, internal_entities=internal_entities(self.config.org_shape))
        conn.execute("INSERT INTO _meta VALUES ('config', ?)", (key,))
        conn.execute("COMMIT")
        conn.close()
        os.replace(building, self.db_path)

    def _object(self, name: str, access: access_model.Access | None = None) -> ObjectDef:
        obj = (access.catalog if access is not None else self._catalog).get(name.lower())
        if obj is None:
            raise OrgError(404, "NOT_FOUND", "The requested resource does not exist")
        return obj

    # reading -------------------------------------------------------------------------------------
    def now(self) -> datetime:
        """The org clock (UTC, millisecond precision)."""
        now = datetime.now(UTC)
        return now.replace(microsecond=now.microsecond // 1000 * 1000)

    def metadata(self) -> MetadataCatalog:
        """The org's configuration as the Metadata API serves it (built on first use)."""
        with self._lock:
            if self._metadata is None:
                self._metadata = MetadataCatalog(self._catalog.values(), self._fetchall,
                                                 shape=self.config.org_shape, seed=self.config.seed)
            return self._metadata

    def describe_global(self, api_version: str = "62.0") -> dict[str, Any]:
        """Body of `GET /sobjects` (the schema objects only the large catalog lists stay out)."""
        return {
            "encoding": "UTF-8",
            "maxBatchSize": 200,
            "sobjects": [
                o.global_entry(api_version) for k, o in self._catalog.items() if k not in self._unlisted
            ],
        }

    def describe(
        self, name: str, api_version: str = "62.0", access: access_model.Access | None = None
    ) -> dict[str, Any]:
        """Body of `GET /sobjects/{name}/describe` as `access`'s user sees it (default: the admin);
        OrgError NOT_FOUND for an unknown object."""
        return self._object(name, access).describe(api_version)

    def query(
        self,
        soql: str,
        *,
        include_deleted: bool,
        api: Literal["rest", "bulk"],
        api_version: str = "62.0",
        access: access_model.Access | None = None,
    ) -> Cursor:
        """Run SOQL as `access`'s user (default: the admin); raises OrgError with Salesforce's code and
        message when Salesforce would refuse it."""
        access = access or self._access[access_model.ADMIN]
        plan = compile_query(
            parse(soql), access.catalog, include_deleted=include_deleted, api=api, today=self.now().date()
        )
        access.restrict(plan)
        return Cursor(self, plan, api_version, access)

    def get_record(
        self,
        name: str,
        record_id: str,
        fields: list[str] | None = None,
        api_version: str = "62.0",
        access: access_model.Access | None = None,
    ) -> dict[str, Any]:
        """REST JSON of one record (`GET /sobjects/{name}/{id}`)."""
        obj = self._object(name, access)
        row_id = self._existing(obj, record_id, access)
        names = fields or [f.name for f in obj.fields]
        cursor = self.query(
            f"SELECT {', '.join(names)} FROM {obj.name} WHERE Id = '{row_id}'",
            include_deleted=True,
            api="rest",
            api_version=api_version,
            access=access,
        )
        return cursor.rest_records(0, 1)[0]

    def _existing(self, obj: ObjectDef, record_id: str, access: access_model.Access | None = None) -> str:
        """The stored id of a live record `access`'s user can see; else Salesforce's 404 (the same
        answer whether the record does not exist or is outside the user's sharing)."""
        row_id = datagen.normalize_id(record_id)
        cols = 't0."Id", t0."IsDeleted"' if obj.has_is_deleted else 't0."Id", 0'
        shared = access.row_filter(obj) if access is not None else None
        visible = f" AND ({shared})" if shared else ""
        row = (
            self._fetchone(f'SELECT {cols} FROM "{obj.name}" AS t0 WHERE t0."Id" = ?{visible}', [row_id])
            if row_id
            else None
        )
        if row is None:
            raise OrgError(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {record_id}",
            )
        if row[1]:
            raise OrgError(404, "ENTITY_IS_DELETED", "entity is deleted")
        return str(row[0])

    def blob(
        self, name: str, record_id: str, field_name: str, access: access_model.Access | None = None
    ) -> Blob:
        """The body in base64 field `field_name` of a record `access`'s user can see; OrgError
        NOT_FOUND when there is none."""
        obj = self._object(name, access)
        fd = obj.field(field_name)
        if fd is None or fd.type != "base64":
            raise OrgError(404, "NOT_FOUND", "The requested resource does not exist")
        return self._stored_blob(self._existing(obj, record_id, access), fd.name)

    def rich_text_image(
        self,
        name: str,
        record_id: str,
        field_name: str,
        reference_id: str,
        access: access_model.Access | None = None,
    ) -> Blob:
        """An image of a rich text area field (`<img src=".../servlet/rtaImage?...refid=0EM...">`)
        of a record `access`'s user can see."""
        obj = self._object(name, access)
        fd = obj.field(field_name)
        if fd is None or fd.extra_type_info != "richtextarea":
            raise OrgError(404, "NOT_FOUND", "The requested resource does not exist")
        return self._stored_blob(self._existing(obj, record_id, access), f"{fd.name}/{reference_id}")

    def _stored_blob(self, row_id: str, key: str) -> Blob:
        """The body stored under (`row_id`, `key`) in `_blob`; OrgError NOT_FOUND when there is none."""
        row = self._fetchone(
            "SELECT rowid, size, content_type, gen_key, data IS NOT NULL FROM _blob "
            "WHERE record_id = ? AND field = ?",
            [row_id, key],
        )
        if row is None:
            raise OrgError(404, "NOT_FOUND", "The requested resource does not exist")
        rowid, size, content_type, gen_key, stored = row
        if not stored:
            return Blob(
                size,
                content_type or "application/octet-stream",
                lambda chunk_size: datagen.body_chunks(gen_key, size, chunk_size),
            )
        return Blob(
            size,
            content_type or "application/octet-stream",
            lambda chunk_size: self._stored_chunks(rowid, chunk_size),
        )

    def _stored_chunks(self, rowid: int, chunk_size: int) -> Iterator[bytes]:
        with self._reader() as conn, conn.blobopen("_blob", "data", rowid, readonly=True) as blob:
            while chunk := blob.read(chunk_size):
                yield chunk

    def limits_storage(self) -> dict[str, dict[str, int]]:
        """`DataStorageMB` / `FileStorageMB` as `/limits` reports them (2 KB per record, file bytes)."""
        records = 0
        for obj in self._catalog.values():
            if obj.queryable and obj.key_prefix:
                where = ' WHERE "IsDeleted" = 0' if obj.has_is_deleted else ""
                records += self._fetchone(f'SELECT COUNT(*) FROM "{obj.name}"{where}', [])[0]
        file_bytes = self._fetchone("SELECT COALESCE(SUM(size), 0) FROM _blob", [])[0]
        data_mb, file_mb = records * 2 // 1024, int(file_bytes) // 2**20
        return {
            "DataStorageMB": {"Max": 1024, "Remaining": 1024 - data_mb},
            "FileStorageMB": {"Max": 10240, "Remaining": 10240 - file_mb},
        }

    def stats_time(self) -> datetime:
        """When the org last gathered record statistics: the nightly run at 00:00 UTC (org clock)."""
        return self.now().replace(hour=0, minute=0, second=0, microsecond=0)

    def record_counts(self, names: list[str] | None = None) -> list[dict[str, Any]]:
        """`/limits/recordCount` entries; unknown names are ignored. Org-wide (sharing does not
        apply) and, as Salesforce documents, approximate: the counts of the last statistics run
        (`stats_time`), so records created since are not counted yet and records deleted since
        still are."""
        wanted = {n.lower() for n in names} if names else None
        stats = sql_datetime(self.stats_time())
        out = []
        for key, obj in self._catalog.items():
            if not obj.queryable or obj.key_prefix is None or (wanted is not None and key not in wanted):
                continue
            live = '"IsDeleted" = 0' if obj.has_is_deleted else "1"
            if obj.field("CreatedDate") is not None:
                deleted_since = ' OR "SystemModstamp" >= ?' if obj.has_is_deleted else ""
                where, params = f' WHERE "CreatedDate" < ? AND ({live}{deleted_since})', [stats, stats]
                params = params[: 1 + bool(deleted_since)]
            else:
                where, params = f" WHERE {live}", []
            out.append(
                {
                    "count": self._fetchone(f'SELECT COUNT(*) FROM "{obj.name}"{where}', params)[0],
                    "name": obj.name,
                }
            )
        return out

    # writing -------------------------------------------------------------------------------------
    def _next_id(self, conn: sqlite3.Connection, prefix: str) -> str:
        row = conn.execute("SELECT n FROM _counter WHERE prefix = ?", (prefix,)).fetchone()
        n = (row[0] if row else 0) + 1
        conn.execute("INSERT OR REPLACE INTO _counter VALUES (?, ?)", (prefix, n))
        return datagen.make_id(prefix, n)

    def _storage_values(
        self, obj: ObjectDef, values: dict[str, Any], *, creating: bool
    ) -> tuple[dict[str, Any], dict[str, bytes]]:
        """REST JSON values -> stored column values, plus decoded base64 bodies."""
        stored: dict[str, Any] = {}
        bodies: dict[str, bytes] = {}
        read_only = []
        for key, value in values.items():
            if key == "attributes":
                continue
            fd = obj.field(key)
            if fd is None or fd.type in ("address", "location"):
                raise OrgError(400, "INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}")
            allowed = fd.createable or fd.name in _AUDIT_FIELDS if creating else fd.updateable
            if not allowed:
                read_only.append(fd.name)
                continue
            if fd.type == "base64":
                if value is not None:
                    bodies[fd.name] = base64.b64decode(value)
                continue
            stored[fd.name] = _to_storage(fd.type, value, obj.name, fd.name)
        if read_only:
            raise OrgError(
                400,
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(read_only)}. Please check the security settings "
                "of this field and verify that it is read/write for your profile or permission set.",
            )
        return stored, bodies

    def create(self, name: str, values: dict[str, Any]) -> str:
        """Insert a record from REST JSON values; returns its id. CreatedDate may be given (for tests)."""
        obj = self._object(name)
        if not obj.createable and obj.name != "ContentDocument":
            raise OrgError(400, "INVALID_TYPE_FOR_OPERATION", f"entity type cannot be inserted: {obj.name}")
        stored, bodies = self._storage_values(obj, values, creating=True)
        with self._lock:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                record_id = self._insert(conn, obj, stored, bodies)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return record_id

    def _insert(
        self, conn: sqlite3.Connection, obj: ObjectDef, stored: dict[str, Any], bodies: dict[str, bytes]
    ) -> str:
        now = sql_datetime(self.now())
        user = self.credentials.user_id if hasattr(self, "credentials") else None
        row: dict[str, Any] = {"Id": self._next_id(conn, obj.prefix)}
        for fd in obj.stored_fields:
            if fd.type == "boolean":
                row[fd.name] = 1 if fd.default_value else 0
        for key, value in (
            ("CreatedDate", now),
            ("LastModifiedDate", None),
            ("SystemModstamp", None),
            ("CreatedById", user),
            ("LastModifiedById", user),
            ("OwnerId", user),
        ):
            if obj.field(key) is not None:
                row[key] = value
        row.update(stored)
        created = row.get("CreatedDate") or now
        for key in ("LastModifiedDate", "SystemModstamp"):
            if obj.field(key) is not None and row.get(key) is None:
                row[key] = max(created, now) if "CreatedDate" not in stored else created
        if obj.field("Name") is not None and obj.field("LastName") is not None and "Name" not in stored:
            row["Name"] = " ".join(p for p in (row.get("FirstName"), row.get("LastName")) if p)
        missing = [
            f.name
            for f in obj.fields
            if f.stored
            and not f.nillable
            and f.createable
            and not f.defaulted_on_create
            and row.get(f.name) is None
            and f.type != "boolean"
        ]
        body_field = next(iter(bodies), None)
        if obj.name == "ContentVersion":
            self._new_version(conn, row, bodies.get("VersionData", b""))
        elif body_field is not None and obj.field(datagen_length(body_field)) is not None:
            row[datagen_length(body_field)] = len(bodies[body_field])
        if missing and obj.name not in ("ContentVersion",):
            raise OrgError(
                400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]"
            )
        cols = [f.name for f in obj.stored_fields if f.name in row]
        conn.execute(
            f'INSERT INTO "{obj.name}" ({", ".join(chr(34) + c + chr(34) for c in cols)}) '
            f"VALUES ({', '.join('?' * len(cols))})",
            [row[c] for c in cols],
        )
        content_type = row.get("ContentType") or mimetypes.guess_type(row.get("PathOnClient") or "")[0]
        for fname, data in bodies.items():
            self._store_body(conn, row["Id"], fname, data, content_type)
        return str(row["Id"])

    def _store_body(
        self, conn: sqlite3.Connection, record_id: str, fname: str, data: bytes, content_type: str | None
    ) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO _blob VALUES (?, ?, ?, ?, NULL, ?)",
            (record_id, fname, len(data), content_type or "application/octet-stream", data),
        )

    def _new_version(self, conn: sqlite3.Connection, row: dict[str, Any], data: bytes) -> None:
        """Fill a new ContentVersion; create its ContentDocument or make it the document's latest."""
        path = row.get("PathOnClient") or row.get("Title") or "file"
        ext = path.rsplit(".", 1)[-1].lower() if "." in path else ""
        row.setdefault("Title", path.rsplit(".", 1)[0] if "." in path else path)
        row.update(
            ContentSize=len(data),
            Checksum=hashlib.md5(data, usedforsecurity=False).hexdigest(),
            IsLatest=1,
            PublishStatus="P",
            FileExtension=ext or None,
            FileType=(ext or "UNKNOWN").upper(),
            ContentLocation=row.get("ContentLocation") or "S",
            Origin=row.get("Origin") or "C",
        )
        doc_id = row.get("ContentDocumentId")
        docs = self._catalog["contentdocument"]
        if doc_id is None:
            doc_id = self._insert(
                conn,
                docs,
                {"Title": row["Title"], "OwnerId": row.get("OwnerId"), "CreatedDate": row.get("CreatedDate")},
                {},
            )
            row.update(ContentDocumentId=doc_id, VersionNumber="1")
            for entity, share in ((row.get("OwnerId"), "I"), (row.get("FirstPublishLocationId"), "V")):
                if entity:
                    self._insert(
                        conn,
                        self._catalog["contentdocumentlink"],
                        {
                            "LinkedEntityId": entity,
                            "ContentDocumentId": doc_id,
                            "ShareType": share,
                            "Visibility": "AllUsers",
                        },
                        {},
                    )
        else:
            latest = conn.execute(
                'SELECT MAX(CAST("VersionNumber" AS INTEGER)) FROM "ContentVersion" '
                'WHERE "ContentDocumentId" = ?',
                (doc_id,),
            ).fetchone()[0]
            if latest is None:
                raise OrgError(400, "INVALID_CROSS_REFERENCE_KEY", f"invalid cross reference id: {doc_id}")
            row["VersionNumber"] = str(latest + 1)
            conn.execute(
                'UPDATE "ContentVersion" SET "IsLatest" = 0 WHERE "ContentDocumentId" = ?', (doc_id,)
            )
        conn.execute(
            'UPDATE "ContentDocument" SET "LatestPublishedVersionId" = ?, "ContentSize" = ?, '
            '"FileType" = ?, "FileExtension" = ?, "Title" = ?, "PublishStatus" = \'P\', '
            '"ContentModifiedDate" = ?, "LastModifiedDate" = ?, "SystemModstamp" = ? WHERE "Id" = ?',
            (
                row["Id"],
                len(data),
                row["FileType"],
                row["FileExtension"],
                row["Title"],
                row["SystemModstamp"],
                row["SystemModstamp"],
                row["SystemModstamp"],
                doc_id,
            ),
        )

    def update(self, name: str, record_id: str, values: dict[str, Any]) -> None:
        """Update fields of a live record (base64 bodies replace the body and its length)."""
        obj = self._object(name)
        stored, bodies = self._storage_values(obj, values, creating=False)
        with self._lock:
            conn = self._conn()
            row_id = self._existing(obj, record_id)
            now = sql_datetime(self.now())
            for key in ("LastModifiedDate", "SystemModstamp"):
                if obj.field(key) is not None:
                    stored[key] = now
            for fname, data in bodies.items():
                if obj.field(datagen_length(fname)) is not None:
                    stored[datagen_length(fname)] = len(data)
            if obj.field("LastName") is not None and {"FirstName", "LastName"} & stored.keys():
                first, last = self._fetchone(
                    f'SELECT "FirstName", "LastName" FROM "{obj.name}" WHERE "Id" = ?', [row_id]
                )
                first, last = stored.get("FirstName", first), stored.get("LastName", last)
                stored["Name"] = " ".join(p for p in (first, last) if p)
            conn.execute("BEGIN IMMEDIATE")
            try:
                if stored:
                    sets = ", ".join(f'"{k}" = ?' for k in stored)
                    conn.execute(f'UPDATE "{obj.name}" SET {sets} WHERE "Id" = ?', [*stored.values(), row_id])
                for fname, data in bodies.items():
                    ctype = conn.execute(
                        "SELECT content_type FROM _blob WHERE record_id = ? AND field = ?", (row_id, fname)
                    ).fetchone()
                    self._store_body(
                        conn, row_id, fname, data, stored.get("ContentType") or (ctype[0] if ctype else None)
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def delete(self, name: str, record_id: str) -> None:
        """Soft delete: IsDeleted = true and SystemModstamp = now (queryAll still returns it).
        Cascading children (an Account's Contacts, Opportunities, Attachments...) go with it."""
        obj = self._object(name)
        with self._lock:
            row_id = self._existing(obj, record_id)
            conn = self._conn()
            if not obj.has_is_deleted:
                conn.execute(f'DELETE FROM "{obj.name}" WHERE "Id" = ?', (row_id,))
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                self._cascade(conn, obj, [row_id], sql_datetime(self.now()), None)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def _cascade(
        self, conn: sqlite3.Connection, obj: ObjectDef, ids: list[str], stamp: str, restore_stamp: str | None
    ) -> None:
        """Delete (restore_stamp None) or undelete `ids` and, recursively, their cascading children.
        Undelete restores the children deleted together with the parent (same SystemModstamp)."""
        if not ids or not obj.has_is_deleted:
            return
        sets = '"IsDeleted" = ?, "SystemModstamp" = ?'
        if obj.field("LastModifiedDate") is not None:
            sets += ', "LastModifiedDate" = ?'
        values = [0 if restore_stamp else 1, stamp] + ([stamp] if obj.field("LastModifiedDate") else [])
        match = '"IsDeleted" = 1 AND "SystemModstamp" = ?' if restore_stamp else '"IsDeleted" = 0'
        extra = [restore_stamp] if restore_stamp else []
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            conn.execute(f'UPDATE "{obj.name}" SET {sets} WHERE "Id" IN ({marks})', [*values, *chunk])
            for child_name, field_name, _ in obj.child_relationships:
                if (child_name, field_name) not in CASCADE_DELETE:
                    continue
                child = self._catalog[child_name.lower()]
                child_ids = [
                    r[0]
                    for r in conn.execute(
                        f'SELECT "Id" FROM "{child.name}" WHERE "{field_name}" IN ({marks}) AND {match}',
                        [*chunk, *extra],
                    )
                ]
                self._cascade(conn, child, child_ids, stamp, restore_stamp)

    def undelete(self, name: str, record_id: str) -> None:
        """Restore a soft-deleted record (and what was deleted with it) from the recycle bin."""
        obj = self._object(name)
        row_id = datagen.normalize_id(record_id)
        with self._lock:
            conn = self._conn()
            found = (
                conn.execute(
                    f'SELECT "SystemModstamp" FROM "{obj.name}" WHERE "Id" = ? AND "IsDeleted" = 1', (row_id,)
                ).fetchone()
                if obj.has_is_deleted
                else None
            )
            if not found:
                raise OrgError(
                    404,
                    "NOT_FOUND",
                    f"Provided external ID field does not exist or is not accessible: {record_id}",
                )
            conn.execute("BEGIN IMMEDIATE")
            try:
                self._cascade(conn, obj, [str(row_id)], sql_datetime(self.now()), str(found[0]))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def purge(self, name: str, record_id: str) -> None:
        """Remove a record for good (emptying the recycle bin): it no longer appears even in queryAll."""
        obj = self._object(name)
        row_id = datagen.normalize_id(record_id)
        with self._lock:
            conn = self._conn()
            conn.execute(f'DELETE FROM "{obj.name}" WHERE "Id" = ?', (row_id,))
            conn.execute("DELETE FROM _blob WHERE record_id = ?", (row_id,))


def datagen_length(body_field: str) -> str:
    """The size field that goes with a base64 field (Body -> BodyLength, VersionData -> ContentSize)."""
    return "ContentSize" if body_field == "VersionData" else "BodyLength"


def _to_storage(ftype: str, value: Any, obj_name: str, fname: str) -> Any:
    if value is None:
        return None
    try:
        if ftype == "boolean":
            if not isinstance(value, bool):
                raise ValueError(value)
            return int(value)
        if ftype == "datetime":
            return sql_datetime(parse_datetime(str(value)))
        if ftype in ("int", "long"):
            return int(value)
        if ftype in ("double", "currency", "percent"):
            return float(value)
        if ftype in ("id", "reference"):
            normalized = datagen.normalize_id(str(value))
            if normalized is None:
                raise ValueError(value)
            return normalized
        if ftype == "date":
            return datetime.strptime(str(value), "%Y-%m-%d").date().isoformat()
    except (ValueError, TypeError) as exc:
        raise OrgError(
            400,
            "JSON_PARSER_ERROR" if ftype != "reference" else "MALFORMED_ID",
            f"Cannot deserialize instance of {ftype} from value {value!r} for {obj_name}.{fname}",
        ) from exc
    text = str(value)
    return text or None

"""Deterministic synthetic data for the emulated org: ids, records and streamed file bodies.

Everything is derived from the config's seed, so two orgs with the same config hold the same data.
Record timestamps spread over the six years before `ANCHOR`; file bodies are generated as a stream
from (seed, record id, version) and never held whole in memory.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import itertools
import random
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from sfbackup.emulator.org.catalog import INDUSTRIES, LEAD_SOURCES, STAGES, ObjectDef

ANCHOR = datetime(2025, 6, 1, tzinfo=UTC)
_ANCHOR_TS = int(ANCHOR.timestamp())
_SPAN = 6 * 365 * 86400
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BLOCK = 1 << 16
#: Accounts beyond this many get no more Contacts, Opportunities, Leads, invoices or files: a
#: 5M-Account org stays quick to build (benchmarks read Accounts) with a 1M org's other objects.
DERIVED_CAP = 1_000_000
_INSERT_BATCH = 20_000
_SYSTEM = ("Id", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp",
           "IsDeleted", "OwnerId")  # fmt: skip


# -- ids -----------------------------------------------------------------------------------------


_UPPER_BITS = str.maketrans({c: ("1" if "A" <= c <= "Z" else "0") for c in _BASE62})


def id_suffix(id15: str) -> str:
    """The 3-character case-insensitivity checksum Salesforce appends to a 15-character id.

    Each 5-character chunk gives one character: bit i is set when the chunk's i-th character is
    upper case, and the 5-bit number indexes A-Z0-5.
    """
    bits = id15.translate(_UPPER_BITS)
    return _SUFFIX[int(bits[4::-1], 2)] + _SUFFIX[int(bits[9:4:-1], 2)] + _SUFFIX[int(bits[14:9:-1], 2)]


_PAIRS = [a + b for a in _BASE62 for b in _BASE62]


@functools.lru_cache(maxsize=1 << 16)
def _chunk_suffix(chunk: str) -> str:
    return _SUFFIX[int(chunk.translate(_UPPER_BITS)[::-1], 2)]


_PAIR_UPPER = [("A" <= pair[0] <= "Z") | ("A" <= pair[1] <= "Z") << 1 for pair in _PAIRS]


def make_id(prefix: str, n: int) -> str:
    """The n-th 18-character id with key prefix `prefix` (ids sort in creation order)."""
    head = prefix + "Dx"  # ids are prefix + "Dx" + 10 digits: exactly the three 5-character chunks
    if n < 3844**3:
        # digits "0000" + pairs a, b, c: the checksum bits come from the pairs' upper-case flags
        high, c = divmod(n, 3844)
        a, b = divmod(high, 3844)
        upper_a = _PAIR_UPPER[a]
        return (
            f"{head}0000{_PAIRS[a]}{_PAIRS[b]}{_PAIRS[c]}{_chunk_suffix(head)}{_SUFFIX[(upper_a & 1) << 4]}"
            f"{_SUFFIX[upper_a >> 1 | _PAIR_UPPER[b] << 1 | _PAIR_UPPER[c] << 3]}"
        )
    digits = ""
    while n:
        n, r = divmod(n, 62)
        digits = _BASE62[r] + digits
    digits = digits.rjust(10, "0")
    return head + digits + _chunk_suffix(head) + _chunk_suffix(digits[:5]) + _chunk_suffix(digits[5:])


def normalize_id(value: str) -> str | None:
    """An 18-character id for a 15- or 18-character one; None when `value` is not an id."""
    if len(value) not in (15, 18) or not value.isalnum() or not value.isascii():
        return None
    return value[:15] + id_suffix(value[:15])


# -- values --------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1 << 14)
def _day_text(day: int) -> str:
    return time.strftime("%Y-%m-%dT", time.gmtime(day * 86400))


_TIME_OF_DAY = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}.000Z" for s in range(86400)]


def fmt_ts(ts: int) -> str:
    """Stored datetime form `YYYY-MM-DDTHH:MM:SS.000Z` of a Unix timestamp."""
    day, second = divmod(ts, 86400)
    return _day_text(day) + _TIME_OF_DAY[second]


def fmt_date(ts: int) -> str:
    """`YYYY-MM-DD` of a Unix timestamp."""
    return _day_text(ts // 86400)[:-1]


TRICKY_TEXT = (
    "Plain text",
    "Line one\nLine two",
    'Quote "inside" here',
    "Comma, separated, values",
    "Ünïcödé café — naïve",
    "Emoji 🎉🚀 party",
    "CRLF line\r\nbreak",
    "=1+2 formula-like",
    "Back\\slash and 'single' quotes",
    "Tab\tseparated",
    "日本語のテキスト",
    " leading and trailing ",
)
_WORDS = (
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Wonka",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Hooli",
    "Vandelay",
    "Aperture",
    "Massive",
    "Dynamic",
    "Nordic",
    "Pacific",
    "Zenith",
)
_SUFFIXES = ("Corp", "Inc.", "GmbH", "Ltd", "S.A.", "Group", "Labs", "Holdings", "& Sons", "Société")
_FIRST = (
    "Ana",
    "Ben",
    "Chloé",
    "Dmitri",
    "Eva",
    "Femi",
    "Grace",
    "Hiro",
    "Ines",
    "José",
    "Kai",
    "Lena",
    "Mohammed",
    "Nora",
    "Olu",
    "Priya",
    "Quinn",
    "Rosa",
    "Sven",
    "Tariq",
    None,
)
_LAST = (
    "Smith",
    "García",
    "Müller",
    "O'Brien",
    "Nguyen",
    "Kowalski",
    "Rossi",
    "Tanaka",
    "Dubois",
    "Okafor",
    "Johansson",
    "Silva",
    "Novák",
    "Andersen",
    "Yılmaz",
    "Haddad",
)
_CITIES = (
    ("San Francisco", "CA", "94105", "US", 37.7898, -122.3942),
    ("Paris", None, "75002", "France", 48.8686, 2.3412),
    ("München", "Bayern", "80331", "Germany", 48.1374, 11.5755),
    ("Tokyo", None, "100-0005", "Japan", 35.6812, 139.7671),
    ("Austin", "TX", "78701", "US", 30.2672, -97.7431),
    ("São Paulo", "SP", "01310-100", "Brazil", -23.5614, -46.6559),
)
_FILES = (
    ("pdf", "PDF", "application/pdf"),
    ("jpg", "JPG", "image/jpeg"),
    ("txt", "TEXT", "text/plain"),
    ("csv", "CSV", "text/csv"),
    ("zip", "ZIP", "application/zip"),
    ("docx", "WORD_X", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
)


# -- file bodies ---------------------------------------------------------------------------------


def body_chunks(gen_key: str, size: int, chunk_size: int = 1 << 20) -> Iterator[bytes]:
    """The deterministic body for `gen_key`, `size` bytes, in chunks of `chunk_size` (last may be shorter)."""
    key = int.from_bytes(hashlib.blake2b(gen_key.encode(), digest_size=8).digest(), "big")
    buf = bytearray()
    produced = 0
    block = 0
    while produced < size:
        data = random.Random(key + block).randbytes(min(_BLOCK, size - block * _BLOCK))
        block += 1
        buf += data
        produced += len(data)
        while len(buf) >= chunk_size:
            yield bytes(buf[:chunk_size])
            del buf[:chunk_size]
    if buf:
        yield bytes(buf)


def body_md5(gen_key: str, size: int) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    for chunk in body_chunks(gen_key, size):
        digest.update(chunk)
    return digest.hexdigest()


# -- schema --------------------------------------------------------------------------------------


def sql_type(ftype: str) -> str:
    if ftype in ("boolean", "int", "long"):
        return "INTEGER"
    if ftype in ("double", "currency", "percent"):
        return "REAL"
    return "TEXT"


def create_schema(conn: sqlite3.Connection, catalog: dict[str, ObjectDef]) -> None:
    for obj in catalog.values():
        cols = ", ".join(
            f'"{f.name}" {sql_type(f.type)}' + (" PRIMARY KEY" if f.name == "Id" else "")
            for f in obj.stored_fields
        )
        conn.execute(f'CREATE TABLE "{obj.name}" ({cols})')
    conn.execute(
        "CREATE TABLE _blob (record_id TEXT NOT NULL, field TEXT NOT NULL, size INTEGER NOT NULL, "
        "content_type TEXT, gen_key TEXT, data BLOB, PRIMARY KEY (record_id, field))"
    )
    conn.execute("CREATE TABLE _meta (key TEXT PRIMARY KEY, value TEXT)")
    conn.execute("CREATE TABLE _counter (prefix TEXT PRIMARY KEY, n INTEGER NOT NULL)")


_INDEXES = (
    ("Contact", "AccountId"),
    ("Opportunity", "AccountId"),
    ("Attachment", "ParentId"),
    ("ContentVersion", "ContentDocumentId"),
    ("ContentDocumentLink", "ContentDocumentId"),
    ("ContentDocumentLink", "LinkedEntityId"),
    ("Invoice__c", "Account__c"),
)


# -- generation ----------------------------------------------------------------------------------


class Generator:
    """Fills an empty org database from a seed; `records` is the number of Accounts."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        catalog: dict[str, ObjectDef],
        *,
        seed: int,
        records: int,
        large_file_bytes: int,
        shape_rows: Callable[[Generator], None] | None = None,
    ) -> None:
        self.conn = conn
        self.shape_rows = shape_rows
        self.catalog = catalog
        self.rng = random.Random(seed)
        self.seed = seed
        self.n = records
        self.large = large_file_bytes
        self.counters: dict[str, int] = {}
        self.ids: dict[str, list[str]] = {}
        self.users: list[str] = []
        self.active_users: list[str] = []

    def new_id(self, prefix: str) -> str:
        n = self.counters.get(prefix, 0) + 1
        self.counters[prefix] = n
        return make_id(prefix, n)

    def pick(self, seq: Sequence[Any]) -> Any:
        return seq[int(self.rng.random() * len(seq))]

    def times(self) -> tuple[str, str]:
        rnd = self.rng.random
        created = _ANCHOR_TS - int(rnd() * _SPAN)
        created_text = fmt_ts(created)
        if rnd() < 0.5:
            return created_text, created_text
        return created_text, fmt_ts(created + int(rnd() * (_ANCHOR_TS - created)))

    def system(self, obj: ObjectDef, deleted_rate: float = 0.0) -> dict[str, Any]:
        created, modified = self.times()
        by = self.pick(self.active_users) if self.active_users else None
        row: dict[str, Any] = {
            "Id": self.new_id(obj.prefix),
            "CreatedDate": created,
            "CreatedById": by,
            "LastModifiedDate": modified,
            "LastModifiedById": by,
            "SystemModstamp": modified,
        }
        if obj.has_is_deleted:
            row["IsDeleted"] = 1 if self.rng.random() < deleted_rate else 0
        if obj.field("OwnerId") is not None:
            row["OwnerId"] = self.pick(self.active_users) if self.active_users else None
        return row

    def insert(self, name: str, rows: list[dict[str, Any]]) -> None:
        obj = self.catalog[name.lower()]
        present: set[str] = set().union(*rows) if rows else set()
        # Columns no row sets stay NULL without binding a value for each row.
        cols = [f.name for f in obj.stored_fields if f.name in present]
        sql = (
            f'INSERT INTO "{obj.name}" ({", ".join(chr(34) + c + chr(34) for c in cols)}) '
            f"VALUES ({', '.join('?' * len(cols))})"
        )
        self.conn.executemany(sql, [tuple(map(r.get, cols)) for r in rows])
        self.ids.setdefault(obj.name, []).extend(r["Id"] for r in rows)

    def maybe(self, value: Any, rate: float = 0.25) -> Any:
        return None if self.rng.random() < rate else value

    def run(self) -> None:
        # Millions of short-lived row dicts make the cyclic GC rescan everything: pause it.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            self._run()
        finally:
            if gc_was_enabled:
                gc.enable()

    def _run(self) -> None:
        self.setup_objects()
        self.accounts()
        self.people()
        self.invoices()
        self.files()
        generic = [
            o for o in self.catalog.values() if o.name not in self.ids and o.queryable and not o.refuses_query
        ]
        for obj in sorted(generic, key=lambda o: o.associate_entity_type is not None):
            count = obj.generated_rows if obj.generated_rows is not None else 3 + int(self.rng.random() * 3)
            if count:
                self.generic(obj, count)
        if self.shape_rows is not None:
            self.shape_rows(self)
        for table, column in _INDEXES:
            self.conn.execute(f'CREATE INDEX "ix_{table}_{column}" ON "{table}" ("{column}")')
        for obj in self.catalog.values():
            if obj.field("SystemModstamp") is not None:
                self.conn.execute(f'CREATE INDEX "ix_{obj.name}_ts" ON "{obj.name}" ("SystemModstamp")')
        self.conn.executemany("INSERT INTO _counter VALUES (?, ?)", sorted(self.counters.items()))

    def setup_objects(self) -> None:
        cat = self.catalog
        profiles = []
        for name, utype in (
            ("System Administrator", "Standard"),
            ("Standard User", "Standard"),
            ("Read Only", "Standard"),
        ):
            row = self.system(cat["profile"])
            row.update(Name=name, UserType=utype, Description=None)
            profiles.append(row)
        roles = []
        parent = None
        for name in ("CEO", "VP Sales", "Sales Rep"):
            row = self.system(cat["userrole"])
            row.update(Name=name, ParentRoleId=parent, DeveloperName=name.replace(" ", ""))
            parent = row["Id"]
            roles.append(row)
        users = []
        specs = (
            ("Admin", "User", True, "Standard"),
            ("Automated", "Process", True, "AutomatedProcess"),
            ("Ana", "García", True, "Standard"),
            ("Ben", "Okafor", True, "Standard"),
            ("Chloé", "Dubois", True, "Standard"),
            ("Dmitri", "Novák", False, "Standard"),
            ("Eva", "Tanaka", False, "Standard"),
            ("Femi", "Rossi", True, "Standard"),
        )
        for i, (first, last, active, utype) in enumerate(specs):
            row = self.system(cat["user"])
            login = first.lower().replace("é", "e") + "." + last.lower().replace("í", "i").replace("á", "a")
            row.update(
                Username=f"{login}@emulated.example",
                FirstName=first,
                LastName=last,
                Name=f"{first} {last}",
                CompanyName="Emulated Org",
                Email=f"{login}@example.com",
                Alias=(first[:1] + last[:4]).lower(),
                IsActive=1 if active else 0,
                UserRoleId=roles[min(i, 2)]["Id"] if utype == "Standard" else None,
                ProfileId=profiles[0 if i == 0 else 1 + i % 2]["Id"],
                UserType=utype,
                TimeZoneSidKey="America/Los_Angeles",
                ManagerId=None,
                LastLoginDate=self.maybe(row["LastModifiedDate"], 0.3),
            )
            users.append(row)
        self.users = [u["Id"] for u in users]
        self.active_users = [u["Id"] for u, s in zip(users, specs, strict=True) if s[2]]
        for row in [*profiles, *roles, *users]:
            row["CreatedById"] = row["LastModifiedById"] = self.users[0]
            if "OwnerId" in row:
                row["OwnerId"] = self.users[0]
        self.insert("Profile", profiles)
        self.insert("UserRole", roles)
        self.insert("User", users)
        org = self.system(cat["organization"])
        org.update(
            Name="Emulated Org",
            Division=None,
            Street="1 Market St",
            City="San Francisco",
            State="CA",
            PostalCode="94105",
            Country="US",
            Phone="(415) 555-0100",
            InstanceName="EMU1",
            IsSandbox=0,
            TrialExpirationDate=None,
            NamespacePrefix=None,
            OrganizationType="Developer Edition",
        )
        self.insert("Organization", [org])
        self.simple(
            "Group",
            [
                dict(
                    Name="All Internal Users",
                    DeveloperName="AllInternalUsers",
                    Type="Organization",
                    DoesIncludeBosses=0,
                ),
                dict(
                    Name="Sales Queue",
                    DeveloperName="Sales_Queue",
                    Type="Queue",
                    Email="sales@example.com",
                    DoesIncludeBosses=1,
                ),
            ],
        )
        self.simple(
            "PermissionSet",
            [
                dict(
                    Name="X00ex000000AdminProfile",
                    Label="System Administrator",
                    IsOwnedByProfile=1,
                    ProfileId=profiles[0]["Id"],
                ),
                dict(
                    Name="Backup_Operator",
                    Label="Backup Operator",
                    IsOwnedByProfile=0,
                    Description="Read everything, including files",
                ),
                dict(Name="Sales_Extras", Label="Sales Extras", IsOwnedByProfile=0),
            ],
        )
        sets = self.ids["PermissionSet"]
        self.simple(
            "PermissionSetAssignment",
            [
                dict(PermissionSetId=sets[i % len(sets)], AssigneeId=u, IsActive=1)
                for i, u in enumerate(self.users)
            ],
        )
        self.simple(
            "RecordType",
            [
                dict(Name="Business", DeveloperName="Business", SobjectType="Account", IsActive=1),
                dict(
                    Name="New Business", DeveloperName="New_Business", SobjectType="Opportunity", IsActive=1
                ),
                dict(Name="Retired", DeveloperName="Retired", SobjectType="Account", IsActive=0),
            ],
        )
        self.simple(
            "Folder",
            [
                dict(
                    Name="Shared Documents",
                    DeveloperName="Shared_Documents",
                    AccessType="Public",
                    IsReadonly=0,
                    Type="Document",
                ),
                dict(
                    Name="Templates",
                    DeveloperName="Templates",
                    AccessType="Shared",
                    IsReadonly=1,
                    Type="Document",
                ),
            ],
        )
        self.simple(
            "CaseStatus",
            [
                dict(MasterLabel=s, ApiName=s, SortOrder=i + 1, IsDefault=int(i == 0))
                for i, s in enumerate(("New", "Working", "Escalated", "Closed"))
            ],
        )
        self.simple(
            "TaskStatus",
            [
                dict(MasterLabel=s, ApiName=s, SortOrder=i + 1, IsDefault=int(i == 0))
                for i, s in enumerate(("Not Started", "In Progress", "Completed"))
            ],
        )

    def simple(self, name: str, values: list[dict[str, Any]]) -> None:
        rows = []
        for v in values:
            row = self.system(self.catalog[name.lower()])
            row.update(v)
            rows.append(row)
        self.insert(name, rows)

    # The big objects are built as tuples in tight loops (local names, inline draws) and inserted
    # in batches: the same random draws in the same order as the dict-per-row helpers above, about
    # three times faster, and memory stays flat at any scale.

    def derived_scale(self) -> int:
        """Accounts that the derived objects scale with: all of them up to DERIVED_CAP."""
        return min(self.n, DERIVED_CAP)

    def system_maker(self, obj: ObjectDef, deleted_rate: float) -> Callable[[], tuple[Any, ...]]:
        """`system` as a tuple (Id, CreatedDate, CreatedById, LastModifiedDate, LastModifiedById,
        SystemModstamp, IsDeleted, OwnerId), with the same draws."""
        rnd = self.rng.random
        users = self.active_users
        k = len(users)
        prefix, counters = obj.prefix, self.counters
        has_deleted, has_owner = obj.has_is_deleted, obj.field("OwnerId") is not None

        def system() -> tuple[Any, ...]:
            n = counters.get(prefix, 0) + 1
            counters[prefix] = n
            created = _ANCHOR_TS - int(rnd() * _SPAN)
            created_text = fmt_ts(created)
            if rnd() < 0.5:
                modified_text = created_text
            else:
                modified_text = fmt_ts(created + int(rnd() * (_ANCHOR_TS - created)))
            by = users[int(rnd() * k)] if k else None
            deleted = (1 if rnd() < deleted_rate else 0) if has_deleted else None
            owner = users[int(rnd() * k)] if has_owner and k else None
            return make_id(prefix, n), created_text, by, modified_text, by, modified_text, deleted, owner

        return system

    def insert_tuples(self, name: str, columns: Sequence[str], rows: Iterator[tuple[Any, ...]]) -> None:
        """Insert `rows` (values for `columns`, in that order) in batches; columns the object does
        not store are dropped. Every Id is kept in `self.ids` (other objects pick from them)."""
        obj = self.catalog[name.lower()]
        stored = {f.name for f in obj.stored_fields}
        keep = [i for i, c in enumerate(columns) if c in stored]
        names = ", ".join(f'"{columns[i]}"' for i in keep)
        sql = f'INSERT INTO "{obj.name}" ({names}) VALUES ({", ".join("?" * len(keep))})'
        ids = self.ids.setdefault(obj.name, [])
        project = None if len(keep) == len(columns) else itemgetter(*keep)
        while batch := list(itertools.islice(rows, _INSERT_BATCH)):
            ids.extend([row[0] for row in batch])
            self.conn.executemany(sql, batch if project is None else map(project, batch))

    def accounts(self) -> None:
        rng, rnd = self.rng, self.rng.random
        below = rng._randbelow  # type: ignore[attr-defined]  # what randrange(a, b) calls: a + _randbelow(b - a)
        system = self.system_maker(self.catalog["account"], 0.03)
        types = ("Prospect", "Customer - Direct", "Customer - Channel", "Partner", None)
        business = self.ids["RecordType"][0]
        ids: list[str] = []
        n_cities, n_words, n_suffixes, n_industries = (
            len(_CITIES),
            len(_WORDS),
            len(_SUFFIXES),
            len(INDUSTRIES),
        )
        n_sources, n_tricky = len(LEAD_SOURCES), len(TRICKY_TEXT)
        columns = (*_SYSTEM, "Name", "Type", "RecordTypeId", "ParentId", "BillingStreet", "BillingCity",
                   "BillingState", "BillingPostalCode", "BillingCountry", "BillingLatitude",
                   "BillingLongitude", "BillingGeocodeAccuracy", "ShippingCity", "Phone", "Website",
                   "AccountNumber", "Industry",
                   "AnnualRevenue", "NumberOfEmployees", "Description", "Rating", "AccountSource",
                   "LastActivityDate")  # fmt: skip

        def rows() -> Iterator[tuple[Any, ...]]:
            for i in range(self.n):
                sys_values = system()
                city, state, postal, country, lat, lon = _CITIES[int(rnd() * n_cities)]
                geo = rnd() < 0.5
                name = f"{_WORDS[int(rnd() * n_words)]} {_SUFFIXES[int(rnd() * n_suffixes)]} {i + 1}"
                kind = types[int(rnd() * 5)]
                record_type = business if rnd() < 0.3 else None
                parent = ids[int(rnd() * i)] if i and rnd() < 0.1 else None
                street: Any = f"{1 + below(998)} Main Street" + ("\nSuite 200" if rnd() < 0.2 else "")
                street = None if rnd() < 0.25 else street
                shipping = None if rnd() < 0.6 else city
                phone: Any = f"+1 415 555 {below(10000):04d}"
                phone = None if rnd() < 0.25 else phone
                website = None if rnd() < 0.25 else f"https://www.example{i}.com"
                number = None if rnd() < 0.25 else f"CD{i:06d}"
                industry: Any = INDUSTRIES[int(rnd() * n_industries)]
                industry = None if rnd() < 0.25 else industry
                revenue: Any = float((1 + below(4999)) * 10000)
                revenue = None if rnd() < 0.25 else revenue
                employees = 1 + below(99999)
                employees = None if rnd() < 0.25 else employees
                description: Any = TRICKY_TEXT[int(rnd() * n_tricky)]
                description = None if rnd() < 0.5 else description
                rating: Any = ("Hot", "Warm", "Cold")[int(rnd() * 3)]
                rating = None if rnd() < 0.25 else rating
                source: Any = LEAD_SOURCES[int(rnd() * n_sources)]
                source = None if rnd() < 0.25 else source
                activity = None if rnd() < 0.7 else sys_values[3][:10]
                ids.append(sys_values[0])
                yield (*sys_values, name, kind, record_type, parent, street, city, state, postal, country,
                       lat if geo else None, lon if geo else None, "Address" if geo else None, shipping,
                       phone, website, number, industry, revenue, employees, description, rating, source,
                       activity)  # fmt: skip

        self.insert_tuples("Account", columns, rows())

    def people(self) -> None:
        self.contacts()
        self.opportunities()
        self.leads()

    def contacts(self) -> None:
        rng, rnd = self.rng, self.rng.random
        below = rng._randbelow  # type: ignore[attr-defined]
        accounts = self.ids["Account"]
        system = self.system_maker(self.catalog["contact"], 0.02)
        n_accounts, n_first, n_last, n_cities = len(accounts), len(_FIRST), len(_LAST), len(_CITIES)
        n_sources, n_tricky = len(LEAD_SOURCES), len(TRICKY_TEXT)
        columns = (*_SYSTEM, "AccountId", "FirstName", "LastName", "Name", "Salutation", "MailingCity",
                   "Email", "Title", "Phone", "LeadSource", "Birthdate", "Description",
                   "IsEmailBounced")  # fmt: skip

        def rows() -> Iterator[tuple[Any, ...]]:
            for i in range(2 * self.derived_scale()):
                sys_values = system()
                first, last = _FIRST[int(rnd() * n_first)], _LAST[int(rnd() * n_last)]
                account: Any = accounts[int(rnd() * n_accounts)]
                account = None if rnd() < 0.1 else account
                salutation = None if rnd() < 0.7 else "Ms."
                city: Any = _CITIES[int(rnd() * n_cities)][0]
                city = None if rnd() < 0.4 else city
                email = None if rnd() < 0.2 else f"person{i}@example.com"
                title = None if rnd() < 0.25 else "Director"
                phone = None if rnd() < 0.25 else f"(555) 010-{i % 10000:04d}"
                source: Any = LEAD_SOURCES[int(rnd() * n_sources)]
                source = None if rnd() < 0.25 else source
                birthdate: Any = fmt_date(_ANCHOR_TS - (20 + below(50)) * 365 * 86400)
                birthdate = None if rnd() < 0.6 else birthdate
                description: Any = TRICKY_TEXT[int(rnd() * n_tricky)]
                description = None if rnd() < 0.7 else description
                full_name = f"{first} {last}" if first else last
                yield (*sys_values, account, first, last, full_name, salutation, city, email, title, phone,
                       source, birthdate, description, 0)  # fmt: skip

        self.insert_tuples("Contact", columns, rows())

    def opportunities(self) -> None:
        rng, rnd = self.rng, self.rng.random
        below, uniform = rng._randbelow, rng.uniform  # type: ignore[attr-defined]
        accounts = self.ids["Account"]
        system = self.system_maker(self.catalog["opportunity"], 0.02)
        n_accounts, n_stages, n_sources = len(accounts), len(STAGES), len(LEAD_SOURCES)
        probabilities = (10, 20, 50, 75, 90, 100, 0)
        columns = (*_SYSTEM, "AccountId", "Name", "StageName", "Amount", "Probability", "CloseDate",
                   "IsClosed", "IsWon", "IsPrivate", "ForecastCategory", "LeadSource")  # fmt: skip

        def rows() -> Iterator[tuple[Any, ...]]:
            for i in range(self.derived_scale()):
                sys_values = system()
                stage = STAGES[int(rnd() * n_stages)]
                account: Any = accounts[int(rnd() * n_accounts)]
                account = None if rnd() < 0.05 else account
                amount: Any = round(uniform(100, 1e6), 2)
                amount = None if rnd() < 0.25 else amount
                probability = float(probabilities[int(rnd() * 7)])
                close = fmt_date(_ANCHOR_TS - (below(6 * 365) - 365) * 86400)
                closed = stage.startswith("Closed")
                source: Any = LEAD_SOURCES[int(rnd() * n_sources)]
                source = None if rnd() < 0.25 else source
                yield (*sys_values, account, f"Opportunity {i + 1}", stage, amount, probability, close,
                       int(closed), int(stage == "Closed Won"), 0, "Closed" if closed else "Pipeline",
                       source)  # fmt: skip

        self.insert_tuples("Opportunity", columns, rows())

    def leads(self) -> None:
        rng, rnd = self.rng, self.rng.random
        below = rng._randbelow  # type: ignore[attr-defined]
        system = self.system_maker(self.catalog["lead"], 0.02)
        n_first, n_last, n_words, n_suffixes, n_cities = (
            len(_FIRST),
            len(_LAST),
            len(_WORDS),
            len(_SUFFIXES),
            len(_CITIES),
        )
        statuses = ("Open - Not Contacted", "Working - Contacted")
        columns = (*_SYSTEM, "FirstName", "LastName", "Name", "Company", "Status", "City", "Email",
                   "AnnualRevenue", "IsConverted")  # fmt: skip

        def rows() -> Iterator[tuple[Any, ...]]:
            for i in range(self.derived_scale()):
                sys_values = system()
                first, last = _FIRST[int(rnd() * n_first)], _LAST[int(rnd() * n_last)]
                company = f"{_WORDS[int(rnd() * n_words)]} {_SUFFIXES[int(rnd() * n_suffixes)]}"
                status = statuses[int(rnd() * 2)]
                city: Any = _CITIES[int(rnd() * n_cities)][0]
                city = None if rnd() < 0.25 else city
                email = None if rnd() < 0.25 else f"lead{i}@example.net"
                revenue: Any = float((1 + below(899)) * 1000)
                revenue = None if rnd() < 0.25 else revenue
                yield (*sys_values, first, last, f"{first} {last}" if first else last, company, status, city,
                       email, revenue, 0)  # fmt: skip

        self.insert_tuples("Lead", columns, rows())

    def invoices(self) -> None:
        rng, rnd = self.rng, self.rng.random
        below, uniform, sample = rng._randbelow, rng.uniform, rng.sample  # type: ignore[attr-defined]
        accounts = self.ids["Account"]
        system = self.system_maker(self.catalog["invoice__c"], 0.02)
        n_accounts, n_tricky = len(accounts), len(TRICKY_TEXT)
        statuses = ("Draft", "Sent", "Paid", "Void")
        tags = ("Urgent", "Export", "Recurring", "Disputed")
        channels = ("Web", "Email", "Post", "Carrier pigeon")
        columns = (*_SYSTEM, "Name", "Account__c", "Description__c", "Notes__c", "Paid__c", "Quantity__c",
                   "Sequence__c", "Rate__c", "Amount__c", "Discount__c", "Invoice_Date__c", "Sent_At__c",
                   "Due_Time__c", "Status__c", "Tags__c", "Contact_Email__c", "Phone__c", "Website__c",
                   "Channel__c", "Secret__c", "Location__Latitude__s", "Location__Longitude__s")  # fmt: skip

        def rows() -> Iterator[tuple[Any, ...]]:
            for i in range(self.derived_scale()):
                sys_values = system()
                lat_lon = rnd() < 0.6
                sent = _ANCHOR_TS - below(_SPAN)
                account: Any = accounts[int(rnd() * n_accounts)]
                account = None if rnd() < 0.1 else account
                description = None if rnd() < 0.1 else TRICKY_TEXT[i % n_tricky].replace("\r\n", " ")
                notes = (
                    None if rnd() < 0.2 else TRICKY_TEXT[(i * 7) % n_tricky] + '\nSecond line, with "quotes"'
                )
                paid = int(rnd() < 0.4)
                quantity = below(1005) - 5
                quantity = None if rnd() < 0.25 else quantity
                sequence = 2**40 + below(2**53 - 2**40)
                sequence = None if rnd() < 0.25 else sequence
                rate: Any = round(uniform(0, 99), 4)
                rate = None if rnd() < 0.25 else rate
                amount: Any = round(uniform(-1000, 1e7), 2)
                amount = None if rnd() < 0.25 else amount
                discount: Any = round(uniform(0, 100), 2)
                discount = None if rnd() < 0.25 else discount
                invoice_date = None if rnd() < 0.25 else fmt_date(sent)
                sent_at = None if rnd() < 0.25 else fmt_ts(sent)
                due: Any = f"{below(24):02d}:30:00.000Z"
                due = None if rnd() < 0.25 else due
                status: Any = statuses[int(rnd() * 4)]
                status = None if rnd() < 0.1 else status
                picked: Any = ";".join(sorted(sample(tags, 1 + below(3))))
                picked = None if rnd() < 0.4 else picked
                email = None if rnd() < 0.25 else f"billing{i}@example.org"
                phone = None if rnd() < 0.25 else "+44 20 7946 0018"
                website = None if rnd() < 0.25 else "https://pay.example.com/i?id=" + str(i) + '&x="y"'
                channel: Any = channels[int(rnd() * 4)]
                channel = None if rnd() < 0.25 else channel
                secret = None if rnd() < 0.25 else "s3cr3t-" + str(i)
                lat = round(uniform(-90, 90), 6) if lat_lon else None
                lon = round(uniform(-180, 180), 6) if lat_lon else None
                yield (*sys_values, f"INV-{i + 1:06d}", account, description, notes, paid, quantity, sequence,
                       rate, amount, discount, invoice_date, sent_at, due, status, picked, email, phone,
                       website, channel, secret, lat, lon)  # fmt: skip

        self.insert_tuples("Invoice__c", columns, rows())

    def file_size(self, index: int) -> int:
        if index == 0:
            return 0
        if index in (1, 2) and self.large:
            return self.large
        roll = self.rng.random()
        if roll < 0.6:
            return self.rng.randrange(1, 2048)
        if roll < 0.95:
            return self.rng.randrange(2048, 32768)
        return self.rng.randrange(32768, 300_000)

    def files(self) -> None:
        rng = self.rng
        parents = [*self.ids["Account"][:500], *self.ids["Contact"][:500], *self.ids["Invoice__c"][:200]]
        blobs: list[tuple[Any, ...]] = []
        attachments = []
        count = max(self.derived_scale() // 10, 3)
        for i in range(count):
            row = self.system(self.catalog["attachment"], 0.03)
            ext, _, mime = self.pick(_FILES)
            size = min(self.file_size(i), 25 * 2**20)  # Attachment bodies are limited to 25 MB
            row.update(
                ParentId=self.pick(parents),
                Name=f"attachment {i} é.{ext}",
                IsPrivate=0,
                ContentType=mime,
                BodyLength=size,
                Description=self.maybe("Scanned copy", 0.5),
            )
            blobs.append((row["Id"], "Body", size, mime, f"{self.seed}:{row['Id']}:1", None))
            attachments.append(row)
        self.insert("Attachment", attachments)
        docs, versions, links = [], [], []
        for i in range(count):
            doc = self.system(self.catalog["contentdocument"], 0.02)
            ext, ftype, mime = self.pick(_FILES)
            title = (
                self.pick(("Contract", "Résumé final", "Q3 report", "photo, 2024", 'Quote "v2"')) + f" {i}"
            )
            doc.update(Title=title, PublishStatus="P", FileType=ftype, FileExtension=ext, IsArchived=0)
            n_versions = rng.randrange(1, 4)
            created = doc["CreatedDate"]
            for v in range(1, n_versions + 1):
                ver = self.system(self.catalog["contentversion"])
                ver["IsDeleted"] = doc["IsDeleted"]
                size = self.file_size(i) if v == n_versions else rng.randrange(0, 50_000)
                gen_key = f"{self.seed}:{ver['Id']}:{v}"
                ver.update(
                    ContentDocumentId=doc["Id"],
                    IsLatest=int(v == n_versions),
                    VersionNumber=str(v),
                    Title=title,
                    PathOnClient=f"{title}.{ext}",
                    PublishStatus="P",
                    ContentSize=size,
                    FileType=ftype,
                    FileExtension=ext,
                    ContentLocation="S",
                    Origin="C",
                    Checksum=body_md5(gen_key, size),
                    OwnerId=doc["OwnerId"],
                    CreatedDate=max(created, ver["CreatedDate"]) if v > 1 else created,
                    ReasonForChange=None if v == 1 else "Updated",
                )
                ver["SystemModstamp"] = ver["LastModifiedDate"] = max(
                    ver["CreatedDate"], ver["LastModifiedDate"]
                )
                blobs.append((ver["Id"], "VersionData", size, mime, gen_key, None))
                versions.append(ver)
            latest = versions[-1]
            doc.update(
                LatestPublishedVersionId=latest["Id"],
                ContentSize=latest["ContentSize"],
                ContentModifiedDate=latest["CreatedDate"],
            )
            doc["SystemModstamp"] = doc["LastModifiedDate"] = max(
                doc["LastModifiedDate"], latest["CreatedDate"]
            )
            docs.append(doc)
            for entity, share in ((doc["OwnerId"], "I"), (self.pick(parents), "V")):
                link = {
                    "Id": self.new_id("06A"),
                    "LinkedEntityId": entity,
                    "ContentDocumentId": doc["Id"],
                    "IsDeleted": doc["IsDeleted"],
                    "SystemModstamp": doc["SystemModstamp"],
                    "ShareType": share,
                    "Visibility": "AllUsers",
                }
                links.append(link)
        self.insert("ContentDocument", docs)
        self.insert("ContentVersion", versions)
        self.insert("ContentDocumentLink", links)
        folder = self.ids["Folder"][0]
        documents = []
        for i in range(4):
            row = self.system(self.catalog["document"])
            ext, _, mime = _FILES[i]
            size = 0 if i == 3 else rng.randrange(100, 200_000)
            row.update(
                FolderId=folder,
                Name=f"Document {i}",
                DeveloperName=f"Document_{i}",
                ContentType=mime,
                Type=ext,
                IsPublic=int(i % 2 == 0),
                IsInternalUseOnly=0,
                AuthorId=self.users[0],
                BodyLength=None if i == 3 else size,
                Url="https://example.com/logo.png" if i == 3 else None,
            )
            if i != 3:
                blobs.append((row["Id"], "Body", size, mime, f"{self.seed}:{row['Id']}:1", None))
            documents.append(row)
        self.insert("Document", documents)
        self.conn.executemany("INSERT INTO _blob VALUES (?, ?, ?, ?, ?, ?)", blobs)

    def generic(self, obj: ObjectDef, count: int) -> None:
        """A few rows of any object, with values by field type (the optional larger catalog)."""
        rows = []
        for i in range(count):
            row = self.system(obj, 0.1)
            for fd in obj.stored_fields:
                if fd.name not in row:
                    row[fd.name] = self.generic_value(obj, fd, i)
            rows.append(row)
        self.insert(obj.name, rows)

    def generic_value(self, obj: ObjectDef, fd: Any, i: int) -> Any:
        rnd = self.rng.random
        t = fd.type
        if t == "reference":
            ids = self.ids.get(fd.reference_to[0]) or []
            return self.pick(ids) if ids else None
        if t == "boolean":
            return int(rnd() < 0.5)
        if t in ("int", "long"):
            return int(rnd() * (2**40 if t == "long" else 1000))
        if t in ("double", "currency", "percent"):
            return round(rnd() * 1000, 2)
        if t == "date":
            return fmt_date(_ANCHOR_TS - int(rnd() * _SPAN))
        if t == "datetime":
            return fmt_ts(_ANCHOR_TS - int(rnd() * _SPAN))
        if t == "time":
            return f"{int(rnd() * 24):02d}:{int(rnd() * 60):02d}:00.000Z"
        if t in ("picklist", "multipicklist"):
            return self.pick(fd.picklist) if fd.picklist else None
        if t == "email":
            return f"{obj.name.lower()}{i}@example.com"
        if t == "phone":
            return f"+1 555 01{i:02d}"
        if t == "url":
            return f"https://example.com/{obj.name}/{i}"
        if fd.name in ("Name", "Title"):
            return f"{obj.label} {i + 1}"
        if fd.name in ("DurableId", "EntityDefinitionId", "QualifiedApiName"):
            return f"Account.Field{i}"
        if fd.name == "RecordId":
            return self.pick(self.ids["Account"])
        if fd.name in ("StatType", "JobType"):
            return "Queue" if fd.name == "JobType" else "Count"
        return f"{fd.name} {i + 1}" if rnd() < 0.8 else None

"""Deterministic synthetic data for the emulated org: ids, records and streamed file bodies.

Everything is derived from the config's seed, so two orgs with the same config hold the same data.
Record timestamps spread over the six years before `ANCHOR`; file bodies are generated as a stream
from (seed, record id, version) and never held whole in memory.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import random
import sqlite3
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sfbackup.emulator.catalog import INDUSTRIES, LEAD_SOURCES, STAGES, ObjectDef

ANCHOR = datetime(2025, 6, 1, tzinfo=UTC)
_ANCHOR_TS = int(ANCHOR.timestamp())
_SPAN = 6 * 365 * 86400
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BLOCK = 1 << 16


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


def make_id(prefix: str, n: int) -> str:
    """The n-th 18-character id with key prefix `prefix` (ids sort in creation order)."""
    if n < 3844**3:
        high, low = divmod(n, 3844)
        digits = "0000" + _PAIRS[high // 3844] + _PAIRS[high % 3844] + _PAIRS[low]
    else:
        digits = ""
        while n:
            n, r = divmod(n, 62)
            digits = _BASE62[r] + digits
        digits = digits.rjust(10, "0")
    head = prefix + "Dx"  # ids are prefix + "Dx" + 10 digits: exactly the three 5-character chunks
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
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


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
    ) -> None:
        self.conn = conn
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
            self.generic(obj, 3 + int(self.rng.random() * 3))
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

    def accounts(self) -> None:
        obj = self.catalog["account"]
        rng = self.rng
        rows: list[dict[str, Any]] = []
        types = ("Prospect", "Customer - Direct", "Customer - Channel", "Partner", None)
        business = self.ids["RecordType"][0]
        for i in range(self.n):
            row = self.system(obj, 0.03)
            city, state, postal, country, lat, lon = self.pick(_CITIES)
            geo = rng.random() < 0.5
            row.update(
                Name=f"{self.pick(_WORDS)} {self.pick(_SUFFIXES)} {i + 1}",
                Type=self.pick(types),
                RecordTypeId=business if rng.random() < 0.3 else None,
                ParentId=self.pick(rows)["Id"] if rows and rng.random() < 0.1 else None,
                BillingStreet=self.maybe(
                    f"{rng.randrange(1, 999)} Main Street" + ("\nSuite 200" if rng.random() < 0.2 else "")
                ),
                BillingCity=city,
                BillingState=state,
                BillingPostalCode=postal,
                BillingCountry=country,
                BillingLatitude=lat if geo else None,
                BillingLongitude=lon if geo else None,
                BillingGeocodeAccuracy="Address" if geo else None,
                ShippingCity=self.maybe(city, 0.6),
                Phone=self.maybe(f"+1 415 555 {rng.randrange(10000):04d}"),
                Website=self.maybe(f"https://www.example{i}.com"),
                AccountNumber=self.maybe(f"CD{i:06d}"),
                Industry=self.maybe(self.pick(INDUSTRIES)),
                AnnualRevenue=self.maybe(float(rng.randrange(1, 5000) * 10000)),
                NumberOfEmployees=self.maybe(rng.randrange(1, 100000)),
                Description=self.maybe(self.pick(TRICKY_TEXT), 0.5),
                Rating=self.maybe(self.pick(("Hot", "Warm", "Cold"))),
                AccountSource=self.maybe(self.pick(LEAD_SOURCES)),
                LastActivityDate=self.maybe(row["LastModifiedDate"][:10], 0.7),
            )
            rows.append(row)
        self.insert("Account", rows)

    def people(self) -> None:
        rng = self.rng
        accounts = self.ids["Account"]
        contacts: list[dict[str, Any]] = []
        for i in range(2 * self.n):
            row = self.system(self.catalog["contact"], 0.02)
            first, last = self.pick(_FIRST), self.pick(_LAST)
            row.update(
                AccountId=self.maybe(self.pick(accounts), 0.1),
                FirstName=first,
                LastName=last,
                Name=f"{first} {last}" if first else last,
                Salutation=self.maybe("Ms.", 0.7),
                MailingCity=self.maybe(self.pick(_CITIES)[0], 0.4),
                Email=self.maybe(f"person{i}@example.com", 0.2),
                Title=self.maybe("Director"),
                Phone=self.maybe(f"(555) 010-{i % 10000:04d}"),
                LeadSource=self.maybe(self.pick(LEAD_SOURCES)),
                Birthdate=self.maybe(fmt_date(_ANCHOR_TS - rng.randrange(20, 70) * 365 * 86400), 0.6),
                Description=self.maybe(self.pick(TRICKY_TEXT), 0.7),
                IsEmailBounced=0,
            )
            contacts.append(row)
        self.insert("Contact", contacts)
        opps = []
        for i in range(self.n):
            row = self.system(self.catalog["opportunity"], 0.02)
            stage = self.pick(STAGES)
            row.update(
                AccountId=self.maybe(self.pick(accounts), 0.05),
                Name=f"Opportunity {i + 1}",
                StageName=stage,
                Amount=self.maybe(round(rng.uniform(100, 1e6), 2)),
                Probability=float(self.pick((10, 20, 50, 75, 90, 100, 0))),
                CloseDate=fmt_date(_ANCHOR_TS - rng.randrange(-365, 5 * 365) * 86400),
                IsClosed=int(stage.startswith("Closed")),
                IsWon=int(stage == "Closed Won"),
                IsPrivate=0,
                ForecastCategory="Closed" if stage.startswith("Closed") else "Pipeline",
                LeadSource=self.maybe(self.pick(LEAD_SOURCES)),
            )
            opps.append(row)
        self.insert("Opportunity", opps)
        leads = []
        for i in range(self.n):
            row = self.system(self.catalog["lead"], 0.02)
            first, last = self.pick(_FIRST), self.pick(_LAST)
            row.update(
                FirstName=first,
                LastName=last,
                Name=f"{first} {last}" if first else last,
                Company=f"{self.pick(_WORDS)} {self.pick(_SUFFIXES)}",
                Status=self.pick(("Open - Not Contacted", "Working - Contacted")),
                City=self.maybe(self.pick(_CITIES)[0]),
                Email=self.maybe(f"lead{i}@example.net"),
                AnnualRevenue=self.maybe(float(rng.randrange(1, 900) * 1000)),
                IsConverted=0,
            )
            leads.append(row)
        self.insert("Lead", leads)

    def invoices(self) -> None:
        rng = self.rng
        accounts = self.ids["Account"]
        rows = []
        for i in range(self.n):
            row = self.system(self.catalog["invoice__c"], 0.02)
            lat_lon = rng.random() < 0.6
            sent = _ANCHOR_TS - rng.randrange(_SPAN)
            row.update(
                Name=f"INV-{i + 1:06d}",
                Account__c=self.maybe(self.pick(accounts), 0.1),
                Description__c=self.maybe(TRICKY_TEXT[i % len(TRICKY_TEXT)].replace("\r\n", " "), 0.1),
                Notes__c=self.maybe(
                    TRICKY_TEXT[(i * 7) % len(TRICKY_TEXT)] + '\nSecond line, with "quotes"', 0.2
                ),
                Paid__c=int(rng.random() < 0.4),
                Quantity__c=self.maybe(rng.randrange(-5, 1000)),
                Sequence__c=self.maybe(rng.randrange(2**40, 2**53)),
                Rate__c=self.maybe(round(rng.uniform(0, 99), 4)),
                Amount__c=self.maybe(round(rng.uniform(-1000, 1e7), 2)),
                Discount__c=self.maybe(round(rng.uniform(0, 100), 2)),
                Invoice_Date__c=self.maybe(fmt_date(sent)),
                Sent_At__c=self.maybe(fmt_ts(sent)),
                Due_Time__c=self.maybe(f"{rng.randrange(24):02d}:30:00.000Z"),
                Status__c=self.maybe(self.pick(("Draft", "Sent", "Paid", "Void")), 0.1),
                Tags__c=self.maybe(
                    ";".join(
                        sorted(rng.sample(("Urgent", "Export", "Recurring", "Disputed"), rng.randrange(1, 4)))
                    ),
                    0.4,
                ),
                Contact_Email__c=self.maybe(f"billing{i}@example.org"),
                Phone__c=self.maybe("+44 20 7946 0018"),
                Website__c=self.maybe("https://pay.example.com/i?id=" + str(i) + '&x="y"'),
                Channel__c=self.maybe(self.pick(("Web", "Email", "Post", "Carrier pigeon"))),
                Secret__c=self.maybe("s3cr3t-" + str(i)),
                Location__Latitude__s=round(rng.uniform(-90, 90), 6) if lat_lon else None,
                Location__Longitude__s=round(rng.uniform(-180, 180), 6) if lat_lon else None,
            )
            rows.append(row)
        self.insert("Invoice__c", rows)

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
        count = max(self.n // 10, 3)
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

"""Compares a snapshot with the org it was taken from (`verify --against-org [--ids]`).

Every count uses the export's own predicate (the manifest's `predicate`, e.g. `CreatedDate <= T0`)
and the export's operation (queryAll when deleted rows were exported), so records created after T0
never count against the snapshot. More records in the org than in the backup is a failure; fewer
is explained (deleted or purged since the export: the backup keeps them).

With `ids`, the exact Id sets are compared: an Id-only query (Bulk for large objects, REST for
small ones) against the Id column of the parts, naming every missing Id.

Coverage: every object describeGlobal lists is accounted for, from the manifest's `coverage` and,
when the org is reachable, a fresh describeGlobal.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from sfbackup.clock import format_time
from sfbackup.errors import SalesforceError, UnsupportedQuery
from sfbackup.repository.manifest import FilesEntry, Manifest, ObjectEntry, ObjectState
from sfbackup.salesforce import describe, query_rest, soql
from sfbackup.salesforce.client import SalesforceClient
from sfbackup.salesforce.cut import Cut
from sfbackup.salesforce.objects import FILE_OBJECTS, ID_FILTERED_OBJECTS, FileSelection
from sfbackup.salesforce.partitions import ReadPlan, iter_pages
from sfbackup.salesforce.query_bulk import BulkJobFailed, BulkQuery
from sfbackup.salesforce.soql import all_of
from sfbackup.verify.checker import RepoFiles
from sfbackup.verify.findings import IDS_IN_DATA, Finding, FindingFactory, counted, name_ids

#: At or above this many records the Id list is read through a Bulk job (fewer API calls).
BULK_ID_THRESHOLD = 2000
_ID_BATCH = 200

Say = Callable[[str], None]


@dataclass
class CoverageRow:
    """One object describeGlobal lists, and whether the snapshot holds it."""

    object: str
    #: backed_up | excluded_by_config | not_exportable | blocked | derived | not_queryable | not_backed_up
    status: str
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"object": self.object, "status": self.status, "reason": self.reason}


@dataclass
class OrgComparison:
    """What `compare_with_org` found, per object and per file object."""

    findings: list[Finding] = field(default_factory=list)
    org_id: str | None = None
    instance_url: str | None = None
    object_counts: dict[str, int | None] = field(default_factory=dict)
    file_counts: dict[str, int | None] = field(default_factory=dict)
    ids_compared: dict[str, bool] = field(default_factory=dict)
    sobjects: list[dict[str, Any]] | None = None  # the fresh describeGlobal


def compare_with_org(
    manifest: Manifest,
    files: RepoFiles,
    client: SalesforceClient,
    finding: FindingFactory,
    *,
    ids: bool = False,
    say: Say | None = None,
    bulk_id_threshold: int = BULK_ID_THRESHOLD,
) -> OrgComparison:
    """Count (and with `ids`, list) every exported object and file object in the org under the
    snapshot's predicates and compare with the snapshot. Connection and login errors propagate;
    an object whose query Salesforce refuses becomes an `org_query_failed` finding."""
    comparer = _Comparer(manifest, files, client, finding, ids, say or (lambda _t: None))
    comparer.bulk_id_threshold = bulk_id_threshold
    return comparer.run()


class _Comparer:
    def __init__(
        self,
        manifest: Manifest,
        files: RepoFiles,
        client: SalesforceClient,
        finding: FindingFactory,
        ids: bool,
        say: Say,
    ) -> None:
        self.manifest = manifest
        self.files = files
        self.client = client
        self.f = finding
        self.ids = ids
        self.say = say
        self.base = f"snapshots/{manifest.snapshot_id}/"
        self.out = OrgComparison(org_id=client.org_id or None, instance_url=client.instance_url)
        self.bulk_id_threshold = BULK_ID_THRESHOLD

    def add(self, kind: str, explanation: str, **where: Any) -> None:
        self.out.findings.append(self.f(kind, explanation, **where))

    def run(self) -> OrgComparison:
        expected_org = str(self.manifest.org.get("org_id") or "")
        if expected_org and self.client.org_id and expected_org[:15] != self.client.org_id[:15]:
            self.add(
                "org_mismatch",
                f"the snapshot was taken from org {expected_org}, but the credentials "
                f"reach org {self.client.org_id}; nothing was compared",
                expected=expected_org,
                actual=self.client.org_id,
            )
            return self.out
        self.out.sobjects = describe.describe_global(self.client)
        for name, entry in sorted(self.manifest.objects.items()):
            if entry.state == ObjectState.DONE:  # anything else is already a failure of the snapshot itself
                with self._guarded(name):
                    self.compare_object(name, entry)
        for name, files in sorted(self.manifest.files.items()):
            with self._guarded(name):
                self.compare_files(name, files)
        return self.out

    @contextmanager
    def _guarded(self, name: str) -> Iterator[None]:
        """An object Salesforce refuses to count becomes a finding; the others are still compared."""
        try:
            yield
        except SalesforceError as exc:
            self.add(
                "org_query_failed",
                f"{name} could not be compared with the org: "
                f"{exc.error_code + ': ' if exc.error_code else ''}{exc.message}",
                object=name,
            )

    # --- records ------------------------------------------------------------------------------

    def _cut_of(self, name: str, cut: Cut | None) -> Cut | bool | None:
        """The entry's cut, checked to be at the snapshot's T0; False (with a finding) if not."""
        if cut is not None and cut.t0 != self.manifest.t0:
            # Counting under another cut would compare the backup with a different set of records.
            t0 = format_time(self.manifest.t0)
            self.add("predicate_mismatch", f"{name} was cut at {format_time(cut.t0)}, not at the "
                     f"snapshot's T0 ({t0}); the org was not compared for it",
                     object=name, expected=t0, actual=format_time(cut.t0))  # fmt: skip
            return False
        return cut

    def compare_object(self, name: str, entry: ObjectEntry) -> None:
        include_deleted = entry.operation == "queryAll"
        cut = self._cut_of(name, entry.cut)
        if cut is False:
            return
        read = _read_plan(entry)
        if read is not None or entry.extra.get("count_refused"):
            cut_or_none = cut if isinstance(cut, Cut) else None
            self._compare_by_reading(name, entry, read, cut_or_none, include_deleted)
            return
        predicate = cut.condition() if isinstance(cut, Cut) else None
        self.say(f"counting {name} in the org")
        split = query_rest.split_field(entry.fields)
        org_count = self._count(name, predicate, include_deleted, split=split)
        self.out.object_counts[name] = org_count
        if self.ids and "Id" in (entry.fields or ["Id"]):
            self._compare_ids(name, entry, include_deleted, org_count)
            return
        self._judge_counts(name, org_count, entry.rows, what="records")

    def _compare_by_reading(
        self, name: str, entry: ObjectEntry, read: ReadPlan | None, cut: Cut | None, include_deleted: bool
    ) -> None:
        """Objects the export read with a strategy (a required filter, a cut applied by us) or
        without an expected count: the org's records are read the same way, and counted."""
        has_deleted = "IsDeleted" in entry.fields
        # Setup entities whose rows share the empty Id are told apart by DurableId, as the export did.
        identity = read.identity if read is not None and read.identity in entry.fields else "Id"
        fields = [identity, "IsDeleted"] if has_deleted and include_deleted else [identity]
        self.say(f"reading {name} Ids in the org" + (f" ({read.reason})" if read else ""))
        org: dict[str, tuple[str, bool]] = {}
        if read is not None:
            pages = iter_pages(self.client, name, fields, read, cut, include_deleted=include_deleted,
                               object_fields=entry.fields)  # fmt: skip
            _add_records(org, pages, identity)
        else:
            predicate = cut.condition() if cut is not None else None
            org = self._org_ids(name, predicate, include_deleted, has_deleted, entry.rows,
                                split=query_rest.split_field(entry.fields))  # fmt: skip
        self.out.object_counts[name] = len(org)
        if read is None or not read.countable:
            why = entry.extra.get("count_refused") or (read.reason if read else "")
            self.add("count_unavailable", f"{name} cannot be counted with COUNT() ({why}); its {len(org)} "
                     "records in the org were read instead, as the export read them",
                     object=name, actual=len(org))  # fmt: skip
        if self.ids:
            backup = self._backup_ids(entry, has_deleted, identity)
            self.out.ids_compared[name] = True
            self._judge_ids(name, org, backup, path=None)
            return
        self._judge_counts(name, len(org), entry.rows, what="records")

    def _judge_counts(
        self, name: str, org_count: int, backup_count: int, *, what: str, path: str | None = None
    ) -> None:
        if org_count > backup_count:
            self.add(
                "org_count_mismatch",
                f"the org holds {org_count} {name} {what} under the snapshot's "
                f"predicate, the backup {backup_count}: {org_count - backup_count} are missing",
                object=name,
                path=path,
                expected=org_count,
                actual=backup_count,
            )
        elif org_count < backup_count:
            self.add(
                "deleted_since_export",
                f"the org now holds {org_count} {name} {what} under the "
                f"snapshot's predicate, the backup {backup_count}: {backup_count - org_count} were "
                "deleted (or purged from the recycle bin) since the export; the backup keeps them",
                object=name,
                path=path,
                expected=backup_count,
                actual=org_count,
            )

    def _count(
        self,
        name: str,
        predicate: str | None,
        include_deleted: bool,
        extra: str | None = None,
        *,
        split: str | None = "CreatedDate",
    ) -> int:
        """COUNT() under the cut, as the export read the object: in parent-Id batches for the
        objects that need them, in date ranges of `split` after a QUERY_TIMEOUT."""
        where = all_of(predicate, extra)
        id_filter = ID_FILTERED_OBJECTS.get(name)
        if id_filter is None and split is not None:
            return query_rest.count_splitting(
                self.client, name, where=where, include_deleted=include_deleted, field=split,
                on_split=lambda low, high: self.say(f"{name}: COUNT() timed out; counting "
                                                    f"{low:%Y-%m-%d}..{high:%Y-%m-%d} in two halves"),
            )  # fmt: skip
        if id_filter is None:
            return query_rest.count(self.client, name, where=where, include_deleted=include_deleted)
        total = 0
        for clause in self._parent_clauses(id_filter, include_deleted):
            total += query_rest.count(
                self.client, name, where=all_of(where, clause), include_deleted=include_deleted
            )
        return total

    def _parent_clauses(self, id_filter: tuple[str, str], include_deleted: bool) -> Iterator[str]:
        """`Field IN (...)` batches over the parent's Ids, as the export read them."""
        filter_field, parent = id_filter
        parent_ids: list[str] = []
        for records in query_rest.iter_query_pages(
            self.client, soql.build_select(parent, ["Id"]), include_deleted=include_deleted
        ):
            parent_ids.extend(str(r["Id"]) for r in records)
        yield from soql.in_clauses(filter_field, parent_ids, batch_size=_ID_BATCH)

    def _compare_ids(self, name: str, entry: ObjectEntry, include_deleted: bool, org_count: int) -> None:
        has_deleted = "IsDeleted" in entry.fields
        self.say(f"listing {name} Ids in the org ({org_count})")
        org = self._org_ids(name, entry.predicate, include_deleted, has_deleted, org_count,  # cut checked
                            split=query_rest.split_field(entry.fields))  # fmt: skip
        backup = self._backup_ids(entry, has_deleted)
        self.out.ids_compared[name] = True
        self._judge_ids(name, org, backup, path=None)
        if org_count > len(backup) and not (set(org) - set(backup)):
            # The Id list and COUNT() disagree: never pass on that.
            self._judge_counts(name, org_count, len(backup), what="records")

    def _judge_ids(
        self,
        name: str,
        org: dict[str, tuple[str, bool]],
        backup: dict[str, tuple[str, bool]],
        *,
        path: str | None,
    ) -> None:
        missing = sorted(org[k][0] for k in set(org) - set(backup))
        if missing:
            self.add(
                "missing_ids",
                f"{len(missing)} {name} records in the org are not in the backup: {name_ids(missing)}",
                object=name,
                path=path,
                expected=len(org),
                actual=missing[:IDS_IN_DATA],
            )
        gone = sorted(backup[k][0] for k in set(backup) - set(org))
        if gone:
            self.add(
                "deleted_since_export",
                f"{len(gone)} {name} records in the backup are no longer in the org "
                f"(deleted or purged since the export; the backup keeps them): {name_ids(gone)}",
                object=name,
                path=path,
                actual=gone[:IDS_IN_DATA],
            )
        newly_deleted = sorted(org[k][0] for k in set(org) & set(backup) if org[k][1] and not backup[k][1])
        if newly_deleted:
            self.add(
                "deleted_since_export",
                f"{len(newly_deleted)} {name} records were deleted in the org "
                f"since the export (the backup holds them as they were): {name_ids(newly_deleted)}",
                object=name,
                path=path,
                actual=newly_deleted[:IDS_IN_DATA],
            )

    def _org_ids(
        self,
        name: str,
        predicate: str | None,
        include_deleted: bool,
        has_deleted: bool,
        expected: int,
        extra: str | None = None,
        *,
        split: str | None = "CreatedDate",
    ) -> dict[str, tuple[str, bool]]:
        """{15-char key: (Id, IsDeleted)} of the records the org holds under the predicate."""
        fields = ["Id", "IsDeleted"] if has_deleted and include_deleted else ["Id"]
        where = all_of(predicate, extra)
        id_filter = ID_FILTERED_OBJECTS.get(name)
        found: dict[str, tuple[str, bool]] = {}
        if id_filter is not None:
            for clause in self._parent_clauses(id_filter, include_deleted):
                query = soql.build_select(name, fields, where=all_of(where, clause))
                _add_records(
                    found, query_rest.iter_query_pages(self.client, query, include_deleted=include_deleted)
                )
            return found
        query = soql.build_select(name, fields, where=where)
        job_id = None
        if expected >= self.bulk_id_threshold:
            try:
                job_id = BulkQuery.submit(self.client, query, include_deleted=include_deleted)
                BulkQuery.wait(self.client, job_id)
                for page in BulkQuery.pages(self.client, job_id):
                    with page:
                        _add_table(found, _csv_ids(page.read()))
                return found
            except (UnsupportedQuery, BulkJobFailed):
                # Bulk refuses the object, at submission or in the job (Attachment: INVALIDENTITY):
                # REST, as the export falls back.
                found.clear()
            finally:
                if job_id is not None:
                    with suppress(SalesforceError):
                        BulkQuery.delete(self.client, job_id)
        if split is None:  # no datetime field to read in ranges after a QUERY_TIMEOUT
            query = soql.build_select(name, fields, where=where)
            pages = query_rest.iter_query_pages(self.client, query, include_deleted=include_deleted)
            _add_records(found, pages)
            return found
        pages = query_rest.iter_query_pages_splitting(
            self.client, lambda window: soql.build_select(name, fields, where=all_of(where, window)),
            include_deleted=include_deleted, field=split,
        )
        _add_records(found, pages)
        return found

    def _backup_ids(
        self, entry: ObjectEntry, has_deleted: bool, identity: str = "Id"
    ) -> dict[str, tuple[str, bool]]:
        found: dict[str, tuple[str, bool]] = {}
        columns = [identity, "IsDeleted"] if has_deleted else [identity]
        for part in entry.parts:
            relpath = self.base + part.path
            if entry.format == "parquet":
                with self.files.local_copy(relpath) as local:
                    _add_table(found, pq.read_table(local, columns=columns), identity)
            else:
                with self.files.open(relpath) as handle:
                    _add_table(found, _csv_ids(handle.read(), columns), identity)
        return found

    # --- files --------------------------------------------------------------------------------

    def _file_selection(self, name: str, entry: FilesEntry) -> FileSelection:
        """The files the export selected, as its manifest entry records them (manifests written
        before the selection was recorded: the record entry's cut and the run's settings)."""
        if entry.cut is not None:
            return FileSelection(
                entry.cut, include_deleted=entry.include_deleted, latest_only=entry.latest_only
            )
        record_entry = self.manifest.objects.get(name)
        return FileSelection(
            record_entry.cut if record_entry else None,
            include_deleted=record_entry.operation == "queryAll"
            if record_entry and record_entry.operation
            else bool(self.manifest.settings.get("include_deleted", True)),
            latest_only=self.manifest.settings.get("content_versions") == "latest",
        )

    def compare_files(self, name: str, entry: FilesEntry) -> None:
        selection = self._file_selection(name, entry)
        cut = self._cut_of(name, selection.cut)
        if cut is False:
            return
        predicate = all_of(*selection.conditions(name))
        include_deleted, extra = selection.include_deleted, None
        self.say(f"counting {name} files in the org")
        org_count = self._count(name, predicate, include_deleted, extra)
        self.out.file_counts[name] = org_count
        if not self.ids or not entry.index_path:
            self._judge_counts(name, org_count, entry.count, what="files", path=entry.index_path)
            return
        org = self._org_ids(name, predicate, include_deleted, True, org_count, extra)
        with self.files.local_copy(self.base + entry.index_path) as local:
            index = pq.read_table(local, columns=["Id", "IsDeleted"])
        backup: dict[str, tuple[str, bool]] = {}
        _add_table(backup, index)
        self._judge_ids(name, org, backup, path=entry.index_path)
        if org_count > len(backup) and not (set(org) - set(backup)):
            self._judge_counts(name, org_count, len(backup), what="files", path=entry.index_path)


#: Coverage the run settled with a reason: kept as the run recorded it.
_SETTLED = ("not_exportable", "blocked", "derived")


def coverage_report(
    manifest: Manifest, sobjects: list[dict[str, Any]] | None, finding: FindingFactory
) -> tuple[list[CoverageRow], list[Finding]]:
    """Every object the org lists (manifest coverage, plus a fresh describeGlobal when given),
    with the findings for what is not covered."""
    rows: dict[str, CoverageRow] = {}
    for item in manifest.coverage:
        rows[item.object] = CoverageRow(item.object, item.status, item.reason)
    for name, entry in manifest.objects.items():
        if entry.state == ObjectState.DONE:
            rows.setdefault(name, CoverageRow(name, "backed_up"))
            continue
        known = rows.get(name)
        error = entry.error
        detail = f"{error.code} {error.message}" if error else ""
        settled = known is not None and known.status in _SETTLED and known.reason
        reason = known.reason if settled and known else f"export {entry.state}: {detail}".strip()
        # blocked: Salesforce would serve it with another query or permission (not "not exportable")
        status = known.status if settled and known else "not_exportable"
        rows[name] = CoverageRow(name, status, reason)
    findings: list[Finding] = []
    if sobjects is not None:
        for sobject in sobjects:
            name = str(sobject.get("name"))
            if name in rows:
                continue
            if sobject.get("queryable", False):
                rows[name] = CoverageRow(
                    name,
                    "not_backed_up",
                    "listed by the org now, but not considered "
                    "by the snapshot (created since, or newly visible to this user)",
                )
            else:
                rows[name] = CoverageRow(name, "not_queryable", "describeGlobal: queryable is false")
    elif not manifest.coverage:
        findings.append(
            finding(
                "coverage_unknown",
                "the manifest does not record which of the org's objects "
                "were considered; the org's object list was not compared",
            )
        )
    for row in sorted(rows.values(), key=lambda r: r.object):
        if row.status in ("not_exportable", "not_backed_up") and row.object not in manifest.objects:
            # (an object the snapshot tried already has its own object_failed/pending finding)
            findings.append(
                finding(
                    "coverage_gap",
                    f"{row.object} is not in the backup: {row.reason or row.status}",
                    object=row.object,
                    actual=row.status,
                )
            )
    if manifest.settings.get("files") is False:  # with files on, a missing index is a checker error
        for name in FILE_OBJECTS:
            record_entry = manifest.objects.get(name)
            if (
                record_entry
                and record_entry.state == ObjectState.DONE
                and record_entry.rows
                and name not in manifest.files
            ):
                findings.append(
                    finding(
                        "coverage_gap",
                        f"the file bodies of {name} ({record_entry.rows} records) are not in the backup "
                        "(file export was turned off)",
                        object=name,
                        actual="records only",
                        what_to_do="run the backup with files on (without --no-files; backup.files = true)",
                    )
                )
    unqueryable = [row.object for row in rows.values() if row.status == "not_queryable"]
    if unqueryable:
        findings.append(
            finding(
                "not_queryable",
                f"{counted(len(unqueryable), 'object')} the org lists cannot be read through the API "
                f"(Salesforce marks {'it' if len(unqueryable) == 1 else 'them'} not queryable): "
                f"{name_ids(unqueryable)}",
                actual=sorted(unqueryable),
            )
        )
    return sorted(rows.values(), key=lambda r: r.object), findings


def _read_plan(entry: ObjectEntry) -> ReadPlan | None:
    """The strategy the export read the object with (None: one plain query under the cut)."""
    data = entry.extra.get("read")
    if not isinstance(data, dict):
        return None
    plan = ReadPlan.from_dict(data)
    return None if plan.plain else plan


def _key(record_id: str) -> str:
    # 18-character ids add a case checksum to the 15-character one: compare the 15.
    return record_id[:15]


def _add_records(
    found: dict[str, tuple[str, bool]], pages: Iterable[list[dict[str, Any]]], identity: str = "Id"
) -> None:
    for records in pages:
        for record in records:
            record_id = str(record[identity])
            key = _key(record_id) if identity == "Id" else record_id
            found[key] = (record_id, bool(record.get("IsDeleted")))


def _add_table(found: dict[str, tuple[str, bool]], table: pa.Table, identity: str = "Id") -> None:
    ids = table.column(identity).to_pylist()
    deleted = (
        table.column("IsDeleted").to_pylist() if "IsDeleted" in table.column_names else [False] * len(ids)
    )
    for record_id, is_deleted in zip(ids, deleted, strict=True):
        if record_id:
            key = _key(str(record_id)) if identity == "Id" else str(record_id)
            found[key] = (str(record_id), is_deleted in (True, "true", "True"))


def _csv_ids(data: bytes, columns: list[str] | None = None) -> pa.Table:
    if not data.strip():
        return pa.table({(columns or ["Id"])[0]: pa.array([], pa.string())})
    header = data.split(b"\n", 1)[0].decode("utf-8", "replace")
    present = [c.strip().strip('"') for c in header.split(",")]
    wanted = [c for c in (columns or ["Id", "IsDeleted"]) if c in present]
    return pa_csv.read_csv(
        io.BytesIO(data),
        parse_options=pa_csv.ParseOptions(newlines_in_values=True),
        convert_options=pa_csv.ConvertOptions(
            include_columns=wanted, column_types={c: pa.string() for c in wanted}, strings_can_be_null=True
        ),
    )

"""Exporting one object's records: pages from Bulk API 2.0 or REST, straight into part files.

Each Bulk results page is spooled to a temporary file as it downloads and becomes one part (a
Parquet file with a row group per parsed block, or a CSV file), so memory stays flat whatever the
page and object sizes, and a resumed run continues at the next page by its locator while the Bulk
job still exists. REST pages are grouped into parts of `REST_PART_ROWS` rows.
"""

from __future__ import annotations

import contextvars
import dataclasses
import queue
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa

from sfbackup.backup.plan import ObjectPlan
from sfbackup.errors import (
    ApiReserveReached,
    SalesforceError,
    SfbackupError,
    UnsupportedQuery,
)
from sfbackup.repository.layout import part_relpath
from sfbackup.repository.manifest import (
    ErrorKind,
    ErrorRecord,
    ObjectEntry,
    ObjectState,
    PartInfo,
    ResumePoint,
)
from sfbackup.repository.writers import PartWriter, open_part_writer
from sfbackup.salesforce import partitions, query_bulk, query_rest, soql
from sfbackup.salesforce.arrow_types import (
    ConversionError,
    arrow_schema,
    batch_from_rest_records,
    batches_from_bulk_csv,
    count_deleted,
    null_columns,
)
from sfbackup.salesforce.big_objects import IndexField, index_pages
from sfbackup.salesforce.client import CallMeter, SalesforceClient
from sfbackup.ui.progress import NullProgress, Progress

T = TypeVar("T")

REST_PART_ROWS = 200_000
ID_BATCH_SIZE = 200
#: Bulk result pages downloading at once per object (each on its own connection; spooled to disk,
#: parsed in order). Over a WAN one connection's throughput is capped by its round trip.
BULK_PAGE_DOWNLOADS = 2


class ExportStopped(SfbackupError):
    """The export was asked to stop (signal or API reserve) between two pages."""


Checkpoint = Callable[[str, ObjectEntry], None]


class RecordExporter:
    """Exports objects planned by `sfbackup.backup.plan` into `snapshot_dir/objects/<Object>/`."""

    def __init__(
        self,
        client: SalesforceClient,
        snapshot_dir: Path,
        *,
        file_format: str,
        bulk_page_records: int,
        csv_neutralize_formulas: bool = False,
        progress: Progress | None = None,
        stop_event: threading.Event | None = None,
    ) -> None:
        self.client = client
        self.snapshot_dir = snapshot_dir
        self.file_format = file_format
        self.bulk_page_records = bulk_page_records
        self.csv_neutralize_formulas = csv_neutralize_formulas
        self.progress = progress or NullProgress()
        self.stop_event = stop_event or threading.Event()
        self.bulk_refusals: dict[str, str] = {}
        #: Plans whose number fields were widened to text during the export (see `_export_widening`).
        self.widened: dict[str, ObjectPlan] = {}

    def submit(self, plan: ObjectPlan) -> str | None:
        """Submit the Bulk job for `plan` early; None when the object goes through REST.

        A refusal (object not supported by Bulk, compound data, or any other Salesforce error) is
        not the object's end: it falls back to REST, and its entry notes why.
        """
        if plan.api != "bulk2":
            return None
        try:
            return self._submit(plan)
        except SalesforceError as exc:
            # Whatever Bulk says about this object, REST may still read it: export() notes why.
            self.bulk_refusals[plan.name] = exc.message
            return None

    def _submit(self, plan: ObjectPlan) -> str:
        return query_bulk.BulkQuery.submit(self.client, plan.soql(), include_deleted=plan.include_deleted)

    def export(
        self,
        plan: ObjectPlan,
        *,
        job_id: str | None,
        checkpoint: Checkpoint,
        resume: ResumePoint | None = None,
        previous_parts: list[PartInfo] | None = None,
        meter: CallMeter | None = None,
    ) -> ObjectEntry:
        """Export one object; always returns a result whose `state` says how it ended.

        ApiReserveReached and ExportStopped propagate after the result is checkpointed, so the
        run can stop cleanly and resume later. The API calls made for the object, in any thread,
        are counted in `meter` (which may already hold its planning calls) and recorded.
        """
        meter = meter or CallMeter()
        with self.client.metered(meter):
            return self._export(plan, job_id, checkpoint, resume, previous_parts, meter)

    def _export(
        self,
        plan: ObjectPlan,
        job_id: str | None,
        checkpoint: Checkpoint,
        resume: ResumePoint | None,
        previous_parts: list[PartInfo] | None,
        meter: CallMeter,
    ) -> ObjectEntry:
        result = ObjectEntry(
            state=ObjectState.RUNNING,
            api=plan.api if job_id or resume else "rest",
            operation=plan.operation,
            soql=plan.soql(),
            cut=plan.cut,
            fields=plan.field_names,
            excluded_fields=[e.to_dict() for e in plan.excluded],
            hidden_fields=list(plan.hidden),
            masked_fields=list(plan.masked),
            format=self.file_format,
            started_at=datetime.now(UTC),
        )
        notes = [*plan.notes]
        if plan.name in self.bulk_refusals and not job_id:
            notes.append(f"Bulk API refused the job ({self.bulk_refusals[plan.name]}); exported through REST")
        if notes:
            result.extra["notes"] = notes
        result.extra["expected_rows"] = plan.expected_rows
        if plan.count_refused is not None:
            result.extra["count_refused"] = plan.count_refused
        start = time.monotonic()
        self.progress.object_started(plan.name, result.api or "rest", plan.expected_rows)
        try:
            self._export_widening(plan, result, job_id, resume, previous_parts or [], checkpoint)
            result.state = ObjectState.DONE
            result.resume = None
        except (ApiReserveReached, ExportStopped) as exc:
            result.state = ObjectState.PENDING
            result.error = ErrorRecord(type(exc).__name__, exc.message, ErrorKind.STOPPED)
            raise
        except (SalesforceError, ConversionError) as exc:
            # One object's refusal or unconvertible value ends that object only: the run goes on.
            result.state = ObjectState.FAILED
            kind = ErrorKind.UNSUPPORTED if isinstance(exc, UnsupportedQuery) else ErrorKind.ERROR
            code = exc.error_code if isinstance(exc, SalesforceError) else None
            result.error = ErrorRecord(code or type(exc).__name__, exc.message, kind)
        finally:
            result.seconds = round(time.monotonic() - start, 3)
            result.finished_at = datetime.now(UTC)
            result.api_calls = meter.calls
            checkpoint(plan.name, result)
            self.progress.object_finished(
                plan.name, result.state, result.rows, result.seconds,
                result.error.message if result.error else None,
            )
        return result

    def _export_widening(
        self,
        plan: ObjectPlan,
        result: ObjectEntry,
        job_id: str | None,
        resume: ResumePoint | None,
        previous_parts: list[PartInfo],
        checkpoint: Checkpoint,
    ) -> None:
        """Export; a number field holding a value its describe's precision or scale cannot hold
        (Salesforce serves such values) is exported again as text, exactly as Salesforce sent it,
        rather than rounded or dropped. The widened plan is kept in `widened` for the run to
        rewrite the object's schema."""
        while True:
            try:
                if result.api == "bulk2":
                    try:
                        self._export_bulk(plan, result, job_id, resume, previous_parts, checkpoint)
                    except (UnsupportedQuery, query_bulk.BulkJobFailed) as exc:
                        self._restart_as_rest(result, exc)
                        self._export_rest(plan, result)
                elif plan.expected_rows == 0 and plan.read.plain:
                    # COUNT() under the same cut said none: no query is spent to read nothing.
                    self._write_rest(plan, result, arrow_schema(plan.fields, object_name=plan.name), iter(()))
                else:
                    self._export_rest(plan, result)
                return
            except ConversionError as exc:
                widened = _as_text(plan, exc.details.get("field"))
                if widened is None:
                    raise
                name = str(exc.details.get("field"))
                result.extra.setdefault("notes", []).append(
                    f"{name} holds a value its describe's type cannot hold ({exc.message}); the field is "
                    "kept as text, exactly as Salesforce sent it"
                )
                result.extra.setdefault("text_fields", []).append(name)
                plan, job_id, resume, previous_parts = widened, None, None, []
                self.widened[plan.name] = plan
                result.parts.clear()
                result.rows = result.deleted_rows = 0
                result.resume = None

    def _restart_as_rest(self, result: ObjectEntry, reason: SfbackupError) -> None:
        notes = result.extra.setdefault("notes", [])
        notes.append(f"Bulk API refused or failed ({reason.message}); exported through REST")
        result.api = "rest"
        result.parts.clear()
        result.rows = 0
        result.deleted_rows = 0
        result.resume = None

    def _export_bulk(
        self,
        plan: ObjectPlan,
        result: ObjectEntry,
        job_id: str | None,
        resume: ResumePoint | None,
        previous_parts: list[PartInfo],
        checkpoint: Checkpoint,
    ) -> None:
        schema = arrow_schema(plan.fields, object_name=plan.name)
        start_locator: str | None = None
        finished = False
        if resume is not None:
            job_id = resume.bulk_job_id
            start_locator = resume.locator
            # A checkpoint without a next locator was taken after the last page was written.
            finished = start_locator is None and bool(previous_parts)
            result.parts.extend(previous_parts)
            result.rows = sum(p.rows for p in previous_parts)
            result.deleted_rows = resume.deleted_rows
        if job_id is None:
            job_id = self._submit(plan)
        try:
            info = query_bulk.BulkQuery.wait(self.client, job_id)
        except SalesforceError as exc:
            if not resume or isinstance(exc, query_bulk.BulkJobFailed):
                raise
            # The saved job is gone (Salesforce deletes jobs after 7 days): start the object over.
            result.parts.clear()
            result.rows = result.deleted_rows = 0
            finished, start_locator = False, None
            job_id = self._submit(plan)
            info = query_bulk.BulkQuery.wait(self.client, job_id)
        # Pages are parsed in the prefetch thread while this one writes the previous blocks: both
        # stages are pyarrow work that releases the GIL, so they overlap on two cores.
        stream: Iterator[tuple[str, Any]] = iter(()) if finished else prefetched(
            _parsed_pages(
                query_bulk.BulkQuery.pages(
                    self.client, job_id, start_locator=start_locator, max_records=self.bulk_page_records,
                    spool_dir=self.snapshot_dir, concurrency=BULK_PAGE_DOWNLOADS,
                ),
                schema,
            ),
            depth=2,
        )
        more = not finished
        while more:
            self._check_stop()
            ended: list[str | None] = []
            self._write_parts(plan.name, result, _one_page(stream, ended), schema, masked=plan.masked)
            if not ended:
                break  # no page at all (cannot happen: the first page always comes or raises)
            result.resume = ResumePoint(job_id, ended[0], self.client.api_version, result.deleted_rows)
            checkpoint(plan.name, result)
            self.progress.object_progress(plan.name, result.rows)
            more = ended[0] is not None
        expected = info.get("numberRecordsProcessed")
        if isinstance(expected, int) and expected != result.rows:
            raise SalesforceError(
                f"{plan.name}: the Bulk job reported {expected} records but {result.rows} were read",
                error_code="ROW_COUNT_MISMATCH",
                hint="run again with --resume; the object will be exported again",
            )
        try:
            query_bulk.BulkQuery.delete(self.client, job_id)
        except SfbackupError:
            pass  # jobs are deleted by Salesforce after 7 days anyway

    def _export_rest(self, plan: ObjectPlan, result: ObjectEntry) -> None:
        schema = arrow_schema(plan.fields, object_name=plan.name)
        if not plan.read.plain:
            result.extra["read"] = plan.read.to_dict()
        try:
            self._write_rest(plan, result, schema, self._rest_pages(plan))
        except SalesforceError as exc:
            if not _too_wide(exc) or result.rows:
                raise
            # Salesforce refuses to select this many fields at once: read them in chunks (each
            # with Id) and merge the rows by Id.
            self._restart_as_chunks(result, exc)
            self._write_rest(plan, result, schema, self._chunked_pages(plan, result))

    def _write_rest(
        self, plan: ObjectPlan, result: ObjectEntry, schema: pa.Schema, pages: Iterator[list[dict[str, Any]]]
    ) -> None:
        def batches() -> Iterator[pa.RecordBatch]:
            for records in pages:
                self._check_stop()
                yield batch_from_rest_records(records, plan.fields, schema)

        self._write_parts(
            plan.name, result, batches(), schema, rows_per_part=REST_PART_ROWS, masked=plan.masked
        )
        self.progress.object_progress(plan.name, result.rows)

    def _rest_pages(
        self, plan: ObjectPlan, fields: list[str] | None = None, extra_where: str | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """REST pages of `fields` (default: the plan's) of every row the plan reads."""
        include_deleted = plan.include_deleted
        fields = fields or plan.field_names
        if not plan.read.plain:
            return partitions.iter_pages(
                self.client, plan.name, fields, plan.read, plan.cut, include_deleted=include_deleted,
                extra_where=extra_where, object_fields=plan.field_names,
            )  # fmt: skip

        def build(window: str | None) -> str:
            where = soql.all_of(plan.cut.condition(), extra_where, window)
            return soql.build_select(plan.name, fields, where=where)

        split = query_rest.split_field(f.name for f in plan.fields)
        if split is not None:
            return query_rest.iter_query_pages_splitting(
                self.client, build, include_deleted=include_deleted, field=split,
                on_split=lambda low, high: self.progress.message(
                    "info", f"{plan.name}: query timed out; reading {split} "
                    f"{low:%Y-%m-%d}..{high:%Y-%m-%d} in two halves",
                ),
            )  # fmt: skip
        if plan.schema.has_field("Id"):  # no date field to read in ranges after a QUERY_TIMEOUT: Ids
            return index_pages(self.client, plan.name, build, (IndexField("Id", "id"),),
                               include_deleted=include_deleted)  # fmt: skip
        return query_rest.iter_query_pages(self.client, build(None), include_deleted=include_deleted)

    def _restart_as_chunks(self, result: ObjectEntry, reason: SalesforceError) -> None:
        notes = result.extra.setdefault("notes", [])
        notes.append(f"Salesforce refused to select every field at once ({reason.message}); the fields "
                     "were read in chunks, each with Id, and merged by Id")  # fmt: skip
        result.parts.clear()
        result.rows = result.deleted_rows = 0

    def _chunked_pages(self, plan: ObjectPlan, result: ObjectEntry) -> Iterator[list[dict[str, Any]]]:
        """Every row, its fields read in chunks Salesforce accepts and merged by Id. A record one
        chunk has and another lacks (created or deleted between two reads) is read again by Id for
        the missing fields, so no record is dropped; fields still unread stay null (noted)."""
        others = [name for name in plan.field_names if name != "Id"]
        chunks = self._read_chunks(plan, others)
        merged: dict[str, dict[str, Any]] = {}
        for rows in chunks.values():
            for record_id, row in rows.items():
                merged.setdefault(record_id, {"Id": record_id}).update(row)
        unread: set[str] = set()
        for fields, rows in chunks.items():
            absent = sorted(set(merged) - set(rows))
            found: set[str] = set()
            for clause in soql.in_clauses("Id", absent, batch_size=ID_BATCH_SIZE):
                for records in self._rest_pages(plan, ["Id", *fields], extra_where=clause):
                    for record in records:
                        merged[str(record["Id"])].update(record)
                        found.add(str(record["Id"]))
            unread.update(set(absent) - found)
        if unread:
            result.extra.setdefault("notes", []).append(
                f"{len(unread)} records left the org between two chunk reads (gone when read again by "
                f"Id); they are kept with the fields that were read, the others null: {sorted(unread)[:20]}"
            )
        ordered = [merged[k] for k in sorted(merged)]
        for start in range(0, len(ordered), 2000):
            page = ordered[start : start + 2000]
            yield [{name: row.get(name) for name in plan.field_names} for row in page]

    def _read_chunks(
        self, plan: ObjectPlan, fields: list[str]
    ) -> dict[tuple[str, ...], dict[str, dict[str, Any]]]:
        """{chunk fields: {Id: row}}, halving a chunk Salesforce still finds too wide."""
        rows: dict[str, dict[str, Any]] = {}
        try:
            for records in self._rest_pages(plan, ["Id", *fields]):
                self._check_stop()
                for record in records:
                    rows[str(record["Id"])] = record
        except SalesforceError as exc:
            if not _too_wide(exc) or len(fields) < 2:
                raise
            middle = len(fields) // 2
            return {**self._read_chunks(plan, fields[:middle]), **self._read_chunks(plan, fields[middle:])}
        return {tuple(fields): rows}

    def _write_parts(
        self,
        name: str,
        result: ObjectEntry,
        batches: Iterator[pa.RecordBatch],
        schema: pa.Schema,
        *,
        rows_per_part: int | None = None,
        masked: tuple[str, ...] = (),
    ) -> None:
        """Write batches as they come into parts of about `rows_per_part` rows (None: all in one part).

        At least one part is written, empty if there are no rows at all. The `masked` columns
        (encrypted values read without View Encrypted Data) are written as nulls: a mask is not data.
        """
        writer: PartWriter | None = None
        rows_in_part = deleted_in_part = 0
        try:
            for batch in batches:
                if masked:
                    batch = null_columns(batch, masked)
                if writer is None:
                    writer = self._open_part(name, result, schema)
                writer.write(batch)
                rows_in_part += batch.num_rows
                deleted_in_part += count_deleted(batch)
                if rows_per_part is not None and rows_in_part >= rows_per_part:
                    self._close_part(writer, result, deleted_in_part)
                    writer, rows_in_part, deleted_in_part = None, 0, 0
                    self.progress.object_progress(name, result.rows)
            if writer is None and not result.parts:
                writer = self._open_part(name, result, schema)
            if writer is not None:
                self._close_part(writer, result, deleted_in_part)
                writer = None
        finally:
            if writer is not None:
                writer.abort()

    def _open_part(self, name: str, result: ObjectEntry, schema: pa.Schema) -> PartWriter:
        relative = part_relpath(name, len(result.parts), self.file_format)
        return open_part_writer(
            self.file_format,
            self.snapshot_dir / relative,
            schema,
            root=self.snapshot_dir,
            neutralize_formulas=self.csv_neutralize_formulas,
        )

    def _close_part(self, writer: PartWriter, result: ObjectEntry, deleted_rows: int) -> None:
        part = writer.close()
        result.parts.append(part)
        result.rows += part.rows
        result.deleted_rows += deleted_rows

    def _check_stop(self) -> None:
        if self.stop_event.is_set():
            raise ExportStopped("export stopped on request", hint="run again with --resume to continue")
        self.client.check_reserve()


#: Describe types whose values are converted to numbers (and can fail to fit).
_NUMBER_TYPES = frozenset({"double", "currency", "percent", "int", "long"})


def _as_text(plan: ObjectPlan, field_name: Any) -> ObjectPlan | None:
    """`plan` with the number field `field_name` read as text; None if it is no such field."""
    fields = list(plan.fields)
    for i, spec in enumerate(fields):
        if spec.name == field_name and spec.type in _NUMBER_TYPES:
            fields[i] = dataclasses.replace(spec, type="string", precision=0, scale=0)
            return dataclasses.replace(plan, fields=tuple(fields))
    return None


def _too_wide(exc: SalesforceError) -> bool:
    """Salesforce refuses the select list itself: too many fields, or a GET too long (414)."""
    return exc.error_code in ("QUERY_TOO_COMPLICATED", "HTTP_414") or exc.status == 414


def _parsed_pages(pages: Iterator[query_bulk.BulkPage], schema: pa.Schema) -> Iterator[tuple[str, Any]]:
    """("batch", RecordBatch) for each block of each page, then ("end", the next page's locator)."""
    for page in pages:
        with page:
            for batch in batches_from_bulk_csv(page.body, schema):
                yield "batch", batch
        yield "end", page.locator


def _one_page(stream: Iterator[tuple[str, Any]], ended: list[str | None]) -> Iterator[pa.RecordBatch]:
    """The batches of the stream's next page; its next locator is appended to `ended`."""
    for kind, value in stream:
        if kind == "end":
            ended.append(value)
            return
        yield value


def prefetched(items: Iterator[T], *, depth: int = 1) -> Iterator[T]:
    """Yield `items` while a background thread fetches up to `depth` items ahead.

    The next Bulk page downloads while this one is parsed and written. Errors from the producer
    are raised where the item would have been; when the consumer stops early the producer stops
    after the item it is fetching (it is never left blocked on a full queue).
    """
    slots: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                slots.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(("item", item)):
                    return
            put(("done", None))
        except BaseException as exc:  # handed to the consumer, raised there
            put(("error", exc))

    # The producer runs in the consumer's context, so its API calls count for the same object.
    producer = threading.Thread(
        target=contextvars.copy_context().run, args=(produce,), name="sfbackup-prefetch", daemon=True
    )
    producer.start()
    try:
        while True:
            kind, value = slots.get()
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()


"""Exporting one object's records: pages from Bulk API 2.0 or REST, straight into part files.

Each Bulk results page is spooled to a temporary file as it downloads and becomes one part (a
Parquet file with a row group per parsed block, or a CSV file), so memory stays flat whatever the
page and object sizes, and a resumed run continues at the next page by its locator while the Bulk
job still exists. REST pages are grouped into parts of `REST_PART_ROWS` rows.
"""

from __future__ import annotations

import contextvars
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
from sfbackup.salesforce import query_bulk, query_rest, soql
from sfbackup.salesforce.arrow_types import (
    arrow_schema,
    batch_from_rest_records,
    batches_from_bulk_csv,
    count_deleted,
    null_columns,
)
from sfbackup.salesforce.client import CallMeter, SalesforceClient
from sfbackup.ui.progress import NullProgress, Progress

T = TypeVar("T")

REST_PART_ROWS = 200_000
ID_BATCH_SIZE = 200


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

    def submit(self, plan: ObjectPlan) -> str | None:
        """Submit the Bulk job for `plan` early; None when the object goes through REST.

        A refusal Salesforce gives for a known, permanent reason (object not supported by Bulk,
        compound data) is not an error: the object falls back to REST.
        """
        if plan.api != "bulk2":
            return None
        try:
            return self._submit(plan)
        except UnsupportedQuery:
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
        if plan.notes:
            result.extra["notes"] = list(plan.notes)
        start = time.monotonic()
        self.progress.object_started(plan.name, result.api or "rest", plan.expected_rows)
        try:
            if result.api == "bulk2":
                try:
                    self._export_bulk(plan, result, job_id, resume, previous_parts or [], checkpoint)
                except (UnsupportedQuery, query_bulk.BulkJobFailed) as exc:
                    self._restart_as_rest(result, exc)
                    self._export_rest(plan, result)
            else:
                self._export_rest(plan, result)
            result.state = ObjectState.DONE
            result.resume = None
        except (ApiReserveReached, ExportStopped) as exc:
            result.state = ObjectState.PENDING
            result.error = ErrorRecord(type(exc).__name__, exc.message, ErrorKind.STOPPED)
            raise
        except SalesforceError as exc:
            result.state = ObjectState.FAILED
            kind = ErrorKind.UNSUPPORTED if isinstance(exc, UnsupportedQuery) else ErrorKind.ERROR
            result.error = ErrorRecord(exc.error_code or type(exc).__name__, exc.message, kind)
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
        pages: Iterator[query_bulk.BulkPage] = iter(()) if finished else prefetched(
            query_bulk.BulkQuery.pages(
                self.client, job_id, start_locator=start_locator, max_records=self.bulk_page_records,
                spool_dir=self.snapshot_dir,
            )
        )
        for page in pages:
            with page:
                self._check_stop()
                batches = batches_from_bulk_csv(page.body, schema)
                self._write_parts(plan.name, result, batches, schema, masked=plan.masked)
            result.resume = ResumePoint(job_id, page.locator, self.client.api_version, result.deleted_rows)
            checkpoint(plan.name, result)
            self.progress.object_progress(plan.name, result.rows)
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
        include_deleted = plan.include_deleted
        if plan.id_filter is not None:
            pages = self._id_filtered_pages(plan, include_deleted)
        else:
            if plan.schema.has_field("CreatedDate"):
                pages = query_rest.iter_query_pages_splitting(
                    self.client, plan.soql, include_deleted=include_deleted,
                    on_split=lambda low, high: self.progress.message(
                        "info", f"{plan.name}: query timed out; reading CreatedDate "
                        f"{low:%Y-%m-%d}..{high:%Y-%m-%d} in two halves",
                    ),
                )
            else:
                pages = query_rest.iter_query_pages(self.client, plan.soql(), include_deleted=include_deleted)

        def batches() -> Iterator[pa.RecordBatch]:
            for records in pages:
                self._check_stop()
                yield batch_from_rest_records(records, plan.fields, schema)

        self._write_parts(
            plan.name, result, batches(), schema, rows_per_part=REST_PART_ROWS, masked=plan.masked
        )
        self.progress.object_progress(plan.name, result.rows)

    def _id_filtered_pages(self, plan: ObjectPlan, include_deleted: bool) -> Iterator[list[dict[str, Any]]]:
        assert plan.id_filter is not None
        filter_field, parent = plan.id_filter
        parent_ids: list[str] = []
        for records in query_rest.iter_query_pages(
            self.client, soql.build_select(parent, ["Id"]), include_deleted=include_deleted
        ):
            parent_ids.extend(str(r["Id"]) for r in records)
        for where in soql.in_clauses(filter_field, parent_ids, batch_size=ID_BATCH_SIZE):
            yield from query_rest.iter_query_pages(
                self.client, plan.soql(extra_where=where), include_deleted=include_deleted
            )

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


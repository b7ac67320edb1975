"""The `run` pipeline: connect, enumerate, plan, export records and files, write the manifest, verify.

Write order follows the repository format: parts and blobs first, then file indexes and schemas,
and `manifest.json` last (rewritten atomically at the start, at the end and every few seconds in
between; each object checkpoint in between is a fsynced line of the journal beside it), so a crash
leaves a manifest and journal that name only files that exist, and `--resume` knows where to
continue.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from sfbackup import __version__
from sfbackup.backup.metadata import MetadataOptions, export_metadata
from sfbackup.backup.plan import (
    FILE_OBJECTS,
    ObjectPlan,
    check_object_names,
    derived_coverage,
    needs_count,
    plan_object,
    selected_objects,
    snapshot_cut,
)
from sfbackup.backup.records import ExportStopped, RecordExporter
from sfbackup.clock import format_time
from sfbackup.config import BackupSettings, Settings
from sfbackup.errors import (
    ApiReserveReached,
    ExitCode,
    Interrupted,
    SalesforceError,
    SfbackupError,
    SnapshotIncomplete,
    UnsupportedQuery,
    UsageError,
    VerificationFailed,
    redact,
)
from sfbackup.repository import CoverageEntry, ObjectEntry, Repository, Snapshot
from sfbackup.repository.manifest import (
    AccessRecord,
    ErrorKind,
    ErrorRecord,
    MetadataEntry,
    ObjectState,
    PartInfo,
    SnapshotState,
)
from sfbackup.salesforce import big_objects, composite, describe, faults, query_rest
from sfbackup.salesforce.arrow_types import arrow_schema
from sfbackup.salesforce.client import CallMeter, SalesforceClient
from sfbackup.salesforce.objects import is_big_object
from sfbackup.salesforce.schema import ObjectSchema
from sfbackup.ui.progress import NullProgress, Progress

#: Settings that decide what a snapshot holds: a resumed run keeps the snapshot's own.
SNAPSHOT_DEFINING_SETTINGS: tuple[str, ...] = (
    "objects", "include", "exclude", "preset", "format", "include_deleted", "files", "content_versions",
    "metadata",
)  # fmt: skip


def settings_record(backup: BackupSettings) -> dict[str, Any]:
    """The backup settings as the manifest records them (JSON values)."""
    selection = backup.object_selection
    return {
        "objects": selection if selection == "all" else list(selection),
        "include": list(backup.include),
        "exclude": list(backup.exclude),
        "preset": backup.preset,
        "format": backup.format,
        "include_deleted": backup.include_deleted,
        "files": backup.files,
        "metadata": backup.metadata,
        "content_versions": backup.content_versions,
        "contract_end": backup.contract_end.isoformat() if backup.contract_end else None,
        "notice_days": backup.notice_days,
    }


def _backup_values(recorded: dict[str, Any]) -> dict[str, Any]:
    """`settings_record` values back as BackupSettings field values."""
    values = dict(recorded)
    for key in ("include", "exclude"):
        if key in values:
            values[key] = tuple(values[key])
    if isinstance(values.get("objects"), list):
        values["objects"] = tuple(values["objects"])
    if values.get("preset") == "default":  # snapshots from before `core`: their objects are recorded
        values["preset"] = "everything"
    return values


#: The whole manifest is rewritten at most this often while objects finish (each finished object is
#: a journal line in between; see repository.SnapshotWriter.checkpoint).
FULL_SAVE_SECONDS = 10.0

#: States of a snapshot `run --resume` continues.
_RESUMABLE = (SnapshotState.RUNNING, SnapshotState.INCOMPLETE, SnapshotState.FAILED)


@dataclass
class BackupResult:
    """How a run ended: the snapshot's state and, when it is not a success, the error that says
    why (its class gives the exit code: SnapshotIncomplete 3, VerificationFailed 4,
    ApiReserveReached 13)."""

    snapshot_id: str
    state: SnapshotState
    snapshot_dir: Path
    summary: dict[str, Any]
    problem: SfbackupError | None = None
    verification: Any | None = None

    @property
    def exit_code(self) -> ExitCode:
        return self.problem.exit_code if self.problem is not None else ExitCode.OK


def run_backup(
    settings: Settings,
    repo_path: Path,
    *,
    resume: bool = False,
    progress: Progress | None = None,
    client: SalesforceClient | None = None,
    stop_event: threading.Event | None = None,
) -> BackupResult:
    """Back up the org described by `settings` into the repository at `repo_path`."""
    progress = progress or NullProgress()
    stop_event = stop_event or threading.Event()
    repository = Repository.open_or_init(repo_path)
    with repository.lock(exclusive=True, command="run"):
        client = client or SalesforceClient(
            settings.connection,
            api_reserve_percent=settings.backup.api_reserve_percent,
            pool_maxsize=settings.backup.concurrency + settings.backup.download_concurrency + 2,
        )
        run = _Run(settings, repository, client, progress, stop_event)
        result = run.execute(resume=resume)
    if result.state == SnapshotState.EXPORTED and settings.backup.verify_after_run:
        from sfbackup.verify import verify_snapshot

        verification = verify_snapshot(
            repository.path, result.snapshot_id, against_org=True, client=client, progress=progress
        )
        result.verification = verification
        if verification.passed:
            result.state = SnapshotState.COMPLETE
        else:
            failures = len(verification.failures)
            result.problem = VerificationFailed(
                f"snapshot {result.snapshot_id} was exported but failed verification ({failures} "
                f"error{'s' if failures != 1 else ''}); it stays exported, not complete",
                hint="read the report for each finding, then run `sfbackup verify` again or take a new "
                "snapshot with `sfbackup run`",
            )
        result.summary["state"] = str(result.state)
    progress.run_finished(result.summary)
    return result


#: T0 is the end of the second the org's Date header names (`_read_limits`).
T0_SECOND_END = timedelta(milliseconds=999)
#: How far our clock may be behind the org's when judging that the org has left T0's second.
T0_CLOCK_MARGIN = timedelta(milliseconds=100)


class _Run:
    """One run's state: the manifest being written and the lock that guards it."""

    def __init__(
        self,
        settings: Settings,
        repository: Repository,
        client: SalesforceClient,
        progress: Progress,
        stop_event: threading.Event,
    ) -> None:
        self.settings = settings
        self.repository = repository
        self.client = client
        self.progress = progress
        self.stop_event = stop_event
        self._manifest_lock = threading.Lock()
        self.started = time.monotonic()
        self._saved_at = self.started
        self.schemas: dict[str, PartInfo] = {}
        self.listed: set[str] = set()
        self.limits: dict[str, Any] = {}
        self.files_summary: dict[str, int] = {}
        self.meters: dict[str, CallMeter] = {}
        self.files_calls = 0
        self.metadata_calls = 0
        self._earlier: list[Snapshot] | None = None

    # -- the pipeline -------------------------------------------------------------------------

    def execute(self, *, resume: bool) -> BackupResult:
        self._settle_dead_runs()
        limits = self._read_limits()
        sobjects = describe.describe_global(self.client)
        self.listed = {str(s.get("name")) for s in sobjects}
        if isinstance(self.settings.backup.objects, tuple) and "backup.objects" in self.settings.origins:
            check_object_names(
                sobjects, self.settings.backup.objects, origin=self.settings.origin_of("backup.objects")
            )
        previous = self._resumable_snapshot() if resume else None
        if previous is not None:
            self.writer = self.repository.resume_snapshot(previous)
            self._adopt_snapshot_settings(self.writer.manifest.settings)
            t0 = self.writer.manifest.t0
            self.progress.message("info", f"resuming snapshot {previous} (T0 {t0.isoformat()})")
        else:
            if resume:
                snapshots = self.repository.snapshots()
                newest = (
                    f"the newest snapshot, {snapshots[-1].id}, is {snapshots[-1].manifest.state}"
                    if snapshots else "the repository has no snapshot yet"
                )
                self.progress.message(
                    "warning", f"--resume: nothing to resume ({newest}); starting a new snapshot"
                )
            t0 = limits["t0"]
            self.writer = self.repository.new_snapshot(t0, parent=self._parent_snapshot_id())
        self.manifest = self.writer.manifest
        self.snapshot_dir = self.writer.path
        self.manifest.program_version = __version__
        self.manifest.transition(SnapshotState.RUNNING)
        self.manifest.finished_at = None
        self.manifest.org = self._org_info()
        self.manifest.settings = self._settings_record()
        self.manifest.api["usage_at_start"] = limits["usage"]
        self._save()

        stopped: SfbackupError | None = None
        coverage: list[CoverageEntry] = []
        try:
            names, coverage = selected_objects(sobjects, self.settings.backup)
            self.progress.run_started(self.manifest.snapshot_id, format_time(t0), names)
            coverage += self._export_everything(names, t0)
        except (ApiReserveReached, ExportStopped) as exc:
            stopped = exc
            self.progress.message("warning", f"stopped: {exc.message}; `sfbackup run --resume` continues")
        except SfbackupError as exc:
            # The org became unreachable, the login was refused, the disk filled up...: what was
            # saved stays named in the manifest, which says why the run stopped, and `--resume`
            # continues. Left `running`, the snapshot would look like a killed run.
            self._stop_on_error(exc)
            raise
        except KeyboardInterrupt:
            # A second signal: stop now, but the snapshot still says it was interrupted.
            self._stop_on_error(Interrupted("aborted by a second signal"))
            raise
        coverage += [CoverageEntry(name, "backed_up") for name, entry in self.manifest.objects.items()
                     if entry.state == ObjectState.DONE]
        self.manifest.coverage = sorted(coverage, key=lambda c: c.object)
        return self._finish(stopped)

    def _read_limits(self) -> dict[str, Any]:
        """T0 from the org's clock and the API usage at start.

        The org's clock is read from the Date header of /limits, to the second. T0 is the last
        millisecond of that second: Salesforce stamps CreatedDate and SystemModstamp to the
        millisecond, and a record it stamped earlier in that second, before the run began, belongs
        to this snapshot (with T0 at the second's start it was left to the next one). So that no
        record stamped later in that second is missed either, nothing is read under the cut until
        the org's clock has left it (`_wait_past_t0`)."""
        response = self.client.request("GET", self.client.data_path("limits/"))
        received, received_at = time.monotonic(), datetime.now(UTC)
        date_header = response.headers.get("Date")
        second = parsedate_to_datetime(date_header).astimezone(UTC) if date_header else received_at
        second = second.replace(microsecond=0)
        # The org left that second at most 1 s after it answered; by our clock (NTP-synced like
        # Salesforce's), what is left of it, with a margin.
        left = (second + timedelta(seconds=1) + T0_CLOCK_MARGIN - received_at).total_seconds()
        self._past_t0_at = received + min(1.0, max(0.0, left))
        t0 = second + T0_SECOND_END
        body = response.json()
        daily = body.get("DailyApiRequests", {})
        usage = None
        if "Max" in daily and "Remaining" in daily:
            usage = [int(daily["Max"]) - int(daily["Remaining"]), int(daily["Max"])]
        self.limits = body
        return {"t0": t0, "usage": usage}

    def _wait_past_t0(self) -> None:
        """Wait until the org's clock has left T0's second (at most 1 s after /limits answered):
        a record stamped in that second exists before anything is read under the cut. Called
        before each first read under the cut (a COUNT(), the rows), not before the describes and
        the metadata, which go on meanwhile."""
        remaining = getattr(self, "_past_t0_at", 0.0) - time.monotonic()
        if remaining > 0:
            self.stop_event.wait(remaining)

    def _org_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "org_id": self.client.org_id,
            "instance_url": self.client.instance_url,
            "api_version": self.client.api_version,
            "username": self.settings.connection.username,
            "login_flow": self.client.login_flow,
        }
        try:
            for records in query_rest.iter_query_pages(
                self.client,
                "SELECT Id, Name, IsSandbox, InstanceName, OrganizationType FROM Organization",
                include_deleted=False,
            ):
                for record in records:
                    info.update(org_id=record.get("Id") or info["org_id"], org_name=record.get("Name"),
                                is_sandbox=record.get("IsSandbox"),
                                instance_name=record.get("InstanceName"),
                                organization_type=record.get("OrganizationType"))
        except SalesforceError as exc:
            info["org_info_error"] = exc.message
        return info

    def _settings_record(self) -> dict[str, Any]:
        return settings_record(self.settings.backup)

    def _adopt_snapshot_settings(self, recorded: dict[str, Any]) -> None:
        """A resumed run continues the snapshot as it was started: its format, objects and files
        come from the manifest. Options left at their defaults take the snapshot's values; an
        option set (by flag or config) to something else is refused, since it would change what
        the snapshot is (mixed formats, dropped objects, no files) while it still ends complete."""
        mine = settings_record(self.settings.backup)
        defaults = settings_record(BackupSettings())
        adopted: dict[str, Any] = {}
        conflicts: list[str] = []
        for key in SNAPSHOT_DEFINING_SETTINGS:
            if key not in recorded or recorded[key] == mine[key]:
                continue
            if mine[key] == defaults[key]:
                adopted[key] = recorded[key]
            else:
                conflicts.append(f"{key}: the snapshot has {recorded[key]!r}, this run {mine[key]!r}")
        if conflicts:
            raise UsageError(
                f"--resume continues snapshot {self.writer.id}, and these options would change what it "
                f"holds: {'; '.join(conflicts)}",
                hint="drop those options (or the config change) to continue the snapshot with its own "
                "settings, or run without --resume to start a new snapshot with the new ones",
                snapshot_id=self.writer.id,
            )
        if adopted:
            self.settings = replace(
                self.settings, backup=replace(self.settings.backup, **_backup_values(adopted))
            )
            shown = ", ".join(f"{k}={v!r}" for k, v in adopted.items())
            self.progress.message("info", f"resuming with the snapshot's own settings: {shown}")

    def _plan(self, names: list[str], t0: datetime) -> tuple[list[ObjectPlan], list[CoverageEntry]]:
        """Describe and count every object: through Composite calls (25 describes, then 5 COUNT()s
        with 20 more describes, each one API call), `backup.concurrency` calls at a time; then each
        object's plan from what they answered, each subrequest's failure raised as the call alone
        raises it. One object's error never stops the others (it is recorded for that object:
        refused for a known reason, or failed with Salesforce's words). What a composite call did
        not answer (a transient failure, an org refusing /composite) is asked one call per object.
        An object answered in full is planned as soon as its answers are in, while the other
        composite calls go on; one needing a call of its own waits for them (so at most
        `backup.concurrency` calls are in flight)."""
        for name in names:  # every meter exists before any thread counts (the manifest sums them)
            self.meters[name] = CallMeter()
        self._read_big_object_indexes(names)
        planned: dict[str, Future[ObjectPlan | CoverageEntry | None]] = {}
        with ThreadPoolExecutor(max_workers=max(1, self.settings.backup.concurrency),
                                thread_name_prefix="plan") as pool:  # fmt: skip

            def plan_now(name: str, answers: dict[composite.SubRequest, composite.SubResult]) -> None:
                if name in planned or any(a.alone for a in answers.values()):
                    return  # a call of its own: after the composite calls
                planned[name] = pool.submit(self._plan_guarded, name, t0, answers)

            reads = self._read_together(names, t0, plan_now)
            for name in names:
                if name not in planned:
                    planned[name] = pool.submit(self._plan_guarded, name, t0, reads)
            outcomes = [planned[name].result() for name in names]
        plans = [o for o in outcomes if isinstance(o, ObjectPlan)]
        refused = [o for o in outcomes if isinstance(o, CoverageEntry)]
        return plans, refused

    def _read_together(
        self,
        names: list[str],
        t0: datetime,
        on_done: Callable[[str, dict[composite.SubRequest, composite.SubResult]], None],
    ) -> dict[composite.SubRequest, composite.SubResult]:
        """The describes, and the COUNT() each plan needs once its describe is in, in as few
        composite calls as the limits allow, `backup.concurrency` at a time. Their calls are the
        run's planning calls (outside any object: `api.planning_calls`); what one object alone
        spends after is its own."""
        describes: list[composite.SubRequest] = []
        for name in names:
            if derived_coverage(name) is not None:
                continue  # computed by Salesforce from other objects: planned without a call
            try:
                describes.append(composite.describe_request(name))
            except UsageError:
                continue  # a name Salesforce would refuse: the object's own call says so

        def count_after(
            request: composite.SubRequest, answered: composite.SubResult
        ) -> composite.SubRequest | None:
            if request.query or not isinstance(answered.body, dict) or self._is_done(request.key):
                return None
            try:
                schema = ObjectSchema.from_describe(answered.body)
                if not needs_count(schema):
                    return None
                self._wait_past_t0()  # the first read under the cut: the describes did not wait
                return self._count_request(request.key, snapshot_cut(schema, t0))
            except (SfbackupError, ValueError, KeyError, TypeError):
                return None  # the object's own plan meets the same describe and says what is wrong

        meter = CallMeter()
        with self.client.metered(meter):
            found, refused = composite.call_all(self.client, describes, follow_up=count_after,
                                                concurrency=self.settings.backup.concurrency,
                                                on_done=on_done)  # fmt: skip
        self.manifest.api["planning_calls"] = meter.calls
        if refused is not None:
            self.progress.message("info", f"Composite API refused ({_salesforce_words(refused)}); "
                                  "planning the rest with one call per object")  # fmt: skip
        return found

    def _count_request(self, name: str, cut: Any) -> composite.SubRequest:
        return composite.count_request(name, where=cut.condition(),
                                       include_deleted=self.settings.backup.include_deleted)  # fmt: skip

    def _read_big_object_indexes(self, names: list[str]) -> None:
        """The big objects' indexes (one Metadata API retrieve for the custom ones, its calls
        counted on the first of them): how a timed-out read of theirs is split."""
        big = [name for name in names if is_big_object(name) and not self._is_done(name)]
        self.big_indexes: dict[str, tuple[str, ...]] = {}
        self.big_index_unknown: str | None = None
        if not big:
            return
        custom = [name for name in big if name.endswith("__b")]
        with self.client.metered(self.meters[(custom or big)[0]]):
            self.big_indexes, self.big_index_unknown = big_objects.read_indexes(self.client, big)

    def _plan_guarded(
        self, name: str, t0: datetime, reads: dict[composite.SubRequest, composite.SubResult]
    ) -> ObjectPlan | CoverageEntry | None:
        """One object's plan, or its refusal (recorded), or None when it failed (recorded)."""
        derived = derived_coverage(name)
        if derived is not None:  # computed by Salesforce from other objects: nothing to read
            with self._manifest_lock:
                self.manifest.objects[name] = derived[0]
                self._save_locked()
            return derived[1]
        try:
            return self._plan_one(name, t0, reads)
        except UnsupportedQuery as exc:
            reason = f"{exc.error_code}: {exc.message}" if exc.error_code else exc.message
            self._record_refused(name, exc)
            return CoverageEntry(name, "not_exportable", reason)
        except SalesforceError as exc:
            if exc.error_code == "NOT_FOUND" and name not in self.listed:
                # Named in the config but absent from describeGlobal: Salesforce's own error is
                # recorded and the run goes on with the other objects (it ends incomplete).
                missing = UnsupportedQuery(
                    f"{name} is not an object of this org (describeGlobal does not list it; describe "
                    f"answered {exc.message}); check the name in backup.objects",
                    error_code="NOT_FOUND", status=exc.status,
                )
                self._record_refused(name, missing)
                return CoverageEntry(name, "not_exportable", f"NOT_FOUND: {missing.message}")
            self._record_failed(name, exc, "describe")
            return None

    def _plan_one(
        self, name: str, t0: datetime, reads: dict[composite.SubRequest, composite.SubResult]
    ) -> ObjectPlan:
        entry = self.manifest.objects.get(name)
        done = entry is not None and entry.state == ObjectState.DONE
        with self.client.metered(self.meters[name]):
            raw = _answered(reads, composite.describe_request(name))
            schema = (ObjectSchema.from_describe(raw) if raw is not None
                      else describe.describe(self.client, name))  # fmt: skip
            cut = snapshot_cut(schema, t0)
            expected, count_refused, refusal_code = None, None, None
            if not done and needs_count(schema):
                self._wait_past_t0()
                try:
                    counted = _answered(reads, self._count_request(name, cut))
                    expected = (
                        query_rest.count(self.client, name, where=cut.condition(),
                                         include_deleted=self.settings.backup.include_deleted)
                        if counted is None else query_rest.total_size(counted, name)
                    )  # fmt: skip
                except SalesforceError as exc:
                    if faults.refusal_coverage(exc.error_code, exc.message) == "not_exportable":
                        raise  # "does not support query": no row query would be served either
                    # A huge table's COUNT() times out, a setup object refuses it: the rows may still
                    # be readable, so the object is exported without an expected count.
                    count_refused, refusal_code = _salesforce_words(exc), exc.error_code
        plan = plan_object(schema, cut=cut, settings=self.settings.backup, expected_rows=expected,
                           count_refused=count_refused, count_refusal_code=refusal_code,
                           index=self.big_indexes.get(name, ()),
                           index_unknown=self.big_index_unknown)  # fmt: skip
        if not done:
            self.schemas[name] = self.writer.write_schema(
                plan.schema, plan.fields, arrow_schema(plan.fields, object_name=name), background=True
            )  # written while the next object is described: checkpoints wait for it
        return plan

    def _preflight(self, plans: list[ObjectPlan]) -> list[ObjectPlan]:
        """What the backup user cannot see, before anything is exported: recorded in the manifest
        (`access`, each object's hidden and masked fields), shown, and the verdict's to judge. Its
        calls are the run's calls outside any object."""
        from sfbackup.backup.preflight import run_preflight

        meter = CallMeter()  # its own calls: the metadata's are made beside it
        with self.client.metered(meter):
            found = run_preflight(
                self.client,
                {p.name: p.schema for p in plans},
                username=self.settings.connection.username,
                files=self.settings.backup.files,
                concurrency=self.settings.backup.concurrency,
            )
        self.manifest.api["preflight_calls"] = meter.calls
        self.manifest.access = AccessRecord(
            user_id=found.user.user_id,
            username=found.username,
            permissions=dict(found.user.permissions),
            gaps=[g.to_dict() for g in found.gaps],
            checked_at=datetime.now(UTC),
        )
        self._save()
        for gap in found.gaps:
            self.progress.message("warning" if gap.blocks_safe else "info", gap.one_line())
        if found.blocking:
            n = len(found.blocking)
            self.progress.message(
                "warning",
                f"{n} blind spot{'s' if n != 1 else ''} of the backup user: this snapshot cannot be SAFE "
                "TO CANCEL; `sfbackup check` lists the fix for each (docs/check.md)",
            )
        return [
            replace(
                plan,
                hidden=tuple(found.hidden.get(plan.name, ())),
                masked=tuple(m for m in found.masked.get(plan.name, ()) if m in plan.field_names),
            )
            for plan in plans
        ]

    def _export_everything(self, names: list[str], t0: datetime) -> list[CoverageEntry]:
        """Plan, preflight and export the records (then other binaries), with the metadata beside
        from the start (it needs nothing of the objects' plans) and the file bodies beside once
        the file objects are planned: each side reads what it needs from Salesforce itself, so
        the run costs the longest of the three, not their sum. A failure on one side stops the
        others."""
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="files-metadata") as side:
            beside = [side.submit(self._export_metadata)]
            try:
                plans, coverage = self._plan(names, t0)
                self._wait_past_t0()  # before any row is read under the cut
                plans = self._preflight(plans)
                beside.append(side.submit(self._export_files, plans))
                self._export_records(plans)
                coverage += self._settle_refusals()
                self._export_binaries(plans)
            except BaseException:
                self.stop_event.set()
                for future in beside:  # wait: the manifest is not saved from two places as the run stops
                    future.exception()
                raise
            for future in beside:
                future.result()
        return coverage

    def _export_records(self, plans: list[ObjectPlan]) -> None:
        backup = self.settings.backup
        exporter = RecordExporter(
            self.client,
            self.snapshot_dir,
            file_format=backup.format,
            bulk_page_records=backup.bulk_page_records,
            csv_neutralize_formulas=backup.csv_neutralize_formulas,
            progress=self.progress,
            stop_event=self.stop_event,
        )
        # The largest first (an unknown count may be the org's largest table): the longest chain
        # starts at once instead of queueing behind small ones, so the run ends with the longest.
        todo = sorted((p for p in plans if not self._is_done(p.name)),
                      key=lambda p: -(p.expected_rows if p.expected_rows is not None else float("inf")))
        jobs: dict[str, str | None] = {}
        for plan in todo:  # submit every Bulk job first, so Salesforce works while we download
            previous = self.manifest.objects.get(plan.name)
            if previous is None or not previous.resume:
                with self.client.metered(self.meters[plan.name]):
                    jobs[plan.name] = exporter.submit(plan)
        stopped: list[SfbackupError] = []
        # An object COUNT() found empty costs no call (an empty part and a checkpoint): a thread of
        # its own writes those while the record workers wait on Salesforce. Queued after the
        # largest, hundreds of them were the run's tail.
        empty = {p.name for p in todo if p.expected_rows == 0 and p.read.plain and not jobs.get(p.name)}
        with ThreadPoolExecutor(max_workers=max(1, backup.concurrency)) as pool, \
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="empty-objects") as quiet:
            futures: list[Future[ObjectEntry]] = []
            for plan in todo:
                previous = self.manifest.objects.get(plan.name)
                resume = previous.resume if previous is not None else None
                parts = list(previous.parts) if resume and previous else []
                futures.append((quiet if plan.name in empty and not resume else pool).submit(
                    exporter.export, plan, job_id=jobs.get(plan.name), checkpoint=self._checkpoint,
                    resume=resume, previous_parts=parts, meter=self.meters[plan.name],
                ))
            for future in futures:
                try:
                    future.result()
                except (ApiReserveReached, ExportStopped) as exc:
                    self.stop_event.set()
                    stopped.append(exc)
        for name, widened in exporter.widened.items():
            # Fields kept as text: the saved schema says so, so the parts read back as written.
            info = self.writer.write_schema(widened.schema, widened.fields,
                                            arrow_schema(widened.fields, object_name=name))  # fmt: skip
            with self._manifest_lock:
                self.schemas[name] = info
                entry = self.manifest.objects[name]
                entry.schema_path, entry.schema_sha256 = info.path, info.sha256
                self._save_locked()
        if stopped:
            raise stopped[0]

    def _export_binaries(self, plans: list[ObjectPlan]) -> None:
        """Base64 fields and rich-text images of every exported object beyond the file objects."""
        backup = self.settings.backup
        if not backup.files:
            return
        from sfbackup.backup.binaries import binary_fields, export_binaries, wants_binaries

        for plan in plans:
            fields = binary_fields(plan.schema)
            entry = self.manifest.objects.get(plan.name)
            if plan.name in FILE_OBJECTS or not fields or entry is None or not wants_binaries(entry):
                continue
            shown = ", ".join([*fields.base64, *fields.rich_text])
            self.progress.message("info", f"{plan.name}: saving the binaries of {shown}")
            result = export_binaries(
                self.client, self.repository.blobs, self.snapshot_dir, plan.name, entry, fields,
                concurrency=backup.download_concurrency, meter=self.meters[plan.name],
                stop_event=self.stop_event, previous_index=self._previous_binaries(plan.name),
            )  # fmt: skip
            with self._manifest_lock:
                entry.extra["binaries"] = result.to_dict()
                entry.api_calls = self.meters[plan.name].calls
                self._save_object_locked(plan.name)  # a journal line, not the whole manifest

    def _export_files(self, plans: list[ObjectPlan]) -> None:
        backup = self.settings.backup
        file_plans = [p for p in plans if p.name in FILE_OBJECTS]
        if not backup.files or not file_plans:
            return
        from sfbackup.backup.files import export_files

        with self._manifest_lock:
            # A resumed snapshot's files indexes are rewritten in place as downloads settle (and
            # before a fatal error is raised): the manifest must not keep naming them with the
            # hashes of the attempt before. The entries come back when this export ends.
            stale = [p.name for p in file_plans if p.name in self.manifest.files]
            for name in stale:
                del self.manifest.files[name]
            if stale:
                self._save_locked()
        try:
            results = export_files(
                self.client,
                self.repository,
                self.snapshot_dir,
                objects=tuple(p.name for p in file_plans),
                cuts={p.name: p.cut for p in file_plans},
                include_deleted=backup.include_deleted,
                content_versions=backup.content_versions,
                download_concurrency=backup.download_concurrency,
                parent_index=self._parent_indexes(),
                progress=self.progress,
                stop_event=self.stop_event,
                recheck_slice=(
                    (self.manifest.t0.toordinal() % backup.recheck_reused_days, backup.recheck_reused_days)
                    if backup.recheck_reused_days else None
                ),
            )
        except SalesforceError as exc:
            # A refused file metadata query: the records are saved, the bodies are not; the run
            # ends incomplete (exit 3) with Salesforce's words, and --resume reads them again.
            raise ExportStopped(
                f"file bodies of {', '.join(p.name for p in file_plans)} were not saved: "
                f"{_salesforce_words(exc)}",
                hint="run `sfbackup run --resume` to read them again",
            ) from exc
        with self._manifest_lock:
            for name, files_entry in results.items():
                self.manifest.files[name] = files_entry
            self.files_calls = sum(e.api_calls for e in results.values())
            self._save_locked()
        self.files_summary = dict(results.summary)
        if isinstance(results.stopped, ApiReserveReached | ExportStopped):
            raise results.stopped
        if results.stopped is not None or any(entry.missing for entry in results.values()):
            raise ExportStopped(
                "file downloads stopped before every file was saved; the missing files are listed "
                "in the manifest",
                hint="run `sfbackup run --resume` to download them",
            )

    def _export_metadata(self) -> None:
        """The org's configuration, unless switched off or already in the snapshot (a resume)."""
        backup = self.settings.backup
        if not backup.metadata or self.manifest.metadata is not None:
            return
        meter = CallMeter()
        try:
            entry = export_metadata(
                self.client, self.repository.blobs, self.snapshot_dir,
                options=MetadataOptions(max_files=backup.metadata_max_files),
                progress=self.progress, stop_event=self.stop_event, meter=meter,
            )  # fmt: skip
        except SalesforceError as exc:
            # A refusal no retry fixes (the user lacks Modify Metadata...): the records and files
            # stay a good snapshot; the manifest says why its configuration is missing, and the
            # verdict names it.
            entry = MetadataEntry(api_version=self.client.api_version, api_calls=meter.calls,
                                  error=redact(exc.message))  # fmt: skip
            self.progress.message("warning", f"metadata not backed up: {entry.error}")
        with self._manifest_lock:
            self.manifest.metadata = entry
            self.metadata_calls = entry.api_calls
            self._save_locked()
        gaps = [f"{len(entry.failed)} listed component(s) not retrieved"] if entry.failed else []
        if entry.not_retrievable:
            gaps.append(f"{len(entry.not_retrievable)} type(s) Salesforce would not list")
        if gaps:
            self.progress.message("warning", f"metadata: {', '.join(gaps)}; the report names them")

    # -- manifest bookkeeping -----------------------------------------------------------------

    def _checkpoint(self, name: str, entry: ObjectEntry) -> None:
        with self._manifest_lock:
            schema = self.schemas.get(name)
            if schema is not None:
                entry.schema_path, entry.schema_sha256 = schema.path, schema.sha256
            self.manifest.objects[name] = entry
            self._save_object_locked(name)

    def _record_refused(self, name: str, exc: UnsupportedQuery) -> None:
        """Record an object Salesforce refuses to query for a known, permanent reason.

        With `all` (the `everything` preset) the object set comes from describeGlobal, and such refusals
        (objects that need filters Salesforce restricts, external objects...) are explained
        coverage: `skipped`, so a nightly `all` run can still be complete (the report lists them
        and says the backup lacks them). An object the user named explicitly is `failed`.
        """
        backup = self.settings.backup
        from_org_list = backup.object_selection == "all" and name in self.listed
        with self._manifest_lock:
            self.manifest.objects[name] = ObjectEntry(
                state=ObjectState.SKIPPED if from_org_list else ObjectState.FAILED,
                error=ErrorRecord(exc.error_code or "UNSUPPORTED", exc.message, ErrorKind.UNSUPPORTED),
                api_calls=self.meters[name].calls if name in self.meters else 0,
            )
            self._save_object_locked(name)

    def _settle_refusals(self) -> list[CoverageEntry]:
        """Objects of the org's list whose export Salesforce refused: `not_exportable` when no
        documented API can read them, `blocked` (skipped, with what to do; the verdict stays NOT
        SAFE) when Salesforce would serve them with another query or permission. Other failures,
        and objects named explicitly, stay failed (the run ends incomplete)."""
        backup = self.settings.backup
        if backup.object_selection != "all":
            return []
        coverage: list[CoverageEntry] = []
        with self._manifest_lock:
            for name, entry in self.manifest.objects.items():
                error = entry.error
                if entry.state != ObjectState.FAILED or error is None or name not in self.listed:
                    continue
                status = faults.refusal_coverage(error.code, error.message)
                if status is None:
                    continue
                entry.state = ObjectState.SKIPPED
                kind = ErrorKind.UNSUPPORTED if status == "not_exportable" else ErrorKind.BLOCKED
                entry.error = replace(error, kind=kind)
                api = "REST query, and Bulk API 2.0 which refuses what REST refuses"
                reason = (f"no documented API reads it ({api}): {error.code}: {error.message}"
                          if status == "not_exportable" else
                          f"Salesforce serves it only with another query or permission: {error.code}: "
                          f"{error.message}")  # fmt: skip
                coverage.append(CoverageEntry(name, status, reason))
            self._save_locked()
        return coverage

    def _record_failed(self, name: str, exc: SalesforceError, step: str) -> None:
        """Record an object whose `step` Salesforce refused with an error we do not know: failed,
        with Salesforce's own words; the run goes on with the other objects and ends incomplete."""
        with self._manifest_lock:
            self.manifest.objects[name] = ObjectEntry(
                state=ObjectState.FAILED,
                error=ErrorRecord(
                    exc.error_code or type(exc).__name__, f"{step}: {exc.message}", ErrorKind.ERROR
                ),
                api_calls=self.meters[name].calls if name in self.meters else 0,
            )
            self._save_object_locked(name)
        self.progress.message("warning", f"{name}: {step} failed: {_salesforce_words(exc)}")

    def _save(self) -> None:
        with self._manifest_lock:
            self._save_locked()

    def _save_object_locked(self, name: str) -> None:
        """One object's entry made durable: a journal line (the whole manifest is rewritten at most
        every FULL_SAVE_SECONDS; rewriting 1.6 MB per object cost most of a thousand-object run,
        with every worker queued on this lock)."""
        if time.monotonic() - self._saved_at >= FULL_SAVE_SECONDS:
            self._save_locked()
        else:
            self.writer.checkpoint(name)

    def _save_locked(self) -> None:
        self._saved_at = time.monotonic()
        manifest = self.manifest
        calls = self.client.calls_made
        counted = sum(m.calls for m in self.meters.values()) + self.files_calls + self.metadata_calls
        manifest.api["calls"] = calls  # this attempt's (a resumed run's earlier attempts had their own)
        # Login, limits, describeGlobal, the Organization record: what no single object spent.
        manifest.api["calls_outside_objects"] = calls - counted
        self.writer.save()

    def _is_done(self, name: str) -> bool:
        entry = self.manifest.objects.get(name)
        return entry is not None and entry.state == ObjectState.DONE

    def _settle_dead_runs(self) -> None:
        """Snapshots still `running` belong to runs that died (killed, out of disk or memory): this
        run holds the exclusive lock, so none of them is being written. Each becomes `incomplete`,
        saying so, so that `snapshots` and `show` tell the truth and `--resume` or `forget` can
        take it from there."""
        for snapshot in self.repository.snapshots():
            if snapshot.manifest.state != SnapshotState.RUNNING:
                continue
            try:
                writer = self.repository.resume_snapshot(snapshot.id)
                writer.manifest.transition(SnapshotState.INCOMPLETE)
                writer.manifest.errors.append(ErrorRecord(
                    "Interrupted",
                    "the run that wrote this snapshot stopped without finishing (killed, or out of "
                    "disk or memory); `sfbackup run --resume` continues it",
                ))  # fmt: skip
                writer.save()
            except SfbackupError as exc:
                self.progress.message("warning", f"snapshot {snapshot.id} is left running: {exc.message}")
                continue
            self.progress.message(
                "warning", f"snapshot {snapshot.id} was left running by a run that died; marked incomplete"
            )

    def _resumable_snapshot(self) -> str | None:
        """The newest snapshot if a run left it unfinished; None when the newest one finished.
        RepositoryError when the newest manifest cannot be read: whether to resume it is unknown."""
        newest = self.repository.latest()
        return newest.id if newest is not None and newest.manifest.state in _RESUMABLE else None

    def _earlier_snapshots(self) -> list[Snapshot]:
        """Every other readable snapshot, oldest first, read once per run (under the exclusive
        lock they do not change; each manifest of a thousand objects is megabytes to parse)."""
        if self._earlier is None:
            current = self.manifest.snapshot_id if hasattr(self, "manifest") else None
            self._earlier = [s for s in self.repository.snapshots() if s.id != current]
        return self._earlier

    def _parent_snapshot_id(self) -> str | None:
        for snapshot in reversed(self._earlier_snapshots()):
            if snapshot.manifest.files:
                return snapshot.id
        return None

    def _previous_binaries(self, name: str) -> Path | None:
        """The newest earlier binaries index of `name`, for deduplication."""
        for snapshot in reversed(self._earlier_snapshots()):
            if snapshot.id == self.manifest.snapshot_id or name not in snapshot.manifest.objects:
                continue
            saved = snapshot.manifest.objects[name].extra.get("binaries")
            if isinstance(saved, dict) and isinstance(saved.get("index_path"), str):
                path = snapshot.resolve(saved["index_path"])
                if path.is_file():
                    return path
        return None

    def _parent_indexes(self) -> dict[str, Path]:
        """The newest earlier files index of each file object, for deduplication."""
        indexes: dict[str, Path] = {}
        for snapshot in reversed(self._earlier_snapshots()):
            if snapshot.id == self.manifest.snapshot_id:
                continue
            for name, entry in snapshot.manifest.files.items():
                if name in indexes or entry.index_path is None:
                    continue
                path = snapshot.resolve(entry.index_path)
                if path.exists():
                    indexes[name] = path
        return indexes

    def _stop_on_error(self, exc: SfbackupError) -> None:
        manifest = self.manifest
        manifest.transition(SnapshotState.INCOMPLETE)
        manifest.finished_at = datetime.now(UTC)
        manifest.errors.append(ErrorRecord(type(exc).__name__, redact(exc.message)))
        try:
            manifest.summary = self._summary()
            self._save()
        except SfbackupError:
            pass  # the disk is full or gone: the manifest saved last still names only files that exist

    def _finish(self, stopped: SfbackupError | None) -> BackupResult:
        manifest = self.manifest
        settled = (ObjectState.DONE, ObjectState.SKIPPED)
        unfinished = sorted(name for name, e in manifest.objects.items() if e.state not in settled)
        files_short = sorted(name for name, e in manifest.files.items() if e.failed or e.missing)
        files_short += sorted(
            name for name, e in manifest.objects.items()
            if isinstance(e.extra.get("binaries"), dict) and e.extra["binaries"].get("failed")
        )  # fmt: skip
        problem: SfbackupError | None = None
        if isinstance(stopped, ApiReserveReached):
            problem = stopped
        elif isinstance(stopped, ExportStopped) and self.stop_event.is_set():
            problem = Interrupted(
                f"snapshot {manifest.snapshot_id} stopped on a signal"
                + (f"; objects not exported: {', '.join(unfinished)}" if unfinished else ""),
                hint="`sfbackup run --resume` continues where it stopped",
            )
        elif stopped is not None or unfinished or files_short:
            what = [f"objects not exported: {', '.join(unfinished)}"] if unfinished else []
            what += [f"files missing or failed: {', '.join(files_short)}"] if files_short else []
            problem = SnapshotIncomplete(
                f"snapshot {manifest.snapshot_id} is incomplete: "
                + ("; ".join(what) or (stopped.message if stopped else "the run stopped")),
                hint="`sfbackup run --resume` continues where it stopped; `sfbackup show "
                f"{manifest.snapshot_id}` lists each object's error",
            )
        manifest.transition(SnapshotState.EXPORTED if problem is None else SnapshotState.INCOMPLETE)
        manifest.finished_at = datetime.now(UTC)
        manifest.summary = self._summary()
        self._save()
        return BackupResult(
            snapshot_id=manifest.snapshot_id,
            state=manifest.state,
            snapshot_dir=self.snapshot_dir,
            summary={**manifest.summary, "snapshot_id": manifest.snapshot_id, "state": str(manifest.state)},
            problem=problem,
        )

    def _summary(self) -> dict[str, Any]:
        manifest = self.manifest
        return {
            "objects": len(manifest.objects),
            "rows": sum(e.rows for e in manifest.objects.values()),
            "files": sum(e.count for e in manifest.files.values()),
            "bytes": sum(e.bytes for e in manifest.files.values())
            + sum(p.bytes for e in manifest.objects.values() for p in e.parts),
            "api_calls": self.client.calls_made,
            "seconds": round(time.monotonic() - self.started, 3),
            "files_downloaded": self.files_summary.get("downloaded", 0),
            "files_deduplicated": self.files_summary.get("deduplicated", 0),
            "metadata": None if manifest.metadata is None else {
                "components": manifest.metadata.components, "files": manifest.metadata.files,
                "bytes": manifest.metadata.bytes, "new_blobs": manifest.metadata.new_blobs,
                "failed": len(manifest.metadata.failed), "retrieves": manifest.metadata.retrieves,
                "api_calls": manifest.metadata.api_calls,
            },
            "file_results": {
                name: {"count": e.count, "bytes": e.bytes, "downloaded": e.downloaded,
                       "deduplicated": e.deduplicated, "failed": len(e.failed), "missing": len(e.missing)}
                for name, e in sorted(manifest.files.items())
            },
            "object_results": [
                {"object": name, "api": e.api, "state": str(e.state), "rows": e.rows, "seconds": e.seconds,
                 "api_calls": e.api_calls, "error": e.error.message if e.error else None}
                for name, e in sorted(manifest.objects.items())
            ],
        }



def _answered(reads: dict[composite.SubRequest, composite.SubResult], request: composite.SubRequest) -> Any:
    """What a composite call answered for `request`: its body; its error raised as the call alone
    raises it; None when it was not answered (make the call alone)."""
    found = reads.get(request)
    if found is None:
        return None
    if found.error is not None:
        raise found.error
    return found.body


def _salesforce_words(exc: SalesforceError) -> str:
    """Salesforce's error code and message, as recorded for an object."""
    if exc.error_code and exc.error_code not in exc.message:
        return f"{exc.error_code}: {exc.message}"
    return exc.message

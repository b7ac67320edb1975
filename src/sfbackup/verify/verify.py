"""`verify_snapshot`: check a snapshot, optionally against the org, write the reports, and move an
`exported` snapshot that passed to `complete`.

Promotion rule: a snapshot becomes `complete` only when its run finished with every object done
and every file stored (state `exported`) AND this verification found no error. `running`,
`incomplete` and `failed` snapshots are checked and reported, never promoted. Every verification,
passed or not, is added to the manifest's `verifications`; a complete snapshot whose newest full
`--read-data` check failed has status `check_failed` and is not treated as complete (upload,
forget, the verdict) until a full check passes again. Verification never changes any data.
"""

from __future__ import annotations

import contextlib
import copy
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sfbackup import __version__
from sfbackup.clock import format_time, utc_now
from sfbackup.errors import (
    ExitCode,
    RepositoryError,
    SfbackupError,
    StorageError,
    UsageError,
    VerificationFailed,
    storage_error,
)
from sfbackup.repository import Repository, Snapshot, layout
from sfbackup.repository import manifest as manifest_io
from sfbackup.repository.atomic import write_atomic
from sfbackup.repository.manifest import Manifest, SnapshotState, VerificationRecord
from sfbackup.repository.store import LocalStore
from sfbackup.ui.progress import NullProgress, Progress
from sfbackup.verify.blind_spots import compare_record_counts, manifest_blind_spots
from sfbackup.verify.checker import CheckResult, RepoFiles, check_snapshot, parse_subset
from sfbackup.verify.dictionary import write_dictionary
from sfbackup.verify.findings import Finding, FindingFactory, count_by_severity, counted
from sfbackup.verify.labels import NAMED_PER_FINDING, Labels, snapshot_labels
from sfbackup.verify.metadata_check import MetadataCheck, check_metadata
from sfbackup.verify.org_compare import BULK_ID_THRESHOLD, OrgComparison, compare_with_org, coverage_report
from sfbackup.verify.readiness import (
    OwnerRow,
    name_owners_from_org,
    notice_deadline,
    ownership_table,
    storage_check,
)
from sfbackup.verify.report import REPORT_FILES, ReportData, Verdict, report_documents, verdict

if TYPE_CHECKING:
    from sfbackup.config import S3Settings
    from sfbackup.repository.store import Store
    from sfbackup.salesforce.client import SalesforceClient

ClientFactory = Callable[[], "SalesforceClient"]

#: Record owners the report lists (the biggest first; report.json says how many there are).
OWNERS_LISTED = 50


@dataclass
class VerificationResult:
    """How a verification ended. `passed` means no error finding; `verdict` is the cancellation answer."""

    passed: bool
    findings: list[Finding]
    report_paths: dict[str, Path]
    snapshot_id: str = ""
    state: str = ""
    previous_state: str = ""
    level: str = ""
    verified_at: datetime | None = None
    promoted: bool = False
    verdict: Verdict | None = None
    report: dict[str, Any] = field(default_factory=dict)
    own_report_paths: dict[str, Path] = field(default_factory=dict)  # this verification's reports/<...>/
    standing: VerificationRecord | None = None  # the verification report.* beside the manifest shows

    @property
    def superseded(self) -> bool:
        """True when an earlier, stronger verification still stands for the snapshot (this one is
        weaker and passed: it is kept in reports/ but report.* shows the stronger one)."""
        return self.standing is not None and self.standing.verified_at != self.verified_at

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def problem(self) -> VerificationFailed | None:
        """Why the verification did not pass (its class gives exit code 4), or None."""
        if self.passed:
            return None
        count = len(self.failures)
        return VerificationFailed(
            f"snapshot {self.snapshot_id} failed verification: {count} error{'s' if count != 1 else ''}",
            hint="the report lists each finding and what to do",
        )

    @property
    def exit_code(self) -> ExitCode:
        return self.problem.exit_code if self.problem is not None else ExitCode.OK

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary for `--json` output and the run summary."""
        return {
            "snapshot_id": self.snapshot_id,
            "passed": self.passed,
            "state": self.state,
            "previous_state": self.previous_state,
            "promoted": self.promoted,
            "level": self.level,
            "counts": count_by_severity(self.findings),
            "verdict": self.verdict.to_dict() if self.verdict else None,
            "reports": {name: str(path) for name, path in self.report_paths.items()},
            "this_verification_reports": {name: str(path) for name, path in self.own_report_paths.items()},
            "standing": self.standing.to_dict() if self.standing else None,
            "findings": [f.to_dict() for f in self.findings],
        }


def verify_snapshot(
    repo: str | os.PathLike[str] | Repository | Store,
    snapshot: str = "latest",
    *,
    s3: S3Settings | None = None,
    read_data: bool = False,
    read_data_subset: str | tuple[int, int] | None = None,
    against_org: bool = False,
    ids: bool = False,
    client: SalesforceClient | None = None,
    client_factory: ClientFactory | None = None,
    progress: Progress | None = None,
    clock: Callable[[], datetime] = utc_now,
    bulk_id_threshold: int = BULK_ID_THRESHOLD,
    contract_end: date | None = None,
    notice_days: int | None = None,
    report_dir: Path | None = None,
) -> VerificationResult:
    """Verify `snapshot` ("latest" or an id) of the repository `repo` (a Repository, or what
    `Repository.open` takes: a folder, `s3://bucket/prefix` with `s3` settings, a Store), under a
    shared lock; write report.json/md/html into the snapshot folder (in the bucket for S3) and
    promote an `exported` snapshot that passed to `complete` there.

    `against_org` compares with the org through `client` (or one made by `client_factory`);
    `ids` adds the exact Id comparison (Id lists of objects with at least `bulk_id_threshold`
    records are read through a Bulk job). Damage is reported as findings, never raised; errors
    reaching the repository or the org raise the errors.py classes.

    `contract_end` and `notice_days` (default: the manifest's settings, then 60 days) add the
    notice deadline to the report; with a contract end the report also shows who owns the
    records (from the snapshot), and with `against_org` the org's storage beside the backup's size.

    `report_dir` verifies a read-only copy (WORM storage, an auditor's mount): no lock is taken,
    nothing in the repository is written (the verification is not recorded in the manifest and an
    exported snapshot is not promoted), and the reports go to `report_dir`.
    """
    subset = parse_subset(read_data_subset) if isinstance(read_data_subset, str) else read_data_subset
    if ids and not against_org:
        raise UsageError("--ids compares Id lists with the org", hint="add --against-org")
    options = _Options(
        read_data,
        subset,
        against_org,
        ids,
        client,
        client_factory,
        bulk_id_threshold,
        contract_end,
        notice_days,
    )
    progress = progress or NullProgress()
    repository = repo if isinstance(repo, Repository) else Repository.open(repo, s3)
    read_only = report_dir is not None
    lock: contextlib.AbstractContextManager[object] = (
        contextlib.nullcontext() if read_only else repository.lock(exclusive=False, command="sfbackup verify")
    )
    with lock:
        chosen = repository.snapshot(snapshot)
        run = _Verification(chosen.manifest, repository.files, repository.store.describe(), progress, clock)
        run.check(options)
        run.add_readiness(options, ownership=lambda: ownership_table(chosen))
        run.add_labels(lambda ids: snapshot_labels(chosen, ids))
        as_read = chosen.manifest.to_json()
        if report_dir is not None:
            run.record("", lambda _manifest, data: _write_reports_to(report_dir, data))
            paths = {name: report_dir / name for name in REPORT_FILES}
            run.say(f"read-only: the repository was not written; the reports are in {report_dir}")
            return run.result(paths, False, history=paths)
        folder = layout.report_relpath(run.verified_at, run.level, against_org=run.against_org, ids=run.ids)
        promoted = run.record(
            folder,
            lambda m, data: _save_with_reports(chosen, m, as_read, data, folder),
        )
        paths = _write_reports(chosen, run.standing_report(), "")
        paths.update(_write_dictionary(chosen, run.say))
    return run.result(paths, promoted, history=_report_paths(chosen, folder))


@dataclass(frozen=True)
class _Options:
    read_data: bool
    subset: tuple[int, int] | None
    against_org: bool
    ids: bool
    client: SalesforceClient | None
    client_factory: ClientFactory | None
    bulk_id_threshold: int
    contract_end: date | None
    notice_days: int | None


class _Verification:
    """One verification's findings and the bookkeeping around them."""

    def __init__(
        self,
        manifest: Manifest,
        files: RepoFiles,
        where: str,
        progress: Progress,
        clock: Callable[[], datetime],
    ) -> None:
        self.manifest = manifest
        self.previous_state = manifest.state
        self.files = files
        self.where = where
        self.progress = progress
        self.clock = clock
        self.f = FindingFactory(manifest.snapshot_id, where)
        self.findings: list[Finding] = []
        self.checked = CheckResult()
        self.org: OrgComparison | None = None
        self.record_counts: dict[str, int] = {}  # /limits/recordCount (independent of sharing)
        self.coverage: list[dict[str, Any]] = []
        self.level = "structure"
        self.against_org = False
        self.ids = False
        self.verified_at = clock()
        self.client: SalesforceClient | None = None
        self.readiness: dict[str, Any] = {}
        self.own_report: ReportData | None = None
        self.metadata = MetadataCheck()
        self.labels = Labels()

    def say(self, text: str) -> None:
        self.progress.message("info", text, snapshot_id=self.manifest.snapshot_id)

    def check(self, options: _Options) -> None:
        manifest = self.manifest
        self.level = (
            f"read-data-subset {options.subset[0]}/{options.subset[1]}"
            if options.subset
            else ("read-data" if options.read_data else "structure")
        )
        self.against_org, self.ids = options.against_org, options.ids
        self.progress.phase(self.level, f"verifying snapshot {manifest.snapshot_id} ({manifest.state})")
        if manifest.state not in ("exported", "complete"):
            ended = (
                "stopped before it finished"
                if manifest.state != "running"
                else "has not finished (or was killed)"
            )
            self.findings.append(
                self.f(
                    "snapshot_not_finished",
                    f"the run that wrote this snapshot {ended}: its state is "
                    f"{manifest.state}, so it cannot be complete",
                    expected="exported",
                    actual=manifest.state,
                )
            )
        self.checked = check_snapshot(
            manifest,
            self.files,
            self.f,
            read_data=options.read_data,
            subset=options.subset,
            progress=self.progress,
        )
        self.findings += self.checked.findings
        self.findings += manifest_blind_spots(manifest, self.f)
        sobjects = None
        if options.against_org:
            client = options.client
            if client is None:
                if options.client_factory is None:
                    raise UsageError(
                        "--against-org needs a connection to the org",
                        hint="pass --config or --instance-url and set the SF_* credentials",
                    )
                client = options.client_factory()
            self.client = client
            self.progress.phase("against-org", f"comparing with the org at {client.instance_url}")
            self.org = compare_with_org(
                manifest,
                self.files,
                client,
                self.f,
                ids=options.ids,
                say=self.say,
                bulk_id_threshold=options.bulk_id_threshold,
            )
            self.findings += self.org.findings
            sobjects = self.org.sobjects
            if not any(f.kind == "org_mismatch" for f in self.org.findings):
                independent = compare_record_counts(manifest, client, self.f, say=self.say)
                self.record_counts = independent.record_counts
                self.findings += independent.findings
        self.metadata = check_metadata(
            manifest, self.files, self.f, read_data=options.read_data, subset=options.subset,
            client=self.client if options.against_org else None,
        )
        self.findings += self.metadata.findings
        rows, coverage_findings = coverage_report(manifest, sobjects, self.f)
        self.coverage = [r.to_dict() for r in rows]
        self.findings += coverage_findings
        self.findings.sort(
            key=lambda x: (("error", "warning", "info").index(x.severity), x.object or "", x.kind)
        )

    def add_readiness(self, options: _Options, *, ownership: Callable[[], list[OwnerRow]] | None) -> None:
        """The cancellation checklist's evidence: notice deadline, record owners, org storage."""
        settings = self.manifest.settings
        contract_end = options.contract_end or _date_or_none(settings.get("contract_end"))
        recorded = settings.get("notice_days")
        notice_days = options.notice_days
        if notice_days is None:
            notice_days = recorded if isinstance(recorded, int) and not isinstance(recorded, bool) else 60
        if contract_end is not None:
            notice = notice_deadline(contract_end, notice_days, today=self.verified_at.date())
            self.readiness["notice"] = notice.to_dict()
        leaving = contract_end is not None or settings.get("preset") == "everything"
        if leaving and ownership is not None:
            try:
                owners = ownership()
            except SfbackupError as exc:  # damaged parts are already findings
                self.say(f"record owners not listed: {exc.message}")
            else:
                if self.client is not None and any(o.name is None for o in owners[:OWNERS_LISTED]):
                    try:
                        name_owners_from_org(owners[:OWNERS_LISTED], self.client)
                    except SfbackupError as exc:
                        self.say(f"record owners not named from the org: {exc.message}")
                self.readiness["owners"] = [o.to_dict() for o in owners[:OWNERS_LISTED]]
                self.readiness["owners_total"] = len(owners)
        if self.client is not None:
            try:
                limits = self.client.get_json(self.client.data_path("limits/"))
            except SfbackupError as exc:
                self.say(f"org storage not read: {exc.message}")
            else:
                backup_bytes = sum(r["bytes"] for r in self._object_rows()) + sum(
                    r["bytes"] for r in self._file_rows()
                )
                self.readiness["storage"] = storage_check(limits, backup_bytes)

    def add_labels(self, label: Callable[[list[str]], Labels]) -> None:
        """Names for what the report mentions: object labels, and the files, records and owners the
        findings name (the first NAMED_PER_FINDING of each)."""
        ids = [
            str(i)
            for f in self.findings
            if isinstance(f.actual, list)
            for i in f.actual[:NAMED_PER_FINDING]
            if isinstance(i, str)
        ]
        ids += [str(o["owner_id"]) for o in self.readiness.get("owners") or [] if not o.get("name")]
        try:
            self.labels = label(ids)
        except SfbackupError as exc:  # damaged data is already a finding; the report keeps Ids
            self.say(f"names not read from the snapshot: {exc.message}")
        for sobject in (self.org.sobjects if self.org else None) or []:
            # objects not in the snapshot (left out, refused) are named from the org's list
            name, plural = sobject.get("name"), sobject.get("labelPlural") or sobject.get("label")
            if isinstance(name, str) and isinstance(plural, str) and plural:
                self.labels.objects.setdefault(name, plural)

    @property
    def passed(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    def record(self, folder: str, save: Callable[[Manifest, ReportData], None]) -> bool:
        """Add this verification (its reports in `folder`) to the manifest's history and, when an
        exported snapshot passed, move it to complete; `save` writes this verification's reports
        and then the manifest. Returns whether the snapshot was promoted."""
        counts = count_by_severity(self.findings)
        updated = copy.deepcopy(self.manifest)  # kept only once it is saved
        promote = self.passed and updated.state == SnapshotState.EXPORTED
        if promote:
            updated.transition(SnapshotState.COMPLETE)
        data = self.report_data(updated.state)
        line = verdict(data).line
        updated.verifications.append(VerificationRecord(
            self.verified_at, self.level, self.passed, counts["error"], counts["warning"],
            self.against_org, self.ids, line, folder,
        ))  # fmt: skip
        if promote:
            updated.verification = {
                "verified_at": format_time(self.verified_at),
                "level": self.level,
                "passed": True,
                "findings": len(self.findings),
                "errors": counts["error"],
                "warnings": counts["warning"],
                "against_org": self.against_org,
                "ids": self.ids,
                "verdict": line,
                "report": f"{folder}/report.json",
            }
        save(updated, data)
        self.manifest = updated
        self.own_report = data
        return promote

    def standing_report(self) -> ReportData | str | None:
        """The report that stands for the snapshot once this verification is recorded: this one's
        data, or the folder of an earlier, stronger verification's reports (None: one recorded
        before reports had folders, whose report.* beside the manifest stay as they are)."""
        standing = self.manifest.standing_verification
        if standing is None or standing is self.manifest.verifications[-1]:
            return self.own_report
        return standing.report or None

    def report_data(self, state: SnapshotState | None = None) -> ReportData:
        """What the report shows; `state` as it will be (promotion), else the manifest's."""
        return ReportData(
            snapshot_id=self.manifest.snapshot_id,
            state=state or self.manifest.status,
            t0=self.manifest.t0,
            org=dict(self.manifest.org),
            repository=self.where,
            level=self.level,
            verified_at=self.verified_at,
            passed=self.passed,
            against_org=self.against_org,
            ids=self.ids,
            findings=list(self.findings),
            objects=self._object_rows(),
            files=self._file_rows(),
            coverage=self.coverage,
            metadata=self.metadata.rows if self.metadata.backed_up else None,
            program_version=__version__,
            readiness=self.readiness,
            labels=self.labels,
            history=[v.to_dict() for v in self.manifest.verifications],
        )

    def _status(self, name: str) -> str:
        mine = [f for f in self.findings if f.object == name]
        errors = sorted({f.kind for f in mine if f.severity == "error"})
        if errors:
            return "PROBLEM: " + ", ".join(errors)
        warnings = sorted({f.kind for f in mine if f.severity == "warning"})
        if warnings:
            return "warning: " + ", ".join(warnings)
        if any(f.kind == "deleted_since_export" for f in mine):
            return "ok (some deleted in the org since)"
        return "ok"

    def _object_rows(self) -> list[dict[str, Any]]:
        counts = self.org.object_counts if self.org else {}
        rows = []
        for name, check in sorted(self.checked.objects.items()):
            rows.append(
                {
                    "object": name,
                    "state": check.state,
                    "api": check.api,
                    "operation": check.operation,
                    "backup_rows": check.rows,
                    "rows_in_files": check.rows_in_files,
                    "deleted_rows": check.deleted_rows,
                    "org_count": counts.get(name),
                    "org_record_count": self.record_counts.get(name),
                    "ids_compared": bool(self.org and self.org.ids_compared.get(name)),
                    "parts": check.parts,
                    "parts_read": check.parts_read,
                    "bytes": check.bytes,
                    "status": self._status(name),
                }
            )
        return rows

    def _file_rows(self) -> list[dict[str, Any]]:
        counts = self.org.file_counts if self.org else {}
        rows = []
        for name, check in sorted(self.checked.files.items()):
            rows.append(
                {
                    "object": name,
                    "count": check.count,
                    "bytes": check.bytes,
                    "downloaded": check.downloaded,
                    "deduplicated": check.deduplicated,
                    "not_stored": check.failed + check.missing + check.unavailable,
                    "no_body": check.no_body,
                    "blobs": check.blobs,
                    "blobs_present": check.blobs_present,
                    "blobs_read": check.blobs_read,
                    "md5_checked": check.md5_checked,
                    "checksum_status": check.checksum_status,
                    "org_count": counts.get(name),
                    "status": self._status(name),
                }
            )
        return rows

    def result(
        self, paths: dict[str, Path], promoted: bool, *, history: dict[str, Path]
    ) -> VerificationResult:
        data = self.report_data()
        decision = verdict(data)
        counts = count_by_severity(self.findings)
        self.progress.message(
            "info" if self.passed else "error",
            f"verification {'passed' if self.passed else 'FAILED'}: {counted(counts['error'], 'error')}, "
            f"{counted(counts['warning'], 'warning')}, {counts['info']} explained; {decision.line}",
            snapshot_id=self.manifest.snapshot_id,
        )
        from sfbackup.verify.report import to_json

        return VerificationResult(
            passed=self.passed,
            findings=list(self.findings),
            report_paths=paths,
            snapshot_id=self.manifest.snapshot_id,
            state=self.manifest.state,
            previous_state=self.previous_state,
            level=self.level,
            verified_at=self.verified_at,
            promoted=promoted,
            verdict=decision,
            report=to_json(data),
            own_report_paths=history,
            standing=self.manifest.standing_verification,
        )


def _save_manifest(snapshot: Snapshot, manifest: Manifest, as_read: bytes) -> None:
    """Save the manifest with this verification recorded, unless the snapshot changed while it was
    verified."""
    repository = snapshot.repository
    now = repository.snapshot(snapshot.id).manifest
    if now.to_json() != as_read:
        raise RepositoryError(
            f"snapshot {snapshot.id} changed while it was verified (now {now.state}, in "
            f"{repository.store.describe()}); the verification was not recorded",
            hint="verify it again once the other command has finished",
        )
    manifest_io.save(manifest, repository.store, snapshot.key())


def _save_with_reports(
    snapshot: Snapshot, manifest: Manifest, as_read: bytes, data: ReportData, folder: str
) -> None:
    """This verification's reports into `folder`, then the manifest that names them (a crash in
    between leaves an unnamed folder, never a manifest naming a missing report)."""
    _write_reports(snapshot, data, folder)
    _save_manifest(snapshot, manifest, as_read)


def _write_reports(snapshot: Snapshot, report: ReportData | str | None, folder: str) -> dict[str, Path]:
    """Store report.json/md/html in `folder` of the snapshot ("": beside the manifest), from the
    report's data or copied from another verification's folder; return where each is (a local
    path for a folder, the key for S3)."""
    store = snapshot.repository.store
    if report is None:
        return _report_paths(snapshot, folder)
    if isinstance(report, str):
        documents = {}
        try:
            for name in REPORT_FILES:
                with store.open(snapshot.key(f"{report}/{name}")) as source:
                    documents[name] = source.read()
        except StorageError:
            # The standing report's folder was removed by hand: report.* stays as it is rather than
            # being replaced by a weaker check's.
            return _report_paths(snapshot, folder)
    else:
        documents = report_documents(report)
    for name, body in documents.items():
        store.put_stream(snapshot.key(f"{folder}/{name}" if folder else name), [body])
    return _report_paths(snapshot, folder)


def _write_reports_to(folder: Path, data: ReportData) -> None:
    """report.json/md/html into a local folder outside the repository (a read-only copy's)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, body in report_documents(data).items():
            write_atomic(folder / name, body)
    except OSError as exc:
        raise storage_error("write the report in", folder, exc) from None


def _report_paths(snapshot: Snapshot, folder: str) -> dict[str, Path]:
    store = snapshot.repository.store
    paths: dict[str, Path] = {}
    for name in REPORT_FILES:
        key = snapshot.key(f"{folder}/{name}" if folder else name)
        paths[name] = store.path(key) if isinstance(store, LocalStore) else Path(key)
    return paths


def _write_dictionary(snapshot: Snapshot, say: Callable[[str], None]) -> dict[str, Path]:
    """The data dictionary beside the report; a describe it cannot read is said, not raised (the
    findings already name damaged files)."""
    try:
        keys = write_dictionary(snapshot)
    except (SfbackupError, OSError) as exc:
        say(f"data dictionary not written: {getattr(exc, 'message', exc)}")
        return {}
    store = snapshot.repository.store
    return {key.rsplit("/", 1)[-1]: store.path(key) if isinstance(store, LocalStore) else Path(key)
            for key in keys}  # fmt: skip


def _date_or_none(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None

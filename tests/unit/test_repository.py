"""The repository: init/open, layout, snapshot ids, writing a snapshot and reading it back."""

from __future__ import annotations

import hashlib
import json
import stat
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from sfbackup.errors import ExitCode, RepositoryError, RepositoryLocked, SnapshotNotFound, UsageError
from sfbackup.repository import DamagedSnapshot, Repository, atomic, layout
from sfbackup.repository.manifest import FilesEntry, ObjectEntry, PartInfo
from sfbackup.salesforce.arrow_types import arrow_schema, batch_from_bulk_csv
from tests import cases

T0 = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


def _write_object(repo: Repository, fmt: str, t0: datetime = T0) -> str:
    """A snapshot with the all-types object in two parts, as the export would write it."""
    writer = repo.new_snapshot(t0, org={"org_id": "00D000000000001"})
    schema = arrow_schema(cases.EXPORTED_FIELDS, object_name=cases.OBJECT_NAME)
    entry = ObjectEntry(state="done", api="bulk2", operation="queryAll", format=fmt)
    schema_file = writer.write_schema(cases.ALL_TYPES, cases.EXPORTED_FIELDS, schema)
    entry.schema_path, entry.schema_sha256 = schema_file.path, schema_file.sha256
    for index, rows in enumerate(([cases.CSV_VALUES], [cases.null_csv_values()])):
        part = writer.open_part(cases.OBJECT_NAME, index, fmt, schema)
        part.write(batch_from_bulk_csv(cases.bulk_csv(rows), schema))
        entry.parts.append(part.close())
    entry.rows = 2
    writer.manifest.objects[cases.OBJECT_NAME] = entry
    writer.save()
    return writer.id


def test_given_a_new_folder_when_init_then_layout_marker_and_modes_are_as_documented(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    repo = Repository.init(root)
    info = json.loads((root / "repository.json").read_text())
    assert info["format"] == "sfbackup-repository" and info["layout_version"] == 1
    assert len(info["repository_id"]) == 32 and info["created_at"].endswith("Z")
    assert repo.repository_id == info["repository_id"]
    for folder in ("snapshots", "blobs/sha256", "locks"):
        assert (root / folder).is_dir()
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert stat.S_IMODE((root / "repository.json").stat().st_mode) == 0o600


def test_given_a_repository_when_init_again_or_on_a_non_empty_folder_then_refused(tmp_path: Path) -> None:
    Repository.init(tmp_path / "repo")
    with pytest.raises(UsageError, match="already"):
        Repository.init(tmp_path / "repo")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "file.txt").write_text("x")
    with pytest.raises(UsageError, match="not an empty folder"):
        Repository.init(tmp_path / "other")


def test_given_no_repository_when_opened_then_error_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(RepositoryError) as caught:
        Repository.open(tmp_path / "nothing")
    assert caught.value.exit_code == ExitCode.NO_REPOSITORY
    assert "no sfbackup repository" in caught.value.message and "sfbackup run" in str(caught.value)


def test_given_an_unknown_layout_version_when_opened_then_refused_with_exit_10_naming_it(
    tmp_path: Path,
) -> None:
    Repository.init(tmp_path / "repo")
    marker = tmp_path / "repo" / "repository.json"
    info = json.loads(marker.read_text())
    info["layout_version"] = 7
    marker.write_text(json.dumps(info))
    with pytest.raises(RepositoryError) as caught:
        Repository.open(tmp_path / "repo")
    assert caught.value.exit_code == ExitCode.NO_REPOSITORY
    assert "layout version 7" in caught.value.message and "layout version 1" in caught.value.message


def test_given_open_or_init_then_it_creates_once_and_opens_after(tmp_path: Path) -> None:
    first = Repository.open_or_init(tmp_path / "repo")
    assert Repository.open_or_init(tmp_path / "repo").repository_id == first.repository_id


def test_given_t0_then_snapshot_ids_are_sortable_and_validated(tmp_path: Path) -> None:
    sid = layout.new_snapshot_id(T0)
    assert sid.startswith("20261127T020000Z-") and len(sid) == 25
    assert layout.validate_snapshot_id(sid) == sid
    assert layout.snapshot_time(sid) == T0
    for bad in ("../etc", "20261127T020000Z-XYZ", "20261399T020000Z-3f9a1c2e", "latest"):
        with pytest.raises(UsageError, match="not a snapshot id"):
            layout.validate_snapshot_id(bad)
    with pytest.raises(ValueError):
        layout.new_snapshot_id(datetime(2026, 1, 1))


def test_given_two_snapshots_cut_in_the_same_second_then_latest_is_the_one_created_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = Repository.init(tmp_path / "repo")
    t0 = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
    ids = iter(["20261127T020000Z-ffffffff", "20261127T020000Z-00000000"])  # the second sorts first
    monkeypatch.setattr(layout, "new_snapshot_id", lambda _t0: next(ids))
    first = repo.new_snapshot(t0)
    time.sleep(0.005)  # manifests record their creation to the millisecond; a loaded machine can tie
    second = repo.new_snapshot(t0)
    assert second.id < first.id
    assert repo.snapshot("latest").id == second.id
    assert repo.latest(state="running") is not None and repo.latest(state="running").id == second.id  # type: ignore[union-attr]


def test_given_object_names_that_could_escape_then_layout_refuses_them() -> None:
    assert layout.part_relpath("Invoice__c", 3, "csv") == "objects/Invoice__c/part-00003.csv"
    for bad in ("../x", "a/b", "", "Acc ount"):
        with pytest.raises(RepositoryError):
            layout.part_relpath(bad, 0, "parquet")


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_given_a_written_snapshot_when_read_then_all_parts_come_back_typed(tmp_path: Path, fmt: str) -> None:
    repo = Repository.init(tmp_path / "repo")
    sid = _write_object(repo, fmt)
    snap = Repository.open(tmp_path / "repo").snapshot(sid)
    table = snap.read(cases.OBJECT_NAME)
    assert table.num_rows == 2
    assert table.slice(0, 1).to_pylist()[0] == cases.EXPECTED_VALUES
    assert table.slice(1, 1).to_pylist()[0] == cases.NULL_EXPECTED_VALUES
    assert table.schema.field("Amount__c").type == pa.decimal128(18, 2)
    frame = snap.read_pandas(cases.OBJECT_NAME)
    assert list(frame["Id"]) == [cases.RECORD_ID, cases.NULL_RECORD_ID]
    document = json.loads((snap.path / "schema" / f"{cases.OBJECT_NAME}.json").read_text())
    assert set(document) == {"describe", "arrow_schema", "fields"}
    assert document["describe"]["name"] == cases.OBJECT_NAME


def test_given_snapshots_then_listing_is_sorted_and_latest_filters_by_state(tmp_path: Path) -> None:
    repo = Repository.init(tmp_path / "repo")
    older = _write_object(repo, "parquet", T0)
    newer = _write_object(repo, "parquet", T0 + timedelta(days=1))
    writer = repo.resume_snapshot(older)
    writer.manifest.state = "complete"
    writer.save()
    (repo.path / "snapshots" / "not-a-snapshot").mkdir()
    (repo.path / "snapshots" / layout.new_snapshot_id(T0)).mkdir()  # no manifest yet: not listed
    assert [s.id for s in repo.snapshots()] == [older, newer]
    assert repo.latest().id == newer  # type: ignore[union-attr]
    assert repo.latest("complete").id == older  # type: ignore[union-attr]
    assert repo.latest("failed") is None
    assert repo.snapshot("latest").id == newer


def test_given_an_unknown_snapshot_then_snapshot_not_found(tmp_path: Path) -> None:
    repo = Repository.init(tmp_path / "repo")
    with pytest.raises(SnapshotNotFound, match="no snapshot yet"):
        repo.snapshot("latest")
    with pytest.raises(SnapshotNotFound, match="no snapshot 20261127T020000Z-00000000"):
        repo.snapshot("20261127T020000Z-00000000")


def test_given_a_manifest_naming_a_missing_file_then_save_refuses(tmp_path: Path) -> None:
    repo = Repository.init(tmp_path / "repo")
    writer = repo.new_snapshot(T0)
    writer.manifest.objects["Account"] = ObjectEntry(schema_path="schema/Account.json")
    with pytest.raises(RepositoryError, match="do not exist"):
        writer.save()


def test_given_a_new_snapshot_then_its_running_manifest_is_saved_at_once(tmp_path: Path) -> None:
    repo = Repository.init(tmp_path / "repo")
    writer = repo.new_snapshot(T0, settings={"format": "csv"}, parent=None)
    loaded = repo.snapshot(writer.id).manifest
    assert loaded.state == "running" and loaded.t0 == T0 and loaded.settings == {"format": "csv"}


def test_given_a_files_index_then_it_is_written_atomically_and_read_back(tmp_path: Path) -> None:
    repo = Repository.init(tmp_path / "repo")
    writer = repo.new_snapshot(T0)
    index = pa.table({"Id": ["068A"], "sha256": ["ab" * 32]})
    info = writer.write_files_index("ContentVersion", index)
    assert info.path == "files/ContentVersion.parquet" and info.rows == 1
    writer.manifest.files["ContentVersion"] = FilesEntry(index_path=info.path, index_sha256=info.sha256)
    writer.save()
    assert repo.snapshot(writer.id).files("ContentVersion").equals(index)


def test_given_a_repository_then_its_lock_conflicts_are_reported(tmp_path: Path) -> None:
    repo = Repository.init(tmp_path / "repo")
    with (
        repo.lock(exclusive=True, command="sfbackup prune"),
        pytest.raises(RepositoryLocked),
        repo.lock(exclusive=False, command="sfbackup run"),
    ):
        pass


def test_given_atomic_writes_then_failures_leave_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "data.json"
    atomic.write_atomic(target, b"old")
    with pytest.raises(RuntimeError), atomic.atomic_writer(target) as handle:
        handle.write(b"new, half")
        raise RuntimeError("crash")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.json"]
    assert atomic.write_atomic(target, iter([b"a", b"b"])) == 2 and target.read_bytes() == b"ab"
    assert atomic.is_temporary(atomic.temporary_name("data.json"))


def test_given_a_damaged_manifest_then_listing_names_the_file_and_ids_still_list(tmp_path: Path) -> None:
    repo = Repository.init(tmp_path / "repo")
    sid = _write_object(repo, "parquet")
    manifest = repo.path / "snapshots" / sid / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"state": "running"', '"state": 5'))
    assert repo.snapshot_ids() == [sid]
    assert repo.snapshots() == []  # left out: one damaged manifest must not stop every later run
    [damaged] = repo.read_snapshots()
    assert isinstance(damaged, DamagedSnapshot) and str(manifest) in damaged.error
    with pytest.raises(RepositoryError) as caught:
        repo.snapshot(sid)
    assert str(manifest) in caught.value.message and "state" in caught.value.message


def test_given_a_missing_part_when_read_then_repository_error_points_at_verify(tmp_path: Path) -> None:
    repo = Repository.init(tmp_path / "repo")
    snap = repo.snapshot(_write_object(repo, "parquet"))
    snap.resolve(snap.manifest.objects[cases.OBJECT_NAME].parts[1].path).unlink()
    with pytest.raises(RepositoryError, match=r"part-00001\.parquet .* is missing") as caught:
        snap.read(cases.OBJECT_NAME)
    assert "sfbackup verify" in str(caught.value)


def test_given_checkpoints_when_a_running_snapshot_is_read_then_its_journal_adds_them_up_to_a_torn_line(
    tmp_path: Path,
) -> None:
    repo = Repository.init(tmp_path / "repo")
    writer = repo.new_snapshot(T0)
    manifest_file = writer.path / "manifest.json"
    saved = manifest_file.read_bytes()
    for name, rows in (("Account", 3), ("Contact", 0), ("Account", 5)):
        writer.manifest.objects[name] = ObjectEntry(state="done", api="rest", rows=rows)
        writer.checkpoint(name)
    assert manifest_file.read_bytes() == saved  # no rewrite per checkpoint: one line each
    journal = writer.path / layout.JOURNAL_FILE
    assert len(journal.read_bytes().splitlines()) == 3
    read = repo.snapshot(writer.id).manifest
    assert {n: e.rows for n, e in read.objects.items()} == {"Account": 5, "Contact": 0}
    # A run killed while appending leaves a cut line: it and anything after it never happened.
    with journal.open("ab") as handle:
        handle.write(b'{"seq": 4, "object": "Lead", "entry": {"sta')
    assert sorted(repo.snapshot(writer.id).manifest.objects) == ["Account", "Contact"]
    # A part the entry names must exist before its line is written, as before a save.
    writer.manifest.objects["Lead"] = ObjectEntry(state="done", api="rest")
    writer.manifest.objects["Lead"].parts.append(PartInfo("objects/Lead/part-00000.parquet", 1, 1, "0" * 64))
    with pytest.raises(RepositoryError, match="do not exist"):
        writer.checkpoint("Lead")


def test_given_a_journal_when_the_manifest_is_saved_then_it_holds_every_line_and_a_finished_one_has_no_journal(
    tmp_path: Path,
) -> None:
    repo = Repository.init(tmp_path / "repo")
    writer = repo.new_snapshot(T0)
    writer.manifest.objects["Account"] = ObjectEntry(state="done", api="rest", rows=2)
    writer.checkpoint("Account")
    writer.save()  # still running: the journal stays open; its line is in the manifest now
    writer.manifest.objects["Contact"] = ObjectEntry(state="done", api="rest", rows=1)
    writer.checkpoint("Contact")
    assert {n: e.rows for n, e in repo.snapshot(writer.id).manifest.objects.items()} == {"Account": 2, "Contact": 1}
    # A resumed writer (or a dead run's settling) folds the journal in and removes it at its first save.
    resumed = repo.resume_snapshot(writer.id)
    resumed.save()
    assert not (writer.path / layout.JOURNAL_FILE).exists()
    assert set(json.loads((writer.path / "manifest.json").read_text())["objects"]) == {"Account", "Contact"}
    resumed.manifest.objects["Lead"] = ObjectEntry(state="done", api="rest")
    resumed.checkpoint("Lead")
    resumed.manifest.transition("exported")
    resumed.save()
    assert not (writer.path / layout.JOURNAL_FILE).exists()
    assert sorted(repo.snapshot(writer.id).manifest.objects) == ["Account", "Contact", "Lead"]


def test_given_a_schema_written_in_the_background_when_checkpointed_then_it_is_on_disk_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    repo = Repository.init(tmp_path / "repo")
    writer = repo.new_snapshot(T0)
    schema = arrow_schema(cases.EXPORTED_FIELDS, object_name=cases.OBJECT_NAME)
    release = threading.Event()
    real_write = atomic.write_atomic

    def slow_write(path: Path, data: bytes) -> int:
        release.wait(5)
        return real_write(path, data)

    monkeypatch.setattr("sfbackup.repository.repository.write_atomic", slow_write)
    info = writer.write_schema(cases.ALL_TYPES, cases.EXPORTED_FIELDS, schema, background=True)
    assert not writer.resolve(info.path).exists()  # the caller went on before the disk
    writer.manifest.objects[cases.OBJECT_NAME] = ObjectEntry(
        state="done", api="rest", schema_path=info.path, schema_sha256=info.sha256
    )
    threading.Timer(0.2, release.set).start()
    writer.checkpoint(cases.OBJECT_NAME)  # waits for the schema instead of naming a missing file
    assert hashlib.sha256(writer.resolve(info.path).read_bytes()).hexdigest() == info.sha256
    assert repo.snapshot(writer.id).manifest.objects[cases.OBJECT_NAME].schema_path == info.path

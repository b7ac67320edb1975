"""`snapshots`, `show`, `verify`, `forget`, `prune` and `unlock` read a repository folder and an
`s3://bucket/prefix` (moto's S3 server over HTTP, filled by `sfbackup upload`) through the same
code: every test here runs once on each."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sfbackup.cli import main
from sfbackup.repository import Repository
from sfbackup.repository.store import Store
from tests.s3_server import RunningS3, running_s3, set_test_credentials
from tests.snapshot_builder import add_snapshot, blob_key, random_bodies

BASE = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def s3_server() -> Iterator[RunningS3]:
    with running_s3(set_env=False) as running:
        yield running


@dataclass
class Location:
    """A repository with three complete snapshots and a newer exported one, where a command reads it."""

    kind: str
    local: Repository
    args: list[str]  # --repo and, for S3, the endpoint flags
    store: Store  # the store the commands read (the folder itself, or the bucket prefix)
    complete: list[str]
    exported: str
    bodies: dict[str, bytes]

    def run(self, *words: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
        code = main([*words, *self.args, "--json"])
        out = capsys.readouterr().out.strip().splitlines()
        return code, (json.loads(out[-1]) if out else {})

    def keys(self, prefix: str) -> set[str]:
        return {item.key for item in self.store.list(prefix)}


@pytest.fixture(params=["folder", "s3"])
def location(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Location:
    local = Repository.init(tmp_path / "repo")
    bodies: dict[str, bytes] = {}
    complete = []
    for day in range(3):
        body = random_bodies(1)[0]
        snap = add_snapshot(local, BASE + timedelta(days=day), bodies=[body])
        bodies[snap.id] = body
        complete.append(snap.id)
    exported = add_snapshot(local, BASE + timedelta(days=3), state="exported", bodies=random_bodies(1)).id
    if request.param == "folder":
        from sfbackup.repository.store import LocalStore

        return Location("folder", local, ["--repo", str(local.path)], LocalStore(local.path),
                        complete, exported, bodies)  # fmt: skip
    server: RunningS3 = request.getfixturevalue("s3_server")
    set_test_credentials(monkeypatch)
    bucket = f"loc-{uuid.uuid4().hex[:12]}"
    server.create_bucket(bucket)
    s3_flags = ["--endpoint-url", server.endpoint_url, "--region", "us-east-1"]
    for sid in [*complete, exported]:
        upload = ["upload", sid, "--repo", str(local.path), "--bucket", bucket, "--prefix", "acme/prod"]
        assert main([*upload, "--force", "--json", *s3_flags]) == 0
    return Location("s3", local, ["--repo", f"s3://{bucket}/acme/prod", *s3_flags],
                    server.store(bucket, "acme/prod"), complete, exported, bodies)  # fmt: skip


def test_given_a_repository_when_snapshots_then_every_snapshot_is_listed_with_its_state(
    location: Location, capsys: pytest.CaptureFixture[str]
) -> None:
    code, document = location.run("snapshots", capsys=capsys)

    assert code == 0
    assert [(row["id"], row["state"]) for row in document["snapshots"]] == [
        *((sid, "complete") for sid in location.complete),
        (location.exported, "exported"),
    ]
    assert document["repository"] == location.args[1]


def test_given_a_damaged_manifest_when_snapshots_then_it_is_listed_as_damaged(
    location: Location, capsys: pytest.CaptureFixture[str]
) -> None:
    location.store.put_stream(f"snapshots/{location.complete[0]}/manifest.json", [b"{ not json"])

    code, document = location.run("snapshots", capsys=capsys)

    assert code == 0
    damaged = document["snapshots"][0]
    assert damaged["id"] == location.complete[0] and damaged["state"] == "damaged"
    assert "not valid JSON" in damaged["error"]


def test_given_a_repository_when_show_then_the_snapshot_and_its_manifest_are_shown(
    location: Location, capsys: pytest.CaptureFixture[str]
) -> None:
    code, document = location.run("show", location.complete[1], capsys=capsys)

    assert code == 0
    assert document["snapshot"]["id"] == location.complete[1]
    assert document["manifest"]["objects"]["Account"]["rows"] == 3
    assert document["snapshot"]["files"] == 1

    assert main(["show", "latest", *location.args]) == 0
    assert location.exported in capsys.readouterr().out


def test_given_an_exported_snapshot_when_verify_then_it_is_promoted_where_it_is_stored_and_show_lists_the_reports(
    location: Location, capsys: pytest.CaptureFixture[str]
) -> None:
    code, result = location.run("verify", location.exported, "--read-data", capsys=capsys)

    assert code == 0, result["findings"]
    assert result["promoted"] is True and result["state"] == "complete"
    base = f"snapshots/{location.exported}"
    assert {f"{base}/report.html", f"{base}/report.json", f"{base}/report.md"} <= location.keys(base)
    with location.store.open(f"{base}/manifest.json") as handle:
        assert json.loads(handle.read())["state"] == "complete"
    if location.kind == "s3":  # the local folder the bucket was filled from is not the one verified
        assert location.local.snapshot(location.exported).manifest.state == "exported"

    code, shown = location.run("show", location.exported, capsys=capsys)
    assert code == 0 and shown["snapshot"]["verified"] is True
    assert [path.rsplit("/", 1)[-1] for path in shown["reports"]] == [
        "report.html",
        "report.json",
        "report.md",
    ]
    assert all(path.startswith(location.args[1]) for path in shown["reports"])


def test_given_a_missing_blob_when_verify_then_it_fails_and_nothing_is_promoted(
    location: Location, capsys: pytest.CaptureFixture[str]
) -> None:
    sid = location.complete[-1]
    location.store.delete(blob_key(location.bodies[sid]))

    code, result = location.run("verify", sid, capsys=capsys)

    assert code == 4
    assert {f["kind"] for f in result["findings"] if f["severity"] == "error"} == {"missing_blob"}


def test_given_a_policy_when_forget_then_prune_then_exactly_the_kept_snapshots_and_their_blobs_remain(
    location: Location, capsys: pytest.CaptureFixture[str]
) -> None:
    code, forgotten = location.run("forget", "--keep-last", "1", capsys=capsys)

    assert code == 0
    assert forgotten["removed"] == location.complete[:-1]
    kept = {location.complete[-1], location.exported}
    assert {key.split("/")[1] for key in location.keys("snapshots/")} == kept

    code, pruned = location.run("prune", capsys=capsys)

    assert code == 0 and pruned["deleted"] == 2
    assert blob_key(location.bodies[location.complete[-1]]) in location.keys("blobs/")
    assert not {blob_key(location.bodies[sid]) for sid in location.complete[:-1]} & location.keys("blobs/")
    assert location.keys("locks/") == set()


def test_given_stale_and_live_locks_when_unlock_then_the_stale_one_goes_and_the_live_one_only_with_remove_all(
    location: Location, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    live = {"pid": 4242, "hostname": "other-host", "exclusive": True, "created_at": now,
            "refreshed_at": now, "command": "sfbackup prune"}  # fmt: skip
    stale = dict(live, created_at="2020-01-01T00:00:00.000Z", refreshed_at="2020-01-01T00:00:00.000Z")
    location.store.put_stream("locks/live.json", [json.dumps(live).encode()])
    location.store.put_stream("locks/stale.json", [json.dumps(stale).encode()])

    assert main(["verify", *location.args]) == 11
    assert "other-host" in capsys.readouterr().err
    code, snapshots = location.run("snapshots", capsys=capsys)
    assert code == 0 and len(snapshots["snapshots"]) == 4  # listing takes no lock

    code, unlocked = location.run("unlock", capsys=capsys)
    assert code == 0 and [lock["hostname"] for lock in unlocked["removed"]] == ["other-host"]
    assert location.keys("locks/") == {"locks/live.json"}

    code, unlocked = location.run("unlock", "--remove-all", capsys=capsys)
    assert code == 0 and location.keys("locks/") == set()
    assert main(["verify", location.complete[0], *location.args]) == 0


def test_given_a_repository_when_read_through_the_api_then_tables_and_files_index_come_back(
    location: Location, s3_server: RunningS3
) -> None:
    from sfbackup.config import S3Settings

    settings = S3Settings(endpoint_url=s3_server.endpoint_url, region="us-east-1")
    repository = Repository.open(location.args[1], settings)
    snapshot = repository.snapshot(location.complete[0])

    assert snapshot.read("Account").num_rows == 3
    assert snapshot.files("Attachment").column("sha256").to_pylist() == [
        blob_key(location.bodies[location.complete[0]]).rsplit("/", 1)[-1]
    ]
    assert repository.latest("complete") is not None
    assert repository.snapshot_ids() == [*location.complete, location.exported]


def test_given_no_repository_there_when_snapshots_then_exit_10_naming_the_place(
    tmp_path: Path, s3_server: RunningS3, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    set_test_credentials(monkeypatch)
    bucket = f"empty-{uuid.uuid4().hex[:12]}"
    s3_server.create_bucket(bucket)
    s3_flags = ["--endpoint-url", s3_server.endpoint_url, "--region", "us-east-1"]

    assert main(["snapshots", "--repo", f"s3://{bucket}/nothing", *s3_flags]) == 10
    assert f"no sfbackup repository at s3://{bucket}/nothing" in capsys.readouterr().err
    assert main(["show", "--repo", str(tmp_path)]) == 10
    assert "--repo" in capsys.readouterr().err


def test_given_a_bucket_that_does_not_exist_when_snapshots_then_exit_10_saying_so_and_naming_it(
    s3_server: RunningS3, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    set_test_credentials(monkeypatch)
    s3_flags = ["--endpoint-url", s3_server.endpoint_url, "--region", "us-east-1"]

    assert main(["snapshots", "--repo", "s3://absent-bucket-zq/prod", *s3_flags]) == 10

    error = capsys.readouterr().err
    assert "the bucket 'absent-bucket-zq' does not exist" in error and s3_server.endpoint_url in error
    assert "no sfbackup repository at s3://absent-bucket-zq/prod" in error
    assert "aws s3 mb" in error and "--endpoint-url" in error


def test_given_an_s3_location_when_run_then_usage_error_says_runs_write_a_folder(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run", "--repo", "s3://bucket/prefix", "--instance-url", "https://x.my.salesforce.com"]) == 2
    error = capsys.readouterr().err
    assert "only a local repository folder can be written to" in error and "sfbackup upload" in error


def test_given_a_repository_in_s3_when_its_snapshots_are_listed_then_one_delimited_listing_not_every_key(
    location: Location, s3_server: RunningS3
) -> None:
    if location.kind != "s3":
        pytest.skip("the folder case lists a directory")
    from sfbackup.config import S3Settings

    repository = Repository.open(location.args[1], S3Settings(endpoint_url=s3_server.endpoint_url, region="us-east-1"))
    bucket = location.args[1].removeprefix("s3://").split("/", 1)[0]
    s3_server.log.clear()

    ids = repository.snapshot_ids()

    assert ids == [*location.complete, location.exported]
    listings = s3_server.log.queries(bucket, "ListObjectsV2")
    assert [(q["prefix"], q["delimiter"]) for q in listings] == [(["acme/prod/snapshots/"], ["/"])]
    heads = sorted(key for kind, key in s3_server.log.of(bucket) if kind == "HeadObject")
    assert heads == [f"acme/prod/snapshots/{sid}/manifest.json" for sid in ids]  # one per folder
    s3_server.log.clear()
    assert [snap.id for snap in repository.snapshots()] == ids
    served = s3_server.log.counts(bucket)  # each manifest looked up once, then read once
    assert (served["ListObjectsV2"], served["HeadObject"], served["GetObject"]) == (1, len(ids), len(ids))

"""`sfbackup run` backs up the org's configuration (Metadata API) and `verify` proves it, against the
emulator over HTTP; simple-salesforce's `SfdcMetadataApi` lists and retrieves independently."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from simple_salesforce import Salesforce
from simple_salesforce.metadata import SfdcMetadataApi

from sfbackup.cli import main
from sfbackup.repository import Repository
from sfbackup.repository.manifest import Manifest
from sfbackup.testing import RunningEmulator, running_emulator
from tests.conftest import emulator_env

NS = {"mt": "http://soap.sforce.com/2006/04/metadata"}


@pytest.fixture(scope="module")
def emu() -> Iterator[RunningEmulator]:
    with running_emulator(records=30, seed=3, job_latency=0.05, retrieve_latency=0.05) as running:
        yield running


@pytest.fixture(autouse=True)
def env(emu: RunningEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in emulator_env(emu).items():
        monkeypatch.setenv(key, value)


@pytest.fixture(scope="module")
def md(emu: RunningEmulator) -> SfdcMetadataApi:
    creds = emu.credentials
    sf = Salesforce(username=creds.username, password=creds.password, security_token=creds.security_token,
                    session=emu.session())  # fmt: skip
    url = f"{emu.instance_url}/services/Soap/m/{sf.sf_version}/"
    return SfdcMetadataApi(sf.session, sf.session_id, sf.sf_instance, url, sf.headers, sf.sf_version)


def run(emu: RunningEmulator, repo: Path, *extra: str) -> int:
    return main(["run", "--repo", str(repo), "--instance-url", emu.instance_url, "--json", "--objects", "Account",
                 *extra])  # fmt: skip


def latest(repo: Path) -> tuple[Manifest, Path]:
    snapshot = Repository.open(repo).snapshot("latest")
    return snapshot.manifest, snapshot.path


def index_rows(repo: Path) -> list[dict[str, Any]]:
    manifest, path = latest(repo)
    assert manifest.metadata is not None and manifest.metadata.index_path
    return pq.read_table(path / manifest.metadata.index_path).to_pylist()


def report(repo: Path) -> dict[str, Any]:
    return json.loads((latest(repo)[1] / "report.json").read_text())  # type: ignore[no-any-return]


def org_listing(md: SfdcMetadataApi) -> dict[str, set[str]]:
    """What simple-salesforce (zeep) lists, type by type, folders first."""
    query = md._client.get_type("ns0:ListMetadataQuery")
    listed: dict[str, set[str]] = {}
    for t in md.describe_metadata().metadataObjects:
        if t.xmlName == "WaveTemplateBundle":
            continue
        if t.inFolder:
            folder_type = "EmailFolder" if t.xmlName == "EmailTemplate" else f"{t.xmlName}Folder"
            folders = md.list_metadata([query(type=folder_type)])
            listed[folder_type] = {f.fullName for f in folders}
            listed[t.xmlName] = {c.fullName for f in folders
                                 for c in md.list_metadata([query(type=t.xmlName, folder=f.fullName)])}
        else:
            listed[t.xmlName] = {c.fullName for c in md.list_metadata([query(type=t.xmlName)])}
    return listed


def retrieved_by_simple_salesforce(md: SfdcMetadataApi, package: dict[str, list[str]]) -> zipfile.ZipFile:
    job, _ = md.retrieve("unused", unpackaged=package)
    assert job is not None
    for _ in range(100):
        result = md.retrieve_retrieve_result(job, "true")
        if result.findtext("mt:done", None, NS) == "true":
            return zipfile.ZipFile(io.BytesIO(base64.b64decode(result.findtext("mt:zipFile", "", NS))))
        time.sleep(0.05)
    raise AssertionError("retrieve never finished")


def blob(repo: Path, digest: str) -> Path:
    return repo / "blobs" / "sha256" / digest[:2] / digest


@pytest.fixture(scope="module")
def first_repo(emu: RunningEmulator, tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("metadata") / "repo"
    with pytest.MonkeyPatch.context() as patch:
        for key, value in emulator_env(emu).items():
            patch.setenv(key, value)
        assert run(emu, repo) == 0
    return repo


def test_every_component_the_org_lists_is_in_the_snapshot_as_a_blob(first_repo: Path, md: SfdcMetadataApi) -> None:
    rows = index_rows(first_repo)
    stored: dict[str, set[str]] = {}
    for row in rows:
        assert row["status"] == "retrieved", row
        stored.setdefault(row["type"], set()).add(row["full_name"])
        body = blob(first_repo, row["sha256"]).read_bytes()
        assert hashlib.sha256(body).hexdigest() == row["sha256"] and len(body) == row["size"]
    assert stored == {t: names for t, names in org_listing(md).items() if names}
    manifest, path = latest(first_repo)
    assert manifest.metadata is not None
    assert manifest.metadata.types["ApexClass"] == {"listed": 6, "retrieved": 6, "failed": 0}
    assert manifest.metadata.not_retrievable[0]["type"] == "WaveTemplateBundle"
    assert "INVALID_TYPE" in manifest.metadata.not_retrievable[0]["reason"]
    assert "<members>AccountService</members>" in (path / "metadata" / "package.xml").read_text()
    # the stored files are the bytes a third-party client retrieves
    archive = retrieved_by_simple_salesforce(md, {"ApexClass": ["AccountService"], "CustomObject": ["Account"]})
    by_file = {r["file_name"]: r["sha256"] for r in rows}
    for name in ("classes/AccountService.cls", "classes/AccountService.cls-meta.xml", "objects/Account.object"):
        assert hashlib.sha256(archive.read(f"unpackaged/{name}")).hexdigest() == by_file[name]


def test_the_report_covers_metadata_and_explains_the_type_salesforce_refuses(first_repo: Path) -> None:
    data = report(first_repo)
    types = {r["type"]: r for r in data["metadata"]}
    assert types["Profile"]["listed"] == types["Profile"]["retrieved"] > 0
    kinds = {f["kind"]: f for f in data["findings"]}
    assert kinds["metadata_not_retrievable"]["severity"] == "info"
    assert "WaveTemplateBundle" in kinds["metadata_not_retrievable"]["explanation"]
    assert not any(k.startswith("metadata_") and f["severity"] != "info" for k, f in kinds.items())
    page = (latest(first_repo)[1] / "report.html").read_text()
    assert "Configuration (metadata)" in page
    assert "WaveTemplateBundle" in page and types["WaveTemplateBundle"]["reason"].startswith(
        "Salesforce would not list it: INVALID_TYPE")


def test_a_nightly_second_run_stores_no_new_metadata_blob(emu: RunningEmulator, first_repo: Path) -> None:
    before = {p.name for p in (first_repo / "blobs").rglob("*") if p.is_file()}
    assert run(emu, first_repo) == 0
    manifest, _ = latest(first_repo)
    assert manifest.metadata is not None and manifest.metadata.components > 0
    assert manifest.metadata.new_blobs == 0
    assert {p.name for p in (first_repo / "blobs").rglob("*") if p.is_file()} == before


def test_a_small_file_limit_chunks_the_retrieve_and_gets_the_same_files(
    emu: RunningEmulator, first_repo: Path, tmp_path: Path
) -> None:
    config = tmp_path / "small.toml"
    config.write_text("[backup]\nmetadata_max_files = 10\n")
    repo = tmp_path / "repo"
    assert run(emu, repo, "--config", str(config)) == 0
    manifest, _ = latest(repo)
    assert manifest.metadata is not None
    assert manifest.metadata.retrieves >= manifest.metadata.files // 9
    key = lambda rows: {(r["type"], r["full_name"], r["file_name"], r["sha256"]) for r in rows}  # noqa: E731
    assert key(index_rows(repo)) == key(index_rows(first_repo))


def test_a_retrieve_over_the_size_limit_is_split_until_it_fits(
    emu: RunningEmulator, first_repo: Path, tmp_path: Path
) -> None:
    emu.server.config.metadata_max_zip_bytes = 12_000
    try:
        assert run(emu, tmp_path / "repo") == 0
    finally:
        emu.server.config.metadata_max_zip_bytes = 39 * 2**20
    manifest, _ = latest(tmp_path / "repo")
    assert manifest.metadata is not None and manifest.metadata.failed == []
    assert manifest.metadata.retrieves > 2
    assert len(index_rows(tmp_path / "repo")) == len(index_rows(first_repo))


def test_a_component_deleted_between_listing_and_retrieving_is_named_and_not_safe(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    vanished = emu.org.metadata().vanished
    vanished.add(("ApexClass", "Service0002"))
    try:
        assert run(emu, tmp_path / "repo") == 0  # the snapshot is faithful to what could be retrieved
    finally:
        vanished.clear()
    manifest, _ = latest(tmp_path / "repo")
    assert manifest.metadata is not None
    assert manifest.metadata.failed == [{"type": "ApexClass", "full_name": "Service0002",
                                         "problem": "Entity of type 'ApexClass' named 'Service0002' cannot be found"}]
    assert manifest.metadata.types["ApexClass"] == {"listed": 6, "retrieved": 5, "failed": 1}
    data = report(tmp_path / "repo")
    assert not data["verdict"]["safe"]
    assert any("ApexClass (Service0002)" in r for r in data["verdict"]["reasons"])


def test_a_failed_retrieve_and_an_expired_session_are_retried(emu: RunningEmulator, tmp_path: Path) -> None:
    emu.faults.add_rule("http_503", r"^/services/Soap/m/", times=2)
    emu.faults.add_rule("session_expiry", r"^/services/Soap/m/", times=1)
    assert run(emu, tmp_path / "repo", "--no-verify") == 0
    assert [(r.kind, r.fired) for r in emu.faults.config.rules if "Soap" in r.path_pattern] == [
        ("http_503", 2), ("session_expiry", 1)]
    manifest, _ = latest(tmp_path / "repo")
    assert manifest.metadata is not None and manifest.metadata.failed == []
    assert all(r["status"] == "retrieved" for r in index_rows(tmp_path / "repo"))


def test_no_metadata_skips_it_and_the_verdict_says_the_configuration_is_missing(
    emu: RunningEmulator, tmp_path: Path
) -> None:
    assert run(emu, tmp_path / "repo", "--no-metadata") == 0
    manifest, _ = latest(tmp_path / "repo")
    assert manifest.metadata is None and manifest.settings["metadata"] is False
    data = report(tmp_path / "repo")
    finding = next(f for f in data["findings"] if f["kind"] == "metadata_not_backed_up")
    assert finding["severity"] == "warning" and "--no-metadata" in finding["explanation"]
    assert any("configuration" in r for r in data["verdict"]["reasons"])


def test_verify_names_a_component_whose_file_is_gone(
    emu: RunningEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    assert run(emu, repo, "--no-verify") == 0
    row = next(r for r in index_rows(repo) if r["file_name"] == "classes/Service0003.cls")
    blob(repo, row["sha256"]).unlink()
    (latest(repo)[1] / "metadata" / "package.xml").write_text("<Package/>")
    capsys.readouterr()
    assert main(["verify", "--repo", str(repo), "--json"]) == 4
    out = capsys.readouterr().out
    assert "metadata_missing" in out and "ApexClass Service0003 (classes/Service0003.cls)" in out
    assert "the snapshot's package.xml is damaged" in out


def test_prune_and_upload_count_the_metadata_blobs_as_referenced(emu: RunningEmulator, tmp_path: Path) -> None:
    from sfbackup.maintain.upload import referenced_blobs

    repo = tmp_path / "repo"
    assert run(emu, repo, "--no-verify") == 0
    digests = {r["sha256"] for r in index_rows(repo)}
    assert digests <= referenced_blobs(Repository.open(repo).snapshot("latest"))
    assert main(["prune", "--repo", str(repo)]) == 0
    assert all(blob(repo, d).exists() for d in digests)


def test_verify_against_the_org_names_a_component_created_since_the_snapshot(
    emu: RunningEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    assert run(emu, repo, "--no-verify") == 0
    catalog = emu.org.metadata()
    catalog.create_apex_class("InvoiceMailer")
    try:
        capsys.readouterr()
        assert main(["verify", "--repo", str(repo), "--against-org", "--instance-url", emu.instance_url,
                     "--json"]) == 0  # fmt: skip
    finally:
        catalog.components["ApexClass"].pop()
    data = report(repo)
    finding = next(f for f in data["findings"] if f["kind"] == "metadata_not_in_snapshot")
    assert finding["severity"] == "warning" and finding["actual"] == {"ApexClass": ["InvoiceMailer"]}
    assert not data["verdict"]["safe"]


def test_show_says_what_configuration_a_snapshot_holds(first_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest, _ = latest(first_repo)
    assert manifest.metadata is not None
    capsys.readouterr()
    assert main(["show", "--repo", str(first_repo)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("metadata"))
    assert f"{manifest.metadata.components} components of 15 types" in line
    assert "0 not retrieved, 1 type(s) Salesforce would not list" in line


def test_a_retrieve_salesforce_no_longer_knows_is_started_again(emu: RunningEmulator, tmp_path: Path) -> None:
    emu.server.metadata_jobs.lose = 1
    try:
        assert run(emu, tmp_path / "repo", "--no-verify") == 0
    finally:
        emu.server.metadata_jobs.lose = 0
    manifest, _ = latest(tmp_path / "repo")
    assert manifest.metadata is not None and manifest.metadata.failed == []
    assert manifest.metadata.retrieves == 2  # the lost one and its restart


def test_a_user_without_modify_metadata_gets_records_and_a_verdict_naming_the_missing_configuration(
    emu: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    restricted = emu.org.users["restricted"]
    monkeypatch.setenv("SF_USERNAME", restricted.username)
    monkeypatch.setenv("SF_PASSWORD", restricted.password)
    monkeypatch.setenv("SF_SECURITY_TOKEN", restricted.security_token)
    repo = tmp_path / "repo"
    assert run(emu, repo, "--no-verify") == 0  # the records are a good snapshot all the same
    manifest, _ = latest(repo)
    assert manifest.objects["Account"].rows > 0
    assert manifest.metadata is not None and manifest.metadata.error is not None
    assert "INSUFFICIENT_ACCESS" in manifest.metadata.error
    assert main(["verify", "--repo", str(repo), "--json"]) == 0  # the structure is sound
    data = report(repo)
    finding = next(f for f in data["findings"] if f["kind"] == "metadata_refused")
    assert finding["severity"] == "warning" and "could not be retrieved: " in finding["explanation"]
    assert "Modify Metadata" in finding["what_to_do"]
    assert "(Salesforce refused the Metadata API to the backup user)" in data["safe_covers"]


def test_given_new_metadata_blobs_when_run_then_their_folders_are_synced_once_before_the_index(
    emu: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sfbackup.backup.metadata as metadata_module
    import sfbackup.repository.atomic as atomic
    import sfbackup.repository.blobs as blobs_module

    synced: list[Path] = []
    monkeypatch.setattr(atomic, "fsync_dir", lambda path: synced.append(Path(path)))
    monkeypatch.setattr(blobs_module, "fsync_dir", lambda path: synced.append(Path(path)))
    at_index: list[int] = []
    original = metadata_module.ParquetPartWriter

    def writer(path: Any, *args: Any, **kwargs: Any) -> Any:
        if Path(path).name == "index.parquet" and Path(path).parent.name == "metadata":
            at_index.append(len(synced))
        return original(path, *args, **kwargs)

    monkeypatch.setattr(metadata_module, "ParquetPartWriter", writer)
    assert run(emu, tmp_path / "repo") == 0
    manifest, _ = latest(tmp_path / "repo")
    assert manifest.metadata is not None and manifest.metadata.new_blobs > 20
    blobs_dir = tmp_path / "repo" / "blobs" / "sha256"
    top = [i for i, p in enumerate(synced) if p == blobs_dir]
    # blobs/sha256/ once for the batch (it was once per blob), and before the index is written
    assert len(top) < manifest.metadata.new_blobs / 4, (len(top), manifest.metadata.new_blobs)
    assert at_index and any(i < at_index[0] for i in top)

"""One org, backed up twice through the CLI, then the emulator is STOPPED: every test here reads
the snapshots offline, as a user would after the org is gone.

Between the two runs the org changes (one Opportunity edited, one deleted, one created), for
`diff`. Hostile content goes in before the first run: file names that are paths or device names,
a `<script>` in an Account's description, formula text.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sfbackup.cli import main
from sfbackup.repository import Repository, Snapshot

LONG_AGO = "2020-01-01T00:00:00.000Z"
HOSTILE_NAMES = ["../../etc/passwd", "CON", "nul.txt", "a\x07bell\nnewline.txt", "x" * 300 + ".pdf", "same.txt",
                 "same.txt"]  # fmt: skip
SCRIPT = '<script>document.title="pwned"</script><img src=x onerror="document.title=\'pwned\'">'
#: A picklist label that differs from its API value, as custom picklists often have (the emulator's
#: are all equal); written into the first snapshot's schema file.
STAGE_LABEL = ("Prospecting", "Prospecting (first call)")


@dataclass
class Offline:
    repo: Path
    first: str
    second: str
    account_id: str
    hostile_ids: list[str]
    pdf_version: str
    pdf_body: bytes
    changed: str
    deleted: str
    created: str

    def snapshot(self, sid: str | None = None) -> Snapshot:
        return Repository.open(self.repo).snapshot(sid or self.first)


def _run(emu: Any, repo: Path) -> str:
    creds = emu.credentials
    saved = dict(os.environ)
    os.environ.update(
        SF_USERNAME=creds.username, SF_PASSWORD=creds.password, SF_SECURITY_TOKEN=creds.security_token
    )
    try:
        # 4: verified NOT SAFE (the shared org's sharing hides a few ContentDocumentLinks at times);
        # the snapshot is exported all the same, which is all these tests read
        assert main(["run", "--repo", str(repo), "--instance-url", emu.instance_url, "-q"]) in (0, 4)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    latest = Repository.open(repo).snapshot("latest")
    assert latest.manifest.status in ("exported", "complete")
    return latest.id


@pytest.fixture(scope="session")
def offline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Offline]:
    from sfbackup.testing import running_emulator

    repo = tmp_path_factory.mktemp("reading") / "repo"
    with running_emulator(records=40, seed=7, large_file_bytes=64 * 1024, job_latency=0.0) as emu:
        org = emu.org
        account = org.query("SELECT Id FROM Account", include_deleted=False, api="rest").rest_records(0, 1)[
            0
        ]["Id"]
        org.update("Account", account, {"Description": SCRIPT})
        hostile = [
            org.create("Attachment", {"Name": name, "ParentId": account, "Body": base64.b64encode(b"hostile").decode(),
                                      "CreatedDate": LONG_AGO})
            for name in HOSTILE_NAMES
        ]  # fmt: skip
        pdf_body = b"%PDF-1.4 the signed contract\n" * 40
        pdf_version = org.create(
            "ContentVersion",
            {"Title": "Contract", "PathOnClient": "Contract 2020.pdf", "FirstPublishLocationId": account,
             "VersionData": base64.b64encode(pdf_body).decode(), "CreatedDate": LONG_AGO},
        )  # fmt: skip
        org.create("Account", {"Name": '=HYPERLINK("http://evil")', "CreatedDate": LONG_AGO})
        first = _run(emu, repo)
        opps = org.query("SELECT Id FROM Opportunity", include_deleted=False, api="rest").rest_records(0, 3)
        changed, deleted = opps[0]["Id"], opps[1]["Id"]
        org.update("Opportunity", changed, {"Name": "Renamed deal"})
        org.delete("Opportunity", deleted)
        created = org.create("Opportunity", {"Name": "New deal", "StageName": "Prospecting",
                                             "CloseDate": "2027-01-01", "AccountId": account,
                                             "CreatedDate": LONG_AGO})  # fmt: skip
        second = _run(emu, repo)
    # the emulator is stopped: everything below reads the repository alone
    schema_path = repo / "snapshots" / first / "schema" / "Opportunity.json"
    document = json.loads(schema_path.read_text())
    for spec in document["describe"]["fields"]:
        for value in spec.get("picklistValues") or []:
            if spec["name"] == "StageName" and value["value"] == STAGE_LABEL[0]:
                value["label"] = STAGE_LABEL[1]
    schema_path.write_text(json.dumps(document))
    yield Offline(repo, first, second, account, hostile, pdf_version, pdf_body, changed, deleted, created)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Any:
    """`cli("export", ...)` -> (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run

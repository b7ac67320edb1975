"""The reading commands on a snapshot in S3 (moto's S3 server over HTTP, filled by `sfbackup upload`):
the same rows, files and pack as from the folder, with no Salesforce."""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.reading.conftest import Offline
from tests.s3_server import RunningS3, running_s3, set_test_credentials


@pytest.fixture(scope="module")
def s3_server() -> Iterator[RunningS3]:
    with running_s3(set_env=False) as running:
        yield running


@pytest.fixture
def s3_repo(offline: Offline, s3_server: RunningS3, cli: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    set_test_credentials(monkeypatch)
    bucket = f"read-{uuid.uuid4().hex[:12]}"
    s3_server.create_bucket(bucket)
    flags = ["--endpoint-url", s3_server.endpoint_url, "--region", "us-east-1"]
    code, _, err = cli("upload", offline.first, "--repo", str(offline.repo), "--bucket", bucket,
                       "--prefix", "acme", "--force", "--json", *flags)  # fmt: skip
    assert code == 0, err
    return ["--repo", f"s3://{bucket}/acme", *flags]


def test_given_a_snapshot_in_s3_when_queried_exported_and_restored_then_it_matches_the_folder(
    offline: Offline, s3_repo: list[str], cli: Any, tmp_path: Path
) -> None:
    query = "SELECT Id, Name FROM Account ORDER BY Id"
    local = cli("sql", offline.first, "--repo", str(offline.repo), "--output", "csv", query)
    remote = cli("sql", offline.first, *s3_repo, "--output", "csv", query)
    assert remote[0] == 0, remote[2]
    assert remote[1] == local[1] and len(list(csv.reader(io.StringIO(remote[1])))) > 10

    code, _, err = cli("restore-files", offline.first, *s3_repo, "--id", offline.account_id, "--out", str(tmp_path / "f"))
    assert code == 0, err
    pdf = next((tmp_path / "f" / "Account").glob("*/Contract 2020.pdf"))
    assert pdf.read_bytes() == offline.pdf_body

    code, _, err = cli("export", offline.first, *s3_repo, "--to", "migration-pack", "--objects", "ContentVersion",
                       "--out", str(tmp_path / "pack"))  # fmt: skip
    assert code == 0, err
    body = (tmp_path / "pack" / "ContentVersion" / offline.pdf_version).read_bytes()
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(offline.pdf_body).hexdigest()

"""`sfbackup run --upload`: a verified run lands in S3 (moto's server over HTTP), manifest included."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sfbackup.cli import main
from tests.s3_server import running_s3, set_test_credentials


def test_given_upload_flag_when_run_completes_then_snapshot_is_mirrored_to_the_bucket(
    emulator: Any, login_env: dict[str, str], repo_dir: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    set_test_credentials(monkeypatch)
    with running_s3(set_env=False) as s3:
        s3.create_bucket("nightly")
        s3.log.clear()
        code = main([
            "run", "--repo", str(repo_dir), "--instance-url", emulator.instance_url, "--json",
            "--objects", "Account,Attachment", "--upload", "--bucket", "nightly", "--prefix", "acme",
            "--endpoint-url", s3.endpoint_url,
        ])
        out = capsys.readouterr().out
        assert code == 0, out
        summary = json.loads(out.strip().splitlines()[-1])
        assert summary["state"] == "complete"
        assert summary["upload"]["verified"] is True
        assert summary["upload"]["requests"] == s3.log.counts("nightly")  # what S3 received, by kind
        keys = s3.keys("nightly", "acme/")
    snapshot_id = summary["snapshot_id"]
    assert f"acme/snapshots/{snapshot_id}/manifest.json" in keys
    assert any(k.startswith("acme/blobs/sha256/") for k in keys)
    assert any(k.startswith(f"acme/snapshots/{snapshot_id}/objects/Account/") for k in keys)


def test_given_upload_without_bucket_when_run_then_usage_error_before_any_work(
    emulator: Any, login_env: dict[str, str], repo_dir: Path,
) -> None:
    code = main(["run", "--repo", str(repo_dir), "--instance-url", emulator.instance_url, "--upload"])
    assert code == 2
    assert not repo_dir.exists()

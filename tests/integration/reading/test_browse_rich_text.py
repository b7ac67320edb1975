"""Rich text in `sfbackup browse`: the enterprise org's Field_Report__c.Summary__c (HTML with
rtaImage images, backed up into the binaries index), shown in headless Chromium with the emulator
stopped: the images load from the snapshot, byte for byte the blobs."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from sfbackup.cli import main
from sfbackup.repository import Repository

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def rich_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sfbackup.testing import running_emulator

    repo = tmp_path_factory.mktemp("rich") / "repo"
    with running_emulator(records=30, org_shape="enterprise", large_file_bytes=0, job_latency=0.0) as emu:
        creds = emu.credentials
        with pytest.MonkeyPatch.context() as env:
            env.setenv("SF_USERNAME", creds.username)
            env.setenv("SF_PASSWORD", creds.password)
            env.setenv("SF_SECURITY_TOKEN", creds.security_token)
            code = main(["run", "--repo", str(repo), "--instance-url", emu.instance_url, "-q", "--no-metadata",
                         "--objects", "Field_Report__c,User", "--no-verify"])  # fmt: skip
    assert code == 0
    return repo  # the emulator is stopped from here on


@pytest.fixture
def served(rich_repo: Path) -> Iterator[str]:
    process = subprocess.Popen([sys.executable, "-m", "sfbackup", "browse", "latest", "--repo", str(rich_repo)],
                               stdout=subprocess.PIPE, text=True, env=os.environ.copy())  # fmt: skip
    try:
        assert process.stdout is not None
        found = re.search(r"(http://127\.0\.0\.1:\d+/\?token=\S+)", process.stdout.readline())
        assert found
        yield found.group(1)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium (/usr/bin/chromium) is not installed")
def test_given_rich_text_with_images_then_the_record_page_shows_them_from_the_snapshot(
    rich_repo: Path, served: str, tmp_path: Path
) -> None:
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    snapshot = Repository.open(rich_repo).snapshot("latest")
    index = pq.read_table(snapshot.resolve(snapshot.manifest.objects["Field_Report__c"].extra["binaries"]["index_path"]))
    images = [r for r in index.to_pylist() if r["RefId"] and r["sha256"]]
    record_id = images[0]["Id"]
    expected = {r["RefId"]: r["sha256"] for r in images if r["Id"] == record_id}
    base = served.split("?")[0]
    with playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                         args=["--no-sandbox", "--disable-gpu"])  # fmt: skip
        try:
            page = browser.new_page()
            page.goto(served)
            page.goto(f"{base}r/{record_id}")
            page.wait_for_load_state("networkidle")
            assert "Site visit" in page.inner_text("div.rich")
            shown = page.locator("div.rich img")
            assert shown.count() == len(expected)
            for i in range(shown.count()):
                assert shown.nth(i).evaluate("img => img.complete && img.naturalWidth > 0"), "the image loaded"
            cookies = {c["name"]: c["value"] for c in page.context.cookies()}
            page.screenshot(path=str(tmp_path / "rich.png"), full_page=True)
        finally:
            browser.close()
    for refid, sha in expected.items():
        request = urllib.request.Request(f"{base}rt/Field_Report__c/{record_id}/Summary__c/{refid}",
                                         headers={"Cookie": f"sfb_token={cookies['sfb_token']}"})  # fmt: skip
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.headers["Content-Type"] == "image/png"
            assert hashlib.sha256(response.read()).hexdigest() == sha

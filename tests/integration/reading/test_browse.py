"""`sfbackup browse` driven in a real headless Chromium (Debian's), with the emulator stopped:
search a name, open the record, follow a related list, download a file and compare its bytes; a
`<script>` in a record's text is shown, never run; no page without the token."""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.reading.conftest import SCRIPT, STAGE_LABEL, Offline

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def served(offline: Offline) -> Iterator[str]:
    """The CLI serving the first snapshot; yields the URL it printed (with its token)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "sfbackup", "browse", offline.first, "--repo", str(offline.repo)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.search(r"(http://127\.0\.0\.1:\d+/\?token=\S+)", line)
        assert found, line + (process.stderr.read() if process.stderr else "")
        yield found.group(1)
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_given_no_token_then_every_page_is_refused(served: str) -> None:
    base = served.split("?")[0]
    for path in ("", "r/001Dx0000000001IAA", "o/Account", "f/ContentVersion/068Dx0000000001IAA"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(base + path, timeout=10)
        assert refused.value.code == 403
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(base + "?token=not-the-token", timeout=10)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium (/usr/bin/chromium) is not installed")
def test_given_a_browser_when_searching_opening_following_and_downloading_then_it_shows_the_snapshot(
    offline: Offline, served: str, tmp_path: Path
) -> None:
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    snapshot = offline.snapshot()
    account = next(r for r in snapshot.read("Account").to_pylist() if r["Id"] == offline.account_id)
    contact = next(r for r in snapshot.read("Contact").to_pylist()
                   if r["AccountId"] == offline.account_id and not r["IsDeleted"])  # fmt: skip
    shots = tmp_path / "shots"
    shots.mkdir()
    with playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                         args=["--no-sandbox", "--disable-gpu"])  # fmt: skip
        try:
            page = browser.new_page(accept_downloads=True, viewport={"width": 1200, "height": 900})
            page.goto(served)
            assert page.title().startswith("Objects")
            page.screenshot(path=str(shots / "home.png"), full_page=True)
            page.fill("input[name=q]", account["Name"])
            page.press("input[name=q]", "Enter")
            page.wait_for_url("**/search?q=*")
            page.screenshot(path=str(shots / "search.png"), full_page=True)
            page.click(f"a[href='/r/{offline.account_id}']")
            page.wait_for_url(f"**/r/{offline.account_id}")
            page.screenshot(path=str(shots / "record.png"), full_page=True)
            # the stored script is text on the page and never ran
            assert SCRIPT in page.inner_text("main")
            assert "pwned" not in page.title()
            assert page.evaluate("document.querySelectorAll('main script, main img[src=x]').length") == 0
            # fields by label, lookups as links to the parent
            assert "Account Name" in page.inner_text("main") or "Name" in page.inner_text("main")
            owner = page.locator("td.label", has_text="Owner").first
            assert owner.count() == 1
            # the related list of Contacts leads to the contact
            related = page.locator("section.related", has_text="Contacts")
            related.locator(f"a[href='/r/{contact['Id']}']").click()
            page.wait_for_url(f"**/r/{contact['Id']}")
            assert contact["Name"] in page.inner_text("h1")
            page.screenshot(path=str(shots / "related.png"), full_page=True)
            page.click(f"a[href='/r/{offline.account_id}']")  # the contact's Account lookup
            page.wait_for_url(f"**/r/{offline.account_id}")
            files = page.locator("section.files tr", has_text="Contract 2020.pdf")
            with page.expect_download() as download_info:
                files.locator("a.download").click()
            download = download_info.value
            assert download.suggested_filename == "Contract 2020.pdf"
            saved = tmp_path / "downloaded.pdf"
            download.save_as(str(saved))
            assert saved.read_bytes() == offline.pdf_body
            page.goto(served.split("?")[0] + "o/Contact")
            assert page.locator("table tr").count() == 51, "a page of 50 rows and the header"
            page.screenshot(path=str(shots / "list.png"), full_page=True)
            page.click("a[rel=next]")
            assert page.locator("table tr").count() > 1
        finally:
            browser.close()
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in shots.iterdir())


def test_given_a_field_filter_then_the_list_holds_exactly_the_matching_records_by_value_or_label(
    offline: Offline, served: str
) -> None:
    base, token = served.split("?token=")
    snapshot = offline.snapshot()
    stage = STAGE_LABEL  # relabelled in the first snapshot's schema, the one served
    expected = sorted(r["Id"] for r in snapshot.read("Opportunity").to_pylist()
                      if r["StageName"] == stage[0] and not r["IsDeleted"])  # fmt: skip
    for value in stage:  # the API value, or the label a person sees
        query = urllib.parse.urlencode({"field": "StageName", "value": value})
        request = urllib.request.Request(f"{base}o/Opportunity?{query}", headers={"Cookie": f"sfb_token={token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            page = response.read().decode()
        assert sorted(set(re.findall(r"href='/r/(006\w+)'", page))) == expected
        assert f"{len(expected):,} records" in page
    hostile = urllib.parse.urlencode({"field": "Name\" OR 1=1 --", "value": "x"})
    request = urllib.request.Request(f"{base}o/Opportunity?{hostile}", headers={"Cookie": f"sfb_token={token}"})
    live = sum(not r["IsDeleted"] for r in snapshot.read("Opportunity").to_pylist())
    with urllib.request.urlopen(request, timeout=10) as response:
        assert f"{live:,} records" in response.read().decode(), "a name that is not a field filters nothing"

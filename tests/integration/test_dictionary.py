"""The data dictionary of a snapshot (`sfbackup dictionary`, and beside the report): its fields are
the describes' fields, as simple-salesforce reads them from the org, with the metadata's
validation rules and record types; the HTML renders in headless Chromium."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from simple_salesforce import Salesforce

from sfbackup.cli import main
from sfbackup.repository import Repository
from sfbackup.testing import RunningEmulator, running_emulator
from tests.conftest import emulator_env

CHROMIUM = Path("/usr/bin/chromium")
OBJECTS = ("Account", "Opportunity", "Invoice__c")


@pytest.fixture(scope="module")
def emu() -> Iterator[RunningEmulator]:
    with running_emulator(records=25, seed=5, job_latency=0.05, retrieve_latency=0.05) as running:
        yield running


@pytest.fixture(scope="module")
def snapshot_dir(emu: RunningEmulator, tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("dictionary") / "repo"
    with pytest.MonkeyPatch.context() as patch:
        for key, value in emulator_env(emu).items():
            patch.setenv(key, value)
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["run", "--repo", str(repo), "--instance-url", emu.instance_url, "--json",
                         "--objects", ",".join(OBJECTS)]) == 0  # fmt: skip
    return Repository.open(repo).snapshot("latest").path


@pytest.fixture(scope="module")
def sf(emu: RunningEmulator) -> Salesforce:
    creds = emu.credentials
    return Salesforce(username=creds.username, password=creds.password, security_token=creds.security_token,
                      session=emu.session())  # fmt: skip


def sheet(path: Path, name: str) -> list[dict[str, Any]]:
    rows = list(load_workbook(path, read_only=True)[name].iter_rows(values_only=True))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def test_verify_writes_the_dictionary_beside_the_report(snapshot_dir: Path) -> None:
    assert (snapshot_dir / "report.html").exists()
    assert (snapshot_dir / "dictionary.html").exists() and (snapshot_dir / "dictionary.xlsx").exists()


def test_the_dictionary_fields_equal_the_describes(snapshot_dir: Path, sf: Salesforce) -> None:
    fields = sheet(snapshot_dir / "dictionary.xlsx", "Fields")
    for name in OBJECTS:
        describe = getattr(sf, name).describe()
        mine = [r for r in fields if r["Object"] == name]
        assert [(r["API name"], r["Field label"]) for r in mine] == [(f["name"], f["label"]) for f in describe["fields"]]
        by_name = {r["API name"]: r for r in mine}
        for f in describe["fields"]:
            row = by_name[f["name"]]
            values = "; ".join(p["value"] for p in f["picklistValues"] if p["active"])
            assert (row["Picklist values"] or "") == values, f["name"]
            assert (row["Help text"] or "") == (f["inlineHelpText"] or ""), f["name"]
            if f["type"] == "reference":
                assert row["Relationship"].startswith(", ".join(f["referenceTo"])), f["name"]
            if f["type"] in ("currency", "percent", "double"):
                assert (row["Precision"], row["Scale"]) == (f["precision"], f["scale"]), f["name"]
            if f["type"] == "string":
                assert row["Length"] == f["length"], f["name"]
    invoice = {r["API name"]: r for r in fields if r["Object"] == "Invoice__c"}
    assert invoice["Status__c"]["Help text"].startswith("Draft until it is sent")
    assert invoice["Amount__c"]["Type"] == "Currency(16, 2)"


def test_objects_carry_record_counts_validation_rules_and_record_types(snapshot_dir: Path, sf: Salesforce) -> None:
    objects = {r["API name"]: r for r in sheet(snapshot_dir / "dictionary.xlsx", "Objects")}
    manifest = json.loads((snapshot_dir / "manifest.json").read_text())
    for name in OBJECTS:
        assert objects[name]["Records"] == manifest["objects"][name]["rows"]
    record_types = {(r["Object"], r["Record type"]) for r in sheet(snapshot_dir / "dictionary.xlsx", "Record types")}
    rows = sf.query("SELECT SobjectType, DeveloperName FROM RecordType")["records"]
    assert record_types == {(r["SobjectType"], r["DeveloperName"]) for r in rows if r["SobjectType"] in OBJECTS}
    rules = sheet(snapshot_dir / "dictionary.xlsx", "Validation rules")
    assert {r["Object"] for r in rules} == set(OBJECTS)
    assert all(r["Error condition formula"] == "ISBLANK(Name)" for r in rules)


def test_the_dictionary_command_answers_in_json(snapshot_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = snapshot_dir.parent.parent
    capsys.readouterr()
    assert main(["dictionary", "--repo", str(repo), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["objects"] == len(OBJECTS) and result["fields"] > 50
    assert [Path(p).name for p in result["files"]] == ["dictionary.html", "dictionary.xlsx"]


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium (/usr/bin/chromium) is not installed")
def test_the_html_renders_every_field_in_chromium(snapshot_dir: Path, sf: Salesforce, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto((snapshot_dir / "dictionary.html").as_uri())
            for name in OBJECTS:
                shown = page.locator(f'h2[id="{name}"] + p + table tbody tr').count()
                assert shown == len(getattr(sf, name).describe()["fields"]), name
            page.screenshot(path=str(tmp_path / "dictionary.png"))
        finally:
            browser.close()

"""simple-salesforce 1.12.10, unchanged, against the running emulator.

simple-salesforce builds every URL as ``https://{host}``; it reaches the plain-http emulator through
its public ``session=`` argument with `sfbackup.salesforce.transport.rewriting_session`, exactly as the product
does. Nothing here patches the library.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceExpiredSession

from sfbackup.testing import RunningEmulator, running_emulator


@pytest.fixture(scope="module")
def emu() -> Iterator[RunningEmulator]:
    with running_emulator(records=120, job_latency=0.2) as running:
        yield running


@pytest.fixture(scope="module")
def sf(emu: RunningEmulator) -> Salesforce:
    creds = emu.credentials
    return Salesforce(
        username=creds.username,
        password=creds.password,
        security_token=creds.security_token,
        session=emu.session(),
    )


def test_given_username_password_token_when_soap_login_then_queries_reach_the_emulator(
    emu: RunningEmulator, sf: Salesforce
) -> None:
    assert sf.sf_instance == emu.instance_url.removeprefix("http://")
    assert sf.session_id.startswith(emu.credentials.org_id + "!")
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] > 0
    assert sf.api_usage["api-usage"].total > 0


def test_given_a_wrong_password_when_soap_login_then_authentication_failed(emu: RunningEmulator) -> None:
    with pytest.raises(SalesforceAuthenticationFailed, match="INVALID_LOGIN"):
        Salesforce(
            username=emu.credentials.username, password="wrong", security_token="x", session=emu.session()
        )


def test_given_consumer_key_and_secret_when_password_oauth_then_logged_in(emu: RunningEmulator) -> None:
    creds = emu.credentials
    sf = Salesforce(
        username=creds.username,
        password=creds.password + creds.security_token,
        consumer_key=creds.consumer_key,
        consumer_secret=creds.consumer_secret,
        session=emu.session(),
    )
    assert sf.describe()["sobjects"]


def test_given_a_private_key_file_when_jwt_login_then_logged_in(emu: RunningEmulator, tmp_path: Path) -> None:
    key_file = tmp_path / "server.key"
    key_file.write_text(emu.credentials.jwt_private_key_pem)
    sf = Salesforce(
        username=emu.credentials.username,
        consumer_key=emu.credentials.consumer_key,
        privatekey_file=str(key_file),
        session=emu.session(),
    )
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] > 0


def test_given_client_credentials_with_a_my_domain_when_login_then_logged_in(emu: RunningEmulator) -> None:
    sf = Salesforce(
        consumer_key=emu.credentials.consumer_key,
        consumer_secret=emu.credentials.consumer_secret,
        domain="acme.my",
        session=emu.session(),
    )
    assert sf.Account.describe()["name"] == "Account"


def test_given_more_than_one_page_when_query_all_iter_then_every_row_once(sf: Salesforce) -> None:
    total = sf.query("SELECT COUNT() FROM Contact")["totalSize"]
    ids = [row["Id"] for row in sf.query_all_iter("SELECT Id, Name FROM Contact")]
    assert len(ids) == len(set(ids)) == total


def test_given_include_deleted_when_query_all_then_deleted_rows_come_back(sf: Salesforce) -> None:
    everything = sf.query_all("SELECT Id, IsDeleted FROM Account", include_deleted=True)
    live = sf.query_all("SELECT Id FROM Account")
    assert everything["totalSize"] == len(everything["records"]) >= live["totalSize"]


def test_given_bulk2_when_downloading_then_pages_add_up_to_the_count(sf: Salesforce, tmp_path: Path) -> None:
    total = sf.query("SELECT COUNT() FROM Contact")["totalSize"]
    results = sf.bulk2.Contact.download(
        "SELECT Id, Name FROM Contact", path=str(tmp_path), max_records=100, wait=0.1
    )
    assert len(results) == -(-total // 100)
    assert results[-1]["locator"] == ""
    rows = 0
    for result in results:
        with open(result["file"], newline="", encoding="utf-8") as handle:
            page = list(csv.reader(handle))
        assert page[0] == ["Id", "Name"]
        rows += len(page) - 1
        assert len(page) - 1 == result["number_of_records"]
    assert rows == total


def test_given_bulk2_query_then_csv_text_per_page(sf: Salesforce) -> None:
    pages = list(sf.bulk2.Account.query("SELECT Id, Name FROM Account", max_records=1000, wait=0.1))
    assert len(pages) == 1 and pages[0].startswith('"Id","Name"')


def test_given_an_attachment_when_get_base64_then_the_exact_body(sf: Salesforce) -> None:
    row = sf.query("SELECT Id, BodyLength FROM Attachment")["records"][0]
    body = sf.Attachment.get_base64(row["Id"])
    assert len(body) == row["BodyLength"]


def test_given_an_expired_session_without_login_data_then_expired_session_error(emu: RunningEmulator) -> None:
    sf = Salesforce(instance_url=emu.instance_url, session_id=emu.access_token(), session=emu.session())
    emu.server.sessions.invalidate(sf.session_id)
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM Account")

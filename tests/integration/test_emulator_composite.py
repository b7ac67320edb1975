"""The emulator's Composite resource through a client nobody here wrote: simple-salesforce's
``restful('composite', method='POST', json=...)``, unchanged, over HTTP (docs/emulator.md "Composite")."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from simple_salesforce import Salesforce

from sfbackup.testing import RunningEmulator, running_emulator


@pytest.fixture(scope="module")
def emu() -> Iterator[RunningEmulator]:
    with running_emulator(records=20, job_latency=0.05, large_file_bytes=0) as running:
        yield running


@pytest.fixture
def sf(emu: RunningEmulator) -> Iterator[Salesforce]:
    creds = emu.credentials
    emu.server.faults.clear()
    yield Salesforce(username=creds.username, password=creds.password, security_token=creds.security_token,
                     session=emu.session())  # fmt: skip
    emu.server.faults.clear()


def used(emu: RunningEmulator, sf: Salesforce) -> int:
    limits: Any = sf.restful("limits/")
    return int(limits["DailyApiRequests"]["Max"] - limits["DailyApiRequests"]["Remaining"])


def sub(ref: str, url: str, version: str) -> dict[str, str]:
    return {"method": "GET", "url": f"/services/data/v{version}/{url}", "referenceId": ref}


def test_given_describes_and_counts_when_composite_then_each_answers_and_the_call_counts_once(
    emu: RunningEmulator, sf: Salesforce
) -> None:
    v = sf.sf_version
    requests = [sub(f"d{i}", f"sobjects/{name}/describe", v) for i, name in enumerate(["Account", "Contact"] * 10)]
    requests += [sub(f"c{i}", f"query?q=SELECT+COUNT()+FROM+{name}", v)
                 for i, name in enumerate(["Account", "Contact", "Lead", "Opportunity", "NoSuch__c"])]
    before = used(emu, sf)
    emu.server.requests.clear()
    answer: Any = sf.restful("composite", method="POST", json={"allOrNone": False, "compositeRequest": requests})
    after = used(emu, sf)
    assert after - before == 2  # the composite call and the /limits read that measured it: one each
    results = answer["compositeResponse"]
    assert [r["referenceId"] for r in results] == [r["referenceId"] for r in requests]
    assert results[0]["httpStatusCode"] == 200 and results[0]["body"]["name"] == "Account"
    assert results[20]["body"]["totalSize"] == sf.query("SELECT COUNT() FROM Account")["totalSize"]
    bad = results[24]
    assert bad["httpStatusCode"] == 400 and bad["body"][0]["errorCode"] == "INVALID_TYPE"
    assert all(r["httpStatusCode"] == 200 for r in results[:24])  # allOrNone false: one failure alone
    [logged] = [e for e in emu.server.requests.entries() if e.kind == "composite"]
    assert len(logged.parts) == 25 and logged.parts[0] == ("describe", "Account")
    assert logged.parts[20] == ("query", "Account")


def test_given_over_the_limits_or_a_blob_when_composite_then_salesforce_refusals(
    emu: RunningEmulator, sf: Salesforce
) -> None:
    v = sf.sf_version
    many = [sub(f"d{i}", "sobjects/Account/describe", v) for i in range(26)]
    answer: Any = sf.restful("composite", method="POST", json={"compositeRequest": many})
    [refused] = answer["compositeResponse"]
    assert refused["httpStatusCode"] == 400
    assert refused["body"][0] == {"errorCode": "LIMIT_EXCEEDED",
                                  "message": "The request can’t contain more than 25 operations."}
    queries = [sub(f"q{i}", "query?q=SELECT+COUNT()+FROM+Account", v) for i in range(6)]
    answer = sf.restful("composite", method="POST", json={"compositeRequest": queries})
    assert answer["compositeResponse"][0]["body"][0]["errorCode"] == "LIMIT_EXCEEDED"

    account = sf.query("SELECT Id FROM Attachment LIMIT 1")["records"]
    blob_url = f"sobjects/Attachment/{account[0]['Id']}/Body" if account else "sobjects/Attachment/00P000000000001/Body"
    answer = sf.restful("composite", method="POST", json={"allOrNone": True, "compositeRequest": [
        sub("ok", "sobjects/Account/describe", v), sub("blob", blob_url, v)]})
    ok, blob = answer["compositeResponse"]
    assert blob["httpStatusCode"] == 404 and blob["body"][0]["errorCode"] == "NOT_FOUND"
    assert ok["httpStatusCode"] == 400 and ok["body"][0]["errorCode"] == "PROCESSING_HALTED"  # allOrNone


def test_given_a_fault_on_one_subrequest_when_composite_then_only_that_one_fails(
    emu: RunningEmulator, sf: Salesforce
) -> None:
    v = sf.sf_version
    emu.server.faults.add_rule("http_503", r"/sobjects/Contact/describe")
    answer: Any = sf.restful("composite", method="POST", json={"compositeRequest": [
        sub("a", "sobjects/Account/describe", v), sub("c", "sobjects/Contact/describe", v)]})
    a, c = answer["compositeResponse"]
    assert a["httpStatusCode"] == 200
    assert c["httpStatusCode"] == 503 and c["body"][0]["errorCode"] == "SERVER_UNAVAILABLE"

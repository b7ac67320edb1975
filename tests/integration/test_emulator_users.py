"""The emulator's two users over HTTP (simple-salesforce 1.12.10, unchanged, and plain requests).

The emulator runs with ``user="restricted"``: its credentials are the integration user's, while the
admin can still log in with its own. The integration user lacks View All Data, Query All Files and
View Encrypted Data and has fields hidden by field-level security (`sfbackup.emulator.org.access`).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound

from sfbackup.emulator.org.access import INTEGRATION_USERNAME
from sfbackup.testing import RunningEmulator, running_emulator

V = "v62.0"
SHARED_OBJECTS = ("Account", "Contact", "Opportunity", "Attachment", "ContentVersion", "ContentDocument")


@pytest.fixture(scope="module")
def emu() -> Iterator[RunningEmulator]:
    with running_emulator(records=120, job_latency=0.1, large_file_bytes=0, user="restricted") as running:
        yield running


def login(emu: RunningEmulator, user: str) -> Salesforce:
    creds = emu.org.users[user]
    return Salesforce(
        username=creds.username,
        password=creds.password,
        security_token=creds.security_token,
        session=emu.session(),
    )


@pytest.fixture(scope="module")
def admin(emu: RunningEmulator) -> Salesforce:
    return login(emu, "admin")


@pytest.fixture(scope="module")
def restricted(emu: RunningEmulator) -> Salesforce:
    return login(emu, "restricted")


def count(sf: Salesforce, soql: str, *, include_deleted: bool = False) -> int:
    return int(sf.query(soql, include_deleted=include_deleted)["totalSize"])


def ids(sf: Salesforce, soql: str) -> set[str]:
    return {row["Id"] for row in sf.query_all_iter(soql)}


def userinfo(emu: RunningEmulator, token: str) -> dict[str, Any]:
    response = requests.get(
        f"{emu.instance_url}/services/oauth2/userinfo", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


# -- logins ---------------------------------------------------------------------------------------


def test_given_a_restricted_start_then_its_credentials_are_the_integration_users_and_both_log_in(
    emu: RunningEmulator, admin: Salesforce, restricted: Salesforce
) -> None:
    assert emu.credentials.username == INTEGRATION_USERNAME
    assert emu.org.users["admin"].username != INTEGRATION_USERNAME
    assert userinfo(emu, emu.access_token())["user_id"] == emu.org.users["restricted"].user_id
    for sf, user in ((admin, "admin"), (restricted, "restricted")):
        assert userinfo(emu, sf.session_id)["preferred_username"] == emu.org.users[user].username
    me = restricted.query(f"SELECT Id, Profile.Name FROM User WHERE Username = '{INTEGRATION_USERNAME}'")
    assert me["records"][0]["Profile"]["Name"] == "Minimum Access - API Only Integrations"


def test_given_each_oauth_flow_then_the_session_belongs_to_the_user_logged_in(emu: RunningEmulator) -> None:
    token_url = f"{emu.instance_url}/services/oauth2/token"
    creds = {user: emu.org.users[user] for user in ("admin", "restricted")}
    app = {"client_id": creds["admin"].consumer_key, "client_secret": creds["admin"].consumer_secret}
    for user, c in creds.items():
        grants = [
            {"grant_type": "password", "username": c.username, "password": c.password + c.security_token},
            {"grant_type": "refresh_token", "refresh_token": emu.server.sessions.refresh_token_for(user)},
            {
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "assertion": jwt.encode(
                    {
                        "iss": c.consumer_key,
                        "sub": c.username,
                        "aud": "https://login.salesforce.com",
                        "exp": int(time.time()) + 300,
                    },
                    c.jwt_private_key_pem,
                    algorithm="RS256",
                ),
            },
        ]
        for grant in grants:
            response = requests.post(token_url, data={**app, **grant})
            assert response.status_code == 200, (user, grant["grant_type"], response.text)
            assert userinfo(emu, response.json()["access_token"])["user_id"] == c.user_id
    run_as = requests.post(token_url, data={**app, "grant_type": "client_credentials"}).json()["access_token"]
    assert userinfo(emu, run_as)["user_id"] == creds["restricted"].user_id  # the server's user


# -- sharing --------------------------------------------------------------------------------------


def test_given_private_objects_when_counted_and_queried_then_the_restricted_user_sees_fewer_rows(
    admin: Salesforce, restricted: Salesforce
) -> None:
    for name in SHARED_OBJECTS:
        everything = count(admin, f"SELECT COUNT() FROM {name}")
        visible = count(restricted, f"SELECT COUNT() FROM {name}")
        assert 0 < visible < everything, name
        assert ids(restricted, f"SELECT Id FROM {name}") < ids(admin, f"SELECT Id FROM {name}"), name
        assert len(ids(restricted, f"SELECT Id FROM {name}")) == visible
        with_deleted = count(restricted, f"SELECT COUNT() FROM {name}", include_deleted=True)
        rows = restricted.query_all(f"SELECT Id FROM {name}", include_deleted=True)["records"]
        assert len(rows) == with_deleted < count(admin, f"SELECT COUNT() FROM {name}", include_deleted=True)
    assert count(restricted, "SELECT COUNT() FROM Lead") == count(admin, "SELECT COUNT() FROM Lead")  # public


def test_given_bulk_2_and_1_when_querying_then_rows_are_those_the_restricted_user_counts(
    emu: RunningEmulator, restricted: Salesforce
) -> None:
    expected = count(restricted, "SELECT COUNT() FROM Contact", include_deleted=True)
    pages = list(restricted.bulk2.Contact.query_all("SELECT Id FROM Contact", max_records=10_000, wait=0.1))
    assert sum(len(list(csv.reader(io.StringIO(page)))) - 1 for page in pages) == expected
    async_url = f"{emu.instance_url}/services/async/62.0/job"
    headers = {"X-SFDC-Session": restricted.session_id, "Content-Type": "application/json"}
    job = requests.post(
        async_url, json={"operation": "queryAll", "object": "Contact", "contentType": "CSV"}, headers=headers
    ).json()["id"]
    batch = requests.post(
        f"{async_url}/{job}/batch",
        data="SELECT Id FROM Contact",
        headers={**headers, "Content-Type": "text/csv"},
    ).text
    batch_id = re.search(r"<id>(751\w+)</id>", batch).group(1)  # type: ignore[union-attr]
    deadline = time.time() + 30
    while (
        "<state>Completed</state>"
        not in requests.get(f"{async_url}/{job}/batch/{batch_id}", headers=headers).text
    ):
        assert time.time() < deadline
        time.sleep(0.05)
    listing = requests.get(f"{async_url}/{job}/batch/{batch_id}/result", headers=headers).text
    result = re.search(r"<result>(752\w+)</result>", listing).group(1)  # type: ignore[union-attr]
    body = requests.get(f"{async_url}/{job}/batch/{batch_id}/result/{result}", headers=headers).text
    assert len(body.splitlines()) - 1 == expected


def test_given_a_record_outside_sharing_when_fetched_by_id_then_not_found_as_if_it_did_not_exist(
    admin: Salesforce, restricted: Salesforce
) -> None:
    hidden = sorted(ids(admin, "SELECT Id FROM Account") - ids(restricted, "SELECT Id FROM Account"))[0]
    assert admin.Account.get(hidden)["Id"] == hidden
    with pytest.raises(SalesforceResourceNotFound) as refused:
        restricted.Account.get(hidden)
    assert refused.value.content == [
        {
            "errorCode": "NOT_FOUND",
            "message": f"Provided external ID field does not exist or is not accessible: {hidden}",
        }
    ]
    unseen = sorted(
        ids(admin, "SELECT Id FROM ContentVersion") - ids(restricted, "SELECT Id FROM ContentVersion")
    )
    body = restricted.session.get(
        f"{restricted.base_url}sobjects/ContentVersion/{unseen[0]}/VersionData", headers=restricted.headers
    )
    assert body.status_code == 404


# -- field-level security, schema objects, masking -----------------------------------------------


def test_given_a_hidden_field_then_absent_from_describe_refused_in_soql_and_listed_by_schema_objects(
    admin: Salesforce, restricted: Salesforce
) -> None:
    assert "AnnualRevenue" in {f["name"] for f in admin.Account.describe()["fields"]}
    assert "AnnualRevenue" not in {f["name"] for f in restricted.Account.describe()["fields"]}
    assert "AnnualRevenue" not in restricted.Account.get(
        next(iter(ids(restricted, "SELECT Id FROM Account")))
    )
    with pytest.raises(SalesforceMalformedRequest) as refused:
        restricted.query("SELECT Id, AnnualRevenue FROM Account")
    error = refused.value.content[0]
    assert error["errorCode"] == "INVALID_FIELD"
    assert "No such column 'AnnualRevenue' on entity 'Account'." in error["message"]
    soql = "SELECT QualifiedApiName, DataType FROM FieldDefinition WHERE EntityDefinition.QualifiedApiName = 'Account'"
    listed = {row["QualifiedApiName"]: row["DataType"] for row in restricted.query_all(soql)["records"]}
    assert listed["AnnualRevenue"] == "Currency(18, 0)" and "Name" in listed
    tooling = restricted.toolingexecute(f"query/?q={soql}")
    assert tooling["entityTypeName"] == "FieldDefinition" and tooling["size"] == len(listed)
    assert "/tooling/sobjects/FieldDefinition/" in tooling["records"][0]["attributes"]["url"]
    entity = restricted.toolingexecute(
        "query/?q=SELECT QualifiedApiName, KeyPrefix, InternalSharingModel FROM EntityDefinition "
        "WHERE QualifiedApiName = 'Account'"
    )["records"]
    assert [(e["KeyPrefix"], e["InternalSharingModel"]) for e in entity] == [("001", "Private")]
    with pytest.raises(SalesforceMalformedRequest, match="a filter on a reified column is required"):
        restricted.query("SELECT QualifiedApiName FROM FieldDefinition")


def test_given_an_encrypted_field_then_masked_for_the_restricted_user_and_clear_for_the_admin(
    admin: Salesforce, restricted: Salesforce
) -> None:
    soql = "SELECT Id, Secret__c FROM Invoice__c WHERE Name != null ORDER BY Id LIMIT 20"
    clear = {row["Id"]: row["Secret__c"] for row in admin.query(soql)["records"] if row["Secret__c"]}
    masked = {row["Id"]: row["Secret__c"] for row in restricted.query(soql)["records"] if row["Secret__c"]}
    assert clear and masked.keys() == clear.keys()
    assert all(masked[i] == "*" * len(clear[i]) and clear[i] != masked[i] for i in clear)
    pages = list(restricted.bulk2.Invoice__c.query("SELECT Secret__c FROM Invoice__c", wait=0.1))
    values = [row[0] for row in csv.reader(io.StringIO(pages[0]))][1:]
    assert any(values) and all(set(v) <= {"*"} for v in values)


# -- permissions as Salesforce exposes them ------------------------------------------------------


@pytest.mark.parametrize(("user", "expected"), [("admin", True), ("restricted", False)])
def test_given_each_user_then_permission_objects_answer_its_flags(
    emu: RunningEmulator, admin: Salesforce, restricted: Salesforce, user: str, expected: bool
) -> None:
    sf = admin if user == "admin" else restricted
    flags = (
        "PermissionsViewAllData",
        "PermissionsQueryAllFiles",
        "PermissionsViewEncryptedData",
        "PermissionsModifyAllData",
    )
    mine = sf.query(f"SELECT {', '.join(flags)} FROM UserPermissionAccess")["records"]
    assert len(mine) == 1 and all(mine[0][f] is expected for f in flags)
    user_id = emu.org.users[user].user_id
    sets = sf.query_all(
        f"SELECT Name, IsOwnedByProfile, ProfileId, {', '.join(flags)} FROM PermissionSet WHERE Id IN "
        f"(SELECT PermissionSetId FROM PermissionSetAssignment WHERE AssigneeId = '{user_id}')"
    )["records"]
    assert sets and any(s["IsOwnedByProfile"] and s["ProfileId"] for s in sets)
    assert all(any(s[f] for s in sets) is expected for f in flags)
    profile = sf.query(
        f"SELECT Profile.Name, Profile.PermissionsViewAllData FROM User WHERE Id = '{user_id}'"
    )["records"][0]["Profile"]
    assert profile["PermissionsViewAllData"] is expected


# -- recordCount ----------------------------------------------------------------------------------


def test_given_record_count_then_org_wide_counts_as_of_the_nightly_statistics(
    emu: RunningEmulator, admin: Salesforce, restricted: Salesforce
) -> None:
    def record_counts(sf: Salesforce) -> dict[str, int]:
        body = sf.restful("limits/recordCount", params={"sObjects": ",".join(SHARED_OBJECTS)})
        return {row["name"]: row["count"] for row in body["sObjects"]}

    admin_counts = {name: count(admin, f"SELECT COUNT() FROM {name}") for name in SHARED_OBJECTS}
    assert record_counts(restricted) == record_counts(admin) == admin_counts
    admin.Account.create({"Name": "Created after the statistics ran"})
    assert count(admin, "SELECT COUNT() FROM Account") == admin_counts["Account"] + 1
    assert record_counts(restricted)["Account"] == admin_counts["Account"]


def test_given_the_admin_then_its_queries_compile_without_sharing_filters(emu: RunningEmulator) -> None:
    access = emu.org.access("admin")
    cursor = emu.org.query("SELECT Id FROM Account", include_deleted=False, api="bulk", access=access)
    assert cursor._plan.where_sql == ' WHERE t0."IsDeleted" = 0'
    restricted = emu.org.access("restricted")
    assert restricted.row_filter(emu.org._catalog["account"]) is not None


# -- the `sfbackup emulator` command --------------------------------------------------------------


def test_given_the_emulator_command_with_user_restricted_then_the_line_logs_in_as_the_integration_user() -> (
    None
):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sfbackup",
            "emulator",
            "--records",
            "10",
            "--large-file-bytes",
            "0",
            "--user",
            "restricted",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = json.loads(process.stdout.readline())
        assert line["user"] == "restricted" and line["username"] == INTEGRATION_USERNAME
        info = requests.get(
            f"{line['instance_url']}/services/oauth2/userinfo",
            headers={"Authorization": f"Bearer {line['access_token']}"},
        ).json()
        assert info["preferred_username"] == INTEGRATION_USERNAME
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0

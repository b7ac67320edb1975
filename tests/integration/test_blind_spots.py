"""What the backup user cannot see blocks SAFE TO CANCEL; an admin backup of the same org reaches it.

One emulated org, two users (docs/emulator-users.md): the restricted integration user (no View All
Data, Query All Files or View Encrypted Data; fields hidden by field-level security) and the admin.
The CLI runs in this process against the emulator over HTTP; what each user can see is read
independently with simple-salesforce, unchanged.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from simple_salesforce import Salesforce

from sfbackup.cli import main
from sfbackup.config import CORE_OBJECTS
from sfbackup.emulator.http.faults import FaultConfig
from sfbackup.errors import ExitCode
from sfbackup.repository import Repository
from sfbackup.testing import RunningEmulator, running_emulator
from tests.integration.test_run_cli import assert_snapshot_matches_org

#: Objects the restricted user's sharing limits (docs/emulator-users.md) and the file objects
#: Query All Files governs.
SHARED = ("Account", "Contact", "Opportunity", "Attachment")
FILES = ("ContentDocument", "ContentVersion")
ENCRYPTED = {"Invoice__c": ["Secret__c"]}


@dataclass
class Outcome:
    code: int
    out: str
    repo: Path

    def result(self) -> dict[str, Any]:
        """The `--json` result line."""
        lines = [json.loads(line) for line in self.out.splitlines() if line.startswith("{")]
        return next(line for line in reversed(lines) if line.get("type") == "result")


@pytest.fixture(scope="module")
def org() -> Iterator[RunningEmulator]:
    with running_emulator(records=40, seed=11, job_latency=0.02, large_file_bytes=0, user="restricted") as emu:
        yield emu


def login(org: RunningEmulator, user: str) -> Salesforce:
    c = org.org.users[user]
    return Salesforce(username=c.username, password=c.password, security_token=c.security_token, session=org.session())


def sfbackup(org: RunningEmulator, user: str, *args: str, repo: Path | None = None) -> Outcome:
    """`sfbackup <args>` as `user` (SF_* set for it, and --instance-url for the commands that reach
    the org), its stdout and stderr captured."""
    c = org.org.users[user]
    env = {"SF_USERNAME": c.username, "SF_PASSWORD": c.password, "SF_SECURITY_TOKEN": c.security_token}
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        for key, value in env.items():
            patch.setenv(key, value)
        code = main([*args, *(() if args[0] == "show" else ("--instance-url", org.instance_url))])
    return Outcome(code, out.getvalue(), repo or Path())


def count(sf: Salesforce, name: str) -> int:
    return int(sf.query(f"SELECT COUNT() FROM {name}")["totalSize"])


@pytest.fixture(scope="module")
def admin(org: RunningEmulator) -> Salesforce:
    return login(org, "admin")


@pytest.fixture(scope="module")
def restricted(org: RunningEmulator) -> Salesforce:
    return login(org, "restricted")


@pytest.fixture(scope="module")
def hidden(admin: Salesforce, restricted: Salesforce) -> dict[str, list[str]]:
    """Fields the admin's describe has and the restricted user's lacks (FLS), read independently."""
    out = {}
    for name in ("Account", "Contact", "Invoice__c", "Opportunity", "Lead"):
        everyone = {f["name"] for f in getattr(admin, name).describe()["fields"]}
        visible = {f["name"] for f in getattr(restricted, name).describe()["fields"]}
        if everyone - visible:
            out[name] = sorted(everyone - visible)
    assert out == {"Account": ["AnnualRevenue"], "Contact": ["Birthdate", "MobilePhone"], "Invoice__c": ["Rate__c"]}
    return out


@pytest.fixture(scope="module")
def restricted_run(org: RunningEmulator, tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    repo = tmp_path_factory.mktemp("restricted") / "repo"
    return sfbackup(org, "restricted", "run", "--repo", str(repo), "--objects", "all", "--json", repo=repo)


@pytest.fixture(scope="module")
def admin_run(org: RunningEmulator, tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    repo = tmp_path_factory.mktemp("admin") / "repo"
    return sfbackup(
        org, "admin", "run", "--repo", str(repo), "--objects", "all", "--json", "--require-safe", repo=repo
    )


# -- sfbackup check --------------------------------------------------------------------------------


def test_given_the_restricted_user_when_check_then_exit_6_and_each_blind_spot_with_its_effect_and_fix(
    org: RunningEmulator, admin: Salesforce, restricted: Salesforce, hidden: dict[str, list[str]]
) -> None:
    checked = sfbackup(org, "restricted", "check", "--objects", "all", "--json")
    assert checked.code == ExitCode.BLIND_SPOTS == 6, checked.out
    body = checked.result()
    assert body["command"] == "check" and body["exit_code"] == 6
    assert body["user"]["permissions"] == {
        "view_all_data": False, "query_all_files": False, "view_encrypted_data": False, "modify_all_data": False,
    }  # fmt: skip
    gaps = {(g["kind"], g["object"], tuple(g["fields"])): g for g in body["gaps"]}
    for name in SHARED:
        gap = gaps[("records_not_visible", name, ())]
        assert (gap["org_count"], gap["visible_count"]) == (count(admin, name), count(restricted, name)), name
        assert f"{count(admin, name) - count(restricted, name)} of the org's {count(admin, name)} {name}" in gap[
            "effect"
        ]
        assert "View All Data" in gap["fix"] and "Setup > Users > Permission Sets" in gap["fix"]
    for name, fields in hidden.items():
        gap = gaps[("hidden_field", name, tuple(fields))]
        assert "Set Field-Level Security" in gap["fix"] and gap["blocks_safe"]
    for name, fields in ENCRYPTED.items():
        assert "View Encrypted Data" in gaps[("masked_field", name, tuple(fields))]["fix"]
    for name in FILES:
        gap = gaps[("files_not_visible", name, ())]
        assert (gap["org_count"], gap["visible_count"]) == (count(admin, name), count(restricted, name))
        assert "Query All Files" in gap["fix"]
    assert body["blocking"] == sum(g["blocks_safe"] for g in body["gaps"]) >= len(SHARED) + 3 + 1 + len(FILES)
    assert not gaps[("missing_permission", None, ())]["blocks_safe"]  # Modify All Data: restores only

    text = sfbackup(org, "restricted", "check", "--objects", "all")
    assert text.code == 6
    for name in SHARED:
        assert f"BLOCKS SAFE records_not_visible {name}:" in text.out
    for name, fields in hidden.items():
        assert f"BLOCKS SAFE hidden_field {name}.{','.join(fields)}:" in text.out
    assert "BLOCKS SAFE masked_field Invoice__c.Secret__c:" in text.out
    assert "NOT SAFE: " in text.out and "(exit 6)" in text.out
    # each fix once, with what it fixes: one View All Data grant for the four shared objects
    view_all = [line for line in text.out.splitlines() if line.startswith("  - grant View All Data")]
    assert len(view_all) == 1 and all(f"records_not_visible {name}" in view_all[0] for name in SHARED)


def test_given_the_admin_when_check_then_exit_0_with_no_gap(org: RunningEmulator) -> None:
    checked = sfbackup(org, "admin", "check", "--objects", "all", "--json")
    assert checked.code == 0, checked.out
    body = checked.result()
    assert body["gaps"] == [] and body["blocking"] == 0
    assert all(body["user"]["permissions"].values())
    text = sfbackup(org, "admin", "check", "--objects", "all")
    assert text.code == 0 and "OK: this user sees every record, field, value and file" in text.out
    core = sfbackup(org, "admin", "check", "--preset", "core", "--json")
    assert core.code == 0 and set(core.result()["objects"]) == set(CORE_OBJECTS) & set(body["objects"])


# -- run and verify as the restricted user ----------------------------------------------------------


def test_given_the_restricted_user_when_run_then_not_safe_naming_each_blind_spot_first(
    restricted_run: Outcome, hidden: dict[str, list[str]]
) -> None:
    # the sharing shortfall is an error (verification fails), the other blind spots block SAFE
    assert restricted_run.code == ExitCode.VERIFICATION_FAILED, restricted_run.out[-3000:]
    result = restricted_run.result()
    verdict = result["verdict"]
    assert not verdict["safe"]
    assert verdict["line"].startswith("NOT SAFE TO CANCEL: the backup user could not see everything: ")
    assert "blind spots of the backup user: this snapshot cannot be SAFE TO CANCEL; `sfbackup check`" in (
        restricted_run.out
    )
    report = json.loads((Path(result["report"]).parent / "report.json").read_text())
    findings = report["findings"]
    kinds = {(f["kind"], f["object"], f["actual"] if f["kind"] in ("hidden_field", "masked_field") else None)
             for f in findings}  # fmt: skip
    for name in SHARED + FILES:
        assert ("records_not_visible", name, None) in kinds, name
    shortfall = next(f for f in findings if f["kind"] == "records_not_visible" and f["object"] == "Account")
    assert shortfall["severity"] == "error" and "/limits/recordCount counts" in shortfall["explanation"]
    for name, fields in hidden.items():
        for field in fields:
            assert ("hidden_field", name, field) in kinds
    assert ("masked_field", "Invoice__c", "Secret__c") in kinds
    for name in FILES:
        assert ("files_not_visible", name, None) in kinds
    blind = [f for f in findings if f["kind"] in ("records_not_visible", "hidden_field", "masked_field",
                                                    "files_not_visible")]  # fmt: skip
    # every blind spot is a reason, and they come before any other reason
    assert verdict["reasons"][: len(blind)] == [
        f"the backup user could not see everything: {f['explanation']}" for f in blind
    ]
    markdown = (Path(result["report"]).parent / "report.md").read_text()
    assert markdown.index("the backup user could not see everything") < markdown.index("## Records")
    account = next(row for row in report["objects"] if row["object"] == "Account")
    assert account["org_record_count"] == shortfall["expected"] > account["backup_rows"] - account["deleted_rows"]
    assert "| Org-wide (recordCount) |" in markdown
    # what SAFE covers: the Metadata API refuses a user without Modify All Data (or Modify Metadata)
    assert "not the org's configuration (metadata" in markdown
    assert "Salesforce refused the Metadata API to the backup user" in markdown


def test_given_the_restricted_user_when_run_then_masked_values_are_stored_null_and_hidden_fields_flagged(
    restricted_run: Outcome, hidden: dict[str, list[str]]
) -> None:
    snapshot = Repository.open(restricted_run.repo).snapshot("latest")
    manifest = snapshot.manifest
    assert manifest.access is not None and manifest.access.permissions["view_encrypted_data"] is False
    invoices = manifest.objects["Invoice__c"]
    assert invoices.masked_fields == ["Secret__c"] and invoices.rows > 0
    table = snapshot.read("Invoice__c")
    assert table.column("Secret__c").null_count == table.num_rows  # never the mask
    for part in invoices.parts:
        assert b"****" not in (snapshot.path / part.path).read_bytes()
    for name, fields in hidden.items():
        assert manifest.objects[name].hidden_fields == fields
        assert not set(fields) & set(snapshot.read(name).column_names)
    for name, entry in manifest.objects.items():
        if name not in hidden:
            assert entry.hidden_fields == [], name


def test_given_the_restricted_user_when_verify_against_org_then_preflight_first_and_the_verdict_names_it(
    org: RunningEmulator, restricted_run: Outcome
) -> None:
    verified = sfbackup(org, "restricted", "verify", "--repo", str(restricted_run.repo), "--against-org")
    assert verified.code == ExitCode.VERIFICATION_FAILED, verified.out[-3000:]
    out = verified.out
    assert "preflight: BLOCKS SAFE records_not_visible Account" in out
    assert out.index("preflight: BLOCKS SAFE") < out.index("NOT SAFE TO CANCEL: the backup user could not see")
    assert "error   records_not_visible Account" in out


def test_given_a_restricted_snapshot_when_shown_then_whom_it_was_read_as_and_its_blind_spots(
    org: RunningEmulator, restricted_run: Outcome, admin_run: Outcome
) -> None:
    shown = sfbackup(org, "restricted", "show", "latest", "--repo", str(restricted_run.repo))
    assert shown.code == 0, shown.out
    line = next(x for x in shown.out.splitlines() if x.startswith("read as "))
    assert line.startswith("read as    integration.user@emulated.example: ") and "blind spots blocking SAFE" in line
    assert "hidden_field: Account.AnnualRevenue, Contact.Birthdate,Contact.MobilePhone" in line
    assert "masked_field: Invoice__c.Secret__c" in line and "records_not_visible: Account" in line
    clean = sfbackup(org, "admin", "show", "latest", "--repo", str(admin_run.repo))
    assert "read as    admin.user@emulated.example: no blind spot" in clean.out


# -- the admin on the same org ----------------------------------------------------------------------


def test_given_the_admin_on_the_same_org_when_run_then_safe_with_every_hidden_row_field_and_value(
    admin_run: Outcome, restricted_run: Outcome, admin: Salesforce, restricted: Salesforce,
    hidden: dict[str, list[str]],
) -> None:
    assert admin_run.code == 0, admin_run.out[-3000:]  # --require-safe: SAFE, no false alarm
    result = admin_run.result()
    assert result["verdict"]["safe"] and result["verdict"]["reasons"] == []
    assert "and the org's configuration (metadata" in result["verdict"]["line"]
    report = json.loads((Path(result["report"]).parent / "report.json").read_text())
    assert not [f for f in report["findings"] if f["severity"] != "info"]
    assert all(row["org_record_count"] == row["backup_rows"] - row["deleted_rows"]
               for row in report["objects"] if row["org_record_count"] is not None)  # fmt: skip

    snapshot = Repository.open(admin_run.repo).snapshot("latest")
    mine = Repository.open(restricted_run.repo).snapshot("latest")
    for name in SHARED + FILES:
        everyone = {r["Id"] for r in admin.query_all(f"SELECT Id FROM {name}")["records"]}
        seen = {r["Id"] for r in restricted.query_all(f"SELECT Id FROM {name}")["records"]}
        ours = set(snapshot.read(name).column("Id").to_pylist())
        assert everyone - seen and everyone - seen <= ours, name  # the rows the restricted user missed
        assert not (everyone - seen) & set(mine.read(name).column("Id").to_pylist()), name
    for name, fields in {**hidden, **ENCRYPTED}.items():
        entry = snapshot.manifest.objects[name]
        assert set(fields) <= set(entry.fields) and entry.hidden_fields == entry.masked_fields == []
    # every value of every object, hidden and encrypted ones included, equals what a separate
    # simple-salesforce client logged in as the admin reads
    assert assert_snapshot_matches_org(admin_run.repo, admin) > 0
    secrets = snapshot.read("Invoice__c").column("Secret__c").to_pylist()
    assert any(secrets) and not any(s and set(s) == {"*"} for s in secrets)



def test_given_records_deleted_since_the_counts_were_cached_when_admin_runs_then_stale_count_is_explained(
    tmp_path: Path,
) -> None:
    # /limits/recordCount still counts records deleted since its last refresh (the emulator's
    # nightly statistics): within the records changed in the 24 h before T0 that is staleness,
    # not a blind spot, and the admin's backup is not failed for it.
    with running_emulator(records=12, seed=3, job_latency=0.02, large_file_bytes=0) as small:
        sf = login(small, "admin")
        doomed = [r["Id"] for r in sf.query("SELECT Id FROM Lead LIMIT 3")["records"]]
        for record_id in doomed:
            sf.Lead.delete(record_id)
        repo = tmp_path / "repo"
        ran = sfbackup(small, "admin", "run", "--repo", str(repo), "--objects", "Lead,Account", "--json")
        assert ran.code == 0, ran.out[-3000:]
        report = json.loads((Path(ran.result()["report"]).parent / "report.json").read_text())
        by_kind = {(f["kind"], f["object"]): f for f in report["findings"]}
        assert ("records_not_visible", "Lead") not in by_kind
        stale = by_kind[("record_count_stale", "Lead")]
        assert stale["severity"] == "info" and stale["expected"] - stale["actual"] == len(doomed)
        assert ("record_count_stale", "Account") not in by_kind  # nothing changed there

        # the records changed before T0 are counted in CreatedDate ranges when COUNT() times out
        small.faults.configure(FaultConfig(rates={"query_timeout": 1.0}, query_timeout_min_rows=2))
        again = sfbackup(small, "admin", "verify", "--repo", str(repo), "--against-org", "--json")
        small.faults.configure(FaultConfig())
        assert again.code == 0, again.out[-3000:]
        assert small.faults.injected["query_timeout"] > 0
        kinds = {(f["kind"], f["object"]) for f in again.result()["findings"]}
        assert ("record_count_stale", "Lead") in kinds and ("records_not_visible", "Lead") not in kinds


def test_given_an_enterprise_org_when_the_restricted_user_checks_all_then_refusals_are_notes_not_a_crash() -> None:
    # ~800 objects, some of which refuse an unfiltered COUNT() (a timeout, a required filter): the
    # preflight names them as unchecked notes and still finds every blind spot.
    with running_emulator(org_shape="enterprise", user="restricted") as big:
        checked = sfbackup(big, "restricted", "check", "--objects", "all", "--json")
    assert checked.code == 6, checked.out[-2000:]
    body = checked.result()
    unchecked = {g["object"]: g for g in body["gaps"] if g["kind"] == "unchecked"}
    # which objects refuse the user's COUNT() depends on the strategies the plan knows (a filter
    # they need is added); those left are notes with Salesforce's words; a COUNT() that timed out
    # (LoginHistory, Telemetry_Event__c) left the user's sharing unmeasured: that blocks SAFE
    assert unchecked
    assert all(g["blocks_safe"] == ("QUERY_TIMEOUT" in g["effect"]) for g in unchecked.values()), unchecked
    assert {"LoginHistory", "Telemetry_Event__c"} <= {n for n, g in unchecked.items() if g["blocks_safe"]}
    assert all(any(code in g["effect"] for code in ("MALFORMED_QUERY", "QUERY_TIMEOUT", "INVALID"))
               for g in unchecked.values()), unchecked
    blocking = {(g["kind"], g["object"]) for g in body["gaps"] if g["blocks_safe"]}
    assert {("records_not_visible", n) for n in ("Account", "Contact", "Opportunity")} <= blocking
    assert ("masked_field", "Invoice__c") in blocking and ("hidden_field", "Account") in blocking


def test_given_bad_input_when_check_then_the_usual_exit_codes(org: RunningEmulator) -> None:
    typo = sfbackup(org, "restricted", "check", "--objects", "Acount,Contact")
    assert typo.code == ExitCode.USAGE and "Acount (did you mean Account?)" in typo.out
    c = org.org.users["restricted"]
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        patch.setenv("SF_USERNAME", c.username)
        patch.setenv("SF_PASSWORD", "wrong-" + c.password)
        patch.setenv("SF_SECURITY_TOKEN", c.security_token)
        code = main(["check", "--instance-url", org.instance_url])
    assert code == ExitCode.AUTHENTICATION, out.getvalue()[-2000:]
    assert c.password not in out.getvalue()


def test_given_fielddefinition_timing_out_when_check_then_one_object_at_a_time_and_what_stays_unchecked_blocks(
    tmp_path: Path,
) -> None:
    # QUERY_TIMEOUT for every non-selective query of 45 rows or more: the FieldDefinition query for
    # all objects at once times out, then each object is asked alone; Account (more fields) stays
    # unchecked, which blocks SAFE (a field FLS hides would go unnoticed), and Contact's and
    # Invoice__c's hidden fields are still found.
    with running_emulator(records=12, seed=3, job_latency=0.02, large_file_bytes=0, user="restricted") as small:
        small.faults.configure(FaultConfig(rates={"query_timeout": 1.0}, query_timeout_min_rows=45))
        checked = sfbackup(small, "restricted", "check", "--objects", "Account,Contact,Invoice__c,Lead", "--json")
        assert small.faults.injected["query_timeout"] > 0
        repo = tmp_path / "repo"  # the admin's run: its preflight cannot check Account either
        ran = sfbackup(small, "admin", "run", "--repo", str(repo), "--objects", "Account,Lead", "--json")
    assert ran.code == 0, ran.out[-3000:]
    verdict = ran.result()["verdict"]
    assert verdict["reasons"][0].startswith(
        "the backup user could not see everything: the run's preflight could not check what "
        "admin.user@emulated.example cannot see: field-level security of Account could not be checked"
    )
    assert not verdict["safe"]
    assert checked.code == 6, checked.out[-2000:]
    gaps = checked.result()["gaps"]
    unchecked = {g["object"] for g in gaps if g["kind"] == "unchecked"}
    hidden = {g["object"]: g["fields"] for g in gaps if g["kind"] == "hidden_field"}
    assert all(g["blocks_safe"] for g in gaps if g["kind"] == "unchecked")  # a hidden field could hide
    assert all("QUERY_TIMEOUT" in g["effect"] for g in gaps if g["kind"] == "unchecked")
    assert unchecked == {"Account"}
    assert hidden == {"Contact": ["Birthdate", "MobilePhone"], "Invoice__c": ["Rate__c"]}


def test_given_a_login_that_names_no_user_when_check_then_the_fixes_name_the_users_username(
    org: RunningEmulator,
) -> None:
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        patch.setenv("SF_ACCESS_TOKEN", org.access_token())  # the restricted user's session
        code = main(["check", "--instance-url", org.instance_url, "--objects", "Account", "--json"])
    assert code == 6, out.getvalue()[-2000:]
    body = Outcome(code, out.getvalue(), Path()).result()
    username = org.org.users["restricted"].username
    assert body["user"]["username"] == username
    assert all(username in g["fix"] for g in body["gaps"] if g["kind"] == "records_not_visible")


def test_given_public_records_deleted_since_the_counts_were_cached_when_restricted_checks_then_no_false_gap(
) -> None:
    # Lead is Public Read Only: the restricted user sees every Lead. /limits/recordCount still
    # counts the 3 deleted today, which the user's COUNT() does not: staleness, not a blind spot.
    with running_emulator(records=12, seed=3, job_latency=0.02, large_file_bytes=0, user="restricted") as small:
        sf = login(small, "admin")
        for row in sf.query("SELECT Id FROM Lead LIMIT 3")["records"]:
            sf.Lead.delete(row["Id"])
        checked = sfbackup(small, "restricted", "check", "--objects", "Lead,Account", "--json")
    gaps = {(g["kind"], g["object"]): g for g in checked.result()["gaps"]}
    assert ("records_not_visible", "Lead") not in gaps
    stale = gaps[("record_count_stale", "Lead")]
    assert not stale["blocks_safe"] and stale["org_count"] - stale["visible_count"] == 3
    assert gaps[("records_not_visible", "Account")]["blocks_safe"]  # the real blind spot stays


def test_given_the_permission_queries_timing_out_when_check_then_an_unchecked_gap_not_a_crash() -> None:
    # Every non-selective row query of one row or more times out: the user's permissions cannot be
    # read. The preflight says so (it blocks SAFE: the user is judged as holding none of them)
    # instead of ending the run.
    with running_emulator(records=12, seed=3, job_latency=0.02, large_file_bytes=0) as small:
        small.faults.configure(FaultConfig(rates={"query_timeout": 1.0}, query_timeout_min_rows=1))
        checked = sfbackup(small, "admin", "check", "--objects", "Account,Contact", "--json")
        assert small.faults.injected["query_timeout"] > 0
    assert checked.code == 6, checked.out[-3000:]
    gaps = [g for g in checked.result()["gaps"] if g["kind"] == "unchecked" and g["object"] is None]
    assert any("permissions could not be read" in g["effect"] and "QUERY_TIMEOUT" in g["effect"]
               and g["blocks_safe"] for g in gaps), gaps  # fmt: skip


def test_given_a_count_timing_out_for_the_restricted_user_when_run_then_its_sharing_is_unmeasured_and_blocks_safe(
    tmp_path: Path,
) -> None:
    # LoginHistory's COUNT() times out (a huge table): how many of its records the user's sharing
    # hides was not measured. Before, that was a note that did not block SAFE; the run goes on.
    with running_emulator(records=12, seed=3, job_latency=0.02, large_file_bytes=0, org_shape="enterprise",
                          user="restricted") as emu:  # fmt: skip
        repo = tmp_path / "repo"
        done = sfbackup(emu, "restricted", "run", "--repo", str(repo), "--objects", "Account,LoginHistory",
                        "--no-files", "--no-metadata", "--json", repo=repo)  # fmt: skip
    assert done.code in (0, 4), done.out  # verified (NOT SAFE is not a failed run)
    manifest = Repository.open(repo).snapshot("latest").manifest
    assert manifest.objects["LoginHistory"].state == "done"
    assert manifest.access is not None
    [gap] = [g for g in manifest.access.gaps if g.get("object") == "LoginHistory" and g["kind"] == "unchecked"]
    assert gap["blocks_safe"] is True and "QUERY_TIMEOUT" in gap["effect"] and "not measured" in gap["effect"]
    verdict = done.result()["verdict"]
    assert not verdict["safe"] and any("LoginHistory" in reason for reason in verdict["reasons"]), verdict


def test_given_every_row_query_timing_out_when_run_then_the_preflight_gaps_block_safe_and_the_run_goes_on(
    org: RunningEmulator, tmp_path: Path
) -> None:
    # The preflight's own queries (UserPermissionAccess, PermissionSet, FieldDefinition) time out:
    # each is an unchecked gap that blocks SAFE, and the objects are still exported.
    repo = tmp_path / "repo"
    org.faults.add_rule("query_timeout", path_pattern="/query", times=100_000)
    try:
        done = sfbackup(org, "admin", "run", "--repo", str(repo), "--objects", "Account,Contact", "--no-files",
                        "--no-metadata", "--json", repo=repo)  # fmt: skip
    finally:
        org.faults.clear()
    manifest = Repository.open(repo).snapshot("latest").manifest
    assert {n: e.state for n, e in manifest.objects.items()} == {"Account": "done", "Contact": "done"}
    assert manifest.access is not None
    unchecked = [g for g in manifest.access.gaps if g["kind"] == "unchecked" and g["blocks_safe"]]
    assert {g.get("object") for g in unchecked} >= {None, "Account", "Contact"}, unchecked
    assert all("QUERY_TIMEOUT" in g["effect"] for g in unchecked)
    assert not done.result()["verdict"]["safe"]

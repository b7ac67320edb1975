"""Bad input: wrong config files, names that try to smuggle SOQL in, broken key files, a repository
of an unknown layout, manifests edited into garbage. Each gets a message saying what, where and
what to do, the documented exit code (README "Exit codes"), and leaves what was saved untouched
(the repository is hashed before and after).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from sfbackup.cli import main
from sfbackup.errors import ExitCode
from sfbackup.repository.atomic import is_temporary


def tree_digest(root: Path) -> dict[str, str]:
    """SHA-256 of every file that holds data (locks come and go; temporary files are never read)."""
    digests: dict[str, str] = {}
    if not root.exists():
        return digests
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.is_file() and relative.parts[0] != "locks" and not is_temporary(path.name):
            digests[str(relative)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


@pytest.fixture(scope="module")
def saved_repo(emulator: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository holding one finished snapshot, copied by each test."""
    from tests.conftest import emulator_env

    repo = tmp_path_factory.mktemp("saved") / "repo"
    with pytest.MonkeyPatch.context() as patch:
        for key, value in emulator_env(emulator).items():
            patch.setenv(key, value)
        code = main(["run", "--repo", str(repo), "--instance-url", emulator.instance_url,
                     "--objects", "Account,Contact", "--no-files", "--no-verify", "--json"])
    assert code == 0
    return repo


@pytest.fixture
def repo(saved_repo: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "repo"
    shutil.copytree(saved_repo, copy)
    return copy


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def run_args(emulator: Any, repo: Path, *extra: str) -> list[str]:
    return ["run", "--repo", str(repo), "--instance-url", emulator.instance_url, "--no-files",
            "--no-verify", *extra]


def assert_refused(code: int, output: str, expected: ExitCode, *must_say: str) -> None:
    assert code == expected, output
    for text in must_say:
        assert text in output, f"{text!r} not in: {output}"
    assert "Traceback" not in output


@pytest.mark.parametrize(
    ("toml", "must_say"),
    [
        ("[backup]\nobjectz = ['Account']\n", ["backup.objectz", "allowed in [backup]", "objects"]),
        ("[backup]\nconcurrency = 'lots'\n", ["backup.concurrency", "'lots'", "integer"]),
        ("[backup]\nformat = 'xlsx'\n", ["backup.format", "xlsx"]),
        ("[backup]\nfiles = 'maybe'\n", ["backup.files"]),
        ("[nonsense]\nx = 1\n", ["nonsense"]),
        ("[backup\nconcurrency =\n", ["not valid TOML", "line 1"]),
        ("[backup]\nobjects = [\"Account' OR Name != '\"]\n", ["backup.objects", "API names"]),
    ],
    ids=["unknown-key", "wrong-type", "bad-choice", "bad-bool", "unknown-section", "not-toml", "injection"],
)
def test_given_bad_config_file_when_run_then_exit_2_naming_key_and_file_and_repo_untouched(
    emulator: Any, login_env: dict[str, str], repo: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], toml: str, must_say: list[str],
) -> None:
    config = tmp_path / "sfbackup.toml"
    config.write_text(toml)
    before = tree_digest(repo)
    code, output = run(capsys, *run_args(emulator, repo, "--config", str(config)))
    assert_refused(code, output, ExitCode.USAGE, str(config), *must_say)
    assert tree_digest(repo) == before


@pytest.mark.parametrize(
    "objects",
    [
        "Account WHERE Id != null",
        "Account,Contact) OR (Id",
        "Account; DELETE",
        "Account--",
        "../../etc/passwd",
        "Account\nWHERE",
        "Acc'ount",
        "__c",
    ],
)
def test_given_soql_injection_through_object_names_when_run_then_exit_2_and_no_query_sent(
    emulator: Any, login_env: dict[str, str], repo: Path, capsys: pytest.CaptureFixture[str], objects: str,
) -> None:
    before = tree_digest(repo)
    calls_before = emulator.server.api_usage.used
    code, output = run(capsys, *run_args(emulator, repo, "--objects", objects))
    assert_refused(code, output, ExitCode.USAGE, "backup.objects", "API names")
    assert tree_digest(repo) == before
    assert emulator.server.api_usage.used == calls_before, "refused before logging in"


def test_given_a_misspelled_object_when_run_then_exit_2_before_exporting_with_did_you_mean(
    emulator: Any, login_env: dict[str, str], repo: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    before = tree_digest(repo)
    code, output = run(capsys, *run_args(emulator, repo, "--objects", "Acount,Contact,No_Such_Thing__c"))
    assert_refused(code, output, ExitCode.USAGE, "Acount (did you mean Account?)", "No_Such_Thing__c",
                   "from the command line", "Nothing was exported")
    assert tree_digest(repo) == before, "refused before a snapshot was started"


def test_given_a_misspelled_object_in_the_config_when_run_then_the_message_names_the_file(
    emulator: Any, login_env: dict[str, str], repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "sfbackup.toml"
    config.write_text('[backup]\nobjects = ["contact"]\n')
    code, output = run(capsys, *run_args(emulator, repo, "--config", str(config)))
    assert_refused(code, output, ExitCode.USAGE, "contact (did you mean Contact?)", str(config))


@pytest.mark.parametrize("key_case", ["garbage", "missing", "directory", "empty", "public-key"])
def test_given_broken_or_unreadable_jwt_key_file_when_run_then_clear_error_naming_the_file(
    emulator: Any, repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], key_case: str,
) -> None:
    credentials = emulator.credentials
    key = tmp_path / "server.key"
    if key_case == "garbage":
        key.write_text("-----BEGIN PRIVATE KEY-----\nnot base64 at all\n-----END PRIVATE KEY-----\n")
    elif key_case == "directory":
        key.mkdir()
    elif key_case == "empty":
        key.write_text("")
    elif key_case == "public-key":
        key.write_text(credentials.jwt_certificate_pem)
    config = tmp_path / "sfbackup.toml"
    config.write_text(
        f"[connection]\nauth = 'jwt'\nusername = '{credentials.username}'\n"
        f"consumer_key = '{credentials.consumer_key}'\nprivate_key_file = '{key}'\n"
    )
    before = tree_digest(repo)
    code, output = run(capsys, *run_args(emulator, repo, "--config", str(config)))
    assert code in (ExitCode.USAGE, ExitCode.AUTHENTICATION), output
    assert str(key) in output and "private" in output.lower()
    assert "BEGIN" not in output, "the key's content is never echoed"
    assert "Traceback" not in output
    assert tree_digest(repo) == before


def test_given_repository_of_newer_layout_when_run_then_exit_10_naming_version_and_nothing_written(
    emulator: Any, login_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    repo = tmp_path / "future"
    repo.mkdir()
    (repo / "repository.json").write_text(json.dumps({
        "format": "sfbackup-repository", "layout_version": 7, "repository_id": "a" * 32,
        "created_at": "2030-01-01T00:00:00.000Z",
    }))
    before = tree_digest(repo)
    code, output = run(capsys, *run_args(emulator, repo, "--objects", "Account"))
    assert_refused(code, output, ExitCode.NO_REPOSITORY, str(repo), "layout version 7", "version 1")
    assert tree_digest(repo) == before
    assert sorted(p.name for p in repo.iterdir()) == ["repository.json"]


def damage(manifest_path: Path, how: str) -> None:
    document = json.loads(manifest_path.read_text())
    if how == "not-json":
        manifest_path.write_text("{{{ this is not json")
    elif how == "rows-is-text":
        next(iter(document["objects"].values()))["rows"] = "many"
        manifest_path.write_text(json.dumps(document))
    elif how == "unknown-state":
        document["state"] = "mostly-done"
        manifest_path.write_text(json.dumps(document))
    elif how == "path-escapes":
        next(iter(document["objects"].values()))["parts"][0]["path"] = "../../../../etc/passwd"
        manifest_path.write_text(json.dumps(document))
    elif how == "future-format":
        document["format_version"] = 99
        manifest_path.write_text(json.dumps(document))
    elif how == "a-list":
        manifest_path.write_text("[1, 2, 3]")


DAMAGES = ["not-json", "rows-is-text", "unknown-state", "path-escapes", "future-format", "a-list"]


@pytest.mark.parametrize("how", DAMAGES)
@pytest.mark.parametrize("command", ["verify", "run-resume"])
def test_given_manifest_edited_into_garbage_when_command_then_exit_10_naming_file_and_nothing_damaged(
    emulator: Any, login_env: dict[str, str], repo: Path, capsys: pytest.CaptureFixture[str],
    how: str, command: str,
) -> None:
    manifest = next(repo.glob("snapshots/*/manifest.json"))
    damage(manifest, how)
    before = tree_digest(repo)
    if command == "verify":
        args = ["verify", "latest", "--repo", str(repo), "--read-data"]
    else:
        args = run_args(emulator, repo, "--objects", "Account", "--resume")
    code, output = run(capsys, *args)
    assert_refused(code, output, ExitCode.NO_REPOSITORY, "manifest.json", "what to do")
    assert tree_digest(repo) == before


@pytest.mark.parametrize("how", ["not-json", "rows-is-text"])
def test_given_damaged_manifest_when_listing_snapshots_then_listed_as_damaged_not_crashing(
    repo: Path, capsys: pytest.CaptureFixture[str], how: str,
) -> None:
    damage(next(repo.glob("snapshots/*/manifest.json")), how)
    before = tree_digest(repo)
    code, output = run(capsys, "snapshots", "--repo", str(repo))
    assert "Traceback" not in output
    assert code in (ExitCode.OK, ExitCode.NO_REPOSITORY), output
    assert tree_digest(repo) == before


def test_given_no_repository_when_verify_then_exit_10_naming_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, output = run(capsys, "verify", "latest", "--repo", str(tmp_path / "nothing-here"))
    assert_refused(code, output, ExitCode.NO_REPOSITORY, str(tmp_path / "nothing-here"))
    assert not (tmp_path / "nothing-here").exists()


def test_given_wrong_password_when_run_then_exit_12_and_repo_untouched(
    emulator: Any, repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SF_USERNAME", emulator.credentials.username)
    monkeypatch.setenv("SF_PASSWORD", "not-the-password")
    monkeypatch.setenv("SF_SECURITY_TOKEN", emulator.credentials.security_token)
    before = tree_digest(repo)
    code, output = run(capsys, *run_args(emulator, repo, "--objects", "Account"))
    assert_refused(code, output, ExitCode.AUTHENTICATION, "what to do")
    assert "not-the-password" not in output
    assert tree_digest(repo) == before


@pytest.fixture
def unfinished(
    emulator: Any, login_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Path:
    """A repository whose only snapshot (Parquet, files on) ended incomplete: Salesforce refuses to
    query one of its objects."""
    repo = tmp_path / "unfinished"
    code, output = run(capsys, "run", "--repo", str(repo), "--instance-url", emulator.instance_url,
                       "--no-verify", "--objects", "Account,Attachment,ActivityHistory", "--json")
    assert code == ExitCode.INCOMPLETE, output
    return repo


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--format", "csv"], "format: the snapshot has 'parquet', this run 'csv'"),
        (["--objects", "Account"], "objects: the snapshot has ['Account', 'Attachment', 'ActivityHistory']"),
        (["--no-files"], "files: the snapshot has True, this run False"),
    ],
)
def test_given_options_that_change_the_snapshot_when_resuming_then_refused_and_nothing_changes(
    emulator: Any, unfinished: Path, capsys: pytest.CaptureFixture[str], flags: list[str], named: str
) -> None:
    before = tree_digest(unfinished)
    objects = [] if "--objects" in flags else ["--objects", "Account,Attachment,ActivityHistory"]
    code, output = run(capsys, "run", "--repo", str(unfinished), "--instance-url", emulator.instance_url,
                       "--no-verify", "--resume", *objects, *flags)
    assert_refused(code, output, ExitCode.USAGE, "--resume continues snapshot", named, "without --resume")
    assert tree_digest(unfinished) == before


def test_given_a_csv_snapshot_when_resumed_without_format_then_it_stays_csv(
    emulator: Any, login_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sfbackup.repository import Repository

    repo = tmp_path / "csv"
    args = ["run", "--repo", str(repo), "--instance-url", emulator.instance_url, "--no-verify", "--no-files"]
    code, output = run(capsys, *args, "--format", "csv", "--objects", "Account,ActivityHistory")
    assert code == ExitCode.INCOMPLETE, output
    first = Repository.open(repo).snapshot("latest")

    code, output = run(capsys, *args, "--resume", "--objects", "Account,ActivityHistory")

    assert code == ExitCode.INCOMPLETE, output
    assert "resuming with the snapshot's own settings: format='csv'" in output
    resumed = Repository.open(repo).snapshot("latest")
    assert resumed.id == first.id and resumed.manifest.settings["format"] == "csv"
    assert all(p.path.endswith(".csv") for p in resumed.manifest.objects["Account"].parts)

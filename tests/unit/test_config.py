"""Settings: layering, validation, and secrets that only come by reference."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import pytest

from sfbackup.config import CORE_OBJECTS, Secrets, load_settings
from sfbackup.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "configs" / "sfbackup.example.toml"


def write(tmp_path: Path, text: str, name: str = "sfbackup.toml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_given_nothing_when_loading_then_every_default_holds() -> None:
    settings = load_settings(None, env={}, overrides={})
    assert settings.connection.api_version == "62.0"
    assert settings.connection.timeout_seconds == 120.0
    assert settings.connection.max_retries == 6
    assert settings.connection.auth == "oauth"  # the refresh token `sfbackup login` stored
    assert settings.connection.verify is True
    assert settings.backup.objects is None
    assert settings.backup.preset == "everything"
    assert settings.backup.object_selection == "all"  # every object the org lets us query
    assert settings.backup.format == "parquet"
    assert settings.backup.api_reserve_percent == 20.0
    assert settings.s3.sse == "none"
    assert settings.repository is None
    assert settings.warnings == ()


def test_given_file_env_and_flags_when_loading_then_later_layers_win(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        """
repository = "/backups/acme"
[connection]
instance_url = "https://acme.my.salesforce.com"
username = "file@acme.com"
api_version = "61.0"
[backup]
format = "csv"
concurrency = 2
objects = ["Account", "My_Object__c"]
contract_end = 2026-03-31
[s3]
bucket = "acme-backups"
prefix = "/sf/"
""",
    )
    settings = load_settings(
        config,
        env={"SF_USERNAME": "env@acme.com", "SF_API_VERSION": "60.0"},
        overrides={"connection.api_version": "59.0", "backup.concurrency": 8},
    )
    assert settings.repository == "/backups/acme"
    assert settings.connection.instance_url == "https://acme.my.salesforce.com"
    assert settings.connection.username == "env@acme.com"
    assert settings.connection.api_version == "59.0"
    assert settings.backup.format == "csv"
    assert settings.backup.concurrency == 8
    assert settings.backup.objects == ("Account", "My_Object__c")
    assert settings.backup.contract_end == date(2026, 3, 31)
    assert settings.s3.bucket == "acme-backups"
    assert settings.s3.prefix == "sf"


def test_given_an_unknown_key_when_loading_then_the_error_names_key_file_and_allowed_keys(
    tmp_path: Path,
) -> None:
    config = write(tmp_path, "[backup]\nformats = 'csv'\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config, env={}, overrides={})
    text = str(caught.value)
    assert "backup.formats" in text and config in text and "format" in text and "concurrency" in text


def test_given_an_unknown_section_when_loading_then_it_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown setting 'conection'"):
        load_settings(write(tmp_path, "[conection]\nusername='x'\n"), env={}, overrides={})


@pytest.mark.parametrize(
    ("text", "allowed"),
    [
        ("[backup]\nconcurrency = 'four'\n", "an integer >= 1"),
        ("[backup]\nconcurrency = 0\n", "an integer >= 1"),
        ("[backup]\nformat = 'xlsx'\n", "'parquet', 'csv'"),
        ("[backup]\ninclude_deleted = 'maybe'\n", "true or false"),
        ("[backup]\napi_reserve_percent = 150\n", "from 0 to 100"),
        ("[backup]\nobjects = ['Account', 'Contact; DELETE']\n", "API names"),
        ("[backup]\ncontract_end = 'next year'\n", "YYYY-MM-DD"),
        ("[connection]\napi_version = 'v62.0'\n", "62.0"),
        ("[connection]\ninstance_url = 'http://acme.my.salesforce.com'\n", "https://"),
        ("[connection]\nauth = 'kerberos'\n", "'oauth', 'sf_org', 'password', 'jwt'"),
    ],
)
def test_given_a_wrong_type_when_loading_then_the_error_says_what_is_allowed(
    tmp_path: Path, text: str, allowed: str
) -> None:
    config = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(config, env={}, overrides={})
    assert allowed in str(caught.value)
    assert config in str(caught.value)


def test_given_a_loopback_http_url_when_loading_then_the_emulator_is_allowed() -> None:
    settings = load_settings(None, env={"SF_INSTANCE_URL": "http://127.0.0.1:8123/"}, overrides={})
    assert settings.connection.instance_url == "http://127.0.0.1:8123"


def test_given_invalid_toml_when_loading_then_config_error_names_the_file(tmp_path: Path) -> None:
    config = write(tmp_path, "[backup\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(config, env={}, overrides={})


def test_given_a_missing_config_file_when_loading_then_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(str(tmp_path / "nope.toml"), env={}, overrides={})


@pytest.mark.parametrize(
    "key", ["password", "security_token", "access_token", "consumer_secret", "private_key"]
)
def test_given_a_secret_literal_in_the_file_when_loading_then_it_is_refused_with_a_way_out(
    tmp_path: Path, key: str
) -> None:
    config = write(tmp_path, f"[connection]\n{key} = 'hunter2-value'\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config, env={}, overrides={})
    text = str(caught.value)
    assert f"{key}_file" in text and "SF_" in text
    assert "hunter2-value" not in text


def test_given_a_secret_as_a_flag_when_loading_then_it_is_refused() -> None:
    with pytest.raises(ConfigError, match="command line"):
        load_settings(None, env={}, overrides={"connection.password": "pw"})


def test_given_secrets_in_env_when_loading_then_they_are_read_and_never_shown() -> None:
    env = {"SF_USERNAME": "u@acme.com", "SF_PASSWORD": "pw-value-1", "SF_SECURITY_TOKEN": "tok-value-2"}
    settings = load_settings(None, env=env, overrides={})
    secrets = settings.connection.secrets
    assert secrets.password == "pw-value-1"
    assert secrets.security_token == "tok-value-2"
    for text in (repr(secrets), str(secrets), repr(settings), str(settings.connection)):
        assert "pw-value-1" not in text and "tok-value-2" not in text
    assert "SF_PASSWORD" in repr(secrets)


def test_given_secret_files_when_loading_then_they_resolve_relative_to_the_config_file(
    tmp_path: Path,
) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "pw").write_text("file-password\n", encoding="utf-8")
    (tmp_path / "secrets" / "token").write_text("file-token", encoding="utf-8")
    config = write(
        tmp_path,
        "[connection]\nusername='u@acme.com'\npassword_file='secrets/pw'\nsecurity_token_file='secrets/token'\n",
    )
    settings = load_settings(config, env={}, overrides={})
    assert settings.connection.secrets.password == "file-password"
    assert settings.connection.secrets.security_token == "file-token"
    assert str(tmp_path / "secrets" / "pw") in settings.connection.secrets.source("password")


def test_given_a_secret_both_in_env_and_as_file_when_loading_then_ambiguity_is_refused(
    tmp_path: Path,
) -> None:
    (tmp_path / "pw").write_text("a", encoding="utf-8")
    config = write(tmp_path, "[connection]\npassword_file = 'pw'\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config, env={"SF_PASSWORD": "b"}, overrides={})
    assert "SF_PASSWORD" in str(caught.value) and "password_file" in str(caught.value)


def test_given_a_missing_secret_file_when_loading_then_the_error_names_the_path(tmp_path: Path) -> None:
    config = write(tmp_path, "[connection]\naccess_token_file = '/nonexistent/token'\n")
    with pytest.raises(ConfigError, match="/nonexistent/token"):
        load_settings(config, env={}, overrides={})


def test_given_a_private_key_file_that_is_not_pem_when_loading_then_config_error_names_it(
    tmp_path: Path,
) -> None:
    key = tmp_path / "server.key"
    key.write_text("not a key", encoding="utf-8")
    with pytest.raises(ConfigError, match=str(key)):
        load_settings(None, env={"SF_PRIVATE_KEY_FILE": str(key)}, overrides={})


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"SF_ACCESS_TOKEN": "t", "SF_INSTANCE_URL": "https://a.my.salesforce.com"}, "access_token"),
        ({"SF_USERNAME": "u", "SF_CONSUMER_KEY": "k", "SF_PRIVATE_KEY_FILE": "KEY"}, "jwt"),
        ({"SF_CONSUMER_KEY": "k", "SF_CONSUMER_SECRET": "s"}, "client_credentials"),
        (
            {"SF_USERNAME": "u", "SF_CONSUMER_KEY": "k", "SF_CONSUMER_SECRET": "s", "SF_PASSWORD": "p"},
            "password",
        ),
        ({"SF_USERNAME": "u", "SF_PASSWORD": "p", "SF_SECURITY_TOKEN": "t"}, "password"),
    ],
)
def test_given_credentials_without_auth_when_loading_then_the_method_is_inferred(
    tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    if env.get("SF_PRIVATE_KEY_FILE") == "KEY":
        key = tmp_path / "k.pem"
        key.write_text("-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n", encoding="utf-8")
        env = {**env, "SF_PRIVATE_KEY_FILE": str(key)}
    assert load_settings(None, env=env, overrides={}).connection.auth == expected


def test_given_an_explicit_auth_when_loading_then_it_wins_over_inference() -> None:
    settings = load_settings(None, env={"SF_ACCESS_TOKEN": "t"}, overrides={"connection.auth": "password"})
    assert settings.connection.auth == "password"


def test_given_insecure_tls_when_loading_then_it_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="sfbackup.config"):
        settings = load_settings(None, env={}, overrides={"connection.insecure_skip_tls_verify": True})
    assert settings.connection.verify is False
    assert settings.warnings and "TLS" in settings.warnings[0]
    assert "TLS certificate verification is OFF" in caplog.text


def test_given_ca_bundle_and_insecure_when_loading_then_the_contradiction_is_refused(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("x", encoding="utf-8")
    with pytest.raises(ConfigError, match="contradict"):
        load_settings(
            None,
            env={},
            overrides={"connection.ca_bundle": str(bundle), "connection.insecure_skip_tls_verify": True},
        )


def test_given_objects_all_or_a_comma_list_from_a_flag_when_loading_then_both_parse() -> None:
    assert load_settings(None, env={}, overrides={"backup.objects": "all"}).backup.objects == "all"
    parsed = load_settings(None, env={}, overrides={"backup.objects": "Account, Case"}).backup.objects
    assert parsed == ("Account", "Case")


def test_given_a_preset_when_loading_then_it_decides_the_objects_unless_objects_are_named(
    tmp_path: Path,
) -> None:
    core = load_settings(None, env={}, overrides={"backup.preset": "core"}).backup
    assert core.object_selection == CORE_OBJECTS
    named = load_settings(None, env={}, overrides={"backup.preset": "core", "backup.objects": "Invoice__c"})
    assert named.backup.object_selection == ("Invoice__c",)
    # The example config once said preset = "default": it still means the default.
    old = tmp_path / "old.toml"
    old.write_text('[backup]\npreset = "default"\n')
    assert load_settings(str(old), env={}, overrides={}).backup.object_selection == "all"
    with pytest.raises(ConfigError, match="'everything', 'core'"):
        load_settings(None, env={}, overrides={"backup.preset": "some"})


def test_given_the_example_config_when_loading_then_its_preset_is_the_documented_default() -> None:
    example = Path(__file__).parents[2] / "configs" / "sfbackup.example.toml"
    settings = load_settings(str(example), env={}, overrides={})
    assert settings.backup.preset == "everything" and settings.backup.object_selection == "all"


def test_given_run_help_when_read_then_it_names_every_preset_and_the_default_as_the_example_config_does(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from sfbackup.cli import main

    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    example = (Path(__file__).parents[2] / "configs" / "sfbackup.example.toml").read_text()
    assert "'everything' (default)" in text and "'core': " + ", ".join(CORE_OBJECTS) in text
    assert '"everything" (the default)' in example and '"core": ' in example
    assert "custom objects included" in text and "custom objects (Invoice__c...)" in example


def test_given_an_unknown_override_when_loading_then_config_error() -> None:
    with pytest.raises(ConfigError, match=r"unknown setting backup\.nope"):
        load_settings(None, env={}, overrides={"backup.nope": 1})


def test_given_an_empty_secrets_object_when_shown_then_it_lists_nothing() -> None:
    assert repr(Secrets()) == "Secrets()"


@pytest.mark.skipif(not EXAMPLE.exists(), reason="configs/sfbackup.example.toml not written yet")
def test_given_the_example_config_when_loading_then_it_is_valid_and_matches_the_defaults() -> None:
    from_example = load_settings(str(EXAMPLE), env={}, overrides={})
    defaults = load_settings(None, env={}, overrides={})
    assert from_example.backup == defaults.backup
    assert from_example.s3 == defaults.s3
    assert from_example.connection.api_version == defaults.connection.api_version
    assert from_example.connection.timeout_seconds == defaults.connection.timeout_seconds


def test_given_the_lightning_ui_url_when_loading_then_the_api_url_is_asked_for() -> None:
    with pytest.raises(ConfigError, match=r"my\.salesforce\.com"):
        load_settings(None, env={"SF_INSTANCE_URL": "https://acme.lightning.force.com"}, overrides={})


def test_given_flags_not_given_when_loading_then_they_do_not_hide_the_file(tmp_path: Path) -> None:
    config = write(tmp_path, "[backup]\nformat = 'csv'\n")
    settings = load_settings(
        config, env={}, overrides={"backup.format": None, "connection.instance_url": None}
    )
    assert settings.backup.format == "csv"


def test_given_a_secret_file_other_users_can_read_when_loading_then_a_warning_says_how_to_restrict_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = tmp_path / "pw"
    secret.write_text("file-password", encoding="utf-8")
    secret.chmod(0o644)
    config = write(tmp_path, "[connection]\nusername='u@acme.com'\npassword_file='pw'\n")
    with caplog.at_level("WARNING", logger="sfbackup.config"):
        load_settings(config, env={}, overrides={})
    assert f"chmod 600 {secret}" in caplog.text and "0644" in caplog.text
    assert "file-password" not in caplog.text

    caplog.clear()
    secret.chmod(0o600)
    with caplog.at_level("WARNING", logger="sfbackup.config"):
        load_settings(config, env={}, overrides={})
    assert "chmod" not in caplog.text


@pytest.mark.parametrize("key", ["instance_url", "login_url"])
def test_given_credentials_inside_a_url_when_loading_then_refused_without_repeating_them(
    tmp_path: Path, key: str
) -> None:
    config = write(tmp_path, f"[connection]\n{key} = 'https://bob:hunter2-secret@acme.my.salesforce.com'\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config, env={}, overrides={})
    assert "hunter2-secret" not in str(caught.value) and "bob" not in str(caught.value)
    assert "without a user name or password" in str(caught.value)


def test_given_a_message_with_url_credentials_when_redacted_then_they_are_gone() -> None:
    from sfbackup.errors import redact

    text = redact("GET http://bob:hunter2@127.0.0.1:8080/services/data failed")
    assert "hunter2" not in text and "bob" not in text and "127.0.0.1:8080/services/data" in text

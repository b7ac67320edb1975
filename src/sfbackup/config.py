"""Settings: defaults < config file (TOML) < environment < flags, with secrets by reference only.

The default login is ``oauth``: the refresh token `sfbackup login` keeps in the OS keyring or in
``connection.token_file``. Secrets (password, security token, access token, consumer key/secret,
private key) are read from ``SF_*`` environment variables or from files the config names
(``password_file`` ...), never from the config file itself and never from flags, so they stay out
of shell history and version control.
A secret given both ways is refused as ambiguous. `Secrets` never shows a value in repr/str.
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import urlsplit

from sfbackup.errors import ConfigError
from sfbackup.salesforce.connection import (
    AUTH_METHODS,
    SECRET_ENV,
    SECRET_NAMES,
    AuthMethod,
    ConnectionSettings,
    Secrets,
)
from sfbackup.salesforce.soql import validate_identifier

__all__ = [
    "CORE_OBJECTS",
    "PRESETS",
    "SECRET_ENV",
    "BackupSettings",
    "ConnectionSettings",
    "S3Settings",
    "Secrets",
    "Settings",
    "load_settings",
]

log = logging.getLogger("sfbackup.config")

#: The `core` preset: the main business objects and their files (a quick backup, not a whole org).
CORE_OBJECTS: tuple[str, ...] = (
    "Account", "Contact", "Lead", "Opportunity", "Attachment", "ContentVersion",
    "ContentDocument", "ContentDocumentLink", "Document",
)  # fmt: skip
#: Object sets `backup.preset` names: `everything` (the default) is every object the org lets us
#: query, custom objects included; `core` is CORE_OBJECTS.
PRESETS: tuple[str, ...] = ("everything", "core")
#: The preset a config file may still name as "default" (the example config once did).
_PRESET_ALIASES = {"default": "everything"}

_ENV_IS_PATH = frozenset({"private_key"})
#: Plain (non-secret) settings that the environment may set.
PLAIN_ENV: dict[str, str] = {
    "SF_USERNAME": "connection.username",
    "SF_INSTANCE_URL": "connection.instance_url",
    "SF_LOGIN_URL": "connection.login_url",
    "SF_API_VERSION": "connection.api_version",
    "SFBACKUP_TOKEN_FILE": "connection.token_file",
    "SFBACKUP_REPOSITORY": "repository",
}
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class BackupSettings:
    """What to export and how."""

    objects: tuple[str, ...] | Literal["all"] | None = None  # None: the preset's objects
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    preset: Literal["everything", "core"] = "everything"
    format: Literal["parquet", "csv"] = "parquet"
    include_deleted: bool = True
    files: bool = True
    metadata: bool = True  # the org's configuration (Metadata API) in every snapshot
    metadata_max_files: int = 10_000  # files per Metadata API retrieve (Salesforce's limit)
    content_versions: Literal["all", "latest"] = "all"
    concurrency: int = 4
    download_concurrency: int = 8
    #: A reused ContentVersion body is re-hashed against Salesforce's Checksum once in this many
    #: nights (a rotating seventh of them each night); 0: never (size only).
    recheck_reused_days: int = 7
    bulk_min_records: int = 2000
    bulk_page_records: int = 50000
    api_reserve_percent: float = 20.0
    csv_neutralize_formulas: bool = False
    verify_after_run: bool = True
    contract_end: date | None = None
    notice_days: int = 60

    @property
    def object_selection(self) -> tuple[str, ...] | Literal["all"]:
        """The objects to export: `objects` when set, else the preset's ("all": the org's list)."""
        if self.objects is not None:
            return self.objects
        return CORE_OBJECTS if self.preset == "core" else "all"


@dataclass(frozen=True)
class S3Settings:
    """Where `upload` mirrors the repository."""

    bucket: str | None = None
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    sse: Literal["none", "AES256", "aws:kms"] = "none"
    kms_key_id: str | None = None
    storage_class: str | None = None


@dataclass(frozen=True)
class Settings:
    """Everything a command needs; `warnings` lists risky choices the UI must show every run."""

    connection: ConnectionSettings
    backup: BackupSettings
    s3: S3Settings
    repository: str | None = None
    warnings: tuple[str, ...] = ()
    #: Where each setting given came from, by dotted key: a config file's path, "environment
    #: variable X" or "the command line" (absent: the default). Errors name it.
    origins: Mapping[str, str] = field(default_factory=dict)

    def origin_of(self, key: str) -> str:
        """Where setting `key` came from, for messages ("the command line", a file, a variable)."""
        return self.origins.get(key, "the defaults")


# ----------------------------------------------------------------------------------------------
# Option table: one entry per dotted key, with its parser. Parsers raise ValueError with "allowed".

Parser = Callable[[Any], Any]


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError("a string")
    return v


def _opt_str(v: Any) -> str | None:
    return None if v is None or v == "" else _str(v)


def _bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
        return v.lower() in ("true", "1", "yes", "on")
    raise ValueError("true or false")


def _int(minimum: int) -> Parser:
    def parse(v: Any) -> int:
        if isinstance(v, bool):
            raise ValueError(f"an integer >= {minimum}")
        try:
            n = int(v) if isinstance(v, int | str) else None
        except ValueError:
            n = None
        if n is None or n < minimum:
            raise ValueError(f"an integer >= {minimum}")
        return n

    return parse


def _float(minimum: float, maximum: float) -> Parser:
    def parse(v: Any) -> float:
        try:
            x = float(v) if isinstance(v, int | float | str) and not isinstance(v, bool) else None
        except ValueError:
            x = None
        if x is None or not minimum <= x <= maximum:
            raise ValueError(f"a number from {minimum:g} to {maximum:g}")
        return x

    return parse


def _choice(*allowed: str) -> Parser:
    def parse(v: Any) -> str:
        if v not in allowed:
            raise ValueError("one of " + ", ".join(repr(a) for a in allowed))
        return cast(str, v)

    return parse


def _str_list(v: Any) -> tuple[str, ...]:
    if isinstance(v, str):
        v = [p.strip() for p in v.split(",") if p.strip()]
    if not isinstance(v, list | tuple) or not all(isinstance(x, str) for x in v):
        raise ValueError("a list of strings")
    return tuple(v)


_PATTERN = re.compile(r"^[A-Za-z0-9_*?\[\]!]+$")


def _objects(v: Any) -> tuple[str, ...] | str:
    if v == "all":
        return "all"
    names = _str_list(v)
    bad = [n for n in names if not _is_api_name(n)]
    if bad or not names:
        raise ValueError(
            '"all" or a non-empty list of sObject API names (letters, digits, _ ; e.g. My_Obj__c)'
        )
    return names


def _is_api_name(name: str) -> bool:
    try:
        validate_identifier(name)
    except ConfigError:
        return False
    return True


def _patterns(v: Any) -> tuple[str, ...]:
    patterns = _str_list(v)
    if any(not _PATTERN.fullmatch(p) for p in patterns):
        raise ValueError("a list of sObject name patterns (letters, digits, _ and the wildcards * ? [ ])")
    return patterns


def _date(v: Any) -> date | None:
    if v is None or v == "":
        return None
    if isinstance(v, date):
        return v
    if isinstance(v, str):
        try:
            return date.fromisoformat(v)
        except ValueError:
            pass
    raise ValueError("a date YYYY-MM-DD")


def _url(v: Any) -> str | None:
    url = _opt_str(v)
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        # Never repeat the URL: the part before '@' may be a password.
        raise _SecretInUrl("a URL without a user name or password in it (credentials go in SF_* variables "
                           "or *_file settings, never in a URL)")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("an absolute https:// URL")
    if parts.hostname.endswith((".lightning.force.com", ".visualforce.com")):
        raise ValueError("the org's API URL, https://<mydomain>.my.salesforce.com (not the Lightning UI URL)")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
        raise ValueError(
            "an https:// URL (plain http is only allowed to 127.0.0.1/localhost, e.g. the emulator)"
        )
    return url.rstrip("/")


def _api_version(v: Any) -> str:
    s = str(v) if isinstance(v, int | float | str) and not isinstance(v, bool) else ""
    if not re.fullmatch(r"\d{2,3}\.0", s):
        raise ValueError('a version like "62.0" (no leading v)')
    return s


_OPTIONS: dict[str, Parser] = {
    "connection.instance_url": _url,
    "connection.login_url": _url,
    "connection.auth": _choice(*AUTH_METHODS),
    "connection.username": _opt_str,
    "connection.api_version": _api_version,
    "connection.ca_bundle": _opt_str,
    "connection.insecure_skip_tls_verify": _bool,
    "connection.timeout_seconds": _float(1, 3600),
    "connection.max_retries": _int(1),
    "connection.consumer_key": _opt_str,
    "connection.token_store": _choice("auto", "keyring", "file"),
    "connection.token_file": _opt_str,
    "connection.sf_org": _opt_str,
    "backup.objects": _objects,
    "backup.include": _patterns,
    "backup.exclude": _patterns,
    "backup.preset": lambda v: _choice(*PRESETS)(_PRESET_ALIASES.get(v, v) if isinstance(v, str) else v),
    "backup.format": _choice("parquet", "csv"),
    "backup.include_deleted": _bool,
    "backup.files": _bool,
    "backup.metadata": _bool,
    "backup.metadata_max_files": _int(2),
    "backup.content_versions": _choice("all", "latest"),
    "backup.concurrency": _int(1),
    "backup.download_concurrency": _int(1),
    "backup.recheck_reused_days": _int(0),
    "backup.bulk_min_records": _int(0),
    "backup.bulk_page_records": _int(1),
    "backup.api_reserve_percent": _float(0, 100),
    "backup.csv_neutralize_formulas": _bool,
    "backup.verify_after_run": _bool,
    "backup.contract_end": _date,
    "backup.notice_days": _int(0),
    "s3.bucket": _opt_str,
    "s3.prefix": lambda v: _str(v).strip("/"),
    "s3.endpoint_url": _opt_str,
    "s3.region": _opt_str,
    "s3.profile": _opt_str,
    "s3.sse": _choice("none", "AES256", "aws:kms"),
    "s3.kms_key_id": _opt_str,
    "s3.storage_class": _opt_str,
    "repository": _opt_str,
}
for _name in SECRET_NAMES:
    _OPTIONS[f"connection.{_name}_file"] = _opt_str
_SECTIONS = ("connection", "backup", "s3")


def _allowed_keys(section: str) -> str:
    keys = sorted(k.split(".", 1)[1] for k in _OPTIONS if k.startswith(section + "."))
    return ", ".join(keys)


def _parse(key: str, value: Any, where: str) -> Any:
    try:
        return _OPTIONS[key](value)
    except ValueError as exc:
        raise ConfigError(
            f"{key} in {where} is {_describe_value(key, value, exc)}; it must be {exc}",
            hint=f"fix {key} in {where}",
            key=key,
        ) from None


class _SecretInUrl(ValueError):
    """A value that must not be shown in the error about it."""


def _describe_value(key: str, value: Any, exc: ValueError | None = None) -> str:
    if isinstance(exc, _SecretInUrl):
        return "a URL with credentials in it (not shown)"
    if isinstance(value, str) and len(value) < 80:
        return repr(value)
    return f"a {type(value).__name__}"


# ----------------------------------------------------------------------------------------------


def _read_file_layer(path: Path) -> tuple[dict[str, Any], Path]:
    """Flatten a TOML file into dotted keys, refusing unknown keys and secret literals."""
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist", hint="check the --config path") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    flat: dict[str, Any] = {}
    for top, value in data.items():
        if top == "repository":
            flat["repository"] = value
        elif top in _SECTIONS and isinstance(value, dict):
            for key in value:
                dotted = f"{top}.{key}"
                if top == "connection" and key in SECRET_NAMES and key != "consumer_key":
                    raise ConfigError(
                        f"{dotted} in {path} holds a secret literally; secrets never go in the config file",
                        hint=f'put it in a file and set {key}_file = "/path" (mode 0600), '
                        f"or set the environment variable {SECRET_ENV[key]}",
                        key=dotted,
                    )
                if dotted not in _OPTIONS:
                    raise ConfigError(
                        f"unknown setting {dotted} in {path}",
                        hint=f"allowed in [{top}]: {_allowed_keys(top)}",
                        key=dotted,
                    )
                flat[dotted] = value[key]
        else:
            raise ConfigError(
                f"unknown setting {top!r} in {path}",
                hint="allowed: the sections [connection], [backup], [s3] and the top-level key repository",
                key=top,
            )
    return flat, path.parent


def load_settings(
    config_file: str | None,
    *,
    env: Mapping[str, str],
    overrides: Mapping[str, Any],
) -> Settings:
    """Resolve every setting: defaults < `config_file` < `env` < `overrides` (dotted keys from flags;
    a None value means the flag was not given).

    Secret values are read here (from ``SF_*`` variables or the files named by ``*_file``) so a
    missing or unreadable secret file fails before any work starts.
    """
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    file_dirs: dict[str, Path] = {}
    if config_file is not None:
        flat, base_dir = _read_file_layer(Path(config_file))
        for key, raw in flat.items():
            values[key] = _parse(key, raw, str(config_file))
            origin[key] = str(config_file)
            file_dirs[key] = base_dir
    for var, key in PLAIN_ENV.items():
        if env.get(var):
            values[key] = _parse(key, env[var], f"environment variable {var}")
            origin[key] = f"environment variable {var}"
            file_dirs.pop(key, None)
    for key, raw in overrides.items():
        if raw is None:
            continue  # a flag that was not given
        bare = key.split(".", 1)[-1]
        if key.startswith("connection.") and bare in SECRET_NAMES and bare != "consumer_key":
            raise ConfigError(
                f"{key} cannot be given as a flag: secrets never go on the command line",
                hint=f"use {bare}_file or the environment variable {SECRET_ENV[bare]}",
            )
        if key not in _OPTIONS:
            raise ConfigError(f"unknown setting {key}", hint="allowed: " + ", ".join(sorted(_OPTIONS)))
        values[key] = _parse(key, raw, "the command line")
        origin[key] = "the command line"
        file_dirs.pop(key, None)

    secrets = _resolve_secrets(values, origin, file_dirs, env)
    connection = _connection(values, secrets, origin, file_dirs)
    backup = BackupSettings(**_section(values, "backup"))
    s3 = S3Settings(**_section(values, "s3"))
    if s3.sse == "aws:kms" and not s3.kms_key_id:
        log.debug("s3.sse is aws:kms without kms_key_id: the bucket's default KMS key is used")
    warnings: list[str] = []
    if connection.insecure_skip_tls_verify:
        warnings.append(
            "TLS certificate verification is OFF (connection.insecure_skip_tls_verify = true, "
            f"set in {origin['connection.insecure_skip_tls_verify']}): the connection to Salesforce can be "
            "intercepted; use ca_bundle instead"
        )
    if connection.auth == "password":
        warnings.append(_PASSWORD_RETIREMENT[_flow_of_password(secrets)])
    for warning in warnings:
        log.warning(warning)
    return Settings(
        connection=connection,
        backup=backup,
        s3=s3,
        repository=values.get("repository"),
        warnings=tuple(warnings),
        origins=dict(origin),
    )


def _section(values: Mapping[str, Any], section: str) -> dict[str, Any]:
    prefix = section + "."
    return {k[len(prefix) :]: v for k, v in values.items() if k.startswith(prefix)}


def _resolve_secrets(
    values: Mapping[str, Any],
    origin: Mapping[str, str],
    file_dirs: Mapping[str, Path],
    env: Mapping[str, str],
) -> Secrets:
    found: dict[str, str] = {}
    sources: dict[str, str] = {}
    for name in SECRET_NAMES:
        file_key = f"connection.{name}_file"
        env_var = SECRET_ENV[name]
        candidates: list[str] = []
        if env.get(env_var):
            candidates.append(f"environment variable {env_var}")
        if values.get(file_key):
            candidates.append(f"{name}_file in {origin[file_key]}")
        if name == "consumer_key" and values.get("connection.consumer_key"):
            candidates.append(f"consumer_key in {origin['connection.consumer_key']}")
        if len(candidates) > 1:
            raise ConfigError(
                f"the {name.replace('_', ' ')} is given more than once: " + " and ".join(candidates),
                hint="keep exactly one source for each secret",
                key=name,
            )
        if not candidates:
            continue
        if env.get(env_var):
            if name in _ENV_IS_PATH:
                path = Path(env[env_var]).expanduser()
                found[name] = _read_secret_file(path, name, f"environment variable {env_var}")
                sources[name] = f"file {path} (from {env_var})"
            else:
                found[name] = env[env_var]
                sources[name] = f"environment variable {env_var}"
        elif values.get(file_key):
            path = Path(values[file_key]).expanduser()
            if not path.is_absolute() and file_key in file_dirs:
                path = file_dirs[file_key] / path  # relative to the config file, not the cwd
            found[name] = _read_secret_file(path, name, f"{name}_file in {origin[file_key]}")
            sources[name] = f"file {path}"
        else:
            found[name] = values["connection.consumer_key"]
            sources[name] = f"consumer_key in {origin['connection.consumer_key']}"
    return Secrets(**found, sources=sources)


def _read_secret_file(path: Path, name: str, named_by: str) -> str:
    _warn_if_readable_by_others(path, name)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{name} file {path} (named by {named_by}) does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"cannot read the {name} file {path} (named by {named_by}): {reason}") from None
    if name == "private_key":
        if "-----BEGIN" not in text or "PRIVATE KEY-----" not in text:
            raise ConfigError(
                f"the private key file {path} (named by {named_by}) is not a PEM private key",
                hint="give the RSA private key of the connected app's certificate, in PEM form",
            )
        return text
    value = text.rstrip("\r\n")
    if not value:
        raise ConfigError(f"the {name} file {path} (named by {named_by}) is empty")
    return value


def _warn_if_readable_by_others(path: Path, name: str) -> None:
    """Secret files should be 0600 (or 0400): say so when other users can read one."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return  # reading it reports the problem
    if mode & 0o077:
        log.warning(
            "the %s file %s is readable by other users (mode %04o); restrict it with `chmod 600 %s`",
            name, path, mode & 0o777, path,
        )


def _connection(
    values: Mapping[str, Any], secrets: Secrets, origin: Mapping[str, str], file_dirs: Mapping[str, Path]
) -> ConnectionSettings:
    kwargs = _section(values, "connection")
    for name in SECRET_NAMES:
        kwargs.pop(f"{name}_file", None)
    kwargs.pop("consumer_key", None)
    if kwargs.get("ca_bundle") and kwargs.get("insecure_skip_tls_verify"):
        raise ConfigError(
            "connection.ca_bundle and connection.insecure_skip_tls_verify contradict each other",
            hint="keep ca_bundle (verification against your CA) and drop insecure_skip_tls_verify",
        )
    if kwargs.get("ca_bundle") and not os.path.exists(kwargs["ca_bundle"]):
        raise ConfigError(f"connection.ca_bundle {kwargs['ca_bundle']} does not exist")
    if "auth" not in kwargs:
        kwargs["auth"] = infer_auth(secrets, kwargs.get("username"), sf_org=kwargs.get("sf_org"))
    token_file = Path(kwargs["token_file"]).expanduser() if kwargs.get("token_file") else None
    if token_file and not token_file.is_absolute() and "connection.token_file" in file_dirs:
        kwargs["token_file"] = str(file_dirs["connection.token_file"] / token_file)  # relative to the config
    return ConnectionSettings(secrets=secrets, **kwargs)


_PASSWORD_RETIREMENT = {
    "soap": (
        "logging in with username + password + security token uses SOAP login(), which Salesforce "
        "limits to API 64.0 and earlier, disables by default in orgs created since Winter '26 and "
        "retires in Summer '27: run `sfbackup login` once (OAuth with a refresh token) and drop "
        "SF_PASSWORD / SF_SECURITY_TOKEN (docs/connected-app.md)"
    ),
    "oauth": (
        "the OAuth username-password flow is being blocked by Salesforce: run `sfbackup login` once "
        "(OAuth with a refresh token), or use the JWT or client-credentials flow (docs/connected-app.md)"
    ),
}


def _flow_of_password(secrets: Secrets) -> str:
    return "oauth" if secrets.is_set("consumer_key") and secrets.is_set("consumer_secret") else "soap"


def infer_auth(secrets: Secrets, username: str | None, *, sf_org: str | None = None) -> AuthMethod:
    """The login flow the given settings imply: ``sf_org`` when one is named, a flow whose secrets
    are set, else ``oauth`` (the refresh token `sfbackup login` stored)."""
    if sf_org:
        return "sf_org"
    if secrets.is_set("access_token"):
        return "access_token"
    if secrets.is_set("private_key"):
        return "jwt"
    connected_app = secrets.is_set("consumer_key") and secrets.is_set("consumer_secret")
    if connected_app and not username:
        return "client_credentials"
    if secrets.is_set("password") or connected_app:  # the username-password flows
        return "password"
    return "oauth"

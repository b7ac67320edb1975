"""Where `sfbackup login` keeps the refresh token for unattended runs: the OS keyring where one
exists, else a JSON file with mode 0600 that the config names. Never the repository, logs or reports.

Each stored login is keyed by the login URL it was made at (login, test, a My Domain, the emulator)
and holds the refresh token, the connected app's consumer key and the org's instance URL.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from sfbackup.errors import ConfigError, StorageError

__all__ = ["FileTokenStore", "KeyringTokenStore", "StoredLogin", "TokenStore", "open_store"]

StoreKind = Literal["auto", "keyring", "file"]
KEYRING_SERVICE = "sfbackup"


@dataclass(frozen=True)
class StoredLogin:
    """One org's login: the refresh token (the only secret) and what renewing it needs."""

    login_url: str
    client_id: str
    instance_url: str
    refresh_token: str = field(repr=False)
    flow: str = "web"
    username: str | None = None
    org_id: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StoredLogin:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


class TokenStore(Protocol):
    """Loads, saves and deletes `StoredLogin`s by login URL."""

    description: str

    def load(self, key: str) -> StoredLogin | None: ...

    def save(self, key: str, login: StoredLogin) -> None: ...

    def delete(self, key: str) -> bool: ...


class FileTokenStore:
    """A JSON file (mode 0600, written atomically) mapping login URLs to stored logins."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = f"the file {path}"

    def load(self, key: str) -> StoredLogin | None:
        entry = self._read().get(key)
        return StoredLogin.from_dict(entry) if isinstance(entry, dict) else None

    def keys(self) -> list[str]:
        return sorted(self._read())

    def save(self, key: str, login: StoredLogin) -> None:
        data = self._read()
        data[key] = asdict(login)
        self._write(data)

    def delete(self, key: str) -> bool:
        data = self._read()
        if data.pop(key, None) is None:
            return False
        self._write(data)
        return True

    def _read(self) -> dict[str, Any]:
        try:
            mode = self.path.stat().st_mode & 0o077
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ConfigError(f"cannot read the token file {self.path}: {exc.strerror}") from None
        if mode:
            raise ConfigError(
                f"the token file {self.path} can be read by other users (mode {oct(mode)} set)",
                hint=f"chmod 600 {self.path}, then revoke the token (`sfbackup logout`) if others could "
                "read it, and log in again",
            )
        try:
            data = json.loads(text)
        except ValueError:
            raise ConfigError(
                f"the token file {self.path} is not JSON", hint="delete it and run `sfbackup login` again"
            ) from None
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict[str, Any]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, temp = tempfile.mkstemp(prefix=".tokens-", dir=self.path.parent)  # created 0600
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    json.dump(data, handle, indent=1, sort_keys=True)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
        except OSError as exc:
            raise StorageError(f"cannot write the token file {self.path}: {exc.strerror}",
                               path=str(self.path)) from None


class KeyringTokenStore:
    """The OS keyring (service ``sfbackup``, one entry per login URL)."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend
        self.description = f"the OS keyring ({type(backend).__name__}, service {KEYRING_SERVICE!r})"

    def load(self, key: str) -> StoredLogin | None:
        text = self._backend.get_password(KEYRING_SERVICE, key)
        return StoredLogin.from_dict(json.loads(text)) if text else None

    def save(self, key: str, login: StoredLogin) -> None:
        self._backend.set_password(KEYRING_SERVICE, key, login.to_json())

    def delete(self, key: str) -> bool:
        if self._backend.get_password(KEYRING_SERVICE, key) is None:
            return False
        self._backend.delete_password(KEYRING_SERVICE, key)
        return True


def open_store(kind: StoreKind, path: str | None) -> TokenStore:
    """The store `kind` names; ``auto`` is the keyring when a usable one exists, else the file."""
    if kind in ("auto", "keyring"):
        backend = _usable_keyring()
        if backend is not None:
            return KeyringTokenStore(backend)
        if kind == "keyring":
            raise ConfigError(
                "connection.token_store is 'keyring' but no OS keyring is available here",
                hint="set connection.token_store = 'file' and connection.token_file = '/path/tokens.json'",
            )
    if not path:
        raise ConfigError(
            "no place to keep the login's refresh token: no OS keyring here and no token file set",
            hint="set connection.token_file = '/path/to/sfbackup-tokens.json' (or SFBACKUP_TOKEN_FILE); "
            "it is written with mode 0600",
        )
    return FileTokenStore(Path(path).expanduser())


def _usable_keyring() -> Any:
    """The keyring backend, or None when keyring is absent or only has its fail/null backends."""
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return None
    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring) or type(backend).__module__.startswith("keyring.backends.null"):
        return None
    chained = getattr(backend, "backends", None)
    if chained is not None and not chained:
        return None
    return backend

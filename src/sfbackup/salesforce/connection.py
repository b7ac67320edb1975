"""How to reach and log in to an org: the connection settings and the secrets, never shown."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

AuthMethod = Literal["oauth", "sf_org", "password", "jwt", "client_credentials", "access_token"]
AUTH_METHODS: tuple[str, ...] = ("oauth", "sf_org", "password", "jwt", "client_credentials", "access_token")
TokenStoreKind = Literal["auto", "keyring", "file"]
SECRET_NAMES: tuple[str, ...] = (
    "password", "security_token", "access_token", "consumer_key", "consumer_secret", "private_key",
)  # fmt: skip
#: Environment variable for each secret. The private key comes as a file path, never as text.
SECRET_ENV: dict[str, str] = {
    "password": "SF_PASSWORD",
    "security_token": "SF_SECURITY_TOKEN",
    "access_token": "SF_ACCESS_TOKEN",
    "consumer_key": "SF_CONSUMER_KEY",
    "consumer_secret": "SF_CONSUMER_SECRET",
    "private_key": "SF_PRIVATE_KEY_FILE",
}


@dataclass(frozen=True, repr=False)
class Secrets:
    """Credential values, and where each came from (an env var name or a file path, never a value)."""

    password: str | None = None
    security_token: str | None = None
    access_token: str | None = None
    consumer_key: str | None = None
    consumer_secret: str | None = None
    private_key: str | None = None  # PEM text
    sources: Mapping[str, str] = field(default_factory=dict)

    def is_set(self, name: str) -> bool:
        """True when the secret `name` has a non-empty value."""
        return bool(getattr(self, name))

    def source(self, name: str) -> str:
        """Where `name` came from, for messages: e.g. ``env SF_PASSWORD`` or ``file /run/secrets/pw``."""
        return self.sources.get(name, f"{SECRET_ENV[name]} (not set)")

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}=<set from {self.source(n)}>" for n in SECRET_NAMES if self.is_set(n))
        return f"Secrets({shown})"

    __str__ = __repr__


@dataclass(frozen=True)
class ConnectionSettings:
    """How to reach and log in to the org."""

    instance_url: str | None = None
    login_url: str | None = None
    auth: AuthMethod = "oauth"
    username: str | None = None
    #: oauth: where `sfbackup login` keeps the refresh token (keyring, else this 0600 file).
    token_store: TokenStoreKind = "auto"
    token_file: str | None = None
    #: sf_org: the Salesforce CLI alias or username whose login `sf org display` hands over.
    sf_org: str | None = None
    api_version: str = "62.0"
    secrets: Secrets = field(default_factory=Secrets)
    ca_bundle: str | None = None
    insecure_skip_tls_verify: bool = False
    timeout_seconds: float = 120.0
    max_retries: int = 6

    @property
    def verify(self) -> bool | str:
        """The value for ``requests.Session.verify``."""
        if self.insecure_skip_tls_verify:
            return False
        return self.ca_bundle or True

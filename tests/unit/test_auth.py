"""Login flows: every simple-salesforce flow against the emulator, and errors that name no secret."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
import pytest
import requests
import responses

from sfbackup.config import ConnectionSettings, load_settings
from sfbackup.errors import AuthenticationFailed, ConfigError, OrgUnreachable
from sfbackup.salesforce import auth
from sfbackup.salesforce.transport import rewriting_session


def settings_for(env: dict[str, str], **overrides: Any) -> ConnectionSettings:
    return load_settings(None, env=env, overrides=overrides).connection


def log_in(settings: ConnectionSettings) -> auth.OrgSession:
    session = rewriting_session(auth.session_base_url(settings), verify=settings.verify)
    return auth.login(settings, session)


# ----------------------------------------------------------------------------------------------
# Against the emulator (a real HTTP server speaking Salesforce's login wire formats)


def emulator_flows(emulator: Any, tmp_path: Path) -> dict[str, dict[str, str]]:
    creds = emulator.credentials
    key = tmp_path / "jwt.key"
    key.write_text(creds.jwt_private_key_pem, encoding="utf-8")
    return {
        "soap": {"SF_USERNAME": creds.username, "SF_PASSWORD": creds.password,
                 "SF_SECURITY_TOKEN": creds.security_token},
        "oauth-password": {"SF_USERNAME": creds.username, "SF_PASSWORD": creds.password,
                           "SF_SECURITY_TOKEN": creds.security_token, "SF_CONSUMER_KEY": creds.consumer_key,
                           "SF_CONSUMER_SECRET": creds.consumer_secret},
        "jwt": {"SF_USERNAME": creds.username, "SF_CONSUMER_KEY": creds.consumer_key,
                "SF_PRIVATE_KEY_FILE": str(key)},
        "client-credentials": {"SF_CONSUMER_KEY": creds.consumer_key, "SF_CONSUMER_SECRET": creds.consumer_secret},
        "access-token": {"SF_ACCESS_TOKEN": emulator.access_token()},
    }  # fmt: skip


@pytest.mark.parametrize("flow", ["soap", "oauth-password", "jwt", "client-credentials", "access-token"])
def test_given_each_flow_when_logging_in_to_the_emulator_then_the_session_knows_org_and_user(
    emulator: Any, tmp_path: Path, flow: str
) -> None:
    env = emulator_flows(emulator, tmp_path)[flow]
    org = log_in(settings_for(env, **{"connection.instance_url": emulator.instance_url}))
    assert org.instance_url == emulator.instance_url
    assert org.org_id == emulator.credentials.org_id
    assert org.user_id == emulator.credentials.user_id
    assert org.api_version == "62.0"
    response = requests.get(
        f"{org.instance_url}/services/data/v62.0/sobjects/",
        headers={"Authorization": f"Bearer {org.access_token}"},
        timeout=10,
    )
    assert response.status_code == 200


def test_given_a_session_when_shown_then_the_token_is_hidden(emulator: Any) -> None:
    org = log_in(
        settings_for(
            {"SF_ACCESS_TOKEN": emulator.access_token()}, **{"connection.instance_url": emulator.instance_url}
        )
    )
    assert org.access_token not in repr(org)


def test_given_a_wrong_password_when_logging_in_then_the_error_names_the_source_not_the_value(
    emulator: Any,
) -> None:
    env = {
        "SF_USERNAME": emulator.credentials.username,
        "SF_PASSWORD": "wrong-pass-123",
        "SF_SECURITY_TOKEN": "nope",
    }
    with pytest.raises(AuthenticationFailed) as caught:
        log_in(settings_for(env, **{"connection.instance_url": emulator.instance_url}))
    text = str(caught.value)
    assert "password login" in text and "SF_PASSWORD" in text and "SF_SECURITY_TOKEN" in text
    assert "wrong-pass-123" not in text and "nope" not in text.replace("SF_", "")


def test_given_a_revoked_access_token_when_logging_in_then_authentication_failed(emulator: Any) -> None:
    settings = settings_for(
        {"SF_ACCESS_TOKEN": "00DDx0000000001!expired-token-value"},
        **{"connection.instance_url": emulator.instance_url},
    )
    with pytest.raises(AuthenticationFailed, match="access token was refused") as caught:
        log_in(settings)
    assert "expired-token-value" not in str(caught.value)


def test_given_a_key_file_that_cannot_sign_when_logging_in_then_the_error_names_the_file(
    emulator: Any, tmp_path: Path
) -> None:
    key = tmp_path / "broken.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n", encoding="utf-8")
    env = {"SF_USERNAME": "u@x.com", "SF_CONSUMER_KEY": "k", "SF_PRIVATE_KEY_FILE": str(key)}
    with pytest.raises(AuthenticationFailed) as caught:
        log_in(settings_for(env, **{"connection.instance_url": emulator.instance_url}))
    assert str(key) in str(caught.value)


def test_given_nothing_listening_when_logging_in_then_org_unreachable_names_the_url() -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    env = {"SF_USERNAME": "u@x.com", "SF_PASSWORD": "p"}
    with pytest.raises(OrgUnreachable, match=url):
        log_in(settings_for(env, **{"connection.instance_url": url}))


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({"SF_PASSWORD": "p"}, "SF_USERNAME"),
        ({"SF_CONSUMER_KEY": "k", "SF_CONSUMER_SECRET": "s", "SF_USERNAME": "u"}, "SF_PASSWORD"),
    ],
)
def test_given_missing_credentials_when_logging_in_then_config_error_names_the_variables(
    env: dict[str, str], missing: str
) -> None:
    with pytest.raises(ConfigError, match=missing):
        log_in(settings_for(env))


def test_given_no_flow_secrets_when_logging_in_then_the_oauth_default_asks_for_a_token_store() -> None:
    """A username alone is no login: the default is the stored OAuth login, which needs a home."""
    settings = settings_for({"SF_USERNAME": "u"}, **{"connection.token_store": "file"})
    assert settings.auth == "oauth"
    with pytest.raises(ConfigError, match=r"connection\.token_file"):
        log_in(settings)


def test_given_a_password_login_when_loading_then_a_warning_names_the_retirement_and_the_way_out() -> None:
    soap = load_settings(None, env={"SF_USERNAME": "u", "SF_PASSWORD": "p"}, overrides={})
    assert any("Summer '27" in w and "sfbackup login" in w for w in soap.warnings), soap.warnings
    oauth_password = load_settings(None, env={"SF_USERNAME": "u", "SF_PASSWORD": "p", "SF_CONSUMER_KEY": "k",
                                              "SF_CONSUMER_SECRET": "s"}, overrides={})
    assert any("being blocked" in w for w in oauth_password.warnings), oauth_password.warnings
    assert load_settings(None, env={}, overrides={}).warnings == ()


# ----------------------------------------------------------------------------------------------
# Where each flow goes on a real org (scripted answers: no org is reachable from here)

MY_DOMAIN = "https://acme.my.salesforce.com"
SOAP_OK = (
    '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"'
    ' xmlns="urn:partner.soap.sforce.com"><soapenv:Body><loginResponse><result>'
    "<serverUrl>https://acme.my.salesforce.com/services/Soap/u/62.0/00D000000000001</serverUrl>"
    "<sessionId>00D000000000001!soapsession</sessionId><userId>005000000000001AAA</userId>"
    "</result></loginResponse></soapenv:Body></soapenv:Envelope>"
)


@pytest.fixture
def wire() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as mock:
        yield mock


def token_body(instance: str = MY_DOMAIN) -> dict[str, str]:
    return {"access_token": "00D000000000001!tok", "instance_url": instance, "token_type": "Bearer"}


def test_given_a_my_domain_when_logging_in_with_soap_then_the_login_goes_to_the_my_domain(
    wire: responses.RequestsMock,
) -> None:
    wire.post(f"{MY_DOMAIN}/services/Soap/u/62.0", body=SOAP_OK)
    wire.get(f"{MY_DOMAIN}/services/oauth2/userinfo", json={"organization_id": "00D000000000001AAA",
                                                            "user_id": "005000000000001AAA"})  # fmt: skip
    env = {"SF_USERNAME": "a&b@acme.com", "SF_PASSWORD": "p<w", "SF_SECURITY_TOKEN": "tok"}
    org = log_in(settings_for(env, **{"connection.instance_url": MY_DOMAIN}))
    assert (org.instance_url, org.org_id) == (MY_DOMAIN, "00D000000000001AAA")
    assert "a&amp;b@acme.com" in str(wire.calls[0].request.body)


def test_given_userinfo_refused_when_logging_in_then_the_org_id_comes_from_the_token(
    wire: responses.RequestsMock,
) -> None:
    wire.post(f"{MY_DOMAIN}/services/Soap/u/62.0", body=SOAP_OK)
    wire.get(f"{MY_DOMAIN}/services/oauth2/userinfo", status=403, json={"error": "insufficient_scope"})
    env = {"SF_USERNAME": "u@acme.com", "SF_PASSWORD": "p", "SF_SECURITY_TOKEN": "t"}
    org = log_in(settings_for(env, **{"connection.instance_url": MY_DOMAIN}))
    assert org.org_id == "00D000000000001"
    assert org.user_id is None


def test_given_jwt_when_logging_in_then_the_assertion_targets_the_login_audience(
    wire: responses.RequestsMock, tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key = tmp_path / "key.pem"
    key.write_bytes(
        private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    )  # fmt: skip
    wire.post("https://login.salesforce.com/services/oauth2/token", json=token_body())
    wire.get(f"{MY_DOMAIN}/services/oauth2/userinfo", json={"organization_id": "00D000000000001AAA"})
    env = {"SF_USERNAME": "u@acme.com", "SF_CONSUMER_KEY": "3MVGkey", "SF_PRIVATE_KEY_FILE": str(key)}
    org = log_in(settings_for(env))
    assert org.instance_url == MY_DOMAIN
    form = parse_qs(wire.calls[0].request.body or "")
    claims = jwt.decode(
        form["assertion"][0],
        private.public_key(),
        algorithms=["RS256"],
        audience="https://login.salesforce.com",
    )
    assert (claims["iss"], claims["sub"]) == ("3MVGkey", "u@acme.com")


def test_given_client_credentials_when_logging_in_then_they_go_to_the_my_domain_with_basic_auth(
    wire: responses.RequestsMock,
) -> None:
    wire.post(f"{MY_DOMAIN}/services/oauth2/token", json=token_body())
    wire.get(f"{MY_DOMAIN}/services/oauth2/userinfo", json={"organization_id": "00D000000000001AAA"})
    org = log_in(settings_for({"SF_CONSUMER_KEY": "k", "SF_CONSUMER_SECRET": "s"},
                              **{"connection.instance_url": MY_DOMAIN}))  # fmt: skip
    assert org.instance_url == MY_DOMAIN
    assert wire.calls[0].request.headers["Authorization"].startswith("Basic ")


def test_given_client_credentials_without_a_my_domain_when_logging_in_then_config_error() -> None:
    with pytest.raises(ConfigError, match="My Domain"):
        log_in(settings_for({"SF_CONSUMER_KEY": "k", "SF_CONSUMER_SECRET": "s"}))


def test_given_an_access_token_without_instance_when_logging_in_then_config_error() -> None:
    with pytest.raises(ConfigError, match="SF_INSTANCE_URL"):
        log_in(settings_for({"SF_ACCESS_TOKEN": "t"}))


def test_given_a_refused_oauth_login_when_logging_in_then_the_code_is_reported_without_secrets(
    wire: responses.RequestsMock,
) -> None:
    wire.post("https://test.salesforce.com/services/oauth2/token", status=400,
              json={"error": "invalid_grant", "error_description": "authentication failure"})  # fmt: skip
    env = {
        "SF_USERNAME": "u@acme.com",
        "SF_PASSWORD": "pw-123",
        "SF_CONSUMER_KEY": "k",
        "SF_CONSUMER_SECRET": "cs-456",
    }
    with pytest.raises(AuthenticationFailed) as caught:
        log_in(settings_for(env, **{"connection.login_url": "https://test.salesforce.com"}))
    text = str(caught.value)
    assert "invalid_grant" in text and "authentication failure" in text and "SF_CONSUMER_SECRET" in text
    assert "pw-123" not in text and "cs-456" not in text


def test_given_a_login_endpoint_in_trouble_when_logging_in_then_org_unreachable(
    wire: responses.RequestsMock,
) -> None:
    wire.post("https://login.salesforce.com/services/oauth2/token", status=503, body="<html>down</html>")
    env = {"SF_USERNAME": "u@acme.com", "SF_PASSWORD": "p", "SF_CONSUMER_KEY": "k", "SF_CONSUMER_SECRET": "s"}
    with pytest.raises(OrgUnreachable, match="503"):
        log_in(settings_for(env))
    assert json.dumps(env)  # the env itself is untouched


def test_given_a_sandbox_my_domain_when_logging_in_with_jwt_then_the_token_comes_from_it_for_test(
    wire: responses.RequestsMock, tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    sandbox = "https://acme--uat.sandbox.my.salesforce.com"
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key = tmp_path / "key.pem"
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    wire.post(f"{sandbox}/services/oauth2/token", json=token_body(sandbox))
    wire.get(f"{sandbox}/services/oauth2/userinfo", json={"organization_id": "00D000000000002AAA"})
    env = {"SF_USERNAME": "u@acme.com.uat", "SF_CONSUMER_KEY": "k", "SF_PRIVATE_KEY_FILE": str(key)}
    org = log_in(settings_for(env, **{"connection.instance_url": sandbox}))
    assert org.instance_url == sandbox
    form = parse_qs(str(wire.calls[0].request.body))
    claims = jwt.decode(
        form["assertion"][0],
        private.public_key(),
        algorithms=["RS256"],
        audience="https://test.salesforce.com",
    )
    assert claims["sub"] == "u@acme.com.uat"


def test_given_a_plain_session_when_logging_in_to_the_emulator_then_auth_rewrites_by_itself(
    emulator: Any,
) -> None:
    creds = emulator.credentials
    env = {
        "SF_USERNAME": creds.username,
        "SF_PASSWORD": creds.password,
        "SF_SECURITY_TOKEN": creds.security_token,
    }
    settings = settings_for(env, **{"connection.instance_url": emulator.instance_url})
    org = auth.login(settings, requests.Session())
    assert org.org_id == creds.org_id

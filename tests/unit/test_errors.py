"""The exit-code contract and secret redaction."""

from sfbackup.errors import (
    ApiReserveReached,
    ExitCode,
    RepositoryLocked,
    SfbackupError,
    SnapshotIncomplete,
    VerificationFailed,
    redact,
)


def test_each_error_class_carries_its_documented_exit_code() -> None:
    assert SfbackupError("x").exit_code == ExitCode.FAILED
    assert SnapshotIncomplete("x").exit_code == 3
    assert VerificationFailed("x").exit_code == 4
    assert RepositoryLocked("x").exit_code == 11
    assert ApiReserveReached("x").exit_code == 13


def test_given_session_id_in_text_when_redacted_then_token_is_gone() -> None:
    token = "00D5g000004ABCDEFG!AQ4AQFakeTokenValue1234567890abcdef"
    text = f"failed with Authorization: Bearer {token} and sessionId {token}"
    assert token not in redact(text)
    assert "[REDACTED]" in redact(text)

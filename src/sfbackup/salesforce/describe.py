"""describeGlobal and sObject describe over a SalesforceClient."""

from __future__ import annotations

from typing import Any

from sfbackup.errors import SalesforceError
from sfbackup.salesforce.client import SalesforceClient
from sfbackup.salesforce.schema import ObjectSchema
from sfbackup.salesforce.soql import validate_identifier

__all__ = ["describe", "describe_global", "describe_raw"]


def describe_global(client: SalesforceClient) -> list[dict[str, Any]]:
    """The ``sobjects`` entries of ``GET /sobjects/``: every object the user can see, with its flags."""
    body = client.get_json(client.data_path("sobjects/"))
    sobjects = body.get("sobjects") if isinstance(body, dict) else None
    if not isinstance(sobjects, list):
        raise SalesforceError("describeGlobal answered without an 'sobjects' list", error_code="BAD_RESPONSE")
    return [entry for entry in sobjects if isinstance(entry, dict)]


def describe_raw(client: SalesforceClient, name: str) -> dict[str, Any]:
    """The JSON body of ``GET /sobjects/<name>/describe/`` as Salesforce sent it."""
    validate_identifier(name, what="object")
    body: dict[str, Any] = client.get_json(client.data_path(f"sobjects/{name}/describe/"))
    return body


def describe(client: SalesforceClient, name: str) -> ObjectSchema:
    """The describe of `name` as an ObjectSchema (its `raw` keeps the full JSON)."""
    return ObjectSchema.from_describe(describe_raw(client, name))

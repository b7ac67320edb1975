"""Fault classification: one table of Salesforce failures and what each one means."""

from __future__ import annotations

import http.client
import json
import ssl
from typing import Any

import pytest
import requests
import urllib3.exceptions

from sfbackup.salesforce.faults import Fault, FaultKind, TruncatedBody, classify, error_details

T, R, L, Q, U, F = (
    FaultKind.TRANSIENT,
    FaultKind.REAUTH,
    FaultKind.LIMIT,
    FaultKind.QUERY_TIMEOUT,
    FaultKind.UNSUPPORTED,
    FaultKind.FATAL,
)


def sf_error(code: str, message: str) -> str:
    """A REST/Bulk error body as Salesforce sends it: a JSON array of {message, errorCode}."""
    return json.dumps([{"message": message, "errorCode": code}])


RESPONSES: list[tuple[str, int, Any, FaultKind, str]] = [
    # (case, status, body, expected kind, expected code)
    ("expired session", 401, sf_error("INVALID_SESSION_ID", "Session expired or invalid"), R, "INVALID_SESSION_ID"),
    ("401 without a body", 401, None, R, "HTTP_401"),
    ("daily limit", 403, sf_error("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."), L,
     "REQUEST_LIMIT_EXCEEDED"),
    ("concurrency limit frees up", 403,
     sf_error("REQUEST_LIMIT_EXCEEDED", "ConcurrentRequests (Concurrent API Requests) Limit exceeded."), T,
     "REQUEST_LIMIT_EXCEEDED"),
    ("bulk daily job limit", 400,
     sf_error("LIMIT_EXCEEDED", "Max bulk v2 query jobs (10000) per 24 hrs has been reached (10001)"), L,
     "LIMIT_EXCEEDED"),
    ("bulk job limit without a code", 400, json.dumps([{"message": "Max bulk v2 query jobs reached"}]), L,
     "HTTP_400"),
    ("query timeout", 400, sf_error("QUERY_TIMEOUT", "Your query request was running for too long."), Q,
     "QUERY_TIMEOUT"),
    ("server busy", 503, sf_error("SERVER_UNAVAILABLE", "Server too busy"), T, "SERVER_UNAVAILABLE"),
    ("CDN html 503", 503, "<html><title>Service Not Available</title></html>", T, "HTTP_503"),
    ("500 unknown", 500, sf_error("UNKNOWN_EXCEPTION", "An unexpected error occurred"), T, "UNKNOWN_EXCEPTION"),
    ("502 edge", 502, None, T, "HTTP_502"),
    ("429", 429, None, T, "HTTP_429"),
    ("420 edge", 420, "<html>We are setting things up</html>", T, "HTTP_420"),
    ("406 without body", 406, b"", T, "HTTP_406"),
    ("txn security", 400,
     sf_error("TXN_SECURITY_METERING_ERROR", "We can't complete the action because enabled transaction "
              "security policies took too long to complete."), T, "TXN_SECURITY_METERING_ERROR"),
    ("bulk entity", 400, sf_error("INVALIDENTITY", "Entity 'EmailStatus' is not supported by the Bulk API."), U,
     "INVALIDENTITY"),
    ("no query", 400, sf_error("INVALID_TYPE_FOR_OPERATION", "entity type FeedLike does not support query"), U,
     "INVALID_TYPE_FOR_OPERATION"),
    ("implementation restriction", 400,
     sf_error("MALFORMED_QUERY", "Implementation restriction: ContentDocumentLink requires a filter by a single "
              "Id on ContentDocumentId or LinkedEntityId using the equals operator"), U, "MALFORMED_QUERY"),
    ("compound in bulk", 400, sf_error("API_ERROR", "Selecting compound data not supported in Bulk Query"), U,
     "API_ERROR"),
    ("external object", 400, sf_error("EXTERNAL_OBJECT_UNSUPPORTED_EXCEPTION", "Where clauses should contain"), U,
     "EXTERNAL_OBJECT_UNSUPPORTED_EXCEPTION"),
    ("external object other", 400, sf_error("EXTERNAL_OBJECT_AUTHENTICATION_EXCEPTION", "x"), U,
     "EXTERNAL_OBJECT_AUTHENTICATION_EXCEPTION"),
    ("api disabled", 403, sf_error("API_DISABLED_FOR_ORG", "The REST API is not enabled for this Organization."),
     U, "API_DISABLED_FOR_ORG"),
    ("invalid field", 400, sf_error("INVALID_FIELD", "No such column 'SF_date__c' on entity 'Lead'."), U,
     "INVALID_FIELD"),
    ("invalid type", 400, sf_error("INVALID_TYPE", "sObject type 'XYZZY' is not supported."), U, "INVALID_TYPE"),
    ("bulk refusal in a single object", 400,
     json.dumps({"errorCode": "INVALIDENTITY", "message": "Foo is not supported by the Bulk API"}), U,
     "INVALIDENTITY"),
    ("plain malformed query is our bug", 400, sf_error("MALFORMED_QUERY", "unexpected token: FORM"), F,
     "MALFORMED_QUERY"),
    ("not found", 404, sf_error("NOT_FOUND", "The requested resource does not exist"), F, "NOT_FOUND"),
    ("no permission", 403, sf_error("INSUFFICIENT_ACCESS", "insufficient access rights on object id"), F,
     "INSUFFICIENT_ACCESS"),
    ("oauth refusal", 400, json.dumps({"error": "invalid_grant", "error_description": "authentication failure"}),
     F, "invalid_grant"),
    ("uri too long", 414, "<h1>Bad Message 414</h1><pre>reason: URI Too Long</pre>", F, "HTTP_414"),
    ("soap fault", 500,
     '<soapenv:Envelope><soapenv:Body><soapenv:Fault><faultcode>sf:INVALID_LOGIN</faultcode>'
     "<detail><sf:LoginFault><sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode><sf:exceptionMessage>Invalid "
     "username, password, security token; or user locked out.</sf:exceptionMessage></sf:LoginFault></detail>"
     "</soapenv:Fault></soapenv:Body></soapenv:Envelope>", F, "INVALID_LOGIN"),
    ("metadata api: expired session, no detail", 500,
     "<soapenv:Envelope><soapenv:Body><soapenv:Fault><faultcode>sf:INVALID_SESSION_ID</faultcode><faultstring>"
     "INVALID_SESSION_ID: Invalid Session ID found in SessionHeader: Illegal Session</faultstring>"
     "</soapenv:Fault></soapenv:Body></soapenv:Envelope>", R, "INVALID_SESSION_ID"),
    ("metadata api: unknown retrieve id", 500,
     "<soapenv:Envelope><soapenv:Body><soapenv:Fault><faultcode>sf:INVALID_CROSS_REFERENCE_KEY</faultcode>"
     "<faultstring>INVALID_CROSS_REFERENCE_KEY: invalid cross reference id</faultstring></soapenv:Fault>"
     "</soapenv:Body></soapenv:Envelope>", F, "INVALID_CROSS_REFERENCE_KEY"),
    ("metadata api: a type the org lacks", 500,
     "<soapenv:Envelope><soapenv:Body><soapenv:Fault><faultcode>sf:INVALID_TYPE</faultcode><faultstring>"
     "INVALID_TYPE: This type of metadata is not available for this organization</faultstring>"
     "</soapenv:Fault></soapenv:Body></soapenv:Envelope>", U, "INVALID_TYPE"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("status", "body", "kind", "code"), [r[1:] for r in RESPONSES], ids=[r[0] for r in RESPONSES]
)
def test_given_a_salesforce_response_when_classified_then_kind_and_code_follow_the_table(
    status: int, body: Any, kind: FaultKind, code: str
) -> None:
    fault = classify(status=status, body=body, exc=None)
    assert (fault.kind, fault.code) == (kind, code)


@pytest.mark.parametrize(
    ("code", "message", "kind"),
    [
        # A code that means one thing decides, whatever wording rides along.
        ("INSUFFICIENT_ACCESS", "insufficient access rights: Implementation restriction on ContentNote", F),
        ("INVALID_SESSION_ID", "Session expired: the query request was running for too long", R),
        ("SERVER_UNAVAILABLE", "TotalRequests Limit exceeded", T),
        # A code Salesforce sends for several faults is told apart by its wording...
        ("REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded", T),
        ("MALFORMED_QUERY", "EntityParticle: a filter on a reified column is required [EntityDefinitionId]", U),
        # ...and without wording that says more, its own meaning stands.
        ("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", L),
        ("MALFORMED_QUERY", "unexpected token: 'FORM'", F),
        # No code (or one not listed): the wording decides.
        ("", "Max bulk v2 query jobs reached", L),
        ("FeatureNotEnabled", "Binary field not supported", U),
    ],
)
def test_given_a_code_and_a_message_when_classified_then_the_code_decides_unless_salesforce_overloads_it(
    code: str, message: str, kind: FaultKind
) -> None:
    body = json.dumps([{"message": message, **({"errorCode": code} if code else {})}])
    assert classify(status=400, body=body).kind == kind


def test_given_a_bytes_body_when_classified_then_it_reads_like_text() -> None:
    body = sf_error("INVALID_SESSION_ID", "Session expired or invalid").encode()
    assert classify(status=401, body=body) == classify(status=401, body=body.decode())


EXCEPTIONS: list[tuple[BaseException, FaultKind]] = [
    (requests.ConnectionError("Connection refused"), T),
    (requests.Timeout("read timed out"), T),
    (requests.exceptions.ChunkedEncodingError("Connection broken: InvalidChunkLength"), T),
    (requests.exceptions.ContentDecodingError("bad gzip"), T),
    (urllib3.exceptions.ProtocolError("Connection aborted."), T),
    (http.client.IncompleteRead(b"abc", 10), T),
    (ConnectionResetError(104, "Connection reset by peer"), T),
    (TimeoutError(), T),
    (TruncatedBody("received 10 of 20 bytes"), T),
    (requests.exceptions.SSLError("certificate verify failed"), F),
    (ssl.SSLCertVerificationError("certificate verify failed"), F),
    (ValueError("something else"), F),
]


@pytest.mark.parametrize(("exc", "kind"), EXCEPTIONS, ids=[type(e).__name__ for e, _ in EXCEPTIONS])
def test_given_an_exception_when_classified_then_transport_failures_are_transient(
    exc: BaseException, kind: FaultKind
) -> None:
    fault = classify(status=None, body=None, exc=exc)
    assert fault.kind is kind
    assert fault.code == type(exc).__name__


def test_given_a_record_laden_body_when_classified_then_the_message_holds_no_record_data() -> None:
    body = json.dumps({"totalSize": 1, "records": [{"Name": "Secret Customer Ltd", "SSN__c": "123-45-6789"}]})
    fault = classify(status=500, body=body)
    assert "Secret Customer" not in fault.message and "123-45" not in fault.message
    html = "<html><body>Customer Secret Customer Ltd</body></html>"
    assert "Secret" not in classify(status=503, body=html).message


def test_given_a_long_message_when_classified_then_it_is_truncated_and_redacted() -> None:
    token = "00D5g000004ABCD!AQ4AQFakeTokenValueThatIsLongEnough1234567890"
    fault = classify(status=400, body=sf_error("MALFORMED_QUERY", f"bad {token} " + "x" * 2000))
    assert len(fault.message) < 400
    assert token not in fault.message


def test_given_a_connection_error_with_a_soql_url_when_classified_then_the_query_string_is_dropped() -> None:
    exc = requests.ConnectionError(
        "HTTPSConnectionPool(host='acme.my.salesforce.com', port=443): Max retries exceeded with url: "
        "/services/data/v62.0/query?q=SELECT+Id+FROM+Account+WHERE+Name%3D%27Acme%27 (Caused by ...)"
    )
    fault = classify(exc=exc)
    assert "Acme%27" not in fault.message and "acme.my.salesforce.com" in fault.message


def test_given_a_fault_when_compared_then_it_is_a_plain_value() -> None:
    assert classify(status=503, body=None) == Fault(
        FaultKind.TRANSIENT, "HTTP_503", "HTTP 503 (Service Unavailable)"
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (None, (None, "")),
        ("", (None, "")),
        ("not json", (None, "")),
        ("[1, 2]", (None, "")),
        (sf_error("A_CODE", "a message"), ("A_CODE", "a message")),
        ('{"error": "invalid_client_id", "error_description": "client identifier invalid"}',
         ("invalid_client_id", "client identifier invalid")),
    ],
)  # fmt: skip
def test_given_error_bodies_when_parsed_then_code_and_message_come_out(
    body: str | None, expected: tuple[str | None, str]
) -> None:
    assert error_details(body) == expected

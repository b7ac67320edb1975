"""moto's S3 server on 127.0.0.1 (a free port) for tests: a real HTTP endpoint reached through boto3,
exactly as users reach MinIO or AWS.

    with running_s3() as s3:
        s3.create_bucket("backups")
        store = s3.store("backups", "prod")
        settings = s3.settings("backups", "prod")      # S3Settings with endpoint_url + region
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

import boto3
import pytest
from botocore.config import Config

from sfbackup.config import S3Settings
from sfbackup.repository.store import S3Store

REGION = "us-east-1"
# moto accepts any credentials; these are fixed test values, never real keys.
TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
}


class RequestLog:
    """WSGI middleware in front of moto's app: every request the server received, as
    (S3 operation, bucket, key), classified from the method and query as S3 routes them."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.latency = 0.0  # seconds the server waits before answering each request (benchmarks)
        self.entries: list[tuple[str, str, str, dict[str, list[str]]]] = []
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        bucket, _, key = environ.get("PATH_INFO", "").lstrip("/").partition("/")
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        kind = _operation(environ.get("REQUEST_METHOD", ""), query, key)
        with self._lock:
            self.entries.append((kind, bucket, unquote(key), query))
        if self.latency:
            time.sleep(self.latency)
        return self.app(environ, start_response)

    def clear(self) -> None:
        with self._lock:
            self.entries.clear()

    def of(self, bucket: str) -> list[tuple[str, str]]:
        """(operation, key) of every request to `bucket`, in arrival order."""
        with self._lock:
            return [(kind, key) for kind, b, key, _query in self.entries if b == bucket]

    def queries(self, bucket: str, kind: str) -> list[dict[str, list[str]]]:
        """The query parameters of every `kind` request to `bucket` (a listing's prefix, delimiter)."""
        with self._lock:
            return [query for k, b, _key, query in self.entries if b == bucket and k == kind]

    def counts(self, bucket: str) -> dict[str, int]:
        """Requests to `bucket` by operation."""
        return dict(sorted(Counter(kind for kind, _key in self.of(bucket)).items()))


def _operation(method: str, query: dict[str, list[str]], key: str) -> str:
    if not key:
        if method == "GET":
            return "ListObjectsV2" if query.get("list-type") == ["2"] else "ListObjects"
        if method == "POST" and "delete" in query:
            return "DeleteObjects"
        return {"PUT": "CreateBucket", "HEAD": "HeadBucket", "DELETE": "DeleteBucket"}.get(method, method)
    if method == "POST":
        return "CreateMultipartUpload" if "uploads" in query else "CompleteMultipartUpload"
    if method == "PUT":
        return "UploadPart" if "uploadId" in query else "PutObject"
    if method == "DELETE":
        return "AbortMultipartUpload" if "uploadId" in query else "DeleteObject"
    return {"GET": "GetObject", "HEAD": "HeadObject"}.get(method, method)


@dataclass
class RunningS3:
    endpoint_url: str
    server: Any
    log: RequestLog

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=TEST_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=TEST_ENV["AWS_SECRET_ACCESS_KEY"],
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2, "mode": "standard"}),
        )

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def settings(self, bucket: str, prefix: str = "", **kw: Any) -> S3Settings:
        return S3Settings(bucket=bucket, prefix=prefix, endpoint_url=self.endpoint_url, region=REGION, **kw)

    def store(self, bucket: str, prefix: str = "", **kw: Any) -> S3Store:
        return S3Store(bucket, prefix, self.client(), **kw)

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        paginator = self.client().get_paginator("list_objects_v2")
        return sorted(
            item["Key"] for page in paginator.paginate(Bucket=bucket, Prefix=prefix) for item in page.get("Contents", [])
        )

    def reset(self) -> None:
        """Drop every bucket (moto's reset endpoint)."""
        import requests

        requests.post(f"{self.endpoint_url}/moto-api/reset", timeout=10)


@contextmanager
def running_s3(*, set_env: bool = True) -> Iterator[RunningS3]:
    """Start moto's ThreadedMotoServer on 127.0.0.1:0; with `set_env`, point AWS_* env vars at
    test credentials for the duration (the standard chain then finds them, as for a user)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    log = RequestLog(server._server.app)
    server._server.app = log  # werkzeug's handler calls server.app per request
    host, port = server.get_host_and_port()
    saved = {name: os.environ.get(name) for name in TEST_ENV}
    if set_env:
        os.environ.update(TEST_ENV)
    try:
        yield RunningS3(endpoint_url=f"http://{host}:{port}", server=server, log=log)
    finally:
        if set_env:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        server.stop()


def set_test_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Test credentials in the environment, where boto3's standard chain looks (conftest's
    clean_environ has removed the developer's own)."""
    for name, value in TEST_ENV.items():
        monkeypatch.setenv(name, value)

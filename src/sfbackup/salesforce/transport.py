"""A requests.Session that can send Salesforce-bound requests somewhere else.

simple-salesforce builds every URL as ``https://{host}/...`` and every login URL as
``https://{domain}.salesforce.com/...`` (SALESFORCE-API.md §1.3). To reach a plain-HTTP local
emulator, or a login host / proxy that is not ``*.salesforce.com``, the product hands it a session
whose transport adapter rewrites those URLs to the configured base URL. The same session serves our
own REST and Bulk calls, so one code path talks to the emulator and to a real org.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

__all__ = ["RewritingAdapter", "needs_rewriting", "rewriting_session"]

_SALESFORCE_SUFFIX = ".salesforce.com"


def _is_salesforce_host(host: str) -> bool:
    host = host.lower().rstrip(".")
    return host == "salesforce.com" or host.endswith(_SALESFORCE_SUFFIX)


def needs_rewriting(base_url: str) -> bool:
    """True when ``base_url`` is not an https ``*.salesforce.com`` URL (an emulator, a proxy)."""
    parts = urlsplit(base_url)
    return parts.scheme != "https" or not _is_salesforce_host(parts.hostname or "")


class RewritingAdapter(HTTPAdapter):
    """Sends ``https://<base host>`` and ``https://*.salesforce.com`` requests to ``base_url``.

    Only the scheme, host, port (and an optional path prefix of ``base_url``) change; path, query
    and headers are kept. Any other URL (an S3 endpoint, a pre-signed link) passes untouched.
    """

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._base: SplitResult = urlsplit(base_url.rstrip("/"))
        if not self._base.scheme or not self._base.hostname:
            raise ValueError(f"not an absolute URL: {base_url!r}")

    def rewrite(self, url: str) -> str:
        """The URL a request for ``url`` is really sent to."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme != "https":
            return url
        if host != (self._base.hostname or "").lower() and not _is_salesforce_host(host):
            return url
        path = self._base.path + parts.path if self._base.path else parts.path
        return urlunsplit((self._base.scheme, self._base.netloc, path, parts.query, parts.fragment))

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        if request.url:
            request.url = self.rewrite(request.url)
        return super().send(request, *args, **kwargs)


def rewriting_session(
    base_url: str,
    *,
    verify: bool | str = True,
    pool_maxsize: int = 10,
) -> requests.Session:
    """A Session that reaches ``base_url`` even when callers build ``https://*.salesforce.com`` URLs.

    When ``base_url`` is itself an https ``*.salesforce.com`` URL nothing is rewritten (a real org):
    the session is then an ordinary one with the given TLS verification and pool size.
    ``verify`` is True, False (insecure, explicit) or a CA bundle path.
    """
    session = requests.Session()
    session.verify = verify
    if needs_rewriting(base_url):
        adapter: HTTPAdapter = RewritingAdapter(base_url, pool_connections=4, pool_maxsize=pool_maxsize)
    else:
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_maxsize)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session

"""Point unchanged requests-based Salesforce connectors (airbyte, tap-salesforce) at the emulator.

With this folder on PYTHONPATH and SF_LOCAL_URL set, Python loads it at startup and every
``https://*.salesforce.com`` (or ``https://<emulator host:port>``) request made through ``requests``
goes to SF_LOCAL_URL instead. The connectors log in at a hard-coded login.salesforce.com and then use
the token response's ``instance_url`` (the emulator's own http URL) as is. Used only by
scripts/peers_check.sh; never imported by sfbackup.
"""

import os
from urllib.parse import urlsplit, urlunsplit

_TARGET = os.environ.get("SF_LOCAL_URL")

if _TARGET:
    try:
        from requests.adapters import HTTPAdapter
    except ImportError:  # not a requests-based process
        HTTPAdapter = None

    if HTTPAdapter is not None:
        _target = urlsplit(_TARGET.rstrip("/"))
        _original_send = HTTPAdapter.send

        def _send(self, request, *args, **kwargs):
            parts = urlsplit(request.url)
            host = (parts.hostname or "").lower()
            if parts.scheme == "https" and (
                host.endswith(".salesforce.com") or parts.netloc == _target.netloc
            ):
                request.url = urlunsplit((_target.scheme, _target.netloc, parts.path, parts.query, ""))
            return _original_send(self, request, *args, **kwargs)

        HTTPAdapter.send = _send

"""Injectable faults: the ways real Salesforce fails, switched on by rate or by rule, reproducibly.

Kinds (``FAULT_KINDS``):

- ``http_500``: 500 ``UNKNOWN_EXCEPTION``.
- ``http_503``: 503 ``SERVER_UNAVAILABLE`` "Server too busy".
- ``drop``: the connection is closed without a response.
- ``truncate``: full ``Content-Length`` is sent, then the body stops halfway and the connection
  closes (REST query pages, Bulk result pages and blobs only).
- ``slow``: the response is delayed by ``slow_seconds``.
- ``session_expiry``: the caller's session is invalidated; this and later calls get 401.
- ``bulk_failed``: a Bulk query job ends ``Failed`` with an ``errorMessage``.
- ``query_timeout``: a REST query whose cursor is not selective and has at least
  ``query_timeout_min_rows`` rows answers 400 ``QUERY_TIMEOUT``.

A fault fires when a rule ("the first N requests whose path matches this regex") has budget left,
else with probability ``rates[kind]`` drawn from a generator seeded with ``seed``. The daily API
limit (``daily_api_limit``) overrides the org's configured limit when set.
Everything can be changed at runtime from tests: ``server.faults.set_rate("http_503", 0.2)``.
"""

from __future__ import annotations

import random
import re
import threading
import zlib
from dataclasses import dataclass, field

FAULT_KINDS: tuple[str, ...] = (
    "http_500",
    "http_503",
    "drop",
    "truncate",
    "slow",
    "session_expiry",
    "bulk_failed",
    "query_timeout",
)


@dataclass
class FaultRule:
    """Inject ``kind`` into the first ``times`` requests whose path matches ``path_pattern``."""

    kind: str
    path_pattern: str = ".*"
    times: int = 1
    method: str | None = None
    fired: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return re.search(self.path_pattern, path) is not None


@dataclass
class FaultConfig:
    """What to inject; all rates are probabilities in [0, 1]."""

    rates: dict[str, float] = field(default_factory=dict)
    rules: list[FaultRule] = field(default_factory=list)
    seed: int = 0
    slow_seconds: float = 2.0
    query_timeout_min_rows: int = 0
    daily_api_limit: int | None = None

    def __post_init__(self) -> None:
        for kind in [*self.rates, *(rule.kind for rule in self.rules)]:
            check_kind(kind)


def check_kind(kind: str) -> None:
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; known kinds: {', '.join(FAULT_KINDS)}")


def parse_fault_flag(text: str) -> tuple[str, float]:
    """``"http_503=0.1"`` -> ``("http_503", 0.1)`` (the ``--fault KIND=RATE`` flag)."""
    kind, sep, rate_text = text.partition("=")
    kind = kind.strip()
    check_kind(kind)
    if not sep:
        raise ValueError(f"--fault {text!r}: expected KIND=RATE, e.g. http_503=0.05")
    rate = float(rate_text)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"--fault {text!r}: the rate must be between 0 and 1")
    return kind, rate


class Faults:
    """The live fault switchboard of one emulator (thread-safe)."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self._lock = threading.Lock()
        self.config = config or FaultConfig()
        self._random: dict[str, random.Random] = {}
        self.injected: dict[str, int] = dict.fromkeys(FAULT_KINDS, 0)

    def configure(self, config: FaultConfig) -> None:
        """Replace the whole configuration (and restart the seeded generators)."""
        with self._lock:
            self.config = config
            self._random.clear()

    def set_rate(self, kind: str, rate: float) -> None:
        check_kind(kind)
        with self._lock:
            self.config.rates[kind] = rate

    def add_rule(self, kind: str, path_pattern: str = ".*", times: int = 1,
                 method: str | None = None) -> None:
        """Inject ``kind`` into the next ``times`` requests matching ``path_pattern`` (a regex)."""
        check_kind(kind)
        with self._lock:
            self.config.rules.append(FaultRule(kind, path_pattern, times, method))

    def clear(self) -> None:
        """No faults from now on (the daily limit override stays)."""
        with self._lock:
            self.config.rates.clear()
            self.config.rules.clear()

    def fires(self, kind: str, method: str, path: str) -> bool:
        """Decide (and count) whether ``kind`` is injected into this request."""
        with self._lock:
            for rule in self.config.rules:
                if rule.kind == kind and rule.fired < rule.times and rule.matches(method, path):
                    rule.fired += 1
                    self.injected[kind] += 1
                    return True
            rate = self.config.rates.get(kind, 0.0)
            if rate <= 0.0:
                return False
            generator = self._random.get(kind)
            if generator is None:
                # One generator per kind, so enabling one kind does not shift another's sequence.
                generator = random.Random(self.config.seed * 1_000_003 + zlib.crc32(kind.encode()))
                self._random[kind] = generator
            if generator.random() < rate:
                self.injected[kind] += 1
                return True
            return False

    def armed(self, kind: str) -> bool:
        """True when ``kind`` could fire at all (skips work such as counting rows)."""
        with self._lock:
            return self.config.rates.get(kind, 0.0) > 0.0 or any(
                rule.kind == kind and rule.fired < rule.times for rule in self.config.rules
            )

"""Reason-aware exponential backoff with jitter: how long to wait before reconnecting.

Policy is data: a table from the prefix of a server close reason to its
initial delay, and one pure function of (reason class, retries, rand). The
defaults are the seed's, the TypeScript manager syncwire mirrors (docs/manager.md#seed).
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from types import MappingProxyType
from typing import Final

__all__ = [
    "CLIENT",
    "SERVER_DISCONNECT_ERRORS",
    "UNKNOWN",
    "BackoffPolicy",
    "classify_disconnect_error",
    "next_backoff",
]

CLIENT: Final = "client"
"""Class of a reconnect the client started (inactivity, send failure, bad input)."""
UNKNOWN: Final = "Unknown"
"""Class of a server close whose reason matches no known prefix."""
_MAX_EXPONENT: Final = 64  # far past any cap, far below float overflow

SERVER_DISCONNECT_ERRORS: Final[Mapping[str, float]] = MappingProxyType(
    {
        # A known error, e.g. during a restart or push.
        "InternalServerError": 1.0,
        # Overloaded: really back off.
        "SubscriptionsWorkerFullError": 3.0,
        "TooManyConcurrentRequests": 3.0,
        "CommitterFullError": 3.0,
        "AwsTooManyRequestsException": 3.0,
        "ExecuteFullError": 3.0,
        "SystemTimeoutError": 3.0,
        "ExpiredInQueue": 3.0,
        # Temporarily unavailable: typically a deploy just happened.
        "VectorIndexesUnavailable": 1.0,
        "SearchIndexesUnavailable": 1.0,
        "TableSummariesUnavailable": 1.0,
        # More overload.
        "VectorIndexTooLarge": 3.0,
        "SearchIndexTooLarge": 3.0,
        "TooManyWritesInTimePeriod": 3.0,
    }
)
"""Initial backoff in seconds by close-reason prefix (seed: ``serverDisconnectErrors``)."""


def classify_disconnect_error(reason: str | None) -> str:
    """The table key the reason starts with, or ``UNKNOWN`` (also for ``""``)."""
    if reason:
        for prefix in SERVER_DISCONNECT_ERRORS:
            if reason.startswith(prefix):
                return prefix
    return UNKNOWN


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """Backoff thresholds, in seconds; the defaults are the seed's."""

    client_initial: float = 0.1
    """No evidence of a server problem: retry quickly."""
    unknown_initial: float = 1.0
    max_backoff: float = 16.0
    """Cap on the un-jittered delay; with jitter a delay can reach 1.5 × this."""
    server_errors: Mapping[str, float] = field(default_factory=lambda: SERVER_DISCONNECT_ERRORS)

    def __post_init__(self) -> None:
        values = [self.client_initial, self.unknown_initial, self.max_backoff]
        if any(v <= 0 for v in [*values, *self.server_errors.values()]):
            raise ValueError("backoff delays must be positive")

    def initial(self, reason_class: str) -> float:
        """The first delay for a class: ``CLIENT``, ``UNKNOWN`` or a table prefix."""
        if reason_class == CLIENT:
            return self.client_initial
        return self.server_errors.get(reason_class, self.unknown_initial)


def next_backoff(
    reason_class: str, retries: int, rand: Callable[[], float], policy: BackoffPolicy
) -> float:
    """The jittered delay before reconnect number ``retries + 1``.

    ``min(initial · 2^retries, cap) · (1 + rand() − 0.5)``: the cap applies
    before the jitter, so delays lie in [0.5, 1.5) × the capped value and can
    reach 24 s with the defaults — exactly what deployed clients do.
    """
    # JS's Math.pow overflows to Infinity; Python's ** raises past 2^1023, which
    # a client retrying a dead server every ~20 s reaches within six hours.
    exponent = min(retries, _MAX_EXPONENT)
    capped = min(policy.initial(reason_class) * 2.0**exponent, policy.max_backoff)
    return capped + capped * (rand() - 0.5)

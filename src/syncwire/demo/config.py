"""The demo's fixed cast (the author, the channel, the number of faults) and its timings."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from typing import Final

from syncwire.backoff import BackoffPolicy

__all__ = ["AUTHOR", "CHANNEL", "FAULT_COUNT", "SECRET", "DemoConfig"]

SECRET: Final = "syncwire-demo-secret"  # noqa: S105 - the demo's throwaway HS256 key
AUTHOR: Final = "Ada"
CHANNEL: Final = "demo"
FAULT_COUNT: Final = 5


@dataclass(frozen=True, slots=True)
class DemoConfig:
    """The demo's timings, in seconds; ``quick()`` shortens them (about 6 s in all)."""

    inactivity_threshold: float = 2.0
    """The client's; the server pings every quarter of it, so only a silent server trips it."""
    calm: float = 1.5
    """Normal traffic before each fault and before the checks."""
    write_interval: float = 0.15
    """Mean delay between two messages of the writer (it never waits for an answer)."""
    restart_downtime: float = 1.0
    deadline: float = 30.0
    """The whole run, checks included; past it the demo stops and fails."""
    seed: int = 0
    """Seeds the backoff jitter and the writer's pace."""
    backoff: BackoffPolicy = field(
        default_factory=lambda: BackoffPolicy(
            client_initial=0.1,
            unknown_initial=0.3,
            max_backoff=2.0,
            server_errors={"SubscriptionsWorkerFullError": 1.5, "InternalServerError": 0.5},
        )
    )

    @classmethod
    def quick(cls, seed: int = 0, deadline: float = 30.0) -> DemoConfig:
        """The same faults with shorter calm periods and thresholds (about 7 s)."""
        return cls(
            inactivity_threshold=1.0,
            calm=0.4,
            write_interval=0.08,
            restart_downtime=0.5,
            deadline=deadline,
            seed=seed,
            backoff=BackoffPolicy(
                client_initial=0.05,
                unknown_initial=0.1,
                max_backoff=0.8,
                server_errors={"SubscriptionsWorkerFullError": 0.6, "InternalServerError": 0.2},
            ),
        )

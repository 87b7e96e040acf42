"""A client's connection state in words, and which changes are worth a line."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from syncwire.client import ClientConnectionState

__all__ = ["ConnectionLines", "connection_label", "describe_connection", "state_key"]


def connection_label(state: ClientConnectionState) -> str:
    """The state in a word: connected, connecting, disconnected, paused, stopped, closed."""
    connection = state.connection
    if connection.state == "ready":
        return "paused" if connection.paused else "connected"
    return {"terminated": "closed"}.get(connection.state, connection.state)


def describe_connection(state: ClientConnectionState, now: float) -> str:
    """One line: the state, connections, retries, the reconnect countdown, the last
    close, and why the socket cannot be opened, while it cannot.

    ``now`` is the event loop's time (``next_reconnect_at`` is loop time).
    """
    connection = state.connection
    parts = [connection_label(state), f"connections {connection.connection_count}"]
    parts.append(f"retries {connection.connection_retries}")
    if connection.next_reconnect_at is not None:
        parts.append(f"reconnect in {max(0.0, connection.next_reconnect_at - now):.1f} s")
    if connection.last_close_reason and connection.last_close_reason != "InitialConnect":
        parts.append(f"last close: {connection.last_close_reason}")
    if state.last_error is not None:
        parts.append(f"cannot connect: {state.last_error}")
    if state.is_authenticated is not None:
        parts.append("auth confirmed" if state.is_authenticated else "auth rejected")
    return " · ".join(parts)


def state_key(state: ClientConnectionState, *, each_attempt: bool = False) -> tuple[object, ...]:
    """What makes a connection change worth a line (never the in-flight counts).

    By default: up or down, paused, a new socket, a new close reason or cause of
    failure, not each retry of the same (``syncwire watch``: a deployment down for
    an hour is one line, not one a retry; auth has a line of its own). With
    ``each_attempt``, also every attempt, connecting or waiting, and a change of
    auth (the demo's event log, where the reconnect countdown is the point).
    """
    c = state.connection
    up = c.state == "ready"
    key = (up, c.paused, c.connection_count, state.last_error)
    if each_attempt:
        return (*key, c.state, c.connection_retries, state.is_authenticated)
    return (*key, None if up else c.last_close_reason)


class ConnectionLines:
    """``connection: …`` lines, one for each change ``state_key`` finds worth one."""

    def __init__(self, *, each_attempt: bool = False) -> None:
        self.each_attempt = each_attempt
        self._last: tuple[object, ...] | None = None

    def line(self, state: ClientConnectionState, now: float) -> str | None:
        """The line for ``state`` (``now`` is loop time), or ``None``: nothing new."""
        key = state_key(state, each_attempt=self.each_attempt)
        if key == self._last:
            return None
        self._last = key
        return f"connection: {describe_connection(state, now)}"

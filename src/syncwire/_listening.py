"""``Listener``: start, stop, ``async with`` and the URLs of a local listener, written once.

Why: the dev server (``syncwire.devserver``) and the chaos proxy
(``syncwire.testing``) both listen on a port of their own (0 picks a free
one), tell clients where (``url``, ``ws_url``) and start and stop the same
way. They sit in sibling layers that may not import each other, so the part
they share sits below both.
"""

from __future__ import annotations

import abc
import socket
from types import TracebackType
from typing import Generic
from typing import Protocol
from typing import Self
from typing import TypeVar

from syncwire.urls import sync_url

__all__ = ["Listener"]


class _Sockets(Protocol):
    """A listening server: ``asyncio.Server`` or websockets' ``Server``."""

    @property
    def sockets(self) -> tuple[socket.socket, ...]: ...


_S = TypeVar("_S", bound=_Sockets)


class Listener(abc.ABC, Generic[_S]):
    """Listens on ``host:port`` between ``start()`` and ``stop()``; ``async with`` does both.

    A subclass says how to listen (``_listen``) and how to stop (``_shut``).
    """

    def __init__(self, host: str, port: int, *, scheme: str = "http", noun: str = "server") -> None:
        self.host = host
        self._port = port
        self._scheme = scheme
        self._noun = noun
        self._listening: _S | None = None

    @property
    def port(self) -> int:
        """The port listened on (known after ``start()``)."""
        return self._port

    @property
    def url(self) -> str:
        """The deployment URL clients are given (``http://127.0.0.1:PORT``)."""
        return f"{self._scheme}://{self.host}:{self._port}"

    @property
    def ws_url(self) -> str:
        """The WebSocket endpoint (``ws://127.0.0.1:PORT/api/sync``)."""
        return sync_url(self.url)

    async def start(self) -> None:
        """Listen; returns once connections are accepted."""
        if self._listening is not None:
            raise RuntimeError(f"the {self._noun} is already running")
        self._listening = await self._listen()
        self._port = self._listening.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and end every connection (each subclass says how)."""
        listening = self._detach()
        if listening is not None:
            await self._shut(listening)

    def _detach(self) -> _S | None:
        """The running listener, forgotten: ``stop()`` (or a kill) is under way."""
        listening, self._listening = self._listening, None
        return listening

    @abc.abstractmethod
    async def _listen(self) -> _S:
        """Listen on ``host:port``."""

    @abc.abstractmethod
    async def _shut(self, listening: _S) -> None:
        """Stop ``listening`` and end its connections."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

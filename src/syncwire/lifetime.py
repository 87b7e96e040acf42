"""``AsyncResource`` and ``Resource``: ``async with`` and ``with`` for the objects that
own tasks, threads and sockets, written once.

For an object that works from the moment it is made (like
``trio.abc.AsyncResource``): ``async with`` (or ``with``) gives the object itself,
and the block's end awaits ``aclose()`` (or calls ``close()``), however the block ends.
"""

from __future__ import annotations

import abc
from typing import Self

__all__ = ["AsyncResource", "Resource"]


class AsyncResource(abc.ABC):
    """``async with resource:`` closes it on the way out."""

    __slots__ = ()

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Close for good: returns once nothing of the resource is left running."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class Resource(abc.ABC):
    """``with resource:`` closes it on the way out (the blocking clients)."""

    __slots__ = ()

    @abc.abstractmethod
    def close(self) -> None:
        """Close for good: returns once nothing of the resource is left running."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

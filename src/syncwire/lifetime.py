"""``AsyncResource``: ``async with`` for the objects that own tasks and sockets, written once.

For an object that works from the moment it is made (like
``trio.abc.AsyncResource``): ``async with`` gives the object itself, and the
block's end awaits ``aclose()``, however the block ends.
"""

from __future__ import annotations

import abc
from typing import Self

__all__ = ["AsyncResource"]


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

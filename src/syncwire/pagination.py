"""Walking a paginated query: the page loop every client's ``paginate``/``pages`` runs.

A Convex paginated query takes ``paginationOpts: {numItems, cursor}`` among its
args and returns ``{page, isDone, continueCursor}``; the next page is asked for
with the cursor the last one returned, until ``isDone``. Why apart: the async
clients and the blocking ones walk pages the same way; only how one page is
fetched differs, so each passes its own ``fetch``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from typing import Final
from typing import Generic
from typing import TypeVar

import msgspec

from syncwire.errors import ProtocolError
from syncwire.errors import ResultTypeError
from syncwire.protocol import ConvexValue
from syncwire.protocol import function_args
from syncwire.results import check_result_type
from syncwire.results import convert_result
from syncwire.results import type_name

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "Page",
    "PageWalk",
    "async_documents",
    "async_pages",
    "blocking_documents",
    "blocking_pages",
]

T = TypeVar("T")

DEFAULT_PAGE_SIZE: Final = 100
"""Documents asked for per page when ``page_size`` is not given."""


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a paginated query: its documents and where the next one starts."""

    items: list[T]
    is_done: bool
    """The query has no documents after these."""
    continue_cursor: str
    """The cursor that asks for the next page (Convex's ``continueCursor``)."""


class _PageShape(msgspec.Struct):
    page: list[Any]
    isDone: bool
    continueCursor: str


class PageWalk:
    """The arguments of one walk, checked at once, and the reading of each page."""

    __slots__ = ("_args", "_cursor", "_done", "_items_type", "item_type", "name", "page_size")

    def __init__(
        self,
        name: str,
        args: Mapping[str, ConvexValue] | None,
        page_size: int,
        item_type: Any,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError("the function name must be a non-empty str")
        args = function_args(args)
        if "paginationOpts" in args:
            raise ValueError("paginate() and pages() set paginationOpts: leave it out of args")
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise ValueError(f"page_size must be a positive int, not {page_size!r}")
        if item_type is not None:
            check_result_type(item_type)
        self.name = name
        self._args = args
        self.page_size = page_size
        self.item_type = item_type
        self._items_type: Any = None if item_type is None else list.__class_getitem__(item_type)
        self._cursor: str | None = None
        self._done = False

    @property
    def done(self) -> bool:
        """The last page read was the last one."""
        return self._done

    def next_args(self) -> dict[str, ConvexValue]:
        """The args that ask for the next page."""
        opts: dict[str, ConvexValue] = {
            "numItems": float(self.page_size),
            "cursor": self._cursor,
        }
        return {**self._args, "paginationOpts": opts}

    def read(self, value: object) -> Page[Any]:
        """The page in a query's ``value``; raises ``ResultTypeError`` for one that is not."""
        try:
            shape = msgspec.convert(value, _PageShape, strict=True)
        except msgspec.ValidationError:
            raise ResultTypeError(
                "a page ({page, isDone, continueCursor})",
                "$",
                f"{self.name} did not return a page: is it a paginated query?",
            ) from None
        items = shape.page
        if self._items_type is not None:
            try:
                items = convert_result(items, self._items_type)
            except ResultTypeError as exc:
                raise ResultTypeError(
                    type_name(self.item_type), "$.page" + exc.path[1:], exc.reason
                ) from None
        if not shape.isDone and shape.continueCursor == self._cursor:
            raise ProtocolError(
                f"{self.name} returned the cursor it was given and is not done: "
                "walking on would repeat the same page forever"
            )
        self._cursor = shape.continueCursor
        self._done = shape.isDone
        return Page(items, shape.isDone, shape.continueCursor)


async def async_pages(
    walk: PageWalk, fetch: Callable[[dict[str, ConvexValue]], Awaitable[object]]
) -> AsyncIterator[Page[Any]]:
    """Every page of ``walk``, each fetched by ``fetch(args)`` (one query run)."""
    while not walk.done:
        yield walk.read(await fetch(walk.next_args()))


def blocking_pages(
    walk: PageWalk, fetch: Callable[[dict[str, ConvexValue]], object]
) -> Iterator[Page[Any]]:
    """``async_pages`` for blocking clients."""
    while not walk.done:
        yield walk.read(fetch(walk.next_args()))


async def async_documents(pages: AsyncIterator[Page[T]]) -> AsyncIterator[T]:
    """The documents of ``pages``, one after the other (``paginate``)."""
    async for page in pages:
        for item in page.items:
            yield item


def blocking_documents(pages: Iterator[Page[T]]) -> Iterator[T]:
    """``async_documents`` for blocking clients."""
    for page in pages:
        yield from page.items

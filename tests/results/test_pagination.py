"""``syncwire.pagination``: the page walk every client runs, on hand-made pages."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest

from syncwire.errors import ProtocolError
from syncwire.errors import ResultTypeError
from syncwire.pagination import Page
from syncwire.pagination import PageWalk
from syncwire.pagination import async_pages
from syncwire.pagination import blocking_pages


class Doc(msgspec.Struct):
    n: float
    author: str


def paged_query(count: int) -> tuple[list[dict[str, Any]], Any]:
    """A query over ``count`` documents, its cursor the index past the last one returned."""
    docs = [{"n": float(i), "author": f"a{i}"} for i in range(count)]
    asked: list[dict[str, Any]] = []

    def run(args: dict[str, Any]) -> dict[str, Any]:
        asked.append(args)
        opts = args["paginationOpts"]
        start = int(opts["cursor"] or 0)
        end = start + int(opts["numItems"])
        return {"page": docs[start:end], "isDone": end >= count, "continueCursor": str(end)}

    return asked, run


def test_blocking_walk_yields_every_page_and_sends_the_opts() -> None:
    asked, run = paged_query(25)
    walk = PageWalk("docs:page", {"channel": "x"}, 10, Doc)
    pages = list(blocking_pages(walk, run))
    assert [len(p.items) for p in pages] == [10, 10, 5]
    assert [p.is_done for p in pages] == [False, False, True]
    assert pages[0].items[0] == Doc(0.0, "a0")
    assert asked[0] == {"channel": "x", "paginationOpts": {"numItems": 10.0, "cursor": None}}
    assert asked[1]["paginationOpts"]["cursor"] == "10"


def test_async_walk_matches_the_blocking_one() -> None:
    _, run = paged_query(7)

    async def fetch(args: dict[str, Any]) -> object:
        await asyncio.sleep(0)
        return run(args)

    async def walk_all() -> list[Page[Any]]:
        return [page async for page in async_pages(PageWalk("docs:page", None, 3, None), fetch)]

    pages = asyncio.run(walk_all())
    assert [item["n"] for page in pages for item in page.items] == [float(i) for i in range(7)]


@pytest.mark.parametrize(
    ("args", "page_size", "error"),
    [
        ({"paginationOpts": {}}, 10, ValueError),
        (None, 0, ValueError),
        (None, True, ValueError),
        (None, 2.5, ValueError),
        ([1], 10, TypeError),
    ],
)
def test_bad_arguments_fail_before_any_page(args: Any, page_size: Any, error: type) -> None:
    with pytest.raises(error):
        PageWalk("docs:page", args, page_size, None)


def test_an_empty_name_and_a_bad_type_fail_at_once() -> None:
    with pytest.raises(TypeError):
        PageWalk("", None, 10, None)
    with pytest.raises(TypeError, match="result_type"):
        PageWalk("docs:page", None, 10, 42)


def test_a_value_that_is_not_a_page_is_named() -> None:
    walk = PageWalk("docs:list", None, 10, None)
    with pytest.raises(ResultTypeError, match="is it a paginated query"):
        walk.read([1, 2, 3])


def test_a_document_that_does_not_fit_is_named_inside_the_page() -> None:
    walk = PageWalk("docs:page", None, 10, Doc)
    page = {"page": [{"n": 1.0, "author": "a"}, {"n": 2.0, "author": 7.0}], "isDone": True}
    with pytest.raises(ResultTypeError) as caught:
        walk.read({**page, "continueCursor": "c"})
    assert caught.value.path == "$.page[1].author"


def test_a_cursor_that_does_not_move_ends_the_walk_instead_of_looping() -> None:
    walk = PageWalk("docs:page", None, 10, None)
    walk.read({"page": [], "isDone": False, "continueCursor": "same"})
    with pytest.raises(ProtocolError, match="forever"):
        walk.read({"page": [], "isDone": False, "continueCursor": "same"})

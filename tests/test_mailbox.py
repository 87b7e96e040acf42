"""``Mailbox``: the newest values, one reader, an end that is heard once read to it."""

from __future__ import annotations

import asyncio

import pytest

from syncwire.mailbox import Mailbox


class Rejected(Exception):
    pass


@pytest.mark.asyncio
async def test_a_slow_reader_gets_the_newest_value_only() -> None:
    box: Mailbox[int] = Mailbox()
    for value in range(5):
        box.put(value)
    assert box.unread == 1
    assert await box.get() == 4
    reader = asyncio.ensure_future(box.get())
    await asyncio.sleep(0)
    box.put(5)
    assert await reader == 5


@pytest.mark.asyncio
async def test_a_larger_capacity_drops_the_oldest_and_skips_repeats() -> None:
    box: Mailbox[str] = Mailbox(capacity=3, skip_repeats=True)
    for value in "aabbcd":
        box.put(value)
    assert [await box.get() for _ in range(box.unread)] == ["b", "c", "d"]


@pytest.mark.asyncio
async def test_put_back_never_hides_a_newer_value() -> None:
    box: Mailbox[int] = Mailbox()
    box.put_back(1)
    box.put_back(2)  # the first is unread: it stays
    assert await box.get() == 1
    box.put(3)
    box.put_back(1)
    assert await box.get() == 3


@pytest.mark.asyncio
async def test_close_ends_after_the_unread_values_or_at_once_with_discard() -> None:
    box: Mailbox[int] = Mailbox(capacity=2)
    box.put(1)
    box.close()
    box.put(2)  # too late
    box.fail(Rejected())  # the first end stays
    assert await box.get() == 1
    with pytest.raises(StopAsyncIteration):
        await box.get()
    dropped: Mailbox[int] = Mailbox()
    dropped.put(1)
    dropped.close(discard=True)
    assert dropped.closed
    with pytest.raises(StopAsyncIteration):
        await dropped.get()


@pytest.mark.asyncio
async def test_fail_drops_the_unread_and_every_read_raises_a_copy() -> None:
    box: Mailbox[int] = Mailbox()
    reader = asyncio.ensure_future(box.get())
    await asyncio.sleep(0)
    error = Rejected("no")
    box.fail(error)
    with pytest.raises(Rejected) as first:
        await reader
    with pytest.raises(Rejected) as second:
        await box.get()
    assert first.value is not error
    assert second.value is not first.value


@pytest.mark.asyncio
async def test_check_runs_before_each_wait_and_wake_makes_the_reader_look_again() -> None:
    box: Mailbox[int] = Mailbox()
    blocked = [True]

    def check() -> None:
        if not blocked[0]:
            raise Rejected

    reader = asyncio.ensure_future(box.get(check))
    await asyncio.sleep(0)
    blocked[0] = False
    box.wake()
    with pytest.raises(Rejected):
        await reader
    box.put(1)
    box.discard()
    assert box.unread == 0


@pytest.mark.asyncio
async def test_one_reader_at_a_time() -> None:
    box: Mailbox[int] = Mailbox(busy="taken")
    first = asyncio.ensure_future(box.get())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="taken"):
        await box.get()
    box.put(1)
    assert await first == 1
    with pytest.raises(ValueError, match="at least one"):
        Mailbox(capacity=0)

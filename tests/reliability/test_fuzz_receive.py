"""Issue #6, the CI tier: garbage from the server escapes only as ProtocolError, and no
manager gets stuck.

Hypothesis drives the rig in ``tests/reliability/fuzz/`` (the same invariants the
atheris harness checks under ``make fuzz``) with three kinds of input: real server
messages mutated as JSON trees and frame sequences, raw bytes, and well-formed
messages generated to fit the rig's session (so they reach the client's handlers).
Every input goes through ``parse_server_message``, a ready ``ManagerCore``, and a
``Client`` on ``FakeTransport`` on virtual time, which must then resync on a new
socket. The fast tier runs about 3,000 inputs; ``--full`` runs 100,000.

A bug the fuzzers find, while it is open, goes into ``rig.KNOWN_BUGS`` (the
properties count it as a figure instead of failing on it) with a minimised
strict-xfail regression test below; once fixed, both go. The bugs found so far
are fixed: their minimised inputs (``seeds.REGRESSIONS``) are the tests below.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from typing import TypeVar

import async_solipsism
import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from syncwire import Client
from syncwire.protocol import UNSET
from syncwire.protocol import ActionResponse
from syncwire.protocol import AuthError
from syncwire.protocol import Connect
from syncwire.protocol import FatalError
from syncwire.protocol import ModifyQuerySet
from syncwire.protocol import Ping
from syncwire.protocol import ProtocolError
from syncwire.protocol import ServerMessage
from syncwire.protocol import StateVersion
from syncwire.protocol import Transition
from syncwire.protocol import encode_server_message
from syncwire.protocol import json_to_convex
from syncwire.protocol import parse_client_message
from syncwire.testing import FakeServerConnection
from syncwire.testing import FakeTransport
from tests.helpers import chunked
from tests.reliability.conftest import Figure
from tests.reliability.fuzz.mutate import mutate_frames
from tests.reliability.fuzz.rig import KNOWN_BUGS
from tests.reliability.fuzz.rig import POLICY
from tests.reliability.fuzz.rig import URL
from tests.reliability.fuzz.rig import ClientRig
from tests.reliability.fuzz.rig import Tally
from tests.reliability.fuzz.rig import check_core
from tests.reliability.fuzz.rig import check_input
from tests.reliability.fuzz.rig import check_parse
from tests.reliability.fuzz.rig import cpu_budget
from tests.reliability.fuzz.seeds import REGRESSIONS
from tests.reliability.fuzz.seeds import SEEDS
from tests.reliability.fuzz.seeds import START
from tests.reliability.fuzz.seeds import corpus_matches
from tests.reliability.fuzz.seeds import join_frames
from tests.reliability.fuzz.seeds import join_frames_bytes
from tests.reliability.fuzz.seeds import split_frames
from tests.strategies import convex_json_values
from tests.strategies import json_values
from tests.strategies import log_lines
from tests.strategies import mutation_responses_of
from tests.strategies import server_messages
from tests.strategies import state_modifications_of

T = TypeVar("T")

FAST = {"mutated": 1500, "raw": 500, "generated": 1000}
FULL = {"mutated": 50_000, "raw": 20_000, "generated": 30_000}
"""Inputs per property: 3,000 in ``make test``, 100,000 under ``--full``."""
CORPUS = Path(__file__).resolve().parents[2] / "fuzz" / "corpus"


# --- inputs ----------------------------------------------------------------------------------


class _Draws:
    """``mutate.Choices`` over Hypothesis draws, so a failing mutation shrinks."""

    def __init__(self, draw: st.DrawFn) -> None:
        self._draw = draw

    def randint(self, a: int, b: int) -> int:
        return self._draw(st.integers(a, b))

    def choice(self, seq: Sequence[T]) -> T:
        return seq[self._draw(st.integers(0, len(seq) - 1))]


@st.composite
def mutated_inputs(draw: st.DrawFn) -> bytes:
    """A real message (or sequence) from the seed corpus, mutated once or twice."""
    frames = [frame.encode() for frame in SEEDS[draw(st.sampled_from(sorted(SEEDS)))]]
    for _ in range(draw(st.integers(1, 2))):
        frames = mutate_frames(frames, _Draws(draw))
    return join_frames_bytes(frames)


raw_inputs = st.lists(
    st.binary(max_size=200) | st.text(max_size=100).map(str.encode), min_size=1, max_size=4
).map(join_frames_bytes)

_ids = st.integers(0, 3)  # the rig's queries are 0 and 1, its requests 0, 1 and 2
_ts = st.sampled_from([0, 1, 1000, 2000, 2**63, 2**64 - 1]) | st.integers(0, 2**64 - 1)
_versions = st.builds(StateVersion, query_set=st.integers(0, 3), identity=st.integers(0, 2), ts=_ts)
_values = convex_json_values | json_values
_text = st.text(max_size=12)
_modifications = state_modifications_of(_ids, _values, _text, st.just(UNSET) | _values)
_fitting_messages: st.SearchStrategy[ServerMessage] = st.one_of(
    st.builds(
        Transition,
        start_version=st.just(START) | _versions,
        end_version=_versions,
        modifications=st.lists(_modifications, max_size=4).map(tuple),
        client_clock_skew=st.none() | st.integers(-(2**63), 2**63 - 1),
        server_ts=st.none() | st.integers(0, 2**63 - 1),
    ),
    mutation_responses_of(
        _ids, _values, _text, ts=_ts, failure_ts=st.none(), error_data=st.just(UNSET) | _values
    ),
    st.builds(
        ActionResponse,
        request_id=_ids,
        success=st.booleans(),
        result=_text,
        log_lines=log_lines,
        error_data=st.just(UNSET) | _values,
    ),
    st.builds(
        AuthError,
        error=_text,
        base_version=st.none() | st.integers(0, 2),
        auth_update_attempted=st.none() | st.booleans(),  # None: a backend before the field
    ),
    st.builds(FatalError, error=_text),
    st.just(Ping()),
)


@st.composite
def generated_inputs(draw: st.DrawFn) -> bytes:
    """Well-formed messages for the rig's session; some Transitions arrive chunked."""
    messages = draw(st.lists(_fitting_messages | server_messages, min_size=1, max_size=4))
    frames: list[str] = []
    for message in messages:
        text = encode_server_message(message)
        if isinstance(message, Transition) and draw(st.booleans()):
            frames.extend(chunked(text, draw(st.integers(1, 3))))
        else:
            frames.append(text)
    return join_frames(frames[:8])


# --- the properties --------------------------------------------------------------------------


def _fuzz(figure: Figure, name: str, inputs: st.SearchStrategy[bytes], examples: int) -> None:
    """Run ``examples`` inputs through the rig; record what they reached as figures."""
    tally = Tally()
    with ClientRig() as rig:

        @settings(
            max_examples=examples,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(inputs, st.booleans())
        def run(data: bytes, debug: bool) -> None:
            check_input(data, rig, tally, debug=debug)

        try:
            run()
        except BaseException as failure:
            kind = "stuck managers" if "stuck" in str(failure) else "uncaught exceptions"
            figure(f"fuzz, {name}: {kind}", f"≥ 1: {failure}", goal="0", held=False)
            raise
    figure(
        f"fuzz, {name}: inputs",
        f"{tally.inputs:,} ({tally.messages:,} valid messages, {tally.delivered:,} handled "
        f"by the client, {tally.values:,} query results read, {tally.reconnects:,} "
        f"reconnects, {tally.fatal:,} fatal)",
        goal=f"≥ {examples:,}",
        held=tally.inputs >= examples,
    )
    figure(f"fuzz, {name}: uncaught exceptions", "0", goal="0", held=True)
    figure(f"fuzz, {name}: stuck managers", "0", goal="0", held=True)
    known = ", ".join(f"{bug} {count:,}" for bug, count in sorted(tally.known.items()))
    figure(f"fuzz, {name}: inputs hitting known bugs", known or "0", goal="0 once fixed")


def _examples(kind: str, full: bool) -> int:
    return (FULL if full else FAST)[kind]


def test_mutated_real_messages(figure: Figure, full: bool) -> None:
    _fuzz(figure, "mutated real messages", mutated_inputs(), _examples("mutated", full))


def test_raw_bytes(figure: Figure, full: bool) -> None:
    _fuzz(figure, "raw bytes", raw_inputs, _examples("raw", full))


def test_generated_messages(figure: Figure, full: bool) -> None:
    _fuzz(figure, "generated messages", generated_inputs(), _examples("generated", full))


# --- the seed corpus -------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_seed_is_a_real_message_the_client_handles(name: str) -> None:
    """Every seed parses, and no invariant breaks on it, strictly, with or without DEBUG."""
    data = join_frames(SEEDS[name])
    assert all(check_parse(frame) is not None for frame in split_frames(data))
    tally = Tally()
    with ClientRig(strict=True) as rig:
        for debug in (False, True):
            check_input(data, rig, tally, debug=debug)
    assert not tally.known


def test_corpus_on_disk_is_the_seeds_and_regressions() -> None:
    if not CORPUS.is_dir():
        pytest.skip("no fuzz/corpus here (an sdist ships without fuzz/)")
    assert corpus_matches(CORPUS), (
        "regenerate it: python fuzz/fuzz_server_messages.py --write-corpus"
    )


def test_every_known_bug_has_a_regression_input() -> None:
    for bug in KNOWN_BUGS:
        assert any(name.startswith(bug) for name in REGRESSIONS), bug


# --- regressions: the bugs fuzzing found, each on its minimised input --------------------


def _strict(data: bytes) -> None:
    with ClientRig(strict=True) as rig:
        check_input(data, rig, Tally())


def test_an_unconvertible_response_does_not_lose_its_request() -> None:
    for name in (
        "lost-request-mutation-error-data",
        "lost-request-action-result",
        "lost-request-action-error-data",
    ):
        _strict(REGRESSIONS[name])


def test_non_ascii_base64_in_a_value_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        json_to_convex({"$bytes": "AAA\u00e9"})


def test_non_ascii_base64_in_error_data_resyncs() -> None:
    _strict(REGRESSIONS["non-ascii-base64"])


def test_non_ascii_base64_in_a_query_value_reads_as_a_protocol_error() -> None:
    _strict(REGRESSIONS["non-ascii-base64-read"])


def test_a_deeply_nested_bad_value_fails_fast() -> None:
    value: Any = {"$x": 1}
    for _ in range(40):
        value = [value]
    with cpu_budget(0.5), pytest.raises(ProtocolError, match=r"\$\[0\]\[0\]"):
        json_to_convex(value)  # was 2^40 steps


def test_a_query_updated_then_removed_in_one_transition() -> None:
    _strict(REGRESSIONS["removed-after-update"])


def test_a_query_updated_twice_then_removed_in_one_transition() -> None:
    _strict(REGRESSIONS["removed-after-update-twice"])


def test_a_zero_transit_time_is_logged_at_debug() -> None:
    check_core(split_frames(REGRESSIONS["debug-timing-overflow"]), debug=True, strict=True)


def test_text_with_a_lone_surrogate_is_a_protocol_error() -> None:
    check_parse(REGRESSIONS["lone-surrogate-text"])


def test_an_unconvertible_mutation_result_fails_the_call_and_resyncs() -> None:
    """The caller gets the ProtocolError at once (never a hang, never ``None``)."""
    assert _run(_mutation_after_an_unconvertible_result()) == "ProtocolError, resynced"


async def _mutation_after_an_unconvertible_result() -> str:
    fake = FakeTransport()
    client = Client(URL, transport=fake, backoff=POLICY, rand=lambda: 0.5)
    try:
        mutation = asyncio.ensure_future(client.mutation("messages:send", {}))
        first = await _open(fake, expect=3)
        first.push(
            '{"type":"MutationResponse","requestId":0,"success":true,"result":{"$x":1},'
            '"ts":"AQAAAAAAAAA=","logLines":[]}'
        )
        async with asyncio.timeout(10):
            with pytest.raises(ProtocolError):
                await mutation
        second = await _open(fake, expect=2)
        sent = [type(parse_client_message(text)) for text in second.sent]
        assert sent == [Connect, ModifyQuerySet], "the failed mutation is not re-sent"
        return "ProtocolError, resynced"
    finally:
        await client.close()


async def _open(fake: FakeTransport, expect: int) -> FakeServerConnection:
    """Accept the next socket and wait (virtual time) for its first ``expect`` frames."""
    async with asyncio.timeout(30):
        server = await fake.next_connection()
        server.accept()
        for _ in range(expect):
            await server.receive()
    return server


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    loop: asyncio.AbstractEventLoop = async_solipsism.EventLoop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()

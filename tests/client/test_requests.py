"""``RequestManager``: answered mutations wait for a covering Transition, each settled once.

The manager counts the answered mutations that wait, so that a Transition with
none waiting costs one test; these sequences check that the count never lets
one be forgotten, whatever path each request takes.
"""

from __future__ import annotations

from syncwire.client.requests import RequestManager
from syncwire.client.requests import Settle
from syncwire.errors import FunctionError
from syncwire.protocol import Action
from syncwire.protocol import ActionResponse
from syncwire.protocol import Mutation
from syncwire.protocol import MutationResponse


class Settled:
    def __init__(self) -> None:
        self.calls: list[tuple[str, object, BaseException | None]] = []

    def __call__(self, name: str) -> Settle:
        def settle(result: object, error: BaseException | None) -> None:
            self.calls.append((name, result, error))

        return settle


def mutation(request_id: int) -> Mutation:
    return Mutation(request_id=request_id, udf_path="m:m", args={})


def answered(request_id: int, ts: int, result: str = "ok") -> MutationResponse:
    return MutationResponse(request_id=request_id, success=True, result=result, ts=ts, log_lines=())


def test_every_answered_mutation_is_settled_once_by_the_transition_that_covers_it() -> None:
    requests, settled = RequestManager(), Settled()
    for request_id in range(3):
        requests.request(mutation(request_id), settled(f"m{request_id}"), sent=True, now=0.0)
    requests.request(
        Action(request_id=3, udf_path="a:a", args={}), settled("a"), sent=True, now=0.0
    )
    requests.on_response(answered(0, ts=10))
    requests.on_response(answered(0, ts=10))  # re-sent after a reconnect: answered twice
    requests.on_response(answered(1, ts=20))
    requests.on_response(
        ActionResponse(request_id=3, success=True, result=None, log_lines=())
    )  # settled at once; it never waited
    requests.on_response(
        MutationResponse(request_id=2, success=False, result="no", log_lines=())
    )  # failed: settled at once
    assert [name for name, _, _ in settled.calls] == ["a", "m2"]
    assert isinstance(settled.calls[1][2], FunctionError)
    requests.remove_completed(9)
    assert len(settled.calls) == 2, "no Transition covers ts 10 yet"
    requests.remove_completed(10)
    assert settled.calls[2] == ("m0", "ok", None)
    requests.remove_completed(10)
    assert len(settled.calls) == 3, "settled once"
    requests.remove_completed(20)
    assert settled.calls[3] == ("m1", "ok", None)
    assert requests.counts() == (0, 0, None)


def test_a_mutation_answered_again_after_it_waited_is_still_covered() -> None:
    requests, settled = RequestManager(), Settled()
    requests.request(mutation(0), settled("m0"), sent=True, now=0.0)
    requests.request(mutation(1), settled("m1"), sent=True, now=0.0)
    requests.on_response(answered(0, ts=5))
    requests.on_response(
        MutationResponse(request_id=0, success=False, result="no", log_lines=())
    )  # a second answer that fails settles it: it no longer waits
    requests.on_response(answered(1, ts=6))
    requests.remove_completed(6)
    assert [name for name, _, _ in settled.calls] == ["m0", "m1"]


def test_after_failing_everything_new_mutations_wait_and_settle_again() -> None:
    requests, settled = RequestManager(), Settled()
    requests.request(mutation(0), settled("m0"), sent=True, now=0.0)
    requests.on_response(answered(0, ts=5))
    requests.fail_unanswered(RuntimeError("auth"))
    assert settled.calls == [("m0", "ok", None)], "answered: it committed"
    requests.request(mutation(1), settled("m1"), sent=True, now=0.0)
    requests.on_response(answered(1, ts=7))
    requests.remove_completed(7)
    assert settled.calls[-1] == ("m1", "ok", None)

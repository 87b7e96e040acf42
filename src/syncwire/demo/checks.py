"""The demo's verdict: an ``Outcome`` judged against what the client promises.

``check`` is a pure function, so that a failing run can be tested with a
fabricated outcome.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from dataclasses import dataclass

from syncwire.console import connection_label
from syncwire.demo.config import AUTHOR
from syncwire.demo.config import FAULT_COUNT
from syncwire.demo.outcome import Outcome

__all__ = ["Check", "check", "passed", "verdict"]


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    passed: bool
    detail: str


def check(outcome: Outcome) -> list[Check]:
    """Judge an outcome against what the client promises; every check must pass."""
    checks = [_check_messages(outcome), _check_mutations(outcome)]
    recovered = [f for f in outcome.faults if f.recovered_after is not None]
    missing = [f.name for f in outcome.faults if f.recovered_after is None]
    checks.append(
        Check(
            "the client reconnected after every fault",
            len(recovered) == FAULT_COUNT,
            f"{len(recovered)} of {FAULT_COUNT}"
            + (f"; not: {', '.join(missing)}" if missing else ""),
        )
    )
    state = outcome.final_state
    authenticated = state is not None and state.is_authenticated is True
    checks.append(
        Check(
            "the expired token was rejected, then a fresh one fetched and confirmed",
            bool(outcome.rejected) and True in outcome.fetches and authenticated,
            f"server rejected {len(outcome.rejected)} ({_sample(outcome.rejected)}); "
            f"fetcher calls (force_refresh): {outcome.fetches}; "
            f"is_authenticated: {None if state is None else state.is_authenticated}",
        )
    )
    checks.append(_check_authors(outcome))
    if state is None:
        checks.append(Check("the connection is back to connected", False, "no final state"))
    else:
        connection = state.connection
        ok = (
            connection.state == "ready"
            and not connection.paused
            and connection.connection_retries == 0
            and not state.has_inflight_requests
        )
        checks.append(
            Check(
                "the connection is back to connected",
                ok,
                f"{connection_label(state)}, retries {connection.connection_retries}, "
                f"{state.inflight_mutations + state.inflight_actions} request(s) in flight",
            )
        )
    if outcome.error is not None:
        checks.append(Check("the run completed", False, outcome.error))
    checks.append(
        Check(
            f"finished within {outcome.deadline:g} s",
            not outcome.timed_out,
            f"{outcome.elapsed:.1f} s"
            + (" (stopped at the deadline)" if outcome.timed_out else ""),
        )
    )
    return checks


def passed(checks: Sequence[Check]) -> bool:
    return all(c.passed for c in checks)


def verdict(outcome: Outcome, checks: Sequence[Check]) -> str:
    """The summary's last line: whether every check passed, in how long, with which seed."""
    result = "all checks passed" if passed(checks) else "SOME CHECKS FAILED"
    return f"{result} in {outcome.elapsed:.1f} s (seed {outcome.seed})"


def _check_messages(outcome: Outcome) -> Check:
    name = "every message sent is in the subscription exactly once"
    final = outcome.final_messages
    if final is None:
        return Check(name, False, "no subscription result")
    sent = collections.Counter(outcome.sent)
    seen = collections.Counter(str(m.get("body")) for m in final)
    problems = _problems(
        ("lost", sorted((sent - seen).elements())),
        ("duplicated", sorted(body for body, n in seen.items() if n > 1)),
        ("never sent", sorted(body for body in seen if body not in sent)),
    )
    return Check(
        name,
        bool(outcome.sent) and not problems,
        problems or f"{len(outcome.sent)} sent, {len(final)} in the result",
    )


def _check_mutations(outcome: Outcome) -> Check:
    problems = _problems(
        ("failed", sorted(outcome.errors)),
        ("never resolved", [body for body in outcome.sent if outcome.resolved[body] == 0]),
        ("resolved twice", [body for body, n in outcome.resolved.items() if n > 1]),
    )
    return Check(
        "every mutation resolved exactly once",
        bool(outcome.sent) and not problems,
        problems or f"{len(outcome.sent)} of {len(outcome.sent)}",
    )


def _check_authors(outcome: Outcome) -> Check:
    name = f"messages sent once auth began carry the author ({AUTHOR})"
    if outcome.authored_from is None or outcome.final_messages is None:
        return Check(name, False, "auth never started, or no subscription result")
    after = set(outcome.sent[outcome.authored_from :])
    authored = [m for m in outcome.final_messages if m.get("body") in after]
    wrong = [str(m.get("body")) for m in authored if m.get("author") != AUTHOR]
    return Check(
        name,
        bool(authored) and not wrong,
        f"{len(authored) - len(wrong)} of {len(after)}"
        + (f"; without the author: {_sample(wrong)}" if wrong else ""),
    )


def _problems(*labelled: tuple[str, Sequence[str]]) -> str:
    """``"lost: msg 004; duplicated: …"`` for each label with items; ``""`` for none."""
    return "; ".join(f"{label}: {_sample(items)}" for label, items in labelled if items)


def _sample(items: Sequence[str], limit: int = 3) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" … ({len(items)} in all)" if len(items) > limit else "")

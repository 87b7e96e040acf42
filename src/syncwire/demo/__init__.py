"""``syncwire demo``: the client against the embedded dev server, under scripted faults.

The dev server starts in-process on loopback; a ``Client`` subscribes to the
example chat app while a writer keeps sending messages, and the server is hit,
one fault after another, with what a deployment really does: an overload close
(1013 ``SubscriptionsWorkerFullError``), an internal error (1011), a silent
server (caught by the client's inactivity timer), a kill and restart, and an
expired auth token that the server rejects and the token fetcher replaces.
Then the promises are checked: every message sent is in the subscription
exactly once, every mutation resolved once, auth confirmed, the connection
back to ready. The exit code is 0 only if every check held.

Everything goes through the client's real code paths; only the thresholds are
shortened (a 2 s inactivity threshold, a small backoff) so that the whole run
takes about 15 s. One module a part:

- ``config``: the fixed cast (author, channel, fault count) and ``DemoConfig``;
- ``scenario``: ``run_scenario`` does the work and fills an ``Outcome`` (``outcome``);
- ``status``: ``DemoStatus``, what the run is doing now, which the views read;
- ``checks``: ``check`` judges an outcome (a pure function, so a failing run can
  be tested with a fabricated one);
- ``rich_view`` (a live view on a terminal) and ``plain_view`` (event lines
  otherwise), each running the scenario and printing the summary;
- ``log_capture``: the library's warnings as event lines; ``watchdog``: the
  process ends if even the deadline cannot stop a run;
- ``runner``: ``main``, from the command's options to the exit code.
"""

from syncwire.console import connection_label
from syncwire.console import describe_connection
from syncwire.demo.checks import Check
from syncwire.demo.checks import check
from syncwire.demo.config import AUTHOR
from syncwire.demo.config import CHANNEL
from syncwire.demo.config import FAULT_COUNT
from syncwire.demo.config import DemoConfig
from syncwire.demo.outcome import FaultReport
from syncwire.demo.outcome import Outcome
from syncwire.demo.plain_view import summary_lines
from syncwire.demo.rich_view import render
from syncwire.demo.rich_view import render_summary
from syncwire.demo.runner import main
from syncwire.demo.scenario import run_scenario
from syncwire.demo.status import DemoStatus

__all__ = [
    "AUTHOR",
    "CHANNEL",
    "FAULT_COUNT",
    "Check",
    "DemoConfig",
    "DemoStatus",
    "FaultReport",
    "Outcome",
    "check",
    "connection_label",
    "describe_connection",
    "main",
    "render",
    "render_summary",
    "run_scenario",
    "summary_lines",
]

"""What the command line and the demo both show on a terminal.

Lines on stdout and stderr that end quietly once their reader has gone
(``output``), and a client's connection state in words (``connection``). It
sits between the commands (``syncwire.cli``, ``syncwire.demo``) and the client:
it imports the client and below, never a command, and never ``rich``.
"""

from syncwire.console.connection import ConnectionLines
from syncwire.console.connection import connection_label
from syncwire.console.connection import describe_connection
from syncwire.console.connection import state_key
from syncwire.console.output import silence_stdout
from syncwire.console.output import write_line

__all__ = [
    "ConnectionLines",
    "connection_label",
    "describe_connection",
    "silence_stdout",
    "state_key",
    "write_line",
]

"""Test helpers for code built on syncwire: an in-memory, scriptable transport.

See ``syncwire.testing.transport`` for a worked example.
"""

from syncwire.testing.chaos import ChaosProxy
from syncwire.testing.transport import CloseFrame
from syncwire.testing.transport import FakeConnection
from syncwire.testing.transport import FakeServerConnection
from syncwire.testing.transport import FakeTransport

__all__ = [
    "ChaosProxy",
    "CloseFrame",
    "FakeConnection",
    "FakeServerConnection",
    "FakeTransport",
]

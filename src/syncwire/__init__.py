"""syncwire: an asyncio-native client for the Convex sync protocol.

A WebSocket that stays alive through server restarts, overload, dead networks
and paused apps, and the sync protocol it speaks.
"""

from syncwire.errors import ProtocolError, SyncwireError

__version__ = "0.1.0"

__all__ = ["ProtocolError", "SyncwireError", "__version__"]

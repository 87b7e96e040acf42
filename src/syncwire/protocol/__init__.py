"""The Convex sync protocol: messages, their codec and Convex values.

Everything here is pure (no I/O, no clock); the manager, the client and the dev
server all speak through it. Malformed input from a peer raises
``ProtocolError`` and nothing else.
"""

from msgspec import UNSET
from msgspec import UnsetType

from syncwire.errors import ProtocolError
from syncwire.protocol import chunks
from syncwire.protocol import codec
from syncwire.protocol import messages
from syncwire.protocol import values
from syncwire.protocol.chunks import *  # noqa: F403 - re-exported: each submodule's __all__
from syncwire.protocol.codec import *  # noqa: F403
from syncwire.protocol.messages import *  # noqa: F403
from syncwire.protocol.values import *  # noqa: F403

__all__ = ["UNSET", "ProtocolError", "UnsetType"]
__all__ += chunks.__all__
__all__ += codec.__all__
__all__ += messages.__all__
__all__ += values.__all__

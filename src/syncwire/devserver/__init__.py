"""A local Convex deployment for tests: your functions in Python, the real sync protocol.

```python
from syncwire.devserver import DevServer
from syncwire.devserver.example import chat_app

async with DevServer(chat_app()) as server:
    ...  # point any Convex client at server.url
    server.faults.close_all(1013, "SubscriptionsWorkerFullError")  # and hurt it
```

From blocking code: ``with DevServerThread(chat_app()) as server:`` runs it on a
thread of its own. From a shell: ``syncwire serve`` (fault commands on stdin; ``help`` lists them).
"""

from syncwire.devserver.app import (
    ActionCtx,
    App,
    ConvexError,
    Database,
    DatabaseReader,
    DatabaseWriter,
    Document,
    Engine,
    MutationCtx,
    Outcome,
    Query,
    QueryCtx,
    UserIdentity,
    console,
)
from syncwire.devserver.auth import (
    AuthenticationError,
    TokenVerifier,
    identity_from_claims,
    make_hs256_token,
    verify_hs256,
)
from syncwire.devserver.faults import Faults
from syncwire.devserver.server import DEFAULT_CHUNK_THRESHOLD, DEFAULT_PING_INTERVAL, DevServer
from syncwire.devserver.thread import DevServerThread

__all__ = [
    "DEFAULT_CHUNK_THRESHOLD",
    "DEFAULT_PING_INTERVAL",
    "ActionCtx",
    "App",
    "AuthenticationError",
    "ConvexError",
    "Database",
    "DatabaseReader",
    "DatabaseWriter",
    "DevServer",
    "DevServerThread",
    "Document",
    "Engine",
    "Faults",
    "MutationCtx",
    "Outcome",
    "Query",
    "QueryCtx",
    "TokenVerifier",
    "UserIdentity",
    "console",
    "identity_from_claims",
    "make_hs256_token",
    "verify_hs256",
]

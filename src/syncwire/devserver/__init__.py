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
The same port serves the Convex HTTP API (``POST /api/query`` and the rest,
docs/protocol.md#http-api), for the official and syncwire HTTP clients.

One responsibility a module: ``app`` (the function registry), ``context`` (what
a function receives), ``query`` (the query builder), ``database`` (the
documents), ``capture`` (``console`` and log lines), ``engine`` (running
functions, transactions), ``session`` (one connection), ``server`` (listening,
what outlives a connection), ``front`` (the port's front door: WebSocket
upgrades or HTTP/1.1), ``http_api`` (the HTTP API's answers), ``state`` (the
state file), ``faults`` and ``outbox`` (fault injection), ``auth`` (HS256
tokens), ``thread`` (a server for blocking code).
"""

from syncwire.devserver.app import App
from syncwire.devserver.auth import TokenVerifier
from syncwire.devserver.auth import identity_from_claims
from syncwire.devserver.auth import make_hs256_token
from syncwire.devserver.auth import verify_hs256
from syncwire.devserver.capture import console
from syncwire.devserver.context import ActionCtx
from syncwire.devserver.context import DatabaseReader
from syncwire.devserver.context import DatabaseWriter
from syncwire.devserver.context import MutationCtx
from syncwire.devserver.context import QueryCtx
from syncwire.devserver.context import UserIdentity
from syncwire.devserver.database import Database
from syncwire.devserver.database import Document
from syncwire.devserver.engine import Engine
from syncwire.devserver.engine import Outcome
from syncwire.devserver.faults import Faults
from syncwire.devserver.front import HttpLimits
from syncwire.devserver.query import Query
from syncwire.devserver.server import DEFAULT_CHUNK_THRESHOLD
from syncwire.devserver.server import DEFAULT_PING_INTERVAL
from syncwire.devserver.server import DevServer
from syncwire.devserver.thread import DevServerThread
from syncwire.errors import AppError
from syncwire.errors import InvalidTokenError
from syncwire.errors import NestedCallError

__all__ = [
    "DEFAULT_CHUNK_THRESHOLD",
    "DEFAULT_PING_INTERVAL",
    "ActionCtx",
    "App",
    "AppError",
    "Database",
    "DatabaseReader",
    "DatabaseWriter",
    "DevServer",
    "DevServerThread",
    "Document",
    "Engine",
    "Faults",
    "HttpLimits",
    "InvalidTokenError",
    "MutationCtx",
    "NestedCallError",
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

"""The dev server's durable state: its data, its mutation answers and its clock, in one file.

A Convex deployment keeps its documents and its mutation-deduplication table
when its process dies. A dev server that kept them only in memory would, after
a SIGKILL, forget a mutation it had already acknowledged: the client re-sends
it (same sessionId and requestId) and it would run twice. So with
``DevServer(state_file=...)`` (``syncwire serve --state FILE``) the server
loads this file at start and rewrites it after every commit and every
remembered answer, before the MutationResponse can go out.

The file is replaced atomically (a temporary file in the same directory, then
``os.replace``), so a killed process leaves the old or the new state, never a
torn one. There is no fsync: a killed process's writes survive in the page
cache; only a machine crash could lose the last ones. The last commit
timestamp is kept too, so timestamps never go backwards after a restart
(clients send the largest one they saw in ``Connect``).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from syncwire.devserver.database import Database
from syncwire.devserver.database import Document
from syncwire.protocol import MutationResponse
from syncwire.protocol import convex_to_json
from syncwire.protocol import encode_server_message
from syncwire.protocol import json_to_convex
from syncwire.protocol import parse_server_message

__all__ = ["DurableState", "load_state", "save_state"]

_FORMAT = 1

MutationAnswers = OrderedDict[str, OrderedDict[int, MutationResponse]]
"""Answers by sessionId, then requestId; least recently used first."""


class _File(msgspec.Struct, forbid_unknown_fields=True):
    """What is on disk: documents as Convex JSON, answers as protocol frames."""

    format: int
    ts: int
    last_creation_time: float
    tables: dict[str, list[Any]]  # documents as Convex JSON (msgspec takes no recursive alias)
    ids: dict[str, str]  # every id ever issued → its table, deleted ones included
    answers: list[tuple[str, list[str]]]


@dataclass
class DurableState:
    """What survives a restart: the database, the mutation answers, the last commit ``ts``."""

    database: Database
    answers: MutationAnswers
    ts: int


def save_state(path: str | os.PathLike[str], state: DurableState) -> None:
    """Write ``state`` to ``path`` atomically (temporary file, then ``os.replace``)."""
    db = state.database
    content = _File(
        format=_FORMAT,
        ts=state.ts,
        last_creation_time=db.last_creation_time,
        tables={
            table: [convex_to_json(doc) for doc in db.documents(table)] for table in db.tables()
        },
        ids=db.issued_ids(),
        answers=[
            (session_id, [encode_server_message(r) for r in responses.values()])
            for session_id, responses in state.answers.items()
        ],
    )
    target = Path(path)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(msgspec.json.encode(content))
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def load_state(path: str | os.PathLike[str]) -> DurableState | None:
    """The state saved at ``path``, or ``None`` if there is no such file.

    Raises ``ValueError`` for a file that is not a saved state.
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return None
    try:
        content = msgspec.json.decode(data, type=_File)
    except msgspec.DecodeError as exc:  # malformed JSON or wrong shape
        raise ValueError(f"{os.fspath(path)!r} is not a dev server state file: {exc}") from None
    if content.format != _FORMAT:
        raise ValueError(f"{os.fspath(path)!r}: unknown state format {content.format}")
    tables: dict[str, list[Document]] = {}
    for table, docs in content.tables.items():
        rows = tables[table] = []
        for raw in docs:
            doc = json_to_convex(raw)
            if not isinstance(doc, dict):
                raise ValueError(f"{os.fspath(path)!r}: a document in {table!r} is not an object")
            rows.append(doc)
    db = Database()
    db.restore(tables, content.ids, content.last_creation_time)
    answers: MutationAnswers = OrderedDict()
    for session_id, frames in content.answers:
        responses = answers[session_id] = OrderedDict()
        for frame in frames:
            response = parse_server_message(frame)
            if not isinstance(response, MutationResponse):
                raise ValueError(f"{os.fspath(path)!r}: an answer is not a MutationResponse")
            responses[response.request_id] = response
    return DurableState(database=db, answers=answers, ts=content.ts)

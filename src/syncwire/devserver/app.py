"""``App``: the functions a dev server serves, by name (``"messages:list"``).

Why apart: registering functions is all a user's app module does, and it
needs nothing of what runs them (``engine.py``), what they receive
(``context.py``) or the data (``database.py``).

Functions take ``(ctx, args)`` and may be plain or ``async`` functions; they
log with ``console`` (``capture.py``), as Convex functions do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from typing import Literal
from typing import TypeAlias
from typing import TypeVar
from typing import overload

from syncwire.protocol import canonicalize_udf_path

__all__ = ["App", "FunctionKind", "Handler", "Registrar"]

FunctionKind: TypeAlias = Literal["query", "mutation", "action"]
Handler: TypeAlias = Callable[[Any, Any], Any]
"""``(ctx, args) -> value`` (or an awaitable of it); loosely typed so typed handlers fit."""
_F = TypeVar("_F", bound=Handler)


@dataclass(frozen=True)
class _Function:
    kind: FunctionKind
    name: str
    handler: Handler


class Registrar:
    """``app.query``, ``app.mutation`` or ``app.action``: registers functions of one kind.

    As a decorator, ``@app.query("messages:list")``, or directly,
    ``app.query("messages:list", handler)``; either returns the handler.
    """

    def __init__(self, functions: dict[str, _Function], kind: FunctionKind) -> None:
        self._functions = functions
        self._kind = kind

    @overload
    def __call__(self, name: str) -> Callable[[_F], _F]: ...
    @overload
    def __call__(self, name: str, handler: _F) -> _F: ...
    def __call__(self, name: str, handler: _F | None = None) -> Any:
        def add(fn: _F) -> _F:
            path = canonicalize_udf_path(name)
            if path in self._functions:
                raise ValueError(f"function {path!r} is already registered")
            self._functions[path] = _Function(self._kind, path, fn)
            return fn

        return add if handler is None else add(handler)


class App:
    """A set of Convex functions, registered by name (``"module:function"``).

    Names are canonicalized as clients canonicalize them (``"mod"`` →
    ``"mod:default"``), so either spelling finds the function.
    """

    def __init__(self) -> None:
        self._functions: dict[str, _Function] = {}
        self.query = Registrar(self._functions, "query")
        """Register a query: ``@app.query("messages:list")`` or ``app.query(name, fn)``."""
        self.mutation = Registrar(self._functions, "mutation")
        """Register a mutation (decorator or direct call, as ``query``)."""
        self.action = Registrar(self._functions, "action")
        """Register an action (decorator or direct call, as ``query``)."""

    def lookup(self, name: str) -> tuple[FunctionKind, Handler] | None:
        """The kind and handler registered under ``name`` (any spelling), or ``None``."""
        fn = self._functions.get(canonicalize_udf_path(name))
        return None if fn is None else (fn.kind, fn.handler)

    def names(self) -> dict[str, FunctionKind]:
        """Every registered function's canonical name and kind."""
        return {name: fn.kind for name, fn in self._functions.items()}

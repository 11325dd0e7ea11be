"""Python functions a workflow calls as `call: NAME`: the registry and how they are invoked.

Register with the decorator (`@treadle.effects.function`, or `@function(name="charge")`),
or from a distribution's entry points in the group `treadle.functions`
(`charge = "shop.payments:charge"`); entry points are discovered and imported lazily,
the first time a name that is not registered in code is called.

How a function is called with the task's `with` (`arguments`):
1. As keyword arguments when they bind to its signature: `def charge(order, amount)`
   with `{order: ..., amount: ...}`.
2. Otherwise as one positional mapping, when that binds: `def charge(order: dict)` with
   `{id: 1, total: 5}` receives the whole mapping as `order`.
   (So `def charge(order)` with `{order: {...}}` receives the inner object: keywords win.)
3. A parameter named `idempotency_key` receives the call's idempotency key.

Async functions are awaited on the event loop; sync ones run in a worker thread, so a slow
one never blocks the loop (a cancelled call stops waiting, but a thread cannot be
interrupted: the function runs to its end). An exception becomes a runtime error (500)
whose detail is its type and message; a `WorkflowError` passes through unchanged. The
result must be JSON-like (see `jsonlike.py`).
"""

from __future__ import annotations

import asyncio
import functools
import importlib.metadata
import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, overload

from treadle.effects.jsonlike import NotJsonLike, to_json_like
from treadle.engine.errors import ErrorType, WorkflowError

__all__ = ["ENTRY_POINT_GROUP", "FunctionRegistry", "default_registry", "function"]

ENTRY_POINT_GROUP = "treadle.functions"
IDEMPOTENCY_PARAMETER = "idempotency_key"

F = TypeVar("F", bound=Callable[..., Any])


def _config_error(detail: str) -> WorkflowError:
    return WorkflowError(ErrorType.CONFIGURATION, status=400, title="Invalid function call", detail=detail)


def _is_async(fn: Callable[..., Any]) -> bool:
    # A callable object with an `async def __call__` is async too.
    call_method = type(fn).__call__ if not inspect.isroutine(fn) else None
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(call_method)


_SIMPLE_KINDS = frozenset({inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY})


class _Callee:
    """What calling one function needs, worked out once: `inspect.signature` and
    `iscoroutinefunction` cost more than a trivial step's whole run (measured: ~25 µs a call).

    Attributes:
        signature: None for callables without one (some builtins): keywords are trusted.
        is_async: awaited on the loop, not run in a thread.
        wants_key: has an `idempotency_key` parameter.
        names, required: for a signature of plain named parameters (no `*args`,
            `**kwargs`, positional-only), its names and those without a default, so that
            binding the arguments as keywords is a set comparison; None otherwise.
    """

    __slots__ = ("is_async", "names", "required", "signature", "wants_key")

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.is_async = _is_async(fn)
        try:
            self.signature: inspect.Signature | None = inspect.signature(fn)
        except (TypeError, ValueError):
            self.signature = None
        parameters = self.signature.parameters if self.signature is not None else {}
        self.wants_key = IDEMPOTENCY_PARAMETER in parameters
        self.names: frozenset[str] | None = None
        self.required: frozenset[str] | None = None
        if self.signature is not None and all(p.kind in _SIMPLE_KINDS for p in parameters.values()):
            self.names = frozenset(parameters)
            self.required = frozenset(
                n for n, p in parameters.items() if p.default is inspect.Parameter.empty
            )


def _bind_arguments(
    callee: _Callee, name: str, arguments: Mapping[str, Any], key: str
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The positional and keyword arguments to call the function with (see the module docstring)."""
    signature = callee.signature
    if signature is None:  # some builtins have no signature: trust keywords
        return (), dict(arguments)
    extra = {IDEMPOTENCY_PARAMETER: key} if callee.wants_key else {}
    keywords = {**arguments, **extra}
    names, required = callee.names, callee.required
    if names is not None and required is not None:
        # The same answer `signature.bind(**keywords)` gives for plain named parameters.
        if required <= keywords.keys() <= names:
            return (), keywords
    else:
        try:
            signature.bind(**keywords)
            return (), keywords
        except TypeError:
            pass
    try:
        signature.bind(dict(arguments), **extra)
        return (dict(arguments),), extra
    except TypeError:
        given = ", ".join(sorted(arguments)) or "no arguments"
        raise _config_error(
            f"function '{name}{signature}' accepts neither ({given}) as keywords nor one mapping"
        ) from None


class FunctionRegistry:
    """Named Python functions, registered in code or found through entry points."""

    def __init__(self, *, entry_point_group: str | None = ENTRY_POINT_GROUP) -> None:
        """Create an empty registry; `entry_point_group=None` disables discovery."""
        self._functions: dict[str, Callable[..., Any]] = {}
        self._callees: dict[str, tuple[Callable[..., Any], _Callee]] = {}
        self._group = entry_point_group
        self._entry_points: dict[str, list[importlib.metadata.EntryPoint]] | None = None

    def register(self, fn: F, *, name: str | None = None) -> F:
        """Register `fn` under `name` (default: its `__name__`) and return it unchanged.

        Raises:
            ValueError: another function is already registered under that name.
        """
        if not callable(fn):
            raise TypeError(f"cannot register {fn!r}: it is not callable")
        key = name or getattr(fn, "__name__", None)
        if not key:
            raise TypeError(f"cannot register {fn!r} without a name: pass name=")
        existing = self._functions.get(key)
        if existing is not None and existing is not fn:
            raise ValueError(f"a different function is already registered as {key!r}")
        self._functions[key] = fn
        return fn

    @overload
    def function(self, fn: F, /) -> F: ...
    @overload
    def function(self, fn: None = None, /, *, name: str | None = None) -> Callable[[F], F]: ...

    def function(self, fn: F | None = None, /, *, name: str | None = None) -> F | Callable[[F], F]:
        """Decorator registering a function: `@function` or `@function(name="charge")`."""
        if fn is not None:
            return self.register(fn)
        return functools.partial(self.register, name=name)

    def unregister(self, name: str) -> None:
        """Forget the function registered in code as `name` (no error if there is none)."""
        self._functions.pop(name, None)

    def registered(self) -> list[str]:
        """The names registered in code (entry points not included), sorted."""
        return sorted(self._functions)

    def _discover(self) -> dict[str, list[importlib.metadata.EntryPoint]]:
        if self._entry_points is None:
            found: dict[str, list[importlib.metadata.EntryPoint]] = {}
            if self._group is not None:
                for entry_point in importlib.metadata.entry_points(group=self._group):
                    found.setdefault(entry_point.name, []).append(entry_point)
            self._entry_points = found
        return self._entry_points

    def _load(self, name: str) -> Callable[..., Any]:
        """Import the entry point named `name` (runs in a worker thread: imports block)."""
        candidates = self._discover().get(name, [])
        if not candidates:
            raise _config_error(
                f"no function named '{name}' is registered (register it with @treadle.effects.function "
                "in a module given with --functions, or in the treadle.functions entry points)"
            )
        if len({ep.value for ep in candidates}) > 1:
            targets = ", ".join(sorted({ep.value for ep in candidates}))
            raise _config_error(f"function '{name}' is ambiguous: entry points name {targets}")
        entry_point = candidates[0]
        try:
            loaded = entry_point.load()
        except Exception as exc:
            raise _config_error(
                f"function '{name}' could not be loaded from entry point "
                f"'{entry_point.value}' (group {entry_point.group}): {type(exc).__name__}: {exc}"
            ) from exc
        if not callable(loaded):
            raise _config_error(f"entry point '{entry_point.value}' for function '{name}' is not callable")
        function: Callable[..., Any] = loaded
        return self.register(function, name=name)

    async def resolve(self, name: str) -> Callable[..., Any]:
        """The function registered as `name`, importing its entry point if need be.

        Raises:
            WorkflowError: configuration (400) when there is no such function or its entry
                point fails to import.
        """
        fn = self._functions.get(name)
        if fn is not None:
            return fn
        return await asyncio.to_thread(self._load, name)

    async def invoke(self, name: str, arguments: Mapping[str, Any], key: str) -> Any:
        """Call the function `name` with `arguments` and return its JSON-like result."""
        fn = await self.resolve(name)
        cached = self._callees.get(name)
        if cached is None or cached[0] is not fn:  # first call, or re-registered since
            cached = self._callees[name] = (fn, _Callee(fn))
        callee = cached[1]
        positional, keywords = _bind_arguments(callee, name, arguments, key)
        try:
            if callee.is_async:
                result = await fn(*positional, **keywords)
            else:
                result = await asyncio.to_thread(fn, *positional, **keywords)
                if inspect.isawaitable(result):
                    result = await result
        except WorkflowError:
            raise
        except Exception as exc:
            raise WorkflowError(
                ErrorType.RUNTIME,
                status=500,
                title="Function failed",
                detail=f"function '{name}' raised {type(exc).__name__}: {exc}",
            ) from exc
        try:
            return to_json_like(result)
        except NotJsonLike as exc:
            raise WorkflowError(
                ErrorType.RUNTIME,
                status=500,
                title="Function returned a non-JSON value",
                detail=f"function '{name}' returned {exc}",
            ) from None


default_registry = FunctionRegistry()
"""The registry `@treadle.effects.function` adds to and a `Dispatcher` uses by default."""

function = default_registry.function

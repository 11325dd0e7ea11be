"""Semantic checks the JSON Schema cannot express: names, references and expressions.

One pass over the document, with an explicit stack (no recursion, so any shape is safe),
finds: task names repeated within one task list; `then` directives (on tasks and switch
cases) naming no sibling task; references to `use.errors`, `use.retries`,
`use.timeouts` and `use.authentications` that are not defined; and runtime expressions
that jq cannot compile. Which strings are expressions depends on where they are: any
`${ ... }` string is one, except in fields that hold text for someone else (the
`document` header, `use.secrets`, JSON Schema documents, script code, metadata); and
`if`, `when`, `exceptWhen`, `while`, `until`, `for.in`, `input.from`, `output.as`,
`export.as` and a correlation's `from` are expressions even without `${ }`.
Expressions may use the DSL's arguments (`$context`, `$input`, ...) and the variables a
surrounding task binds (`for.each`/`for.at`, `catch.as`, `foreach.item`/`foreach.at`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from treadle.dsl.load import escape_token
from treadle.dsl.problems import DocumentProblem
from treadle.expr import ARGUMENT_NAMES, ExpressionError, compile_expression, is_expression, strip_expression

__all__ = ["FLOW_DIRECTIVES", "semantic_problems"]

#: `then` values that are not task names.
FLOW_DIRECTIVES = frozenset({"continue", "exit", "end"})

# Call kinds the DSL defines; any other `call:` names a function.
_BUILT_IN_CALLS = frozenset({"asyncapi", "grpc", "http", "openapi", "a2a", "mcp"})
# Fields whose strings are jq even without `${ }`.
_BARE_EXPRESSION_KEYS = frozenset({"if", "when", "exceptWhen", "while", "until"})
# (parent key, key) pairs whose string is bare jq.
_BARE_EXPRESSION_PAIRS = frozenset({("for", "in"), ("input", "from"), ("output", "as"), ("export", "as")})
# Fields holding text that is not ours to evaluate: skipped entirely.
_OPAQUE_PAIRS = frozenset({("script", "code"), ("schema", "document")})
_OPAQUE_KEYS = frozenset({"metadata"})
# Free-form data: `${ }` strings inside are expressions, but keys there mean nothing to us.
_DATA_KEYS = frozenset({"set", "body", "headers", "query", "parameters", "arguments", "payload", "data"})
_JQ_BUILTIN_VARIABLES = frozenset({"ENV", "__loc__", "__prog_args"})
_VARIABLE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def semantic_problems(document: dict[str, Any]) -> list[DocumentProblem]:
    """Every name, reference and expression problem in a (schema-shaped or not) document."""
    checker = _Checker(document)
    checker.check_task_lists()
    checker.check_values()
    return checker.problems


@dataclass(frozen=True)
class _Node:
    value: Any
    tokens: tuple[str, ...]
    variables: frozenset[str]
    data: bool = False  # inside free-form data: only `${ }` strings matter


class _Checker:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.problems: list[DocumentProblem] = []
        use = document.get("use")
        self.use: dict[str, Any] = use if isinstance(use, dict) else {}

    # -- task lists: names and flow ---------------------------------------------------

    def check_task_lists(self) -> None:
        for tokens, tasks in _task_lists(self.document):
            self.check_task_list(tokens, tasks)

    def check_task_list(self, tokens: tuple[str, ...], tasks: list[Any]) -> None:
        entries = list(_named_tasks(tasks))
        names: set[str] = set()
        for index, name, _ in entries:
            if name in names:
                message = (
                    f"task name {name!r} is used twice in this list; names must be unique among siblings"
                )
                self.add((*tokens, str(index), name), "duplicate-task", message)
            names.add(name)
        for index, name, task in entries:
            here = (*tokens, str(index), name)
            self.check_then(task.get("then"), (*here, "then"), names)
            cases = task.get("switch")
            for case_index, case_name, case in _named_tasks(cases if isinstance(cases, list) else []):
                self.check_then(
                    case.get("then"), (*here, "switch", str(case_index), case_name, "then"), names
                )

    def check_then(self, target: Any, tokens: tuple[str, ...], names: set[str]) -> None:
        if not isinstance(target, str) or target in FLOW_DIRECTIVES or target in names:
            return
        known = ", ".join(sorted(names)) or "none"
        message = (
            f"then names {target!r}, which is not a task in this list "
            f"(tasks here: {known}; or use continue, exit, end)"
        )
        self.add(tokens, "unknown-task", message)

    # -- every value: references and expressions --------------------------------------

    def check_values(self) -> None:
        stack = [_Node(self.document, (), frozenset(ARGUMENT_NAMES) | _JQ_BUILTIN_VARIABLES)]
        while stack:
            node = stack.pop()
            if isinstance(node.value, dict):
                variables = node.variables if node.data else node.variables | _bound_variables(node.value)
                if not node.data:
                    self.check_references(node.value, node.tokens)
                for key, child in node.value.items():
                    child_node = self.child(node, str(key), child, variables)
                    if child_node is not None:
                        stack.append(child_node)
            elif isinstance(node.value, list):
                for index, child in enumerate(node.value):
                    stack.append(_Node(child, (*node.tokens, str(index)), node.variables, node.data))
            elif isinstance(node.value, str):
                self.check_string(node)

    def child(self, parent: _Node, key: str, value: Any, variables: frozenset[str]) -> _Node | None:
        tokens = (*parent.tokens, key)
        if parent.data:
            return _Node(value, tokens, variables, data=True)
        parent_key = parent.tokens[-1] if parent.tokens else ""
        if tokens in (("document",), ("use", "secrets")) or key in _OPAQUE_KEYS:
            return None
        if (parent_key, key) in _OPAQUE_PAIRS:
            return None
        if isinstance(value, str) and self.is_bare_expression(parent, key):
            self.check_expression(value, tokens, variables)
            return None
        data = key in _DATA_KEYS or (key == "with" and _is_function_call(parent.value))
        data = data or (key == "input" and parent_key == "workflow")
        return _Node(value, tokens, variables, data=data)

    def is_bare_expression(self, parent: _Node, key: str) -> bool:
        parent_key = parent.tokens[-1] if parent.tokens else ""
        if key in _BARE_EXPRESSION_KEYS or (parent_key, key) in _BARE_EXPRESSION_PAIRS:
            return True
        # correlate: {name: {from: <jq>, expect: ...}}
        return key == "from" and len(parent.tokens) >= 2 and parent.tokens[-2] == "correlate"

    def check_string(self, node: _Node) -> None:
        if is_expression(node.value.strip()):
            self.check_expression(node.value, node.tokens, node.variables)

    def check_expression(self, text: str, tokens: tuple[str, ...], variables: frozenset[str]) -> None:
        reason = _compile_problem(text.strip(), variables)
        if reason is not None:
            self.add(tokens, "invalid-expression", f"invalid expression {_clip(text)}: {reason}")

    def check_references(self, mapping: dict[str, Any], tokens: tuple[str, ...]) -> None:
        parent_key = tokens[-1] if tokens else ""
        error = mapping.get("error")
        if parent_key == "raise" and isinstance(error, str):
            self.check_defined(error, "errors", (*tokens, "error"), "unknown-error", "error")
        retry = mapping.get("retry")
        if parent_key == "catch" and isinstance(retry, str):
            self.check_defined(retry, "retries", (*tokens, "retry"), "unknown-retry", "retry policy")
        timeout = mapping.get("timeout")
        if isinstance(timeout, str) and (not tokens or _is_task_position(tokens)):
            self.check_defined(timeout, "timeouts", (*tokens, "timeout"), "unknown-timeout", "timeout")
        authentication = mapping.get("authentication")
        if isinstance(authentication, dict) and isinstance(authentication.get("use"), str):
            where = (*tokens, "authentication", "use")
            name = authentication["use"]
            self.check_defined(name, "authentications", where, "unknown-authentication", "authentication")

    def check_defined(self, name: str, section: str, tokens: tuple[str, ...], code: str, what: str) -> None:
        defined = self.use.get(section)
        if isinstance(defined, dict) and name in defined:
            return
        known = ", ".join(sorted(defined)) if isinstance(defined, dict) and defined else "none"
        message = f"{what} {name!r} is not defined in use.{section} (defined: {known})"
        self.add(tokens, code, message)

    def add(self, tokens: tuple[str, ...], code: str, message: str) -> None:
        pointer = "".join("/" + escape_token(token) for token in tokens)
        self.problems.append(DocumentProblem(pointer, code, message))


def _task_lists(document: dict[str, Any]) -> Iterator[tuple[tuple[str, ...], list[Any]]]:
    """Every task list in the document with its path, outermost first."""
    pending: list[tuple[tuple[str, ...], Any]] = [(("do",), document.get("do"))]
    use = document.get("use")
    extensions = use.get("extensions") if isinstance(use, dict) else None
    for index, name, extension in _named_tasks(extensions if isinstance(extensions, list) else []):
        for key in ("before", "after"):
            pending.append((("use", "extensions", str(index), name, key), extension.get(key)))
    while pending:
        tokens, tasks = pending.pop()
        if not isinstance(tasks, list):
            continue
        yield tokens, tasks
        for index, name, task in _named_tasks(tasks):
            pending.extend(_nested_task_lists((*tokens, str(index), name), task))


def _nested_task_lists(
    tokens: tuple[str, ...], task: dict[str, Any]
) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield (*tokens, "do"), task.get("do")
    yield (*tokens, "try"), task.get("try")
    for key, inner in (("fork", "branches"), ("catch", "do"), ("foreach", "do")):
        section = task.get(key)
        if isinstance(section, dict):
            yield (*tokens, key, inner), section.get(inner)
    arguments = task.get("with")
    subscription = arguments.get("subscription") if isinstance(arguments, dict) else None
    foreach = subscription.get("foreach") if isinstance(subscription, dict) else None
    if isinstance(foreach, dict):
        yield (*tokens, "with", "subscription", "foreach", "do"), foreach.get("do")


def _named_tasks(items: list[Any]) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """The `{name: definition}` entries of a list, skipping malformed ones (the schema reports them)."""
    for index, item in enumerate(items):
        if isinstance(item, dict) and len(item) == 1:
            name, definition = next(iter(item.items()))
            if isinstance(definition, dict):
                yield index, str(name), definition


def _is_function_call(mapping: Any) -> bool:
    call = mapping.get("call") if isinstance(mapping, dict) else None
    return isinstance(call, str) and call not in _BUILT_IN_CALLS


def _is_task_position(tokens: tuple[str, ...]) -> bool:
    # A task is the value of a single-key item in a list: .../<index>/<name>. A timeout
    # reference elsewhere (e.g. mcp `with.timeout`) is a duration, not a name.
    return (len(tokens) >= 2 and tokens[-2].isdigit()) or tokens[:2] == ("use", "functions")


def _bound_variables(mapping: dict[str, Any]) -> frozenset[str]:
    """Variables a task binds for the expressions inside it."""
    names: list[Any] = []
    loop = mapping.get("for")
    if isinstance(loop, dict):
        names += [loop.get("each", "item"), loop.get("at", "index")]
    catch = mapping.get("catch")
    if isinstance(catch, dict):
        names.append(catch.get("as", "error"))
    foreach = mapping.get("foreach")
    if isinstance(foreach, dict):
        names += [foreach.get("item", "item"), foreach.get("at", "index")]
    return frozenset(name for name in names if isinstance(name, str))


def _compile_problem(text: str, variables: frozenset[str]) -> str | None:
    """Why jq rejects `text`, or None when it compiles."""
    source = strip_expression(text)
    if not source:
        return "the expression is empty"
    extra = tuple(sorted(set(_VARIABLE.findall(source)) & (variables - set(ARGUMENT_NAMES))))
    try:
        if extra:
            _compile_with_variables(source, extra)
        else:
            # The engine compiles through the same cache, so this also warms it.
            compile_expression(text)
    except ExpressionError as error:
        return error.reason
    return None


@lru_cache(maxsize=1024)
def _compile_with_variables(source: str, variables: tuple[str, ...]) -> None:
    prelude = "".join(f"null as ${name} | " for name in variables)
    try:
        compile_expression(f"{prelude}({source})")
    except ExpressionError as error:
        raise ExpressionError(source, error.reason) from None


def _clip(text: str) -> str:
    text = text.strip()
    return repr(text if len(text) <= 80 else text[:79] + "…")

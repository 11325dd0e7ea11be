"""The machinery of operations: a `Kind` names its pipelines, a pipeline is a tuple of steps.

A step is a function of one `Operation` (the request, the transaction, what earlier steps
found) that checks something, fills something in, or raises a `ResourceError`. The
service opens a transaction, runs the kind's pipeline for the operation, and commits;
`after_commit` callbacks run once the transaction is durable, `after_rollback` ones if it
is not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from treadle.resources.models import Resource
from treadle.resources.secrets import SecretCipher
from treadle.store import ResourceRepository, Row, Transaction

if TYPE_CHECKING:
    from treadle.resources.service import ExecutionCanceller, ExecutionStarter

__all__ = ["Kind", "Operation", "Pipeline", "Step", "run"]

Step = Callable[["Operation"], None]
Pipeline = tuple[Step, ...]


@dataclass(frozen=True)
class Kind:
    """Everything the shared steps need to know about one resource kind.

    Attributes:
        name: the `kind` of the envelope.
        model: its pydantic model.
        prefix: of its ids (`wfl` → `wfl-01J...`).
        repository: picks its repository out of a transaction.
        columns: its own indexed columns, from a resource (`workflow_id`, `phase`, ...).
        secret_maps: `spec` fields holding `{name: {value, is_secret}}` maps.
        name_required: False lets a resource go nameless (its id becomes its slug).
        max_slug: the longest slug (workflows leave room for `-default`).
        create, apply, update, delete: the pipelines of each operation.
    """

    name: str
    model: type[Resource]
    prefix: str
    repository: Callable[[Transaction], ResourceRepository]
    create: Pipeline
    apply: Pipeline
    update: Pipeline
    delete: Pipeline
    columns: Callable[[Resource], dict[str, Any]] = lambda _: {}
    secret_maps: tuple[str, ...] = ()
    name_required: bool = True
    max_slug: int = 63


@dataclass
class Operation:
    """The state one request carries through its pipeline.

    Attributes:
        input: the request body as given (a mapping or a model).
        resource: the parsed request, then the resource being written.
        current: the stored row the request acts on, when there is one.
        result: what the operation returns.
        document_pointer: where the DSL document sits in the request body, for pointers.
        scratch: what a kind's own steps pass to each other (a parent workflow, ...).
        shared: what every operation of one transaction shares: rows a batch's items all
            need, read once (never changed in place).
        starter: the runtime that may run a created execution at once, if any.
    """

    kind: Kind
    tx: Transaction
    kinds: Mapping[str, Kind]
    cipher: SecretCipher
    canceller: ExecutionCanceller | None
    actor: str
    now: datetime
    input: Any = None
    resource: Any = None
    current: Row | None = None
    result: Any = None
    id: str | None = None
    force: bool = False
    document_pointer: str = "/spec/document"
    scratch: dict[str, Any] = field(default_factory=dict)
    shared: dict[Any, Any] = field(default_factory=dict)
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    after_rollback: list[Callable[[], None]] = field(default_factory=list)
    starter: ExecutionStarter | None = None

    @property
    def repository(self) -> ResourceRepository:
        """The repository of this operation's kind, in this transaction."""
        return self.kind.repository(self.tx)

    def nested(self, kind_name: str, input: Any, **changes: Any) -> Operation:
        """An operation on another kind in the same transaction (a default instance, ...)."""
        return Operation(
            kind=self.kinds[kind_name],
            tx=self.tx,
            kinds=self.kinds,
            cipher=self.cipher,
            canceller=self.canceller,
            actor=self.actor,
            now=self.now,
            input=input,
            after_commit=self.after_commit,
            after_rollback=self.after_rollback,
            starter=self.starter,
            shared=self.shared,
            **changes,
        )


def run(pipeline: Pipeline, op: Operation) -> Operation:
    """Run each step of `pipeline` on `op`, in order."""
    for step in pipeline:
        step(op)
    return op

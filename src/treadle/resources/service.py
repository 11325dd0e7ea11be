"""The control plane's one entry point: every operation on every kind.

Synchronous and thread-safe: each call runs in its own database transaction on its own
pooled connection, so the HTTP layer may call it from worker threads and an asyncio
runtime through `asyncio.to_thread`.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar, cast, overload

from sqlalchemy.exc import IntegrityError

from treadle.resources.errors import Aborted, InvalidArgument, NotFound, ResourceError
from treadle.resources.kinds import KINDS, UPDATE_EXECUTION_STATUS
from treadle.resources.models import (
    AnyResource,
    ExecutionStatusUpdate,
    Resource,
    WorkflowExecution,
)
from treadle.resources.pipeline import Kind, Operation, Pipeline, run
from treadle.resources.secrets import SecretCipher
from treadle.resources.steps import from_row
from treadle.settings import Settings
from treadle.store import InvalidQuery, ListQuery, Page, Row, Store, Transaction

__all__ = ["MAX_BATCH", "ExecutionCanceller", "ExecutionStarter", "ResourceService", "StartReservation"]

R = TypeVar("R", bound=Resource)
Input = Mapping[str, Any] | Resource

#: The most resources one `create_many` takes (one transaction holds the write lock meanwhile).
MAX_BATCH = 1000


class ExecutionCanceller(Protocol):
    """The runtime's hook: stop these executions (their rows are being force-deleted)."""

    def cancel(self, executions: Sequence[WorkflowExecution]) -> None:
        """Cancel each execution; called after the deleting transaction commits."""
        ...


class StartReservation(Protocol):
    """Room a runtime holds for one execution being created (`ExecutionStarter.reserve`)."""

    def claim(self, tx: Transaction, execution: WorkflowExecution, instance: Row) -> None:
        """Take the execution's lease, in the creating transaction (its row is written)."""
        ...

    def start(self) -> None:
        """The creating transaction committed: run the execution."""
        ...

    def release(self) -> None:
        """The creating transaction rolled back: give the room back."""
        ...


class ExecutionStarter(Protocol):
    """The runtime's hook: run an execution from its creation, instead of leaving it
    `pending` for a worker's next look at the queue (a transaction and a read saved)."""

    def reserve(self, execution: WorkflowExecution) -> StartReservation | None:
        """Room to run `execution` at once, or None: it waits in the queue."""
        ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ResourceService:
    """Create, apply, update, delete, get, get by reference and list every kind.

    Args:
        store: where resources live.
        cipher: seals secret values at rest.
        canceller: told which executions a forced delete took along.
        clock: the time stamped on writes (UTC).

    Attributes:
        starter: a runtime in this process that runs the executions this service creates
            from their creation (`LocalRuntime` sets itself while it runs).
    """

    def __init__(
        self,
        store: Store,
        cipher: SecretCipher,
        *,
        canceller: ExecutionCanceller | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.store = store
        self.cipher = cipher
        self.canceller = canceller
        self.starter: ExecutionStarter | None = None
        self.clock = clock
        self.kinds: dict[str, Kind] = dict(KINDS)

    @classmethod
    def open(cls, settings: Settings | None = None, *, migrate: bool = True) -> ResourceService:
        """The service over the configured store (migrated first unless told otherwise)."""
        settings = settings or Settings.from_env()
        store = Store.open(settings.database_url, migrate=migrate)
        return cls(store, SecretCipher.from_settings(settings))

    def kind_of(self, kind: type[Resource] | str) -> Kind:
        """The `Kind` of a model class or of a kind name ("Workflow")."""
        name = kind if isinstance(kind, str) else kind.model_fields["kind"].default
        try:
            return self.kinds[name]
        except KeyError:
            raise InvalidArgument.at("/kind", "kind", f"unknown kind {name!r}") from None

    # -- writes ----------------------------------------------------------------------------

    @overload
    def create(self, resource: R, *, actor: str = ...) -> R: ...
    @overload
    def create(
        self, resource: Mapping[str, Any], *, kind: str | None = ..., actor: str = ...
    ) -> AnyResource: ...
    def create(self, resource: Input, *, kind: str | None = None, actor: str = "system") -> Any:
        """Create a resource; its slug must be free in its owner scope.

        `resource` is a model or a request body (a bare DSL document counts as a Workflow).

        Raises:
            InvalidArgument, NotFound (a parent), AlreadyExists (the slug).
        """
        return self._write("create", resource, kind=kind, actor=actor)

    def create_many(
        self, resources: Sequence[Input], *, kind: str | None = None, actor: str = "system"
    ) -> builtins.list[Any]:
        """Create several resources of one kind in one transaction: all of them, or none.

        What a user starting thousands of executions wants: one request, one commit, and
        no half-started batch to clean up after a bad item. Each is created as `create`
        would (executions may be taken by the runtime as they are created). The kind is
        `kind`, or the first resource's.

        Raises:
            InvalidArgument: no resources, more than `MAX_BATCH`, or one malformed (its
                pointers start with `/items/<index>`).
            NotFound, AlreadyExists: for one of them (`error.pointer` is `/items/<index>`).
        """
        if not resources:
            raise InvalidArgument.at("/items", "empty", "nothing to create")
        if len(resources) > MAX_BATCH:
            raise InvalidArgument.at(
                "/items", "too-many", f"{len(resources)} resources: at most {MAX_BATCH} at once"
            )
        try:
            spec = self.kind_of(kind or self._kind_name(resources[0]))
        except InvalidArgument as error:
            error.within("/items/0")
            raise
        fields = [{"input": resource, "id": None} for resource in resources]
        return self._run_all(spec, spec.create, fields, actor=actor)

    @overload
    def apply(self, resource: R, *, actor: str = ...) -> R: ...
    @overload
    def apply(
        self, resource: Mapping[str, Any], *, kind: str | None = ..., actor: str = ...
    ) -> AnyResource: ...
    def apply(self, resource: Input, *, kind: str | None = None, actor: str = "system") -> Any:
        """Create the resource, or update the one with its slug in its owner scope.

        Raises:
            InvalidArgument, NotFound, Aborted (stale version),
            AlreadyExists (an existing ExecutionContext: those are immutable).
        """
        return self._write("apply", resource, kind=kind, actor=actor)

    @overload
    def update(self, resource: R, *, id: str | None = ..., actor: str = ...) -> R: ...
    @overload
    def update(
        self, resource: Mapping[str, Any], *, id: str | None = ..., kind: str | None = ..., actor: str = ...
    ) -> AnyResource: ...
    def update(
        self, resource: Input, *, id: str | None = None, kind: str | None = None, actor: str = "system"
    ) -> Any:
        """Replace a resource's metadata and spec; it is found by `id`, `metadata.id` or slug.

        A `metadata.version` other than the stored one is refused (optimistic concurrency).

        Raises:
            InvalidArgument, NotFound, Aborted (stale or concurrent),
            FailedPrecondition (an ExecutionContext: immutable).
        """
        return self._write("update", resource, kind=kind, actor=actor, id=id)

    def delete(self, kind: type[R], id: str, *, force: bool = False, actor: str = "system") -> R:
        """Delete a resource and what depends on it; returns what was deleted.

        Running executions among those block it unless `force`; then the canceller is told.

        Raises:
            NotFound, FailedPrecondition (active executions and no `force`).
        """
        spec = self.kind_of(kind)
        return cast(R, self._run(spec, spec.delete, actor=actor, id=id, force=force))

    def update_execution_status(
        self, id: str, update: ExecutionStatusUpdate | Mapping[str, Any], *, actor: str = "runtime"
    ) -> WorkflowExecution:
        """Merge the runtime's report into an execution's status (the runtime's call).

        Raises:
            InvalidArgument, NotFound, FailedPrecondition (an impossible phase transition).
        """
        kind = self.kinds["WorkflowExecution"]
        return cast(
            WorkflowExecution, self._run(kind, UPDATE_EXECUTION_STATUS, input=update, actor=actor, id=id)
        )

    # -- reads -----------------------------------------------------------------------------

    def get(self, kind: type[R], id: str) -> R:
        """The resource with `id`, secrets redacted.

        Raises:
            NotFound.
        """
        return self._get(kind, id, reveal=False)

    def execution_phases(self, ids: Sequence[str]) -> dict[str, str]:
        """The phase of each execution (one statement, no bodies decoded).

        Raises:
            NotFound: the first of `ids` that does not exist.
        """
        with self.store.begin(write=False) as tx:
            found = tx.executions.phases(ids)
        for id in ids:
            if id not in found:
                raise NotFound("WorkflowExecution", id)
        return found

    def reveal(self, kind: type[R], id: str) -> R:
        """The resource with its secret values decrypted: the runtime's read, no one else's."""
        return self._get(kind, id, reveal=True)

    def get_by_ref(self, kind: type[R], slug: str, *, org: str | None = None, owner: str | None = None) -> R:
        """The resource with `slug` in the owner scope `(org, owner)`.

        Raises:
            NotFound.
        """
        spec = self.kind_of(kind)
        with self.store.begin(write=False) as tx:
            row = spec.repository(tx).get_by_slug(slug, org=org or "", owner=owner or "")
        if row is None:
            raise NotFound(spec.name, slug)
        return cast(R, from_row(spec, row, self.cipher))

    def list(self, kind: type[R], query: ListQuery | None = None) -> Page[R]:
        """One page of resources matching the query's filters, sorted by `query.sort`.

        Raises:
            InvalidArgument: a filter the kind does not support, an unknown sort key, a bad page.
        """
        spec = self.kind_of(kind)
        try:
            with self.store.begin(write=False) as tx:
                page = spec.repository(tx).list(query or ListQuery())
        except InvalidQuery as error:
            raise InvalidArgument.at("/" + error.field, "query", error.reason, kind=spec.name) from error
        items = [cast(R, from_row(spec, row, self.cipher)) for row in page.items]
        return Page(items=items, total=page.total, page=page.page, page_size=page.page_size)

    # -- machinery -------------------------------------------------------------------------

    def _get(self, kind: type[R], id: str, *, reveal: bool) -> R:
        spec = self.kind_of(kind)
        with self.store.begin(write=False) as tx:
            row = spec.repository(tx).get(id)
        if row is None:
            raise NotFound(spec.name, id)
        return cast(R, from_row(spec, row, self.cipher, reveal=reveal))

    def _write(
        self, operation: str, resource: Input, *, kind: str | None, actor: str, id: str | None = None
    ) -> Any:
        spec = self.kind_of(kind or self._kind_name(resource))
        return self._run(spec, getattr(spec, operation), input=resource, actor=actor, id=id)

    @staticmethod
    def _kind_name(resource: Input) -> str:
        if isinstance(resource, Resource):
            return resource.kind
        name = resource.get("kind")
        if isinstance(name, str):
            return name
        if isinstance(resource.get("document"), Mapping):
            return "Workflow"  # a bare DSL document
        raise InvalidArgument.at("/kind", "missing", "which kind of resource? set `kind`")

    def _run(self, kind: Kind, pipeline: Pipeline, *, actor: str, **fields: Any) -> Any:
        try:
            return self._in_transaction(kind, pipeline, [fields], actor=actor)[0]
        except IntegrityError as error:
            # A constraint the steps checked was broken by a concurrent write (a parent
            # deleted meanwhile, ...): the caller should re-read and retry.
            raise Aborted(kind.name, str(fields.get("id") or "")) from error

    def _run_all(
        self, kind: Kind, pipeline: Pipeline, fields: builtins.list[dict[str, Any]], *, actor: str
    ) -> builtins.list[Any]:
        try:
            return self._in_transaction(kind, pipeline, fields, actor=actor, pointed=True)
        except IntegrityError as error:
            raise Aborted(kind.name, f"batch of {len(fields)}") from error

    def _in_transaction(
        self,
        kind: Kind,
        pipeline: Pipeline,
        operations: builtins.list[dict[str, Any]],
        *,
        actor: str,
        pointed: bool = False,
    ) -> builtins.list[Any]:
        """Run `pipeline` once per operation's fields, all in one transaction.

        `pointed`: the operations are the items of a batch; an error says which.
        """
        after_commit: builtins.list[Callable[[], None]] = []
        rolled_back: builtins.list[Callable[[], None]] = []
        results: builtins.list[Any] = []
        shared: dict[Any, Any] = {}
        try:
            # The rows the operations insert go together at the end (per table, not per
            # operation): no step reads back a row its own batch inserted.
            with self.store.begin() as tx, tx.batched_inserts():
                now = self.clock()
                for index, fields in enumerate(operations):
                    op = Operation(
                        kind=kind,
                        tx=tx,
                        kinds=self.kinds,
                        cipher=self.cipher,
                        canceller=self.canceller,
                        starter=self.starter,
                        actor=actor,
                        now=now,
                        after_commit=after_commit,
                        after_rollback=rolled_back,
                        shared=shared,
                        **fields,
                    )
                    try:
                        run(pipeline, op)
                    except ResourceError as error:
                        if pointed:
                            error.within(f"/items/{index}")
                        raise
                    results.append(op.result)
        except BaseException:
            for callback in rolled_back:
                callback()
            raise
        for callback in after_commit:
            callback()
        return results

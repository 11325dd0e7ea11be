"""Every operation of every kind, as the list of steps it runs.

Shared steps live in `steps`, a kind's own in its module (`workflows`, `instances`,
`executions`, `contexts`). A new kind is a `Kind(...)` here; a new rule is a function and
one name in the right tuple. `get`, `get by reference` and `list` need no pipeline: they
read a repository and redact (see `service`).
"""

from __future__ import annotations

from treadle.resources import contexts as ctx
from treadle.resources import executions as wex
from treadle.resources import instances as win
from treadle.resources import workflows as wfl
from treadle.resources.models import ExecutionContext, Workflow, WorkflowExecution, WorkflowInstance
from treadle.resources.pipeline import Kind, Pipeline
from treadle.resources.steps import (
    build_state,
    build_update,
    cancel_active_after_commit,
    check_duplicate,
    check_version,
    create_or_update,
    find_active_executions,
    find_by_slug,
    keep_identity,
    load_current,
    parse,
    persist,
    persist_update,
    refuse_active_unless_forced,
    remove,
    resolve_slug,
)

__all__ = [
    "CONTEXT",
    "EXECUTION",
    "INSTANCE",
    "KINDS",
    "RECORD_EXECUTION_STATUS",
    "UPDATE_EXECUTION_STATUS",
    "WORKFLOW",
]

DELETE: Pipeline = (
    load_current,
    find_active_executions,
    refuse_active_unless_forced,
    cancel_active_after_commit,
    remove,
)

WORKFLOW = Kind(
    name="Workflow",
    model=Workflow,
    prefix="wfl",
    repository=lambda tx: tx.workflows,
    max_slug=63 - len(wfl.DEFAULT_SUFFIX),
    create=(
        wfl.adopt_bare_document,
        parse,
        wfl.name_from_document,
        resolve_slug,
        check_duplicate,
        build_state,
        wfl.validate_document,
        wfl.plan_default_instance,
        persist,
        wfl.create_default_instance,
    ),
    apply=(
        wfl.adopt_bare_document,
        parse,
        wfl.name_from_document,
        resolve_slug,
        find_by_slug,
        create_or_update,
    ),
    update=(
        wfl.adopt_bare_document,
        parse,
        wfl.name_from_document,
        load_current,
        check_version,
        keep_identity,
        build_update,
        wfl.validate_document,
        persist_update,
    ),
    delete=DELETE,
)

INSTANCE = Kind(
    name="WorkflowInstance",
    model=WorkflowInstance,
    prefix="win",
    repository=lambda tx: tx.instances,
    columns=win.instance_columns,
    secret_maps=("env",),
    create=(
        parse,
        win.check_parent_workflow,
        win.check_instance_scope,
        resolve_slug,
        check_duplicate,
        build_state,
        persist,
    ),
    apply=(parse, resolve_slug, find_by_slug, create_or_update),
    update=(
        parse,
        load_current,
        check_version,
        keep_identity,
        win.keep_workflow,
        build_update,
        persist_update,
    ),
    delete=DELETE,
)

EXECUTION = Kind(
    name="WorkflowExecution",
    model=WorkflowExecution,
    prefix="wex",
    repository=lambda tx: tx.executions,
    columns=wex.execution_columns,
    secret_maps=("runtime_env",),
    name_required=False,
    create=(
        parse,
        wex.resolve_instance,
        wex.inherit_scope,
        wex.merge_spec_labels,
        resolve_slug,
        check_duplicate,
        build_state,
        wex.snapshot_document,
        wex.inherit_durability,
        wex.offer_to_runtime,
        persist,
        wex.hand_to_runtime,
    ),
    apply=(parse, wex.resolve_instance, wex.inherit_scope, resolve_slug, find_by_slug, create_or_update),
    update=(parse, load_current, check_version, keep_identity, wex.keep_spec, build_update, persist_update),
    delete=DELETE,
)

#: UpdateStatus: a status report merged into the execution, which is read back.
UPDATE_EXECUTION_STATUS: Pipeline = (
    wex.parse_status_update,
    wex.load_for_status,
    wex.merge_status,
    wex.check_transition,
    wex.persist_status,
    wex.status_result,
)

#: The runtime's own reports: `tasks[]` come in their stored form, and the execution is
#: not read back (a model of the whole execution, which the runtime's writer never looks at).
RECORD_EXECUTION_STATUS: Pipeline = (
    wex.parse_runtime_report,
    wex.load_for_status,
    wex.merge_status,
    wex.check_transition,
    wex.persist_status,
)

CONTEXT = Kind(
    name="ExecutionContext",
    model=ExecutionContext,
    prefix="ctx",
    repository=lambda tx: tx.contexts,
    columns=ctx.context_columns,
    secret_maps=("data",),
    name_required=False,
    create=(
        parse,
        ctx.require_platform_scope,
        ctx.check_execution_exists,
        resolve_slug,
        check_duplicate,
        build_state,
        persist,
    ),
    # Immutable: applying an existing one is AlreadyExists (the duplicate check), never an update.
    apply=(
        parse,
        ctx.require_platform_scope,
        ctx.check_execution_exists,
        resolve_slug,
        check_duplicate,
        build_state,
        persist,
    ),
    update=(parse, load_current, ctx.refuse_update),
    delete=DELETE,
)

KINDS: dict[str, Kind] = {kind.name: kind for kind in (WORKFLOW, INSTANCE, EXECUTION, CONTEXT)}

"""Migrations: upgrade creates every table, downgrade removes them, and again; data moved
by a migration comes back as it was."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Float, Integer, String, TableClause, column, inspect, select, table, text
from sqlalchemy.types import TypeEngine

from tests.store.rows import insert_executions, resource_row
from treadle.store import JournalEntry, Store, current_revision, head_revision, metadata
from treadle.store._tables import EXECUTIONS, INSTANCES, WORKFLOWS, JSONType, UTCDateTime

TABLES = {table.name for table in metadata.sorted_tables}


def _tables(store: Store) -> set[str]:
    return set(inspect(store.engine).get_table_names()) - {"alembic_version"}


def test_upgrade_downgrade_upgrade(database_url: str) -> None:
    store = Store.open(database_url)
    try:
        assert current_revision(store.engine) is None
        store.migrate()
        assert current_revision(store.engine) == head_revision()
        assert _tables(store) == TABLES
        store.downgrade("base")
        assert current_revision(store.engine) is None
        assert _tables(store) == set()
        store.migrate()
        assert _tables(store) == TABLES
    finally:
        store.dispose()


def test_migrated_schema_matches_the_tables_module(database_url: str) -> None:
    store = Store.open(database_url, migrate=True)
    try:
        with store.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
    finally:
        store.dispose()


def test_migrating_twice_is_a_no_op(database_url: str) -> None:
    store = Store.open(database_url, migrate=True)
    try:
        store.migrate()
        assert current_revision(store.engine) == head_revision()
    finally:
        store.dispose()


def test_sqlite_connections_are_tuned(tmp_path: object) -> None:
    store = Store.open(f"sqlite:///{tmp_path}/tuned.db", migrate=True)
    try:
        with store.engine.connect() as connection:
            pragma = {
                name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            }
        assert pragma["journal_mode"] == "wal"
        assert pragma["synchronous"] == 1  # NORMAL
        assert pragma["foreign_keys"] == 1
        assert (pragma["busy_timeout"] or 0) > 0
    finally:
        store.dispose()


def _as_before_0003(real: Any) -> TableClause:
    """A table as revision 0002 left it: an execution had no `document` column."""
    return table(real.name, *(column(c.name, c.type) for c in real.columns if c.name != "document"))


DOCUMENT = {
    "document": {"dsl": "1.0.3", "namespace": "test", "name": "moved", "version": "1.0.0"},
    "do": [{"a": {"set": {"n": 1}}}],
}
BODIES = {
    "wex-doc": {"spec": {"input": {"n": 1}}, "status": {"phase": "completed", "document": DOCUMENT}},
    "wex-null": {"spec": {}, "status": {"phase": "pending", "document": None}},
    "wex-bare": {"spec": {}},
}


def test_0003_moves_execution_documents_out_of_the_body_and_back(database_url: str) -> None:
    store = Store.open(database_url)
    try:
        store.migrate("0002")
        executions = _as_before_0003(EXECUTIONS)
        with store.engine.begin() as connection:
            connection.execute(_as_before_0003(WORKFLOWS).insert(), resource_row("Workflow", "wfl-1"))
            connection.execute(
                _as_before_0003(INSTANCES).insert(),
                resource_row("WorkflowInstance", "win-1", workflow_id="wfl-1"),
            )
            connection.execute(
                executions.insert(),
                [
                    resource_row(
                        "WorkflowExecution",
                        id,
                        body=body,
                        instance_id="win-1",
                        workflow_id="wfl-1",
                        phase="x",
                    )
                    for id, body in BODIES.items()
                ],
            )

        store.migrate()
        with store.engine.connect() as connection:
            stored = {
                row.id: (row.body, row.document)
                for row in connection.execute(
                    select(EXECUTIONS.c.id, EXECUTIONS.c.body, EXECUTIONS.c.document)
                )
            }
        moved = {"spec": {"input": {"n": 1}}, "status": {"phase": "completed"}}
        assert stored == {
            "wex-doc": (moved, DOCUMENT),
            "wex-null": (BODIES["wex-null"], None),
            "wex-bare": (BODIES["wex-bare"], None),
        }
        with store.begin(write=False) as tx:
            assert {id: row["body"] for id, row in tx.executions.get_many(list(BODIES)).items()} == BODIES

        store.downgrade("0002")
        assert "document" not in {c["name"] for c in inspect(store.engine).get_columns(EXECUTIONS.name)}
        with store.engine.connect() as connection:
            bodies = {
                row.id: row.body for row in connection.execute(select(executions.c.id, executions.c.body))
            }
        assert bodies == BODIES
    finally:
        store.dispose()


def _task(name: str, position: str, attempt: int = 0, **data: Any) -> dict[str, Any]:
    return {"name": name, "path": position.split("[")[0], "position": position, "attempt": attempt, **data}


AT = [datetime(2025, 1, 1, 0, 0, second, 250_000, tzinfo=UTC) for second in range(9)]
RECORDS = [
    JournalEntry("phase", {"phase": "running"}, AT[0]),
    JournalEntry("task.started", _task("loop", "/do/0/loop[0]", input={"i": 0}), AT[1]),
    JournalEntry("task.completed", _task("loop", "/do/0/loop[0]", output="one"), AT[2]),
    JournalEntry("task.started", _task("loop", "/do/0/loop[1]", input={"i": 1}), AT[3]),
    JournalEntry("task.faulted", _task("loop", "/do/0/loop[1]", error={"status": 500}), AT[4]),
    JournalEntry(
        "decision", {"from": "/do/0", "to": "/do/1", "case": "c", "result": [1], "reason": ".x"}, AT[5]
    ),
    JournalEntry("task.skipped", _task("maybe", "/do/1/maybe", input="in", output="in"), AT[6]),
    JournalEntry(
        "decision", {"from": "/do/1", "to": None, "case": None, "result": None, "reason": "end"}, AT[7]
    ),
]


def _old_table(name: str, **columns: TypeEngine[Any]) -> TableClause:
    """A table as revision 0003 left it (the columns a test reads or writes)."""
    return table(name, *(column(column_name, type) for column_name, type in columns.items()))


_OLD_STAGES = _old_table(
    "execution_stages",
    execution_id=String(),
    node=String(),
    iteration=Integer(),
    status=String(),
    input=JSONType,
    output=JSONType,
    error=JSONType,
    started_at=UTCDateTime(),
    completed_at=UTCDateTime(),
    duration_ms=Float(),
)
_OLD_DECISIONS = _old_table(
    "execution_decisions",
    execution_id=String(),
    from_node=String(),
    to_node=String(),
    case_name=String(),
    result=JSONType,
    reason=String(),
    at=UTCDateTime(),
)


def _records(store: Store) -> tuple[Any, ...]:
    with store.begin(write=False) as tx:
        journal = [(e.seq, e.type, e.data, e.at) for e in tx.journal.read("wex-1")]
        stages = [{**vars(s), "id": None} for s in tx.stages.list("wex-1")]
        decisions = [{**vars(d), "id": None} for d in tx.decisions.list("wex-1")]
    return journal, stages, decisions


def test_0004_reads_stages_from_the_journal_and_the_downgrade_writes_them_back(database_url: str) -> None:
    store = Store.open(database_url, migrate=True)
    try:
        insert_executions(store, "wex-1")
        with store.begin() as tx:
            tx.journal.append("wex-1", RECORDS)
        journal, stages, decisions = _records(store)
        assert [(s["node"], s["iteration"], s["status"]) for s in stages] == [
            ("/do/0/loop", 0, "completed"),
            ("/do/0/loop", 1, "faulted"),
            ("/do/1/maybe", 0, "skipped"),
        ]

        store.downgrade("0003")
        assert "id" not in {c["name"] for c in inspect(store.engine).get_columns("execution_journal")}
        with store.engine.connect() as connection:
            written = [dict(row) for row in connection.execute(select(_OLD_STAGES)).mappings()]
            decided = [dict(row) for row in connection.execute(select(_OLD_DECISIONS)).mappings()]
        assert [{**s, "duration_ms": pytest.approx(s["duration_ms"], abs=0.1)} for s in written] == [
            {name: value for name, value in stage.items() if name != "id"} for stage in stages
        ]
        assert decided == [{name: value for name, value in d.items() if name != "id"} for d in decisions]

        store.migrate()
        assert _records(store) == (journal, stages, decisions)
        with store.begin() as tx:  # numbering goes on after the entries that were there
            tx.journal.append("wex-1", [JournalEntry("phase", {"phase": "completed"})])
            ids = tx.connection.execute(text("SELECT id FROM execution_journal ORDER BY seq")).scalars().all()
        assert len(set(ids)) == len(RECORDS) + 1 and ids[-1] == max(ids)
    finally:
        store.dispose()


_OLD_JOURNAL = _old_table(
    "execution_journal", execution_id=String(), seq=Integer(), type=String(), data=JSONType, at=UTCDateTime()
)


def test_0004_keeps_what_only_the_stage_of_a_skipped_task_held(database_url: str) -> None:
    """Before 0004 a `task.skipped` entry had no input or output: its stage row had them."""
    store = Store.open(database_url)
    try:
        store.migrate("0003")
        insert_executions(store, "wex-1")
        twice = [_task("maybe", "/do/1/maybe"), _task("maybe", "/do/1/maybe")]  # a `then` loop
        entries = [
            ("task.started", _task("a", "/do/0/a", input={"x": 1}), AT[0]),
            ("task.completed", _task("a", "/do/0/a", output={"x": 2}), AT[1]),
            ("task.skipped", twice[0], AT[2]),
            ("task.skipped", twice[1], AT[3]),
        ]
        stages = [
            ("/do/0/a", 0, "completed", {"x": 1}, {"x": 2}, AT[0], AT[1]),
            ("/do/1/maybe", 0, "skipped", "first", "first", AT[2], AT[2]),
            ("/do/1/maybe", 1, "skipped", ["second"], ["second"], AT[3], AT[3]),
        ]
        with store.engine.begin() as connection:
            connection.execute(
                _OLD_JOURNAL.insert(),
                [
                    {"execution_id": "wex-1", "seq": seq, "type": type, "data": data, "at": at}
                    for seq, (type, data, at) in enumerate(entries, start=1)
                ],
            )
            connection.execute(
                _OLD_STAGES.insert(),
                [
                    {
                        "execution_id": "wex-1",
                        "node": node,
                        "iteration": iteration,
                        "status": status,
                        "input": input,
                        "output": output,
                        "error": None,
                        "started_at": started,
                        "completed_at": ended,
                        "duration_ms": 0.0,
                    }
                    for node, iteration, status, input, output, started, ended in stages
                ],
            )

        store.migrate()
        with store.begin(write=False) as tx:
            read = tx.stages.list("wex-1")
        assert [(s.node, s.iteration, s.status, s.input, s.output) for s in read] == [
            (node, iteration, status, input, output) for node, iteration, status, input, output, *_ in stages
        ]
    finally:
        store.dispose()

"""LangGraph 1.2 with its SQLite checkpointer, written the way LangGraph's docs write it.

Engines:
- `langgraph`: a `StateGraph` compiled with a `SqliteSaver` (a checkpoint per super-step);
  fan-out through `Send` (the docs' map-reduce), the loop through a conditional edge.
- `langgraph-functional`: the Functional API, `@entrypoint(checkpointer=...)` calling
  `@task`s (fan-out: start the tasks, then `.result()` each).
- `langgraph-memory`: the `StateGraph` without a checkpointer (nothing kept).
- `langgraph-sync`, `langgraph-functional-sync`: the same with `durability="sync"`.
  LangGraph's default durability is `"async"`: a step's checkpoint is written while the
  next step runs, so a crash can lose the last steps' results (they run again on resume).
  treadle, Temporal and DBOS make each step's result durable before the next step starts,
  as `"sync"` does: these two engines are the like-for-like comparison.

LangGraph is a library without a server: `throughput` submits through `graph.batch`
(its thread pool), `waiting` parks n threads in `interrupt()` (their checkpoints are in
SQLite; the number reported is this process's RSS). `recovery` does not apply: no worker
resumes interrupted or crashed threads on its own.

Usage (in the peer's venv): python bench/peers/langgraph_bench.py --workload chain --n 100
"""

from __future__ import annotations

import argparse
import operator
import sqlite3
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.func import entrypoint, task
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, Send, interrupt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import Measurement, Unavailable, bench_main, measure, rss_mb, versions

ENGINES = [
    "langgraph",
    "langgraph-functional",
    "langgraph-memory",
    "langgraph-sync",
    "langgraph-functional-sync",
]


def _durability(engine: str) -> dict[str, Any]:
    """`invoke`/`batch` keyword arguments: LangGraph's default (`async`) unless `-sync`."""
    return {"durability": "sync"} if engine.endswith("-sync") else {}


def step(x: int) -> int:
    """The Python function every step calls: add one."""
    return x + 1


class State(TypedDict):
    """The graph's state: a counter, the loop's round, and the fan-out's results."""

    x: int
    round: int
    results: Annotated[list[int], operator.add]


def _node(state: State) -> dict[str, Any]:
    return {"x": step(state["x"])}


def chain_graph(n: int) -> StateGraph[Any]:
    """n nodes in a line."""
    graph = StateGraph(State)
    previous = START
    for i in range(n):
        graph.add_node(f"step{i}", _node)
        graph.add_edge(previous, f"step{i}")
        previous = f"step{i}"
    graph.add_edge(previous, END)
    return graph


def fanout_graph(n: int) -> StateGraph[Any]:
    """`Send` one `branch` per item, reduce their results into a list, then `join`."""

    def fan(state: State) -> list[Send]:
        return [Send("branch", {"x": i}) for i in range(n)]

    def branch(item: dict[str, int]) -> dict[str, Any]:
        return {"results": [step(item["x"])]}

    def join(state: State) -> dict[str, Any]:
        return {"x": len(state["results"])}

    graph = StateGraph(State)
    graph.add_node("branch", branch)
    graph.add_node("join", join)
    graph.add_conditional_edges(START, fan, ["branch"])
    graph.add_edge("branch", "join")
    graph.add_edge("join", END)
    return graph


def branchloop_graph(n: int) -> StateGraph[Any]:
    """A `route` node whose conditional edge picks `even`/`odd`, back to `route` n times."""

    def route(state: State) -> dict[str, Any]:
        return {}

    def pick(state: State) -> str:
        if state["round"] >= n:
            return END
        return "even" if state["round"] % 2 == 0 else "odd"

    def advance(state: State) -> dict[str, Any]:
        return {"x": step(state["x"]), "round": state["round"] + 1}

    graph = StateGraph(State)
    graph.add_node("route", route)
    graph.add_node("even", advance)
    graph.add_node("odd", advance)
    graph.add_edge(START, "route")
    graph.add_conditional_edges("route", pick, ["even", "odd", END])
    graph.add_edge("even", "route")
    graph.add_edge("odd", "route")
    return graph


def three_step_graph() -> StateGraph[Any]:
    """The workflow `throughput` runs n times: three nodes."""
    return chain_graph(3)


def parked_graph() -> StateGraph[Any]:
    """A node that waits for a human (`interrupt`), then a step."""

    def ask(state: State) -> dict[str, Any]:
        answer = interrupt("approve?")
        return {"x": state["x"] + int(answer)}

    graph = StateGraph(State)
    graph.add_node("ask", ask)
    graph.add_node("after", _node)
    graph.add_edge(START, "ask")
    graph.add_edge("ask", "after")
    graph.add_edge("after", END)
    return graph


def _saver(folder: str) -> SqliteSaver:
    connection = sqlite3.connect(str(Path(folder) / "checkpoints.db"), check_same_thread=False)
    return SqliteSaver(connection)


def _config(limit: int) -> dict[str, Any]:
    return {"configurable": {"thread_id": str(uuid.uuid4())}, "recursion_limit": limit}


def _initial() -> dict[str, Any]:
    return {"x": 0, "round": 0, "results": []}


def graph_workload(args: argparse.Namespace, warmup: int, repeats: int) -> Measurement:
    """The StateGraph engines (`langgraph`, `langgraph-memory`)."""
    n = args.n
    with tempfile.TemporaryDirectory(prefix="langgraph-bench-") as folder:
        saver = _saver(args.workdir or folder) if args.engine != "langgraph-memory" else None
        durability = _durability(args.engine)
        limit = 4 * n + 50
        if args.workload == "waiting":
            return _waiting(n, saver)
        builders = {"chain": chain_graph, "fanout": fanout_graph, "branchloop": branchloop_graph}
        if args.workload == "throughput":
            graph = three_step_graph().compile(checkpointer=saver)

            def batch() -> None:
                results = graph.batch(
                    [_initial() for _ in range(n)], [_config(50) for _ in range(n)], **durability
                )
                assert all(r["x"] == 3 for r in results)

            return measure(batch, warmup=warmup, repeats=repeats, min_seconds=args.min_seconds)
        if args.workload not in builders:
            raise Unavailable("not applicable: LangGraph has no worker that resumes runs")
        graph = builders[args.workload](n).compile(checkpointer=saver)

        def once() -> None:
            result = graph.invoke(_initial(), _config(limit), **durability)
            assert result["x"] == n, result["x"]

        return measure(once, warmup=warmup, repeats=repeats, min_seconds=args.min_seconds)


def _waiting(n: int, saver: SqliteSaver | None) -> Measurement:
    if saver is None:
        raise Unavailable("not applicable: an interrupt needs a checkpointer")
    graph = parked_graph().compile(checkpointer=saver)
    configs = [_config(20) for _ in range(n)]
    import time

    began = time.perf_counter()
    for config in configs:
        graph.invoke(_initial(), config)
    parked = time.perf_counter() - began
    held = rss_mb()
    resumed = graph.invoke(Command(resume=1), configs[0])
    assert resumed["x"] == 2
    return Measurement([parked], 0, {"server_rss_mb": held, "parked": n})


@task
def step_task(x: int) -> int:
    """`step` as a LangGraph task (its result is checkpointed)."""
    return step(x)


def functional_workload(args: argparse.Namespace, warmup: int, repeats: int) -> Measurement:
    """The Functional API engine: `@entrypoint` + `@task` over a SqliteSaver."""
    n = args.n
    with tempfile.TemporaryDirectory(prefix="langgraph-bench-") as folder:
        saver = _saver(args.workdir or folder)
        durability = _durability(args.engine)

        @entrypoint(checkpointer=saver)
        def chain(x: int) -> int:
            for _ in range(n):
                x = step_task(x).result()
            return x

        @entrypoint(checkpointer=saver)
        def fanout(x: int) -> int:
            futures = [step_task(i) for i in range(n)]
            return len([future.result() for future in futures])

        @entrypoint(checkpointer=saver)
        def branchloop(x: int) -> int:
            for round in range(n):
                if round % 2 == 0:
                    x = step_task(x).result()
                else:
                    x = step_task(x).result()
            return x

        @entrypoint(checkpointer=saver)
        def three(x: int) -> int:
            for _ in range(3):
                x = step_task(x).result()
            return x

        flows = {"chain": chain, "fanout": fanout, "branchloop": branchloop}
        limit = 4 * n + 50
        if args.workload == "throughput":

            def batch() -> None:
                results = three.batch([0] * n, [_config(50) for _ in range(n)], **durability)
                assert all(r == 3 for r in results)

            return measure(batch, warmup=warmup, repeats=repeats, min_seconds=args.min_seconds)
        if args.workload not in flows:
            raise Unavailable("not implemented for the Functional API: see the `langgraph` engine")
        flow = flows[args.workload]

        def once() -> None:
            assert flow.invoke(0, _config(limit), **durability) == n

        return measure(once, warmup=warmup, repeats=repeats, min_seconds=args.min_seconds)


def workload(args: argparse.Namespace, warmup: int, repeats: int) -> Measurement:
    """Route to the engine's implementation."""
    if args.engine.startswith("langgraph-functional"):
        return functional_workload(args, warmup, repeats)
    return graph_workload(args, warmup, repeats)


def engine_versions(engine: str) -> dict[str, str]:
    """The LangGraph distributions and SQLite's version."""
    found = versions("langgraph", "langgraph-checkpoint", "langgraph-checkpoint-sqlite", "langchain-core")
    found["sqlite"] = sqlite3.sqlite_version
    return found


if __name__ == "__main__":
    names = ["chain", "fanout", "throughput", "branchloop", "waiting", "recovery"]
    sys.exit(bench_main(__doc__.splitlines()[0], ENGINES, dict.fromkeys(names, workload), engine_versions))

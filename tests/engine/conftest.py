"""Helpers for engine tests: build a document from YAML and run it in memory."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import pytest
import yaml

from treadle.dsl.models import Workflow, build_workflow
from treadle.engine import RunResult
from treadle.runtime.memory import CallHandler, MemoryEffects, RecordingObserver, run_document

HEADER = "document: {dsl: '1.0.3', namespace: test, name: test, version: '0.1.0'}\n"

Run = Callable[..., Awaitable[tuple[RunResult, RecordingObserver]]]


def build(text: str) -> Workflow:
    """Build a workflow from YAML, adding the `document` header when it is missing."""
    document = yaml.safe_load(text)
    if "document" not in document:
        document = yaml.safe_load(HEADER + text)
    return build_workflow(document)


@pytest.fixture
def run() -> Run:
    async def run_text(
        text: str,
        input: Any = None,
        *,
        call_handler: CallHandler | None = None,
        secrets: Mapping[str, Any] | None = None,
        effects: MemoryEffects | None = None,
    ) -> tuple[RunResult, RecordingObserver]:
        return await run_document(
            build(text),
            {} if input is None else input,
            call_handler=call_handler,
            secrets=secrets,
            effects=effects,
        )

    return run_text


def statuses(observer: RecordingObserver) -> list[tuple[str, str]]:
    """(position, status) of each task record, in start order."""
    return [(task["position"], task["status"]) for task in observer.tasks]

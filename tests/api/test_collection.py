"""The machinery every kind's routes share."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

from treadle.api.collection import list_params, no_filters
from treadle.api.contexts import context_filters
from treadle.api.executions import execution_filters
from treadle.api.instances import instance_filters


@pytest.mark.parametrize(
    "dependency", [list_params, no_filters, execution_filters, instance_filters, context_filters]
)
def test_list_dependencies_run_on_the_event_loop(dependency: Callable[..., Any]) -> None:
    # FastAPI runs a plain `def` dependency in the threadpool: one thread hop per request
    # each, for a function that takes microseconds.
    assert inspect.iscoroutinefunction(dependency)

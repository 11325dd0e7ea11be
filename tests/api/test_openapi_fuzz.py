"""Property-based fuzzing of the published OpenAPI document against a running server.

Bounded so it fits the suite: a few examples per operation. Every response must be
documented (status, content type, schema) and no input may cause a 5xx. The event
stream is left out: on an execution that never ends it follows forever.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import LiveServer, Serve, create_workflow
from treadle.resources import ResourceService


def not_a_server_error_but_no_runtime(
    ctx: Any, response: schemathesis.Response, case: schemathesis.Case
) -> Any:
    """5xx are failures, except the documented 503s of a server without a runtime (control, /ready)."""
    if response.status_code == 503 and any(p in response.content for p in (b"/no-runtime", b"/not-ready")):
        return None
    return not_a_server_error(ctx, response, case)


CHECKS = [
    not_a_server_error_but_no_runtime,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def fuzzed_server(serve: Serve, service: ResourceService) -> Iterator[LiveServer]:
    server = serve(service)
    with httpx.Client(base_url=server.url) as client:
        create_workflow(client, org="acme")
    yield server


MAX_EXAMPLES = 8


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_errors_and_every_response_documented(
    fuzzed_server: LiveServer, mode: GenerationMode
) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzzed_server.url}/openapi.json")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.endswith("/events"):
            continue
        operations += 1

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
        )
        def fuzz(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=CHECKS, timeout=10)

        try:
            fuzz()
        except Unsatisfiable:  # nothing to make invalid (no parameters, no body)
            continue
        except Exception as error:  # collect every operation's failure, then report them all
            failures.append(f"{operation.method.upper()} {operation.path}: {error}")
    assert operations >= 25
    assert not failures, "\n\n".join(failures)


def test_openapi_is_published_with_problem_responses(api: httpx.Client) -> None:
    spec = api.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    for path in (
        "/v1/workflows",
        "/v1/workflows:apply",
        "/v1/workflows/{id}",
        "/v1/workflows/by-slug/{slug}",
        "/v1/workflows/{id}/instances",
        "/v1/workflow-instances",
        "/v1/workflow-executions/{id}/status",
        "/v1/workflow-executions/{id}:cancel",
        "/v1/workflow-executions/{id}/events",
        "/v1/execution-contexts",
        "/v1/events",
        "/health",
        "/ready",
        "/metrics",
    ):
        assert path in paths, path
    get_one = paths["/v1/workflows/{id}"]["get"]["responses"]
    assert "application/problem+json" in get_one["404"]["content"]
    body = paths["/v1/workflows"]["post"]["requestBody"]["content"]
    assert {"application/json", "application/yaml"} <= set(body)
    assert "WorkflowBody" in spec["components"]["schemas"] and "Problem" in spec["components"]["schemas"]

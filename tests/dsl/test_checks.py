"""Semantic checks: each rule has a failing document, asserted by exact pointer and code."""

from __future__ import annotations

import pytest

from treadle.dsl import load_text
from treadle.dsl.checks import semantic_problems

HEADER = "document: {dsl: '1.0.3', namespace: test, name: sample, version: '1.0.0'}\n"

DUPLICATE_TASK = """
do:
  - step: {set: {a: 1}}
  - other: {set: {b: 1}}
  - step: {set: {c: 1}}
"""

THEN_UNKNOWN = """
do:
  - validate: {set: {a: 1}, then: charge}
  - bill: {set: {b: 1}, then: exit}
  - fulfil: {set: {c: 1}, then: end}
"""

THEN_NOT_A_SIBLING = """
do:
  - outer:
      do:
        - inner: {set: {a: 1}, then: after}
  - after: {set: {b: 1}}
"""

SWITCH_CASE_UNKNOWN = """
do:
  - route:
      switch:
        - big: {when: .n > 10, then: large}
        - default: {then: small}
  - small: {set: {size: small}}
"""

UNKNOWN_ERROR = """
use:
  errors:
    notFound: {type: https://example.com/errors/not-found, status: 404}
do:
  - fail: {raise: {error: notFund}}
"""

UNKNOWN_RETRY = """
do:
  - attempt:
      try:
        - call: {set: {a: 1}}
      catch:
        retry: fast
"""

UNKNOWN_TIMEOUT = """
timeout: overall
use:
  timeouts:
    short: {after: PT1S}
do:
  - pause: {wait: PT1S, timeout: long}
"""

UNKNOWN_AUTHENTICATION = """
use:
  authentications:
    petstore: {bearer: {token: abc}}
do:
  - get:
      call: http
      with:
        method: get
        endpoint:
          uri: https://example.com
          authentication: {use: petstroe}
  - find:
      call: openapi
      with:
        document: {endpoint: https://example.com/openapi.json}
        operationId: find
        authentication: {use: petstore}
"""

BAD_EXPRESSIONS = """
input:
  from: .a |
do:
  - a:
      if: .x ==
      set:
        ok: ${ .fine }
        bad: ${ .x | }
  - b:
      for: {in: "[1,2"}
      do:
        - c: {set: {item: "${ $item }", wrong: "${ $nope }"}}
  - d:
      switch:
        - yes: {when: ")", then: exit}
      output: {as: "${ {a: } }"}
"""


def findings(body: str) -> list[tuple[str, str]]:
    return [(problem.pointer, problem.code) for problem in semantic_problems(load_text(HEADER + body))]


def test_duplicate_task_names_in_one_list_are_reported_at_the_repeat() -> None:
    assert findings(DUPLICATE_TASK) == [("/do/2/step", "duplicate-task")]


def test_then_naming_no_sibling_is_unknown_task() -> None:
    assert findings(THEN_UNKNOWN) == [("/do/0/validate/then", "unknown-task")]


def test_then_cannot_reach_out_of_its_own_list() -> None:
    assert findings(THEN_NOT_A_SIBLING) == [("/do/0/outer/do/0/inner/then", "unknown-task")]


def test_switch_case_then_naming_no_sibling_is_unknown_task() -> None:
    assert findings(SWITCH_CASE_UNKNOWN) == [("/do/0/route/switch/0/big/then", "unknown-task")]


def test_raise_of_an_undefined_error_is_unknown_error() -> None:
    [problem] = semantic_problems(load_text(HEADER + UNKNOWN_ERROR))
    assert (problem.pointer, problem.code) == ("/do/0/fail/raise/error", "unknown-error")
    assert "notFound" in problem.message  # the names that do exist


def test_catch_retry_of_an_undefined_policy_is_unknown_retry() -> None:
    assert findings(UNKNOWN_RETRY) == [("/do/0/attempt/catch/retry", "unknown-retry")]


def test_timeout_references_are_checked_on_the_workflow_and_tasks() -> None:
    assert sorted(findings(UNKNOWN_TIMEOUT)) == [
        ("/do/0/pause/timeout", "unknown-timeout"),
        ("/timeout", "unknown-timeout"),
    ]


def test_authentication_use_of_an_undefined_policy_is_unknown_authentication() -> None:
    assert findings(UNKNOWN_AUTHENTICATION) == [
        ("/do/0/get/with/endpoint/authentication/use", "unknown-authentication")
    ]


def test_secret_based_authentication_use_is_not_an_authentication_reference() -> None:
    body = "do:\n  - get:\n      call: http\n      with:\n        method: get\n        endpoint:\n"
    body += "          uri: https://example.com\n          authentication: {oidc: {use: mySecret}}\n"
    assert findings(body) == []


def test_call_of_an_unlisted_function_is_allowed() -> None:
    assert findings("do:\n  - greet: {call: say_hello, with: {name: '${ .name }'}}\n") == []


def test_every_invalid_expression_is_reported_at_its_field() -> None:
    assert sorted(findings(BAD_EXPRESSIONS)) == sorted(
        [
            ("/input/from", "invalid-expression"),
            ("/do/0/a/if", "invalid-expression"),
            ("/do/0/a/set/bad", "invalid-expression"),
            ("/do/1/b/for/in", "invalid-expression"),
            ("/do/1/b/do/0/c/set/wrong", "invalid-expression"),
            ("/do/2/d/switch/0/yes/when", "invalid-expression"),
            ("/do/2/d/output/as", "invalid-expression"),
        ]
    )


def test_catch_variable_is_in_scope_inside_the_try_task() -> None:
    body = "do:\n  - t:\n      try: [{a: {set: {x: 1}}}]\n      catch:\n        as: oops\n"
    body += "        do: [{b: {set: {e: '${ $oops.status }'}}}]\n"
    assert findings(body) == []


@pytest.mark.parametrize(
    "body",
    [
        "do:\n  - s: {run: {script: {language: js, code: '${ not jq at all }'}}}\n",
        "document: {dsl: '1.0.3', namespace: t, name: n, version: '1.0.0', title: '${ ( }'}\ndo: []\n",
        "use: {secrets: ['${ ( }']}\ndo: []\n",
        "do:\n  - s: {set: {a: 1}, metadata: {note: '${ ( }'}}\n",
        "input: {schema: {document: {pattern: '${ ( }'}}}\ndo: []\n",
        "do:\n  - s: {set: {a: 'price: ${ not an expression'}}\n",
    ],
)
def test_text_that_is_not_ours_to_evaluate_is_not_checked(body: str) -> None:
    text = body if body.startswith("document") else HEADER + body
    assert semantic_problems(load_text(text)) == []


def test_checks_survive_any_shape() -> None:
    for document in (
        {"do": 5},
        {"do": [1, {"a": 2}, {"a": {"then": []}}]},
        {"use": [], "do": [{"x": {"switch": 3}}]},
    ):
        semantic_problems(document)

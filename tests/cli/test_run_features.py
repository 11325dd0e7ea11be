"""`treadle run` beyond the basics: sub-workflows, secrets, processes, events."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from tests.cli.conftest import SPEC_EXAMPLES, Treadle

PARENT = """
document: { dsl: '1.0.3', namespace: shop, name: checkout, version: '1.0.0' }
do:
  - price:
      run:
        workflow:
          namespace: shop
          name: pricing
          version: '2.0.0'
          input:
            qty: ${ .qty }
  - total:
      set:
        total: ${ .amount + 1 }
"""

CHILD = """
document: { dsl: '1.0.3', namespace: shop, name: pricing, version: '2.0.0' }
do:
  - compute:
      set:
        amount: ${ .qty * 10 }
"""

FAULTY_CHILD = """
document: { dsl: '1.0.3', namespace: shop, name: pricing, version: '2.0.0' }
do:
  - refuse:
      raise:
        error:
          type: https://example.com/errors/no-price
          status: 422
          title: No price
"""

REGISTER_CUSTOMER = """
document: { dsl: '1.0.3', namespace: test, name: register-customer, version: '0.1.0' }
do:
  - register:
      set:
        registered: ${ .customer }
"""

USES_SECRET = """
document: { dsl: '1.0.3', namespace: test, name: leaky, version: '1.0.0' }
use:
  secrets: [apiKey]
do:
  - leak:
      set:
        shown: ${ "key=" + $secrets.apiKey }
        length: ${ $secrets.apiKey | length }
"""

SHELL = """
document: { dsl: '1.0.3', namespace: test, name: shell, version: '1.0.0' }
do:
  - greet:
      run:
        shell:
          command: echo hello-from-shell
"""


def _run_json(
    treadle: Treadle, *args: str, env: dict[str, str] | None = None
) -> tuple[int, dict[str, object]]:
    result = treadle("run", *args, "--json", env=env)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout)


def test_sub_workflow_given_with_option(
    treadle: Treadle, write: Callable[[str, str], Path], tmp_path: Path
) -> None:
    parent = write("parent.yaml", PARENT)
    (tmp_path / "lib").mkdir()
    child = tmp_path / "lib" / "pricing.yaml"
    child.write_text(CHILD)
    code, report = _run_json(treadle, str(parent), "--input", '{"qty": 3}', "--with", str(child))
    assert code == 0, report
    assert report["output"] == {"total": 31}


def test_sub_workflow_found_beside_the_main_file(treadle: Treadle, write: Callable[[str, str], Path]) -> None:
    parent = write("parent.yaml", PARENT)
    write("pricing.yaml", CHILD)
    write("notes.yaml", "just: [some, notes]\n")  # not a workflow: ignored
    code, report = _run_json(treadle, str(parent), "--input", '{"qty": 2}')
    assert code == 0, report
    assert report["output"] == {"total": 21}


def test_missing_sub_workflow_is_a_clear_fault(treadle: Treadle, write: Callable[[str, str], Path]) -> None:
    parent = write("parent.yaml", PARENT)
    code, report = _run_json(treadle, str(parent), "--input", '{"qty": 2}')
    assert code == 1
    error = report["error"]
    assert isinstance(error, dict)
    assert error["instance"] == "/do/0/price"
    assert "shop/pricing:2.0.0" in error["detail"]


def test_faulted_sub_workflow_faults_the_parent_task(
    treadle: Treadle, write: Callable[[str, str], Path]
) -> None:
    parent = write("parent.yaml", PARENT)
    write("pricing.yaml", FAULTY_CHILD)
    code, report = _run_json(treadle, str(parent), "--input", '{"qty": 2}')
    assert code == 1
    error = report["error"]
    assert isinstance(error, dict)
    assert (error["type"], error["status"], error["instance"]) == (
        "https://example.com/errors/no-price",
        422,
        "/do/0/price",
    )
    assert "/do/0/refuse" in error["detail"]


def test_spec_subflow_example_runs_with_its_child(
    treadle: Treadle, write: Callable[[str, str], Path]
) -> None:
    child = write("register-customer.yaml", REGISTER_CUSTOMER)
    code, report = _run_json(
        treadle, str(SPEC_EXAMPLES / "run-subflow.yaml"), "--input", '{"user": "ada"}', "--with", str(child)
    )
    assert code == 0, report
    assert report["output"] == {
        "registered": ".user"
    }  # the example passes the text ".user", not an expression


def test_secrets_from_environment_never_reach_the_output(
    treadle: Treadle, write: Callable[[str, str], Path]
) -> None:
    flow = write("leaky.yaml", USES_SECRET)
    env = {**os.environ, "TREADLE_SECRET_APIKEY": "s3cr3t-value"}
    code, report = _run_json(treadle, str(flow), env=env)
    assert code == 0, report
    assert report["output"] == {"shown": "key=***", "length": 12}
    assert "s3cr3t-value" not in json.dumps(report)


def test_secrets_file_wins_over_environment(treadle: Treadle, write: Callable[[str, str], Path]) -> None:
    flow = write("leaky.yaml", USES_SECRET)
    secrets = write("secrets.yaml", "apiKey: from-the-file\n")
    env = {**os.environ, "TREADLE_SECRET_APIKEY": "from-the-env"}
    code, report = _run_json(treadle, str(flow), "--secrets-file", str(secrets), env=env)
    assert code == 0
    assert report["output"] == {"shown": "key=***", "length": 13}


def test_processes_are_refused_unless_allowed(treadle: Treadle, write: Callable[[str, str], Path]) -> None:
    flow = write("shell.yaml", SHELL)
    code, report = _run_json(treadle, str(flow))
    assert code == 1
    error = report["error"]
    assert isinstance(error, dict)
    assert error["status"] == 403
    assert "--allow-run" in error["detail"]
    code, report = _run_json(treadle, str(flow), "--allow-run")
    assert code == 0, report
    assert report["output"] == "hello-from-shell"


def test_bad_event_file_is_a_usage_error(treadle: Treadle, write: Callable[[str, str], Path]) -> None:
    flow = write("shell.yaml", SHELL)
    event = write("event.json", '{"data": 1}')
    result = treadle("run", str(flow), "--event", str(event))
    assert result.returncode == 2
    assert "type" in result.stderr


FUNCTIONS_MODULE = """
from treadle.effects import function


@function
def add_tax(amount: float, rate: float = 0.2) -> dict:
    return {"amount": amount, "with_tax": round(amount * (1 + rate), 2)}
"""

CALLS_FUNCTION = """
document: { dsl: '1.0.3', namespace: shop, name: tax, version: '1.0.0' }
do:
  - tax:
      call: add_tax
      with:
        amount: ${ .price }
"""


def test_functions_module_registers_python_functions(
    treadle: Treadle, write: Callable[[str, str], Path]
) -> None:
    flow = write("tax.yaml", CALLS_FUNCTION)
    module = write("shop_functions.py", FUNCTIONS_MODULE)
    code, report = _run_json(treadle, str(flow), "--input", '{"price": 10}', "--functions", str(module))
    assert code == 0, report
    assert report["output"] == {"amount": 10, "with_tax": 12.0}


def test_unregistered_function_says_how_to_register_it(
    treadle: Treadle, write: Callable[[str, str], Path]
) -> None:
    flow = write("tax.yaml", CALLS_FUNCTION)
    code, report = _run_json(treadle, str(flow), "--input", '{"price": 10}')
    assert code == 1
    error = report["error"]
    assert isinstance(error, dict)
    assert "add_tax" in error["detail"] and "--functions" in error["detail"]


def test_broken_functions_module_is_a_usage_error(
    treadle: Treadle, write: Callable[[str, str], Path]
) -> None:
    flow = write("tax.yaml", CALLS_FUNCTION)
    module = write("broken.py", "import nothing_of_that_name\n")
    result = treadle("run", str(flow), "--functions", str(module))
    assert result.returncode == 2
    assert "broken.py" in result.stderr and "ModuleNotFoundError" in result.stderr
    assert "Traceback" not in result.stderr

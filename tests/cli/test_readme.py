"""The README's example workflow runs as the README says (against a local pet store)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.cli.conftest import REPO, Treadle


def _code_block_after(text: str, marker: str, language: str) -> str:
    start = text.index(marker)
    match = re.compile(rf"```{language}\n(.*?)```", re.S).search(text, start)
    assert match, f"no {language} block after {marker!r} in the README"
    return match.group(1)


class _PetStore(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"id": 7, "name": "Tom", "category": {"name": "cat"}, "age": 3}).encode()
        self.send_response(200 if self.path == "/v2/pet/7" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def pet_store() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PetStore)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_readme_example_calls_the_http_api_and_the_python_function(
    treadle: Treadle, tmp_path: Path, pet_store: str
) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    flow = _code_block_after(readme, "`flows/pets.yaml`", "yaml")
    functions = _code_block_after(readme, "`flows/fees.py`", "python")
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "pets.yaml").write_text(flow.replace("https://petstore.example", pet_store))
    (tmp_path / "flows" / "fees.py").write_text(functions)
    result = treadle(
        "run", "flows/pets.yaml", "--input", '{"petId": 7}', "--functions", "flows/fees.py", "--json"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["output"] == {"fee": 50, "currency": "EUR"}

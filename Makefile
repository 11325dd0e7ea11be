# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint install clean docs bench bench-quick

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Start `treadle server` (SQLite under the user data dir), apply the example, say how to
# run it; the server stays in the foreground until Ctrl-C.
run: $(STAMP)
	@$(BIN)/treadle server --log-format text & server=$$!; \
	trap 'kill $$server 2>/dev/null; wait $$server' INT TERM; \
	until $(BIN)/python -c "import httpx; httpx.get('http://127.0.0.1:8080/health')" 2>/dev/null; do \
		kill -0 $$server 2>/dev/null || exit 1; sleep 0.3; done; \
	$(BIN)/treadle apply -f examples/hello.yaml && \
	echo && echo "treadle server is running on http://127.0.0.1:8080 (Ctrl-C stops it). In another terminal:" && \
	echo "  .venv/bin/treadle start hello --input '{\"name\": \"you\"}' --watch" && \
	echo "  .venv/bin/treadle get executions" && echo; \
	wait $$server

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

test: $(STAMP) lint
	$(BIN)/pytest -q

# docs/cli.md is generated from the commands' help; tests/cli/test_docs.py keeps it current.
docs: $(STAMP)
	$(BIN)/typer treadle.cli.app utils docs --name treadle --title "The treadle command" --output docs/cli.md

# treadle beside its peers (bench/README.md); peers install into .bench/venvs/, not .venv.
bench: $(STAMP)
	$(BIN)/python bench/run.py

bench-quick: $(STAMP)
	$(BIN)/python bench/run.py --quick

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

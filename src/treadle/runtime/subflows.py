"""Sub-workflows (`run: workflow`) for runtimes that run a child inline.

A `WorkflowCatalog` finds a workflow by `namespace`, `name` and `version` among the
documents it was given; `SubWorkflowRun` is the call handler for the `workflow` kind: it
runs the child with the parent's effects (so its calls reach the same world) and
returns the child's output, or raises the child's fault. `treadle run` fills the catalog
from `--with FILE` and from the documents beside the main file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from treadle.dsl import InvalidDocument, Workflow, parse_file
from treadle.engine import Effects, WorkflowError, run_workflow
from treadle.engine.errors import ErrorType

__all__ = ["SubWorkflowRun", "WorkflowCatalog"]

_DOCUMENT_SUFFIXES = (".yaml", ".yml", ".json")
# A workflow that runs itself, directly or not, would recurse until memory runs out.
_MAX_DEPTH = 32

WorkflowKey = tuple[str, str, str]


def _key_of(workflow: Workflow) -> WorkflowKey:
    document = workflow.document
    return (document.namespace, document.name, str(document.version))


class WorkflowCatalog:
    """Workflows by (namespace, name, version): given ones first, then a folder's."""

    def __init__(self, workflows: Iterable[Workflow] = (), *, search: Iterable[Path] = ()) -> None:
        self._workflows: dict[WorkflowKey, Workflow] = {}
        for workflow in workflows:
            self.add(workflow)
        self._pending_folders = list(search)

    @classmethod
    def from_files(cls, paths: Iterable[Path], *, search: Iterable[Path] = ()) -> WorkflowCatalog:
        """A catalog of the documents at `paths` (raising `InvalidDocument` for a bad one)."""
        return cls((parse_file(path) for path in paths), search=search)

    def add(self, workflow: Workflow) -> None:
        """Make `workflow` findable; a later one with the same key does not replace it."""
        self._workflows.setdefault(_key_of(workflow), workflow)

    def find(self, namespace: str, name: str, version: str) -> Workflow | None:
        """The workflow with that key, looking through the search folders on first miss."""
        key = (namespace, name, version)
        if key not in self._workflows:
            self._load_search_folders()
        return self._workflows.get(key)

    def _load_search_folders(self) -> None:
        # Documents beside the main file are read only when a child is first asked for;
        # files that are not valid workflows are simply not candidates.
        folders, self._pending_folders = self._pending_folders, []
        for folder in folders:
            for path in sorted(folder.iterdir()):
                if path.suffix in _DOCUMENT_SUFFIXES and path.is_file():
                    try:
                        self.add(parse_file(path))
                    except InvalidDocument:
                        continue


class SubWorkflowRun:
    """The `workflow` call handler: runs a catalogued child with the parent's effects."""

    def __init__(self, catalog: WorkflowCatalog, effects: Effects, *, depth: int = 0) -> None:
        self.catalog = catalog
        self.effects = effects
        self.depth = depth

    async def call(self, args: Mapping[str, Any], key: str) -> Any:
        """Run the child named by `args` (`namespace`, `name`, `version`, `input`)."""
        namespace, name, version = (str(args.get(field, "")) for field in ("namespace", "name", "version"))
        reference = f"{namespace}/{name}:{version}"
        child = self.catalog.find(namespace, name, version)
        if child is None:
            raise WorkflowError(
                ErrorType.CONFIGURATION,
                title="Unknown workflow",
                detail=f"no workflow {reference} is known: give it with --with FILE or put it "
                "beside the main document",
            )
        if self.depth >= _MAX_DEPTH:
            raise WorkflowError(
                ErrorType.RUNTIME,
                title="Sub-workflows nested too deeply",
                detail=f"{reference} would be the {_MAX_DEPTH + 1}th nested sub-workflow",
            )
        self.depth += 1
        try:
            result = await run_workflow(child, args.get("input", {}), self.effects, execution_id=key)
        finally:
            self.depth -= 1
        if result.error is not None:
            raise WorkflowError(
                result.error.type,
                status=result.error.status,
                title=result.error.title,
                detail=f"in sub-workflow {reference} at {result.error.instance or '/'}: "
                f"{result.error.detail or result.error.title}",
            )
        if result.status == "cancelled":
            raise WorkflowError(ErrorType.RUNTIME, title="Sub-workflow cancelled", detail=reference)
        return result.output

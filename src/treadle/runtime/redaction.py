"""Keeping secret values out of what people see: outputs, records, logs, errors.

A `Redactor` knows a run's secret values (every string leaf of `$secrets` for `treadle
run`; of the `is_secret` entries for the durable runtimes) and replaces each occurrence
inside strings (and keys) with `***`, longer values first. Short values are skipped:
redacting "1" or "no" everywhere would mangle ordinary data and protect nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

__all__ = ["REDACTED", "Redactor"]

REDACTED = "***"
_MIN_SECRET_LENGTH = 4


def _string_leaves(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _string_leaves(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _string_leaves(item)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield str(value)


class Redactor:
    """Replaces a run's secret values wherever they appear in JSON-like data."""

    def __init__(self, secrets: Mapping[str, Any]) -> None:
        # Longest first, so a secret containing another is replaced whole.
        values = {leaf for leaf in _string_leaves(dict(secrets)) if len(leaf) >= _MIN_SECRET_LENGTH}
        self._values = sorted(values, key=len, reverse=True)

    @classmethod
    def of_values(cls, values: Iterable[Any]) -> Redactor:
        """A redactor of these secret values (strings, numbers, or JSON-like data whose
        leaves are all secret): the durable runtimes' `is_secret` entries."""
        return cls({str(index): value for index, value in enumerate(values)})

    def __bool__(self) -> bool:
        return bool(self._values)

    def text(self, text: str) -> str:
        """`text` with every secret value replaced."""
        for value in self._values:
            if value in text:
                text = text.replace(value, REDACTED)
        return text

    def value(self, value: Any) -> Any:
        """A copy of a JSON-like value with secrets replaced in every string (keys too)."""
        if not self._values:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.text(str(key)): self.value(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(item) for item in value]
        if isinstance(value, int | float) and not isinstance(value, bool) and str(value) in self._values:
            return REDACTED
        return value

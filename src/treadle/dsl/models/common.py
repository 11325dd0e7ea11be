"""The shared pieces of a Serverless Workflow 1.0.3 document: durations, data-flow
configuration (`input`, `output`, `export`, `schema`), timeouts, errors and retry policies.

Every model is frozen and keeps the spec's field names through aliases (`schema_` is
`schema`, `from_` is `from`, `as_` is `as`), so `model_dump(by_alias=True)` gives back
the document's own spelling. Durations are parsed once here: a literal ISO 8601 string or
an inline object becomes `Duration.seconds`, a runtime expression stays in
`Duration.expression` for the engine to evaluate.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Backoff",
    "Duration",
    "ErrorDefinition",
    "ErrorFilter",
    "Export",
    "Input",
    "Jitter",
    "Model",
    "Output",
    "RetryAttemptLimit",
    "RetryLimit",
    "RetryPolicy",
    "Schema",
    "Timeout",
    "parse_duration",
    "parse_iso8601_duration",
]


class Model(BaseModel):
    """Base of every DSL model: immutable, spec spellings via aliases, extensions kept."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="allow")


_ISO_DURATION = re.compile(
    r"^P(?!$)(?:(?P<years>\d+(?:\.\d+)?)Y)?(?:(?P<months>\d+(?:\.\d+)?)M)?(?:(?P<weeks>\d+(?:\.\d+)?)W)?"
    r"(?:(?P<days>\d+(?:\.\d+)?)D)?(?:T(?=\d)(?:(?P<hours>\d+(?:\.\d+)?)H)?"
    r"(?:(?P<minutes>\d+(?:\.\d+)?)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)
# Years and months have no fixed length; the usual approximations keep them usable.
_UNIT_SECONDS = {
    "years": 365 * 86400.0,
    "months": 30 * 86400.0,
    "weeks": 7 * 86400.0,
    "days": 86400.0,
    "hours": 3600.0,
    "minutes": 60.0,
    "seconds": 1.0,
}
_OBJECT_UNIT_SECONDS = {
    "days": 86400.0,
    "hours": 3600.0,
    "minutes": 60.0,
    "seconds": 1.0,
    "milliseconds": 0.001,
}


def parse_iso8601_duration(text: str) -> float:
    """Seconds in an ISO 8601 duration such as `PT1S`, `PT0.01S` or `P1DT2H`.

    Raises:
        ValueError: the text is not an ISO 8601 duration.
    """
    match = _ISO_DURATION.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not an ISO 8601 duration")
    return sum(float(value) * _UNIT_SECONDS[unit] for unit, value in match.groupdict().items() if value)


def _is_expression(value: object) -> bool:
    return isinstance(value, str) and value.strip().startswith("${") and value.strip().endswith("}")


class Duration(Model):
    """A duration: `seconds` when known at build time, else the `expression` giving one."""

    seconds: float | None = None
    expression: str | None = None


def parse_duration(value: Any) -> Duration:
    """Build a `Duration` from the document's spelling (ISO string, object or expression)."""
    if isinstance(value, Duration):
        return value
    if isinstance(value, dict):
        total = sum(float(value.get(unit) or 0) * factor for unit, factor in _OBJECT_UNIT_SECONDS.items())
        return Duration(seconds=total)
    if isinstance(value, int | float):
        return Duration(seconds=float(value))
    if _is_expression(value):
        return Duration(expression=str(value))
    return Duration(seconds=parse_iso8601_duration(str(value)))


class Schema(Model):
    """A data schema (`format: json` is JSON Schema), inline or as an external resource."""

    format: str = "json"
    document: dict[str, Any] | None = None
    resource: dict[str, Any] | None = None


class Input(Model):
    """Validation (`schema`) and transformation (`from`) of raw input."""

    schema_: Schema | None = Field(default=None, alias="schema")
    from_: Any = Field(default=None, alias="from")


class Output(Model):
    """Transformation (`as`) and validation (`schema`) of output."""

    schema_: Schema | None = Field(default=None, alias="schema")
    as_: Any = Field(default=None, alias="as")


class Export(Model):
    """How a task's output updates the workflow context (`as`) and the context's `schema`."""

    schema_: Schema | None = Field(default=None, alias="schema")
    as_: Any = Field(default=None, alias="as")


class Timeout(Model):
    """A timeout: the task or workflow faults once `after` has passed."""

    after: Duration

    @classmethod
    def build(cls, value: dict[str, Any]) -> Timeout:
        """Build from the document's `{after: duration}`."""
        return cls(after=parse_duration(value.get("after")))


class ErrorDefinition(Model):
    """An error to raise: a problem object whose members may be runtime expressions."""

    type: str
    status: int | str
    instance: str | None = None
    title: str | None = None
    detail: str | None = None


class ErrorFilter(Model):
    """Which errors a `catch` handles: every member given must equal the error's."""

    type: str | None = None
    status: int | None = None
    instance: str | None = None
    title: str | None = None
    details: str | None = None


class Backoff(Model):
    """How the delay grows between attempts: exactly one of the three is set."""

    constant: dict[str, Any] | None = None
    linear: dict[str, Any] | None = None
    exponential: dict[str, Any] | None = None

    @property
    def kind(self) -> str:
        """The strategy's name: "constant", "linear" or "exponential"."""
        if self.exponential is not None:
            return "exponential"
        if self.linear is not None:
            return "linear"
        return "constant"


class RetryAttemptLimit(Model):
    """Limits per attempt: how many retries (`count`) and how long each may take."""

    count: int | None = None
    duration: Duration | None = None


class RetryLimit(Model):
    """The limits of a retry policy."""

    attempt: RetryAttemptLimit | None = None
    duration: Duration | None = None


class Jitter(Model):
    """A random extra delay between `from_` and `to`."""

    from_: Duration = Field(alias="from")
    to: Duration


class RetryPolicy(Model):
    """When and how to retry a faulted `try` block."""

    when: str | None = None
    except_when: str | None = Field(default=None, alias="exceptWhen")
    delay: Duration | None = None
    backoff: Backoff | None = None
    limit: RetryLimit | None = None
    jitter: Jitter | None = None

    @classmethod
    def build(cls, value: dict[str, Any]) -> RetryPolicy:
        """Build from the document's spelling, parsing every duration once."""
        data = dict(value)
        if "delay" in data:
            data["delay"] = parse_duration(data["delay"])
        if isinstance(data.get("jitter"), dict):
            jitter = data["jitter"]
            data["jitter"] = {
                "from": parse_duration(jitter.get("from")),
                "to": parse_duration(jitter.get("to")),
            }
        if isinstance(data.get("limit"), dict):
            limit = dict(data["limit"])
            if "duration" in limit:
                limit["duration"] = parse_duration(limit["duration"])
            if isinstance(limit.get("attempt"), dict):
                attempt = dict(limit["attempt"])
                if "duration" in attempt:
                    attempt["duration"] = parse_duration(attempt["duration"])
                limit["attempt"] = attempt
            data["limit"] = limit
        return cls.model_validate(data)

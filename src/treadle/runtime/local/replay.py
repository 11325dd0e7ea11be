"""What a run's journal says so far, indexed for a replay.

The journal holds two kinds of entries: bookkeeping (`effect`: the result of an effect
by key; `timer`: when a long wait is due) and observations (`phase`, `task.*`,
`decision`: what people see). A replay answers effects from `results`, honours the due
times in `timers`, and uses `recorded` to skip observations the engine repeats while it
re-runs what was already recorded.

An observation's identity is its type, where it happened (position and attempt for a
task, the deciding and target nodes for a decision) and how many times the same thing
happened before in this run (a `then` loop revisits a task at the same position). Within
one branch the engine repeats these in the same order, so the identities match.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from treadle.store import JournalEvent

__all__ = ["EFFECT", "TIMER", "Identity", "IdentityCounter", "Replay"]

EFFECT = "effect"
TIMER = "timer"
Identity = tuple[Any, ...]


class IdentityCounter:
    """Numbers repeated observations so that each has a stable identity."""

    def __init__(self) -> None:
        self._seen: Counter[tuple[Any, ...]] = Counter()

    def identity(self, type: str, data: Mapping[str, Any]) -> Identity | None:
        """The identity of an observation entry, None for those not deduplicated (phases)."""
        if type.startswith("task."):
            base: tuple[Any, ...] = (type, data.get("position"), data.get("attempt"))
        elif type == "decision":
            base = (type, data.get("from"), data.get("to"), data.get("case"), data.get("reason"))
        else:
            return None
        count = self._seen[base]
        self._seen[base] = count + 1
        return (*base, count)


@dataclass
class Replay:
    """The journal of one execution, indexed.

    Attributes:
        results: effect key → (its index among effect entries, the entry's data).
        timers: effect key → the due time of a long wait.
        recorded: identity → time of every observation already in the journal.
        last_seq: the journal's last seq (the next entry is `last_seq + 1`).
        phases: how many phase entries the journal has.
    """

    results: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    timers: dict[str, datetime] = field(default_factory=dict)
    recorded: dict[Identity, datetime] = field(default_factory=dict)
    last_seq: int = 0
    phases: int = 0

    @classmethod
    def build(cls, events: Iterable[JournalEvent]) -> Replay:
        """Index a journal read in seq order."""
        replay = cls()
        counter = IdentityCounter()
        index = 0
        for event in events:
            replay.last_seq = event.seq
            data = event.data if isinstance(event.data, dict) else {}
            if event.type == EFFECT:
                replay.results[str(data.get("key"))] = (index, data)
                index += 1
            elif event.type == TIMER:
                replay.timers[str(data.get("key"))] = datetime.fromisoformat(str(data.get("due")))
            elif event.type == "phase":
                replay.phases += 1
            else:
                identity = counter.identity(event.type, data)
                if identity is not None:
                    replay.recorded[identity] = event.at
        return replay

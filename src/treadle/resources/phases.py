"""The lifecycle of an execution: every allowed phase transition, in one table."""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["ACTIVE", "PHASES", "TERMINAL", "TRANSITIONS", "Phase", "can_transition"]

Phase = Literal["pending", "running", "waiting", "suspended", "completed", "faulted", "cancelled"]
PHASES: tuple[Phase, ...] = get_args(Phase)

TERMINAL: frozenset[Phase] = frozenset({"completed", "faulted", "cancelled"})
ACTIVE: frozenset[Phase] = frozenset(PHASES) - TERMINAL

TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    "pending": frozenset({"running", "cancelled", "faulted"}),
    "running": frozenset({"waiting", "suspended", "completed", "faulted", "cancelled"}),
    "waiting": frozenset({"running", "completed", "faulted", "cancelled"}),
    "suspended": frozenset({"running", "completed", "faulted", "cancelled"}),
    "completed": frozenset(),
    "faulted": frozenset(),
    "cancelled": frozenset(),
}


def can_transition(current: Phase, new: Phase) -> bool:
    """Whether an execution in `current` may move to `new` (staying put is allowed)."""
    return new == current or new in TRANSITIONS[current]

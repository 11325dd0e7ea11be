"""`settle_heap`: a long-running process's start-up objects leave the collector's passes."""

from __future__ import annotations

import gc

from treadle.cli.heap import settle_heap


def test_start_up_objects_are_frozen() -> None:
    assert gc.get_freeze_count() == 0
    try:
        settle_heap()
        assert gc.get_freeze_count() > 1000
    finally:
        gc.unfreeze()

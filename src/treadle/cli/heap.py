"""The heap of a long-running treadle process (`treadle server`, `treadle worker`)."""

from __future__ import annotations

import gc

__all__ = ["settle_heap"]


def settle_heap() -> None:
    """Keep what start-up built out of the garbage collector's full passes.

    A server's heap is mostly the modules, classes and caches its start-up made (~150,000
    objects). Every full collection walked them all again (~80 ms with the GIL held,
    every few hundred short runs under load: the slowest rounds of the `throughput`
    benchmark); frozen, it walks only what the runs made (docs/benchmarks.md,
    "Eighth round"). Call it once, when start-up is done.
    """
    gc.collect()
    gc.freeze()

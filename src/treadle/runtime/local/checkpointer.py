"""`Checkpointer`: copies a SQLite WAL into the database file, on a thread of its own.

The runtime's commits never checkpoint: SQLite's automatic checkpoint runs inside the
commit that crosses its mark, and the runs waiting on that commit would wait for its
copying and its two fsyncs too (milliseconds). The writer counts about how many pages its
commits write (`pages`), and once they pass `CHECKPOINT_PAGES` this thread runs a
`PASSIVE` checkpoint, which never blocks a writer: neither the loop's commits nor the
writer's rounds wait for it. (Run between the writer's rounds, it held up an `async`
run's batches: 8 ms in one run of 25; run after every run's last commit, it cost 0.5-0.9 ms
of CPU a run for a WAL of a few dozen pages.)
"""

from __future__ import annotations

import logging
import sqlite3
import threading

from sqlalchemy import Engine

from treadle.store._fast import RawAppender

__all__ = ["CHECKPOINT_PAGES", "Checkpointer", "pages"]

log = logging.getLogger(__name__)

#: WAL pages written between two checkpoints: SQLite's own automatic checkpoint mark, which
#: the store's connections leave to the runtime (`SQLITE_AUTOCHECKPOINT_PAGES`).
CHECKPOINT_PAGES = 1000


def pages(rows: int, reports: int = 0) -> int:
    """About how many pages a commit writes to the WAL (measured: a step's three journal
    rows ~3, 64 rows ~16; a status report rewrites its execution's row, ~7 overflow pages
    for a hundred tasks)."""
    return 3 + rows // 5 + 8 * reports


class Checkpointer:
    """Checkpoints the WAL of `engine`'s SQLite file once enough pages were written.

    Attributes:
        checkpoints: how many it ran.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.checkpoints = 0
        self._cond = threading.Condition()
        self._pages = 0  # written since the last checkpoint, about
        self._due = False
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread."""
        self._stopping = False
        self._thread = threading.Thread(target=self._main, name="treadle-checkpointer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (a checkpoint under way finishes first)."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def wrote(self, count: int) -> None:
        """Count pages a commit wrote (from any thread); past the mark, checkpoint."""
        with self._cond:
            self._pages += count
            if self._pages >= CHECKPOINT_PAGES:
                self._pages = 0
                self._due = True
                self._cond.notify()

    def _main(self) -> None:
        appender: RawAppender | None = None
        try:
            while True:
                with self._cond:
                    while not self._due and not self._stopping:
                        self._cond.wait()
                    if self._stopping:
                        return
                    self._due = False
                if appender is None:
                    appender = RawAppender(self.engine, autocheckpoint=False)
                try:
                    appender.checkpoint()
                except sqlite3.Error as error:  # the next one catches up
                    log.debug("WAL checkpoint failed: %s", error)
                    continue
                self.checkpoints += 1
        finally:
            if appender is not None:
                appender.close()

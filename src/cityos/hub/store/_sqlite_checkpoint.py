"""WAL checkpoints of the SQLite store in a thread of their own, outside the writers' lock.

In WAL mode every COMMIT appends the transaction's pages to the ``-wal`` file; a checkpoint
copies them back into the database file and syncs both (with ``synchronous=NORMAL`` the
only fsyncs there are). By default SQLite runs one inside the COMMIT that takes the WAL past
1,000 pages — in the committing writer, while it holds the store's writers' lock. A batch
of 1,000 new entities with their history writes about that much, so nearly every batch paid
for a checkpoint and its fsyncs inside the lock: 21–29 ms of COMMIT a batch against 8–10 ms
without (docs/benchmarks.md, session 11), while the next batch waited for the lock.

Here the store's connections keep SQLite's automatic checkpoint only as a backstop
(``BACKSTOP_PAGES``: should this thread fall far behind, a writer checkpoints as before), and
this thread runs ``PRAGMA wal_checkpoint(PASSIVE)`` on a connection of its own after
writes: at most one every ``INTERVAL`` seconds, so the fsyncs of many commits are shared. A
PASSIVE checkpoint takes no lock a writer or reader waits for (SQLite: "Checkpoint as many
frames as possible without waiting for any database readers or writers to finish"); writers
go on appending meanwhile, and the next writer after a complete checkpoint starts the WAL
from its beginning again. ``journal_size_limit`` (set on the store's connections) truncates
a WAL that a burst made large once it is reset. Durability is what it was: with
``synchronous=NORMAL`` a commit is synced at the next checkpoint either way.

Under a steady stream of batches that complete checkpoint rarely came: a writer appended
frames while each PASSIVE checkpoint ran, so at no writer's start was the whole WAL copied
back, the WAL never started over, grew to the backstop within ~25 batches, and from then on
every COMMIT ran the backstop checkpoint (and its fsync) inside the writers' lock again
(20–27 ms of a batch's ~65 ms under the lock, measured session 12). So when a checkpoint
leaves the WAL longer than ``RESET_PAGES``, the thread runs one more PASSIVE checkpoint
holding the store's writers' lock (``lock``): it copies only the frames appended since the
last one, no writer appends meanwhile, so it completes, and the next writer starts the WAL
from its beginning. Writers wait for that one checkpoint, at most once per ``INTERVAL``
while the WAL is long; readers never wait (a reader still using the WAL only keeps it from
starting over: the backstop stays).

That checkpoint under the lock copied everything the writers had appended while the one
before it ran — with 1,000-entity batches about 20 MB, 67–110 ms of held writers, one reset
in ten batches (session 14). So the thread first catches up outside the lock (``CATCH_UP``
more PASSIVE checkpoints, each copying what was appended during the one before, until at
most ``RESIDUAL_PAGES`` were): the lock's checkpoint then copies about one batch. And the
marks are far apart: the backstop (a writer's own checkpoint inside its COMMIT, 80–175 ms)
sits four times above ``RESET_PAGES``, which a steady load no longer reaches between two of
this thread's checkpoints.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from contextlib import AbstractContextManager
from pathlib import Path

log = logging.getLogger(__name__)

# Pages the WAL may reach before a writer checkpoints itself (SQLite's default is 1,000):
# 256 MiB of 4 KiB pages, ~150 batches of 1,000 sensor entities with their history, far
# above RESET_PAGES. At 16,384 (a third above the old reset mark) a steady load reached it
# between two of this thread's checkpoints about once in ten batches, and that writer's
# COMMIT ran a checkpoint of 80–175 ms under the writers' lock (session 14).
BACKSTOP_PAGES = 65_536
# A WAL larger than this is truncated to it once a checkpoint has reset it (a burst's size
# is not kept on disk; under a steady load the WAL stays below it and is overwritten in
# place, not grown again after each reset).
WAL_LIMIT_BYTES = 128 * 1024 * 1024
# A WAL of more frames than this after a checkpoint is reset under the writers' lock: 64 MiB
# of 4 KiB pages, ~12 batches of 1,000 sensor entities with their history; a burst that
# stays under it pays nothing. Each reset holds the writers for ~35–70 ms (copying about a
# batch's frames and syncing them), so fewer resets hold them less.
RESET_PAGES = 16_384
# Before that checkpoint under the writers' lock, up to CATCH_UP more outside it copy what
# the writers appended during the one before, until one finds at most RESIDUAL_PAGES were
# (about a batch of 1,000 sensor entities with their history): the lock's checkpoint copies
# only what was appended during the last. Copying all that a single checkpoint left held
# the writers 67–110 ms a time (session 14: it had copied ~50 MB in ~100 ms while the
# writers appended ~20 MB).
CATCH_UP = 2
RESIDUAL_PAGES = 2_048
# Seconds between two checkpoints at most: the commits in between share one pair of fsyncs.
INTERVAL = 0.25
# Seconds to wait for the thread on close (a checkpoint in progress finishes first).
STOP_TIMEOUT = 10.0
# Seconds without a write after which the thread ends and closes its connection (the next
# write starts another): a store that stops writing, or is dropped unclosed, keeps nothing.
IDLE = 30.0


class Checkpointer:
    """Checkpoints the WAL of ``path`` in a daemon thread after writes (:meth:`wanted`)."""

    def __init__(
        self,
        path: Path,
        *,
        interval: float = INTERVAL,
        idle: float = IDLE,
        lock: AbstractContextManager[object] | None = None,
        reset_pages: int = RESET_PAGES,
        catch_up: int = CATCH_UP,
        residual_pages: int = RESIDUAL_PAGES,
    ) -> None:
        self.path = path
        self.lock = lock  # the store's writers' lock: held for a checkpoint that resets
        self.reset_pages = reset_pages
        self.catch_up = catch_up
        self.residual_pages = residual_pages
        self.resets = 0  # checkpoints run under the writers' lock
        self.reset_seconds = 0.0  # the writers' lock held for them
        self.caught_up = 0  # checkpoints run outside it just before one (CATCH_UP)
        self.interval = interval
        self.idle = idle
        self.checkpoints = 0  # checkpoints run
        self.last: tuple[int, int, int] | None = None  # (busy, WAL frames, checkpointed)
        self._wanted = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()  # guards _thread against a lost wake-up at idle exit
        self._thread: threading.Thread | None = None

    def wanted(self) -> None:
        """Say that a write committed: a checkpoint runs within ``interval`` seconds."""
        with self._lock:
            self._wanted.set()
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._run, name="cityos-sqlite-checkpoint", daemon=True
                )
                self._thread.start()

    def stop(self) -> None:
        """Stop the thread (after the checkpoint it may be running) and wait for it."""
        with self._lock:
            self._stop.set()
            self._wanted.set()
            thread = self._thread
        if thread is not None:
            thread.join(STOP_TIMEOUT)

    def running(self) -> bool:
        """Return True while the thread runs (it ends when idle or stopped)."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def _next(self) -> bool:
        """Wait for a write; return False when the thread is to end (idle or stopped)."""
        while not self._wanted.wait(self.idle):
            with self._lock:
                if not self._wanted.is_set():  # idle: end; the next wanted() starts another
                    self._thread = None
                    return False
        return not self._stop.is_set()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while self._next():
                self._wanted.clear()
                if conn is None:
                    conn = sqlite3.connect(self.path, isolation_level=None, timeout=10)
                self._checkpoint(conn)
                self._stop.wait(self.interval)  # the writes meanwhile share the next one
        except Exception:
            # The writers' backstop checkpoints take over (BACKSTOP_PAGES); say why.
            # Not restarted (a failure that repeats would log at every write).
            log.exception(
                "sqlite_checkpointer_failed: WAL checkpoints fall back to the writers"
                " / WAL 체크포인트 스레드가 실패해 쓰기 연결이 체크포인트를 맡습니다"
            )
        finally:
            if conn is not None:
                conn.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        if not self._passive(conn) or self.lock is None or not self._long():
            return
        for _ in range(self.catch_up):
            before = self.last
            # The writers appended while it copied (the WAL's length it reports is the one
            # it started from): copy those too, still outside the lock. Copying is faster
            # than the writers append, so each copies fewer; stop once few were appended.
            if not self._passive(conn):
                return
            self.caught_up += 1
            after = self.last
            if before is None or after is None or after[1] - before[1] <= self.residual_pages:
                break
        if not self._long():  # a writer started it over meanwhile
            return
        # Long WAL: copy the frames appended meanwhile with no writer appending, so the
        # checkpoint is complete and the next writer starts the WAL over (module docstring).
        with self.lock:
            began = time.perf_counter()
            if self._passive(conn):
                self.resets += 1
            self.reset_seconds += time.perf_counter() - began

    def _long(self) -> bool:
        """Return True when the last checkpoint found the WAL longer than ``reset_pages``."""
        return self.last is not None and self.last[1] > self.reset_pages

    def _passive(self, conn: sqlite3.Connection) -> bool:
        try:
            row = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.OperationalError as error:  # e.g. "database is locked": next time
            log.warning("sqlite_checkpoint_failed: %s", error)
            return False
        self.checkpoints += 1
        self.last = tuple(row) if row is not None else None
        return True

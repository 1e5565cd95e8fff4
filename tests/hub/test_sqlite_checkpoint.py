"""The SQLite store's WAL checkpoints run in a thread of their own, outside the writers'
lock: they happen after writes, copy the WAL back, never lose a write that runs beside
them, end when idle, stop with the store, and fall back to the writers when they fail; a WAL
that steady writes keep long is reset by one checkpoint under the writers' lock."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from cityos.config import Settings
from cityos.db import upgrade
from cityos.hub.store._sqlite_checkpoint import BACKSTOP_PAGES, Checkpointer
from cityos.hub.store.sqlite import SQLiteStore
from tests.conftest import wait_until


def wal_db(path: Path) -> sqlite3.Connection:
    """A WAL database whose writer never checkpoints by itself, with some pages written."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
    conn.executemany("INSERT INTO t (v) VALUES (?)", [("x" * 500,) for _ in range(400)])
    return conn


def commit(conn: sqlite3.Connection, values: list[str]) -> None:
    """Write ``values`` into t in one transaction, as the store's writers do."""
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO t (v) VALUES (?)", [(v,) for v in values])
    conn.execute("COMMIT")


def test_a_write_is_checkpointed_by_the_thread(tmp_path: Path) -> None:
    conn = wal_db(tmp_path / "a.db")
    wal = tmp_path / "a.db-wal"
    checkpointer = Checkpointer(tmp_path / "a.db", interval=0.01)
    try:
        assert wal.stat().st_size > 100_000
        assert checkpointer.checkpoints == 0
        assert not checkpointer.running()  # no thread before the first write
        checkpointer.wanted()
        assert wait_until(lambda: checkpointer.checkpoints >= 1)
        busy, frames, copied = checkpointer.last or (1, 0, -1)
        assert busy == 0
        assert frames > 50
        assert copied == frames  # every frame copied back into the database file
        # the next write starts the WAL from its beginning: it does not grow
        size = wal.stat().st_size
        for _ in range(5):
            conn.executemany("INSERT INTO t (v) VALUES (?)", [("y" * 500,) for _ in range(400)])
            checkpointer.wanted()
            time.sleep(0.1)
        assert wal.stat().st_size <= size * 1.5
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (2400,)
    finally:
        checkpointer.stop()
        conn.close()
    assert not checkpointer.running()


def test_writes_beside_checkpoints_are_all_kept(tmp_path: Path) -> None:
    """A writer committing as fast as it can while checkpoints run back to back: every row
    is there and the database is intact."""
    conn = wal_db(tmp_path / "b.db")
    checkpointer = Checkpointer(tmp_path / "b.db", interval=0.0)
    stop = threading.Event()

    def nudge() -> None:
        while not stop.is_set():
            checkpointer.wanted()
            time.sleep(0.001)

    nudger = threading.Thread(target=nudge)
    nudger.start()
    try:
        for i in range(300):
            commit(conn, [f"{i}-{j}" for j in range(20)])
    finally:
        stop.set()
        nudger.join()
        checkpointer.stop()
    assert checkpointer.checkpoints > 3
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (400 + 300 * 20,)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()
    fresh = sqlite3.connect(tmp_path / "b.db")
    assert fresh.execute("SELECT count(*) FROM t").fetchone() == (400 + 300 * 20,)
    fresh.close()


def test_the_thread_ends_when_idle_and_the_next_write_starts_another(tmp_path: Path) -> None:
    conn = wal_db(tmp_path / "c.db")
    checkpointer = Checkpointer(tmp_path / "c.db", interval=0.0, idle=0.1)
    try:
        checkpointer.wanted()
        assert wait_until(lambda: checkpointer.checkpoints >= 1)
        assert wait_until(lambda: not checkpointer.running())  # idle: ended
        conn.execute("INSERT INTO t (v) VALUES ('z')")
        checkpointer.wanted()
        assert checkpointer.running()
        assert wait_until(lambda: checkpointer.checkpoints >= 2)
    finally:
        checkpointer.stop()
        conn.close()
    assert not checkpointer.running()
    checkpointer.wanted()  # after stop: no thread again
    assert not checkpointer.running()


def test_a_failing_checkpointer_says_so_and_leaves_it_to_the_writers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "not-a-database"
    folder.mkdir()
    checkpointer = Checkpointer(folder, interval=0.0)  # connecting to a directory fails
    with caplog.at_level(logging.ERROR, logger="cityos.hub.store._sqlite_checkpoint"):
        checkpointer.wanted()
        assert wait_until(lambda: not checkpointer.running())
    assert "sqlite_checkpointer_failed" in caplog.text
    assert "체크포인트" in caplog.text
    checkpointer.wanted()  # not restarted: the writers' backstop checkpoints take over
    assert not checkpointer.running()
    checkpointer.stop()


def test_the_store_checkpoints_outside_its_writers_and_stops_on_close(tmp_path: Path) -> None:
    upgrade(Settings(database_url=f"sqlite:///{tmp_path}/hub.db"))
    store = SQLiteStore(tmp_path / "hub.db")
    try:
        with store.transaction("t") as tx:
            tx.insert(
                [
                    {
                        "id": f"urn:ngsi-ld:T:{i}",
                        "type": ["https://example.org/T"],
                        "createdAt": "2026-12-02T00:00:00Z",
                        "modifiedAt": "2026-12-02T00:00:00Z",
                        "attrs": {},
                    }
                    for i in range(200)
                ]
            )
        # the writer's own automatic checkpoint is only the backstop
        assert store._conn().execute("PRAGMA wal_autocheckpoint").fetchone() == (BACKSTOP_PAGES,)
        assert wait_until(lambda: store.checkpointer.checkpoints >= 1)
        assert store.checkpointer.running()
    finally:
        store.close()
    assert not store.checkpointer.running()


class _CountingLock:
    """A threading.Lock that counts how often it was taken."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.taken = 0

    def __enter__(self) -> object:
        self.lock.acquire()
        self.taken += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self.lock.release()


def test_a_long_wal_under_steady_writes_starts_over(tmp_path: Path) -> None:
    """Writers that never pause (each holding the writers' lock for its transaction, as the
    store's do): the checkpoint thread's PASSIVE checkpoints alone never leave the WAL
    wholly copied back at a writer's start, so it would grow without end; once it is longer
    than ``reset_pages``, a checkpoint under the writers' lock completes and the next writer
    starts the WAL over. Every row is kept."""
    lock = _CountingLock()
    checkpointer = Checkpointer(tmp_path / "d.db", interval=0.0, lock=lock, reset_pages=200)
    _steady_writes(tmp_path / "d.db", checkpointer, lock)
    assert lock.taken > 400  # the writers' 400 and the checkpoints that reset the WAL


def _wal_salt(wal: Path) -> bytes:
    """Return the WAL header's salts: a writer that starts the WAL over writes new ones."""
    with wal.open("rb") as f:
        return f.read(24)[16:24]


def _steady_writes(path: Path, checkpointer: Checkpointer, lock: _CountingLock) -> None:
    """Commit 400 transactions, each holding ``lock``; check that the WAL started over (a
    writer wrote a new WAL header; without the lock it never did, and the file grew from
    ~4 MB after 100 transactions to ~11 MB after 400) and that every row is kept.

    (Until session 15 this compared the file's size late and early: how far it grows
    before the first reset depends on how the checkpoint thread is scheduled against the
    writes, 1.0–3.3 times on one host, so that check failed at random.)"""
    conn = wal_db(path)
    wal = path.with_name(path.name + "-wal")
    salts = []
    try:
        for i in range(400):
            with lock:
                commit(conn, [f"{i}-{j}" * 40 for j in range(40)])
                salts.append(_wal_salt(wal))
            checkpointer.wanted()
    finally:
        checkpointer.stop()
    # The thread may win the lock only after the last write (a lock is not fair to a
    # thread waiting on it while another re-takes it at once; seen once in a full test
    # run): the write after a reset starts the WAL over, so one more write here shows it
    # wherever the reset fell.
    with lock:
        commit(conn, ["after"])
        salts.append(_wal_salt(wal))
    assert checkpointer.resets >= 1
    assert len(set(salts)) >= 2  # the WAL started over at least once
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (400 + 400 * 40 + 1,)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()


def test_without_a_lock_no_checkpoint_waits_for_the_writers(tmp_path: Path) -> None:
    conn = wal_db(tmp_path / "e.db")
    checkpointer = Checkpointer(tmp_path / "e.db", interval=0.0, reset_pages=1)
    try:
        checkpointer.wanted()
        assert wait_until(lambda: checkpointer.checkpoints >= 1)
    finally:
        checkpointer.stop()
        conn.close()
    assert checkpointer.resets == 0
    assert checkpointer.lock is None


def test_the_store_gives_its_writers_lock(tmp_path: Path) -> None:
    upgrade(Settings(database_url=f"sqlite:///{tmp_path}/hub.db"))
    store = SQLiteStore(tmp_path / "hub.db")
    try:
        assert store.checkpointer.lock is store._write_lock
    finally:
        store.close()


def test_a_long_wal_is_caught_up_outside_the_lock_before_it_is_reset(tmp_path: Path) -> None:
    """Before the checkpoint under the writers' lock, checkpoints outside it copy what the
    writers appended meanwhile (``catch_up``), so the lock's copies only the last few
    frames; every row is kept and the WAL still starts over."""
    lock = _CountingLock()
    checkpointer = Checkpointer(
        tmp_path / "f.db", interval=0.0, lock=lock, reset_pages=200, catch_up=2, residual_pages=-1
    )
    _steady_writes(tmp_path / "f.db", checkpointer, lock)
    # residual_pages=-1: never few enough appended, so each reset came after both catch-ups
    assert checkpointer.caught_up >= 2 * checkpointer.resets


def test_a_short_wal_is_neither_caught_up_nor_reset(tmp_path: Path) -> None:
    conn = wal_db(tmp_path / "g.db")
    lock = _CountingLock()
    checkpointer = Checkpointer(tmp_path / "g.db", interval=0.0, lock=lock)
    try:
        for i in range(20):
            with lock:
                commit(conn, [f"{i}"])
            checkpointer.wanted()
        assert wait_until(lambda: checkpointer.checkpoints >= 1)
    finally:
        checkpointer.stop()
        conn.close()
    assert checkpointer.caught_up == 0
    assert checkpointer.resets == 0
    assert lock.taken == 20

"""Database engines and transactions.

SQLite runs in WAL mode with a busy timeout, and every writing transaction
starts with ``BEGIN IMMEDIATE``: a deferred transaction that reads and then
writes fails at once with SQLITE_BUSY, whatever the timeout. Reads use a
separate engine with ordinary deferred transactions so they never queue
behind writers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, create_engine

log = logging.getLogger(__name__)

T = TypeVar("T")

BUSY_TIMEOUT_MS = 10_000
LOCK_RETRIES = 5


def normalise_url(url: str) -> str:
    """Point plain PostgreSQL URLs at psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _sqlite_engine(url: str, *, immediate: bool) -> Engine:
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _is_lock_error(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    return "locked" in text or "busy" in text


class Database:
    """Engines for one database URL, and the transactions paybot runs."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.is_sqlite = make_url(self.url).get_backend_name() == "sqlite"
        if self.is_sqlite:
            self.engine = _sqlite_engine(self.url, immediate=True)
            self.read_engine = _sqlite_engine(self.url, immediate=False)
        else:
            self.engine = create_engine(self.url, pool_pre_ping=True, pool_size=10)
            self.read_engine = self.engine

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One writing transaction: committed on exit, rolled back on error."""
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self.read_engine, expire_on_commit=False) as session:
            yield session

    def run_write(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in a writing transaction, retrying a transient lock."""
        for attempt in range(1, LOCK_RETRIES + 1):
            try:
                with self.write() as session:
                    return work(session)
            except OperationalError as exc:
                if (
                    not (self.is_sqlite and _is_lock_error(exc))
                    or attempt == LOCK_RETRIES
                ):
                    raise
                log.warning("database busy, retrying (attempt %d)", attempt)
                time.sleep(0.05 * attempt)
        raise AssertionError("unreachable")

    def run_read(self, work: Callable[[Session], T]) -> T:
        with self.read() as session:
            return work(session)

    async def write_async(self, work: Callable[[Session], T]) -> T:
        """``run_write`` off the event loop, so a busy wait never stalls it."""
        return await asyncio.to_thread(self.run_write, work)

    async def read_async(self, work: Callable[[Session], T]) -> T:
        return await asyncio.to_thread(self.run_read, work)

    def ping(self) -> bool:
        try:
            with self.read_engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        except OperationalError:
            return False
        return True

    def dispose(self) -> None:
        self.engine.dispose()
        self.read_engine.dispose()

"""The simulator's own SQLite store: every change is written before the request returns.

The simulator is a standalone process with no Django models (it must run next to, not inside, the
platform it simulates). State lives in memory for speed and is written through to SQLite on every
change, one transaction per API call or clock step, so a restart (or a crash) loses nothing that
a client was told about. Rows are JSON documents keyed by id: the schema never needs migrating.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["TABLES", "Store"]

TABLES = ("meta", "users", "accounts", "orders", "positions", "trades", "sessions")


class Store:
    """Key -> JSON document tables. Not thread-safe by design: the server's event loop owns it."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        for table in TABLES:
            self._db.execute(f"CREATE TABLE IF NOT EXISTS {table} (k TEXT PRIMARY KEY, doc TEXT)")
        self._depth = 0
        self._lock = threading.RLock()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One transaction for everything written inside; nested batches join the outer one."""
        with self._lock:
            if self._depth == 0:
                self._db.execute("BEGIN")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if self._depth == 0:
                    self._db.execute("ROLLBACK")
                raise
            self._depth -= 1
            if self._depth == 0:
                self._db.execute("COMMIT")

    def put(self, table: str, key: str | int, doc: Any) -> None:
        with self.batch():
            self._db.execute(
                f"INSERT INTO {table} (k, doc) VALUES (?, ?) "  # noqa: S608 (table from TABLES)
                "ON CONFLICT(k) DO UPDATE SET doc = excluded.doc",
                (str(key), json.dumps(doc, separators=(",", ":"))),
            )

    def get(self, table: str, key: str | int) -> Any:
        row = self._db.execute(
            f"SELECT doc FROM {table} WHERE k = ?",  # noqa: S608
            (str(key),),
        ).fetchone()
        return None if row is None else json.loads(row[0])

    def delete(self, table: str, key: str | int) -> None:
        with self.batch():
            self._db.execute(f"DELETE FROM {table} WHERE k = ?", (str(key),))  # noqa: S608

    def all(self, table: str) -> list[Any]:
        rows = self._db.execute(f"SELECT doc FROM {table}").fetchall()  # noqa: S608
        return [json.loads(doc) for (doc,) in rows]

    def close(self) -> None:
        self._db.close()

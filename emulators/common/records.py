"""A tiny persistent record store: JSON documents by (kind, key) in SQLite.

Why plain records: the stand-ins must survive a restart without losing what they acknowledged, and plain
JSON keeps every field (nothing derived is lost on reload, the pitfall of pickled state).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class RecordStore:
    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS records (kind TEXT, key TEXT, body TEXT, PRIMARY KEY (kind, key))"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER)")
        self.lock = threading.RLock()

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        with self.lock:
            row = self._db.execute("SELECT body FROM records WHERE kind=? AND key=?", (kind, key)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, kind: str, key: str, body: dict[str, Any]) -> None:
        with self.lock:
            self._db.execute(
                "INSERT OR REPLACE INTO records (kind, key, body) VALUES (?, ?, ?)",
                (kind, key, json.dumps(body)),
            )

    def insert(self, kind: str, key: str, body: dict[str, Any]) -> bool:
        """Insert unless the key exists; True if inserted."""
        with self.lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO records (kind, key, body) VALUES (?, ?, ?)",
                (kind, key, json.dumps(body)),
            )
            return cur.rowcount == 1

    def delete(self, kind: str, key: str) -> bool:
        with self.lock:
            return self._db.execute("DELETE FROM records WHERE kind=? AND key=?", (kind, key)).rowcount == 1

    def scan(self, kind: str, prefix: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
        """Records of a kind in key order, optionally under a key prefix."""
        with self.lock:
            rows = self._db.execute(
                "SELECT key, body FROM records WHERE kind=? AND key >= ? AND key < ? ORDER BY key",
                (kind, prefix, prefix + "\uffff"),
            ).fetchall()
        for key, body in rows:
            yield key, json.loads(body)

    def next_id(self, name: str, start: int = 1) -> int:
        with self.lock:
            row = self._db.execute("SELECT value FROM counters WHERE name=?", (name,)).fetchone()
            value = (row[0] + 1) if row else start
            self._db.execute("INSERT OR REPLACE INTO counters (name, value) VALUES (?, ?)", (name, value))
            return value

    def close(self) -> None:
        with self.lock:
            self._db.close()

"""The stand-in's SQLite store: delivery queue, run-time subscriptions, the blob listing seen so far.

Why its own tables rather than the shared record store: the delivery queue is read by due time thousands of
times a second under load, which needs an index and set-based updates; and one publish (a batch of events ×
matching subscriptions) must be a single committed transaction before the publisher gets its 200.
``synchronous=FULL`` makes that commit survive a power cut, not only a process crash (≈ 0.2 ms a commit).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Delivery states.
PENDING, IN_FLIGHT, DEAD_PENDING, DEAD_IN_FLIGHT = 0, 1, 2, 3

SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY,
    subscription TEXT NOT NULL,
    event_id TEXT NOT NULL,
    body TEXT NOT NULL,
    size INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    published REAL NOT NULL,
    expires REAL NOT NULL,
    due REAL NOT NULL,
    state INTEGER NOT NULL DEFAULT 0,
    last_status INTEGER,
    last_outcome TEXT,
    last_attempt REAL,
    dead_reason TEXT
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (state, due);
CREATE INDEX IF NOT EXISTS deliveries_subscription ON deliveries (subscription);
CREATE TABLE IF NOT EXISTS subscriptions (key TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS seen_blobs (
    container TEXT NOT NULL,
    name TEXT NOT NULL,
    etag TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (container, name)
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass
class Delivery:
    """One event on its way to one subscription (``body`` is already in the delivery schema)."""

    id: int
    subscription: str
    event_id: str
    body: str
    size: int
    attempts: int
    published: float
    expires: float
    due: float
    state: int = PENDING
    last_status: int | None = None
    last_outcome: str | None = None
    last_attempt: float | None = None
    dead_reason: str | None = None


_COLUMNS = (
    "id, subscription, event_id, body, size, attempts, published, expires, due, state, "
    "last_status, last_outcome, last_attempt, dead_reason"
)


class GridStore:
    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self.lock = threading.RLock()
        self._migrate_walking_skeleton()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One committed transaction (nested use joins the outer one)."""
        with self.lock:
            if self._db.in_transaction:
                yield self._db
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self.lock:
            self._db.close()

    def _migrate_walking_skeleton(self) -> None:
        """Carry the first version's seen-blob records over, so an upgrade re-announces no old blob."""
        with self.transaction() as db:
            if not db.execute("SELECT 1 FROM sqlite_master WHERE name='records'").fetchone():
                return
            rows = db.execute("SELECT key, body FROM records WHERE kind='seen-blob'").fetchall()
            for key, body in rows:
                container, _, name = key.partition("/")
                db.execute(
                    "INSERT OR IGNORE INTO seen_blobs (container, name, etag, body) VALUES (?, ?, ?, ?)",
                    (container, name, json.loads(body)["etag"], json.dumps({"blobType": "BlockBlob"})),
                )
            db.execute("DELETE FROM records WHERE kind='seen-blob'")

    # deliveries ----------------------------------------------------------------------------------------
    def add_deliveries(self, rows: Iterable[tuple[str, str, str, float, float]]) -> int:
        """Queue (subscription, event id, body, published, expires) rows, due at once."""
        with self.transaction() as db:
            cursor = db.executemany(
                "INSERT INTO deliveries (subscription, event_id, body, size, published, expires, due) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                ((s, e, b, len(b), p, x, p) for s, e, b, p, x in rows),
            )
            return cursor.rowcount

    def claim(self, state: int, now: float, limit: int) -> list[Delivery]:
        """Due rows in ``state`` (PENDING or DEAD_PENDING), moved to the matching in-flight state."""
        with self.transaction() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM deliveries WHERE state=? AND due<=? ORDER BY due LIMIT ?",
                (state, now, limit),
            ).fetchall()
            if rows:
                db.executemany(
                    "UPDATE deliveries SET state=? WHERE id=?", [(state + 1, row[0]) for row in rows]
                )
        return [Delivery(*row[:9], state + 1, *row[10:]) for row in rows]

    def release_in_flight(self) -> None:
        """After a restart nothing is in flight: whatever was is due again (at least once)."""
        with self.transaction() as db:
            db.execute("UPDATE deliveries SET state=? WHERE state=?", (PENDING, IN_FLIGHT))
            db.execute("UPDATE deliveries SET state=? WHERE state=?", (DEAD_PENDING, DEAD_IN_FLIGHT))

    def delete(self, ids: Iterable[int]) -> None:
        with self.transaction() as db:
            db.executemany("DELETE FROM deliveries WHERE id=?", [(i,) for i in ids])

    def update(self, deliveries: Iterable[Delivery]) -> None:
        with self.transaction() as db:
            db.executemany(
                "UPDATE deliveries SET attempts=?, due=?, expires=?, state=?, last_status=?, last_outcome=?, "
                "last_attempt=?, dead_reason=? WHERE id=?",
                [
                    (
                        d.attempts,
                        d.due,
                        d.expires,
                        d.state,
                        d.last_status,
                        d.last_outcome,
                        d.last_attempt,
                        d.dead_reason,
                        d.id,
                    )
                    for d in deliveries
                ],
            )

    def next_due(self) -> float | None:
        with self.lock:
            row = self._db.execute(
                "SELECT MIN(due) FROM deliveries WHERE state IN (?, ?)", (PENDING, DEAD_PENDING)
            ).fetchone()
        return row[0]

    def drop_subscription(self, key: str) -> int:
        with self.transaction() as db:
            return db.execute("DELETE FROM deliveries WHERE subscription=?", (key,)).rowcount

    def counts(self) -> dict[str, int]:
        """Queue sizes by state, for the local inspection endpoint and tests."""
        names = {PENDING: "pending", IN_FLIGHT: "in_flight", DEAD_PENDING: "dead_letter_pending"}
        names[DEAD_IN_FLIGHT] = "dead_letter_in_flight"
        with self.lock:
            rows = self._db.execute("SELECT state, COUNT(*) FROM deliveries GROUP BY state").fetchall()
        found = dict(rows)
        return {name: found.get(state, 0) for state, name in names.items()}

    # subscriptions -------------------------------------------------------------------------------------
    def subscriptions(self) -> list[dict[str, Any]]:
        with self.lock:
            rows = self._db.execute("SELECT body FROM subscriptions ORDER BY key").fetchall()
        return [json.loads(body) for (body,) in rows]

    def put_subscription(self, key: str, body: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO subscriptions (key, body) VALUES (?, ?)", (key, json.dumps(body))
            )

    def delete_subscription(self, key: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM subscriptions WHERE key=?", (key,))

    # blobs seen by the storage system topic ------------------------------------------------------------
    def seen_blobs(self) -> dict[str, dict[str, tuple[str, dict[str, Any]]]]:
        """container → name → (etag, facts kept for a later BlobDeleted)."""
        seen: dict[str, dict[str, tuple[str, dict[str, Any]]]] = {}
        with self.lock:
            rows = self._db.execute("SELECT container, name, etag, body FROM seen_blobs").fetchall()
        for container, name, etag, body in rows:
            seen.setdefault(container, {})[name] = (etag, json.loads(body))
        return seen

    def mark_seen(self, container: str, name: str, etag: str, facts: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO seen_blobs (container, name, etag, body) VALUES (?, ?, ?, ?)",
                (container, name, etag, json.dumps(facts)),
            )

    def forget_seen(self, container: str, name: str | None = None) -> None:
        with self.transaction() as db:
            if name is None:
                db.execute("DELETE FROM seen_blobs WHERE container=?", (container,))
            else:
                db.execute("DELETE FROM seen_blobs WHERE container=? AND name=?", (container, name))

    def next_id(self, name: str) -> int:
        with self.transaction() as db:
            row = db.execute("SELECT value FROM counters WHERE name=?", (name,)).fetchone()
            value = (row[0] + 1) if row else 1
            db.execute("INSERT OR REPLACE INTO counters (name, value) VALUES (?, ?)", (name, value))
            return value

"""Audit records of gateway calls in Azure Table Storage: who, what, when, outcome — never a key or a value.

Why a background writer: every call is audited, and a synchronous table write would add its round trip to
every response. Records are queued and written in batches (one Table transaction per partition, ≤ 100
entities); ``flush()`` drains the queue, and it runs at process exit. A hard crash can lose the records of
the last fraction of a second; that is the trade-off named here.
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import queue
import threading
import time
import uuid
from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.data.tables import TableServiceClient

log = logging.getLogger("climatelake.audit")


class AuditLog:
    def __init__(self, connection_string: str, table_name: str = "audit") -> None:
        self._table = TableServiceClient.from_connection_string(connection_string).get_table_client(
            table_name
        )
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=100_000)
        self._lock = threading.Lock()
        self._ready = False
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()
        atexit.register(self.flush)

    def record(self, **fields: Any) -> None:
        now = dt.datetime.now(dt.UTC)
        entity = {
            "PartitionKey": now.strftime("%Y%m%d"),
            "RowKey": now.strftime("%H%M%S%f") + "-" + uuid.uuid4().hex[:8],
            "at": now.isoformat(timespec="milliseconds"),
            **fields,
        }
        try:
            self._queue.put_nowait(entity)
        except queue.Full:
            log.error("audit queue full; record dropped: %s %s", fields.get("method"), fields.get("path"))

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every queued record is written (or ``timeout`` passes); True if all were."""
        deadline = time.monotonic() + timeout
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._queue.all_tasks_done.wait(remaining)
        return True

    def query(self, partition: str) -> list[dict[str, Any]]:
        return list(self._table.query_entities(f"PartitionKey eq '{partition}'"))

    def _ensure_table(self) -> None:
        if not self._ready:
            try:
                self._table.create_table()
            except ResourceExistsError:
                pass
            self._ready = True

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < 100:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._ensure_table()
                by_partition: dict[str, list[dict[str, Any]]] = {}
                for entity in batch:
                    by_partition.setdefault(entity["PartitionKey"], []).append(entity)
                for entities in by_partition.values():
                    self._table.submit_transaction([("create", e) for e in entities])
            except Exception as exc:  # storage down: keep serving, say so loudly
                log.error("could not write %d audit records: %s", len(batch), exc)
            finally:
                for _ in batch:
                    self._queue.task_done()

"""The audit log: one row per access decision and change, in the columns of Databricks'
``system.access.audit`` (state and behaviour; no HTTP).

Columns as the "Audit log system table reference" lists them: ``version``, ``event_time``, ``event_date``,
``workspace_id``, ``source_ip_address``, ``user_agent``, ``session_id``, ``user_identity`` ``{email,
subject_name}``, ``service_name`` (``unityCatalog``), ``action_name`` (``getTable``, ``updatePermissions``,
``generateTemporaryTableCredential`` … as Databricks names them), ``request_id``, ``request_params`` (a
string → string map: ``full_name_arg``, ``securable_type``, ``changes`` …), ``response`` ``{status_code,
error_message, result}``, ``audit_level`` (``WORKSPACE_LEVEL``), ``account_id``, ``event_id``.

Kept as plain records in a SQLite file of their own (``audit.sqlite`` in the data folder: kind ``audit``,
keyed by time then sequence), written by a background thread every 0.1 s, so a decision costs its request
no write (``bench/workspace_latency.py``: a checked get-table stays within 10 % of an unchecked one); a
read of the log writes what is pending first, and closing writes the rest. Rows pending when the process is
killed are lost (as Databricks delivers audit logs after the fact, not inside the request). No secret
values: the routes pass names and ids only — never a token, a SAS or a secret's value.

LIMITATIONS: read through :meth:`AuditLog.rows` (``GET /api/2.0/local/audit``); ``system.access.audit``
through SQL statements comes later (issue 16). Allowed metadata reads by metastore admins are not logged
(no decision is made for them in this step: see ``privileges.py``); everything else the privilege model
decides is, allowed or denied. ``workspace_id`` is 0 and ``account_id`` a fixed local id.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from emulators.common.records import RecordStore

KIND = "audit"
ACCOUNT_ID = "00000000-0000-0000-0000-000000000000"


@dataclass
class Caller:
    """Who asked, from where: what a row records of the request."""

    principal: str
    source_ip_address: str = ""
    user_agent: str = ""
    request_id: str = ""


class AuditLog:
    def __init__(self, store: RecordStore, workspace_id: int = 0, flush_seconds: float = 0.1) -> None:
        self.store = store
        self.workspace_id = workspace_id
        self._pending: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._sequence = itertools.count()
        self._stop = threading.Event()
        self._writer = threading.Thread(
            target=self._run, args=(flush_seconds,), name="audit-writer", daemon=True
        )
        self._writer.start()

    def _run(self, flush_seconds: float) -> None:
        while not self._stop.wait(flush_seconds):
            self.flush()

    def flush(self) -> None:
        """Write the pending rows (in order)."""
        with self._flush_lock:
            with self._lock:
                pending, self._pending = self._pending, []
            for key, row in pending:
                self.store.put(KIND, key, row)

    def close(self) -> None:
        self._stop.set()
        self._writer.join(timeout=5)
        self.flush()

    def record(
        self,
        caller: Caller,
        action_name: str,
        request_params: dict[str, Any],
        status_code: int = 200,
        error_message: str | None = None,
        service_name: str = "unityCatalog",
    ) -> dict[str, Any]:
        now = dt.datetime.now(dt.UTC)
        event_id = str(uuid.uuid4())
        row = {
            "version": "2.0",
            "event_time": now.isoformat(timespec="milliseconds"),
            "event_date": now.date().isoformat(),
            "workspace_id": self.workspace_id,
            "source_ip_address": caller.source_ip_address,
            "user_agent": caller.user_agent,
            "session_id": None,
            "user_identity": {"email": caller.principal, "subject_name": None},
            "service_name": service_name,
            "action_name": action_name,
            "request_id": caller.request_id or event_id,
            "request_params": {k: str(v) for k, v in request_params.items() if v is not None},
            "response": {"status_code": status_code, "error_message": error_message, "result": None},
            "audit_level": "WORKSPACE_LEVEL",
            "account_id": ACCOUNT_ID,
            "event_id": event_id,
        }
        with self._lock:
            self._pending.append((f"{time.time_ns():020d}-{next(self._sequence):012d}", row))
        return row

    def rows(self, **match: str) -> list[dict[str, Any]]:
        """Rows oldest first, those whose top-level column equals each given value (``action_name=…``),
        ``email=…`` matching ``user_identity.email`` and ``status_code=…`` ``response.status_code``."""
        self.flush()
        found = []
        for _, row in self.store.scan(KIND):
            if "email" in match and row["user_identity"]["email"].lower() != match["email"].lower():
                continue
            if "status_code" in match and str(row["response"]["status_code"]) != str(match["status_code"]):
                continue
            if any(str(row.get(k)) != str(v) for k, v in match.items() if k not in ("email", "status_code")):
                continue
            found.append(row)
        return found

"""The audit log: one row per access decision and change, in the columns of Databricks'
``system.access.audit`` (state and behaviour; no HTTP).

Columns as the "Audit log system table reference" lists them: ``version``, ``event_time``, ``event_date``,
``workspace_id``, ``source_ip_address``, ``user_agent``, ``session_id``, ``user_identity`` ``{email,
subject_name}``, ``service_name`` (``unityCatalog``), ``action_name`` (``getTable``, ``updatePermissions``,
``generateTemporaryTableCredential`` … as Databricks names them), ``request_id``, ``request_params`` (a
string → string map: ``full_name_arg``, ``securable_type``, ``changes`` …), ``response`` ``{status_code,
error_message, result}``, ``audit_level`` (``WORKSPACE_LEVEL``), ``account_id``, ``event_id``.

Kept as plain records in the workspace's SQLite (kind ``audit``, keyed by time then id), so a restart keeps
them. No secret values: the routes pass names and ids only — never a token, a SAS or a secret's value.

LIMITATIONS: read through :meth:`AuditLog.rows` (``GET /api/2.0/local/audit``); ``system.access.audit``
through SQL statements comes later (issue 16). Allowed metadata reads by metastore admins are not logged
(no decision is made for them in this step: see ``privileges.py``); everything else the privilege model
decides is, allowed or denied. ``workspace_id`` is 0 and ``account_id`` a fixed local id.
"""

from __future__ import annotations

import datetime as dt
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
    def __init__(self, store: RecordStore, workspace_id: int = 0) -> None:
        self.store = store
        self.workspace_id = workspace_id

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
        self.store.put(KIND, f"{int(now.timestamp() * 1000):013d}-{event_id}", row)
        return row

    def rows(self, **match: str) -> list[dict[str, Any]]:
        """Rows oldest first, those whose top-level column equals each given value (``action_name=…``),
        ``email=…`` matching ``user_identity.email`` and ``status_code=…`` ``response.status_code``."""
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

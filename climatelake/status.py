"""Request status records in Azure Table Storage.

Why a table and not process memory: the gateway, the functions and any number of their replicas must see
the same status, and a restart must lose nothing. Every change is an optimistic, ETag-conditional write, so
two deliveries of the same event cannot both move a request forward, and a late event never moves a
request backwards (see :data:`STATUS_ORDER`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableServiceClient, UpdateMode

PARTITION = "weather"
#: Statuses in the order a request moves through them; a request never moves to an earlier one.
STATUS_ORDER = {"accepted": 0, "manifest_written": 1, "job_started": 2, "succeeded": 3, "failed": 3}
FINAL = {"succeeded", "failed"}


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class RequestStatus:
    request_id: str
    status: str
    timeline: list[dict[str, str]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    submitted_by: str = ""

    @property
    def finished(self) -> bool:
        return self.status in FINAL

    @property
    def changed_at(self) -> dt.datetime | None:
        """When the request last moved (its newest timeline entry), None for a record without one."""
        if not self.timeline:
            return None
        return dt.datetime.fromisoformat(self.timeline[-1]["at"].replace("Z", "+00:00"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "status": self.status,
            "timeline": self.timeline,
            **self.details,
        }


def _from_entity(entity: dict[str, Any]) -> RequestStatus:
    return RequestStatus(
        request_id=entity["RowKey"],
        status=entity["status"],
        timeline=json.loads(entity.get("timeline") or "[]"),
        details=json.loads(entity.get("details") or "{}"),
        submitted_by=entity.get("submitted_by", ""),
    )


class RequestStatusStore:
    def __init__(self, connection_string: str, table_name: str = "requests") -> None:
        service = TableServiceClient.from_connection_string(connection_string)
        self._table = service.get_table_client(table_name)

    def ensure_table(self) -> None:
        try:
            self._table.create_table()
        except ResourceExistsError:
            pass

    def create(self, request_id: str, status: str, submitted_by: str = "", **details: Any) -> RequestStatus:
        """Create the record; if it already exists, return it unchanged (creation is idempotent)."""
        entity = {
            "PartitionKey": PARTITION,
            "RowKey": request_id,
            "status": status,
            "timeline": json.dumps([{"status": status, "at": _now()}]),
            "details": json.dumps(details),
            "submitted_by": submitted_by,
        }
        try:
            self._table.create_entity(entity)
            return _from_entity(entity)
        except ResourceExistsError:
            found = self.get(request_id)
            assert found is not None
            return found

    def claim_idempotency_key(
        self, owner: str, key: str, body_hash: str, request_id: str
    ) -> tuple[str, bool]:
        """Bind (owner, Idempotency-Key) to a request once; returns (request id, same body).

        The first claim returns (``request_id``, True); a repeat returns the first request's id and whether
        its body matched."""
        row = hashlib.sha256(f"{owner}\n{key}".encode()).hexdigest()
        try:
            self._table.create_entity(
                {
                    "PartitionKey": "idempotency",
                    "RowKey": row,
                    "body_hash": body_hash,
                    "request_id": request_id,
                }
            )
            return request_id, True
        except ResourceExistsError:
            entity = self._table.get_entity("idempotency", row)
            return entity["request_id"], entity["body_hash"] == body_hash

    def list_for(self, owner: str | None, before: str | None, limit: int) -> list[RequestStatus]:
        """Requests newest first (ids sort by time); ``owner`` None lists everyone's (admins)."""
        query = f"PartitionKey eq '{PARTITION}'"
        parameters: dict[str, str] = {}
        if owner is not None:
            query += " and submitted_by eq @owner"
            parameters["owner"] = owner
        if before:
            query += " and RowKey lt @before"
            parameters["before"] = before
        records = [_from_entity(e) for e in self._table.query_entities(query, parameters=parameters)]
        records.sort(key=lambda r: r.request_id, reverse=True)
        return records[:limit]

    def unfinished(self) -> list[RequestStatus]:
        """Every request not yet succeeded or failed, oldest first (what the recovery timer looks at)."""
        query = f"PartitionKey eq '{PARTITION}' and status ne 'succeeded' and status ne 'failed'"
        records = [_from_entity(e) for e in self._table.query_entities(query)]
        return sorted(records, key=lambda r: r.request_id)

    def get(self, request_id: str) -> RequestStatus | None:
        try:
            return _from_entity(self._table.get_entity(PARTITION, request_id))
        except ResourceNotFoundError:
            return None

    def advance(self, request_id: str, status: str, **details: Any) -> bool:
        """Move a request to ``status`` and merge ``details``; False if it is already there or beyond.

        The write is conditional on the ETag read, so of two racing callers exactly one wins; the loser
        re-reads and sees the request already advanced.
        """

        def change(record: RequestStatus) -> bool:
            if STATUS_ORDER[status] <= STATUS_ORDER[record.status]:
                return False
            record.status = status
            record.timeline.append({"status": status, "at": _now()})
            record.details.update(details)
            return True

        return self._update(request_id, change, create_as=status, **details)

    def add_details(self, request_id: str, **details: Any) -> bool:
        """Merge ``details`` into an existing record without changing its status."""

        def change(record: RequestStatus) -> bool:
            record.details.update(details)
            return True

        return self._update(request_id, change)

    def _update(self, request_id: str, change, create_as: str | None = None, **details: Any) -> bool:
        for _ in range(20):
            try:
                entity = self._table.get_entity(PARTITION, request_id)
            except ResourceNotFoundError:
                if create_as is None:
                    return False
                self.create(request_id, create_as, **details)
                return True
            record = _from_entity(entity)
            if not change(record):
                return False
            entity["status"] = record.status
            entity["timeline"] = json.dumps(record.timeline)
            entity["details"] = json.dumps(record.details)
            try:
                self._table.update_entity(
                    entity,
                    mode=UpdateMode.REPLACE,
                    etag=entity.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
                return True
            except HttpResponseError as exc:
                if exc.status_code != 412:
                    raise
        raise RuntimeError(f"could not update request {request_id}: too much contention")

"""The audit log on Azurite: JSON lines in hourly append blobs, written in the background, read by day."""

from __future__ import annotations

import datetime as dt
import re
import uuid

from azure.storage.blob import BlobServiceClient

from climatelake.audit import AuditLog
from emulators.stack import Stack


def test_records_land_as_json_lines_in_the_hours_append_blob(azurite: Stack):
    container = f"audit-{uuid.uuid4().hex[:8]}"
    log = AuditLog(azurite.connection_string, container)
    for i in range(2_500):
        log.record(key_id=f"k{i % 7}", method="GET", path="/v1/cities", status=200, duration_ms=0.5)
    assert log.flush(timeout=30)
    today = dt.datetime.now(dt.UTC).strftime("%Y%m%d")
    records = log.query(today)
    assert len(records) == 2_500 and len({r["id"] for r in records}) == 2_500
    assert {r["key_id"] for r in records} == {f"k{i}" for i in range(7)}
    assert all(r["at"].startswith(dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")) for r in records)

    blobs = list(
        BlobServiceClient.from_connection_string(azurite.connection_string)
        .get_container_client(container)
        .list_blobs()
    )
    assert blobs and all(b.blob_type == "AppendBlob" for b in blobs)
    assert all(re.fullmatch(r"\d{4}/\d{2}/\d{2}/\d{2}/.+-\d+\.jsonl", b.name) for b in blobs)

    log.record(key_id="again", method="GET", path="/healthz", status=200)  # appends to the same blob
    assert log.flush(timeout=30)
    assert len(log.query(today)) == 2_501


def test_a_day_without_records_reads_as_empty(azurite: Stack):
    log = AuditLog(azurite.connection_string, f"audit-{uuid.uuid4().hex[:8]}")
    assert log.query("20000101") == []

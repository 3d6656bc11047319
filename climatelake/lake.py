"""Read the lake's Delta tables without Spark (polars / delta-rs), for the gateway and the functions.

Why not Spark here: reading one request's result is small and latency-bound; a Spark session costs far more
than the read. Tables are found through Unity Catalog (``w.tables.get``) so the catalog stays the one place
that says where data lives. ``DeltaTable.to_pyarrow_table()`` is avoided on purpose: it can abort the
process at exit (see README, "Known traps").
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import polars as pl
from databricks.sdk import WorkspaceClient
from deltalake import DeltaTable

from climatelake.settings import Settings, parse_connection_string


def storage_options(settings: Settings) -> dict[str, str]:
    """delta-rs / polars options for the storage account in the connection string (Azurite or Azure)."""
    parts = parse_connection_string(settings.storage_connection_string)
    options = {"account_name": parts.get("AccountName", ""), "account_key": parts.get("AccountKey", "")}
    endpoint = parts.get("BlobEndpoint", "")
    if endpoint.startswith("http://"):
        options.update(azure_storage_endpoint=endpoint.rstrip("/"), allow_http="true")
    return options


def request_table_name(settings: Settings, request_id: str) -> str:
    """Mirrors databricks/src/lakehouse.py: the result table of one request."""
    suffix = "".join(c if c.isalnum() or c == "_" else "_" for c in request_id.lower())
    return f"{settings.catalog}.results.request_{suffix}"


@dataclass(frozen=True)
class TableSnapshot:
    full_name: str
    location: str
    version: int
    row_count: int


def table_snapshot(w: WorkspaceClient, settings: Settings, full_name: str) -> TableSnapshot:
    location = w.tables.get(full_name).storage_location
    version, rows = delta_version_and_rows(location, storage_options(settings))
    return TableSnapshot(full_name, location, version, rows)


def delta_version_and_rows(location: str, options: dict[str, str]) -> tuple[int, int]:
    """The Delta table's current version and its row count at that version, from one read of its log.

    Why from the log: the completion of every request needs both, and opening the table twice (once for the
    version, once more to scan) cost as much again (≈ 20 ms against Azurite). Each add action's statistics
    carry ``numRecords`` (Delta protocol, "Per-file Statistics"; Databricks and Sail write it), so the sum
    over the snapshot's files is the row count without reading a data file. The statistics are optional,
    and with deletion vectors a file's ``numRecords`` still counts the rows deleted from it: then the rows
    are counted by a scan of the same snapshot instead."""
    table = DeltaTable(location, storage_options=options)
    version = table.version()
    reader_features = table.protocol().reader_features or []
    if "deletionVectors" not in reader_features:
        actions = pl.DataFrame(table.get_add_actions(flatten=True))
        if actions.height == 0:
            return version, 0
        if "num_records" in actions.columns and actions["num_records"].null_count() == 0:
            return version, int(actions["num_records"].sum())
    rows = pl.scan_delta(table).select(pl.len()).collect().item()
    return version, int(rows)


def read_table(
    w: WorkspaceClient, settings: Settings, full_name: str, version: int | None = None
) -> pl.DataFrame:
    location = w.tables.get(full_name).storage_location
    return pl.scan_delta(location, storage_options=storage_options(settings), version=version).collect()


class CachedTable:
    """A Delta table's rows held in memory until the table's version changes.

    Why: the synchronous weather queries must be fast, and re-reading Delta files for every call costs far
    more than filtering memory. The table's current version is re-checked at most every
    ``check_seconds``; a new version replaces the snapshot. The location comes from Unity Catalog once.
    """

    def __init__(
        self, w: WorkspaceClient, settings: Settings, full_name: str, check_seconds: float = 2.0
    ) -> None:
        self.w = w
        self.settings = settings
        self.full_name = full_name
        self.check_seconds = check_seconds
        self._location: str | None = None
        self._version = -1
        self._frame: pl.DataFrame | None = None
        self._checked = 0.0
        self._checking = False
        self._lock = threading.Lock()  # guards the fields above; never held during storage I/O
        self._load_lock = threading.Lock()

    def frame(self) -> tuple[pl.DataFrame, int]:
        """The snapshot and its version. When a re-check is due, one caller checks (and loads a new version)
        while the others keep answering from the current snapshot: a slow storage round trip never stalls
        every request of the process; only the very first load makes callers wait."""
        now = time.monotonic()
        with self._lock:
            fresh = now - self._checked < self.check_seconds
            if self._frame is not None and (fresh or self._checking):
                return self._frame, self._version
            self._checking = True
        try:
            with self._load_lock:  # one loader; the first callers queue here until a snapshot exists
                if self._frame is None or time.monotonic() - self._checked >= self.check_seconds:
                    self._refresh()
        finally:
            with self._lock:
                self._checking = False
        with self._lock:
            return self._frame, self._version

    def _refresh(self) -> None:
        if self._location is None:
            self._location = self.w.tables.get(self.full_name).storage_location
        options = storage_options(self.settings)
        version = DeltaTable(self._location, storage_options=options).version()
        if version != self._version or self._frame is None:
            frame = pl.scan_delta(self._location, storage_options=options, version=version).collect()
            sort_keys = [c for c in ("city_id", "date", "hour") if c in frame.columns]
            frame = frame.sort(sort_keys) if sort_keys else frame
            with self._lock:
                self._frame, self._version = frame, version
        with self._lock:
            self._checked = time.monotonic()

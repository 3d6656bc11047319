"""Read the lake's Delta tables without Spark (polars / delta-rs), for the gateway and the functions.

Why not Spark here: reading one request's result is small and latency-bound; a Spark session costs far more
than the read. Tables are found through Unity Catalog (``w.tables.get``) so the catalog stays the one place
that says where data lives. ``DeltaTable.to_pyarrow_table()`` is avoided on purpose: it can abort the
process at exit (see README, "Known traps").
"""

from __future__ import annotations

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
    options = storage_options(settings)
    version = DeltaTable(location, storage_options=options).version()
    rows = pl.scan_delta(location, storage_options=options, version=version).select(pl.len()).collect().item()
    return TableSnapshot(full_name, location, version, rows)


def read_table(
    w: WorkspaceClient, settings: Settings, full_name: str, version: int | None = None
) -> pl.DataFrame:
    location = w.tables.get(full_name).storage_location
    return pl.scan_delta(location, storage_options=storage_options(settings), version=version).collect()

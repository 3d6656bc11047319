"""Per-app clients (storage, status store, workspace), created on first use and kept on the app."""

from __future__ import annotations

from databricks.sdk import WorkspaceClient
from flask import current_app

from climatelake.databricks_auth import workspace_client
from climatelake.settings import Settings
from climatelake.status import RequestStatusStore
from climatelake.storage import blob_service, interactive_retry


def settings() -> Settings:
    return current_app.extensions["settings"]


def _cached(name: str, factory):
    cache = current_app.extensions.setdefault("clients", {})
    if name not in cache:
        cache[name] = factory()
    return cache[name]


def statuses() -> RequestStatusStore:
    def make() -> RequestStatusStore:
        store = RequestStatusStore(settings().storage_connection_string, settings().requests_table)
        store.ensure_table()
        return store

    return _cached("statuses", make)


def blobs():
    """Blob client with short retries: a caller is waiting (storage down → 503, see errors.py)."""
    return _cached("blobs", lambda: blob_service(settings(), retry_policy=interactive_retry()))


def workspace() -> WorkspaceClient:
    """The gateway's own principal: its managed identity on Azure, the SDK's chain (DATABRICKS_HOST /
    DATABRICKS_TOKEN) elsewhere (:mod:`climatelake.databricks_auth`)."""
    return _cached("workspace", workspace_client)

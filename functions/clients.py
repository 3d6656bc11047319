"""Clients the functions share, built once per worker process from the app settings."""

from __future__ import annotations

from functools import cache

from databricks.sdk import WorkspaceClient

from climatelake.databricks_auth import workspace_client
from climatelake.events import EventPublisher
from climatelake.settings import Settings
from climatelake.status import RequestStatusStore
from climatelake.storage import blob_service


@cache
def settings() -> Settings:
    return Settings.from_env()


@cache
def workspace() -> WorkspaceClient:
    """The app's own principal: its managed identity on Azure, the SDK's chain (DATABRICKS_HOST /
    DATABRICKS_TOKEN) elsewhere (:mod:`climatelake.databricks_auth`)."""
    return workspace_client()


@cache
def statuses() -> RequestStatusStore:
    store = RequestStatusStore(settings().storage_connection_string, settings().requests_table)
    store.ensure_table()
    return store


@cache
def blobs():
    return blob_service(settings())


@cache
def publisher() -> EventPublisher:
    return EventPublisher(settings())

"""Blob Storage helpers shared by the gateway and the functions."""

from __future__ import annotations

from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient, ContentSettings, LinearRetry

from climatelake.settings import Settings

JSON = ContentSettings(content_type="application/json")


def blob_service(settings: Settings, **options: Any) -> BlobServiceClient:
    """A client for the account; ``options`` go to the SDK (e.g. ``retry_policy``)."""
    return BlobServiceClient.from_connection_string(settings.storage_connection_string, **options)


def interactive_retry() -> LinearRetry:
    """Retries for a caller someone is waiting on (the gateway): three, half a second apart, about two
    seconds in all — Azure's retry guidance for Storage in interactive use ("Interactive, UI, or
    foreground: 2 seconds end to end, linear, 3 attempts, 500 ms"; learn.microsoft.com/azure/architecture/
    best-practices/retry-service-specific). The SDK's default (exponential from 15 s) holds a request for
    over a minute when storage is down (78 s measured against a refused port), long after any client gave
    up; the gateway answers 503 with Retry-After instead."""
    return LinearRetry(backoff=0.5, retry_total=3, random_jitter_range=0.2)


def ensure_containers(service: BlobServiceClient, *names: str) -> None:
    for name in names:
        try:
            service.create_container(name)
        except ResourceExistsError:
            pass


def all_containers(settings: Settings) -> tuple[str, ...]:
    return (
        settings.manifests_container,
        settings.rejected_container,
        settings.raw_container,
        settings.lake_container,
        settings.results_container,
    )


def lake_root(settings: Settings) -> str:
    """The Delta lake's root as Spark and delta-rs address it on Azure (and, unchanged, on Azurite)."""
    return f"abfss://{settings.lake_container}@{settings.storage_account}.dfs.core.windows.net"

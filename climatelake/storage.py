"""Blob Storage helpers shared by the gateway and the functions."""

from __future__ import annotations

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient, ContentSettings

from climatelake.settings import Settings

JSON = ContentSettings(content_type="application/json")


def blob_service(settings: Settings) -> BlobServiceClient:
    return BlobServiceClient.from_connection_string(settings.storage_connection_string)


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

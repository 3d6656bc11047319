"""The stack most workspace-on-Sail tests need: Azurite, Sail and the workspace stand-in, the lake
container and one catalog, started on free ports and stopped after the module."""

from __future__ import annotations

from collections.abc import Iterator

from azure.storage.blob import BlobServiceClient

from emulators.stack import Stack


def catalog_stack(stack: Stack, catalog: str) -> Iterator[Stack]:
    """Start ``stack`` (Azurite, Sail, workspace), create the ``lake`` container and ``catalog``; yield it
    and stop it after. For a module-scoped fixture: ``yield from catalog_stack(Stack(...), CATALOG)``."""
    try:
        stack.start(only=("azurite", "sail", "workspace"))
        BlobServiceClient.from_connection_string(stack.connection_string).create_container("lake")
        stack.workspace_client().catalogs.create(name=catalog)
        yield stack
    finally:
        stack.stop()

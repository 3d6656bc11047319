"""``blobTrigger`` with ``source=EventGrid``: Event Grid delivers ``Microsoft.Storage.BlobCreated`` to
``/runtime/webhooks/blobs?functionName=Host.Functions.<name>``; the host reads the blob with
azure-storage-blob (the binding's ``connection`` app setting) and passes a ``func.InputStream`` made by
azure.functions' own converter. Events for blobs outside the binding's ``path`` pattern are ignored."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlparse

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.functions.blob import BlobConverter
from azure.functions.meta import Datum
from azure.storage.blob import BlobServiceClient, ContainerClient

from emulators.functions_host.app_index import IndexedFunction
from emulators.functions_host.expressions import (
    BindingError,
    connection_string,
    match_blob_path,
    resolve_settings,
)

log = logging.getLogger("functions_host.blob")
RECEIPTS_CONTAINER = "azure-webjobs-hosts"
DEFAULT_HOST_ID = "functions-host-local"


def blob_path_of(event: Mapping[str, Any]) -> str | None:
    """``container/name`` of a BlobCreated event (Event Grid or CloudEvents schema)."""
    subject = str(event.get("subject") or "")
    if "/containers/" in subject and "/blobs/" in subject:
        _, _, rest = subject.partition("/containers/")
        container, _, name = rest.partition("/blobs/")
        return f"{container}/{name}"
    url = (event.get("data") or {}).get("url")
    if (
        url
    ):  # http://host/<account>/<container>/<name> (Azurite) or https://<account>.blob…/<container>/<name>
        parts = unquote(urlparse(url).path).lstrip("/").split("/")
        if urlparse(url).hostname in ("127.0.0.1", "localhost") and len(parts) > 2:
            parts = parts[1:]
        return "/".join(parts)
    return None


def event_type_of(event: Mapping[str, Any]) -> str:
    return str(event.get("eventType") or event.get("type") or "")


def prepare(
    function: IndexedFunction, event: Mapping[str, Any], settings: Mapping[str, str]
) -> tuple[Any, dict[str, Any], Receipt] | None:
    """The ``InputStream``, binding data and blob receipt for one event; None when there is nothing to do
    (another event type, a path outside the pattern, a deleted blob, a version processed already)."""
    if event_type_of(event) != "Microsoft.Storage.BlobCreated":
        log.info("blob trigger '%s': ignoring %s", function.name, event_type_of(event))
        return None
    path = blob_path_of(event)
    pattern = resolve_settings(function.trigger["path"], settings)
    data = match_blob_path(pattern, path) if path else None
    if data is None:
        log.info("blob trigger '%s': %s does not match '%s'", function.name, path, pattern)
        return None
    container, _, name = path.partition("/")
    service = BlobServiceClient.from_connection_string(
        connection_string(function.trigger.get("connection"), settings)
    )
    blob = service.get_blob_client(container, name)
    try:
        downloader = blob.download_blob()
    except ResourceNotFoundError:
        log.warning("blob trigger '%s': %s no longer exists; nothing to do", function.name, path)
        return None
    properties = downloader.properties
    receipt = Receipt(
        service.get_container_client(RECEIPTS_CONTAINER),
        f"blobreceipts/{host_id(settings)}/Host.Functions.{function.name}/{properties.etag}/{container}/{name}",
    )
    if receipt.exists():
        log.info(
            "blob trigger '%s': %s (ETag %s) was processed already (blob receipt); skipping",
            function.name,
            path,
            properties.etag,
        )
        return None
    content = downloader.readall()
    trigger_metadata = {
        "BlobTrigger": Datum(path, "string"),
        "Uri": Datum(blob.url, "string"),
        "Properties": Datum(
            json.dumps(
                {
                    "ContentLength": properties.size,
                    "Length": properties.size,
                    "ContentType": properties.content_settings.content_type,
                    "ETag": properties.etag,
                    "LastModified": properties.last_modified.isoformat()
                    if properties.last_modified
                    else None,
                    "BlobType": str(properties.blob_type),
                }
            ),
            "json",
        ),
        "Metadata": Datum(json.dumps(dict(properties.metadata or {})), "json"),
    }
    stream = BlobConverter.decode(Datum(content, "bytes"), trigger_metadata=trigger_metadata)
    return stream, {**data, "blobTrigger": path, "uri": blob.url}, receipt


@dataclass(frozen=True)
class Receipt:
    """``azure-webjobs-hosts/blobreceipts/<host id>/Host.Functions.<name>/<etag>/<container>/<blob>``."""

    container: ContainerClient
    name: str

    def exists(self) -> bool:
        return self.container.get_blob_client(self.name).exists()

    def write(self) -> None:
        """After a successful invocation: this blob version (ETag) is not processed again by the function."""
        try:
            self.container.upload_blob(self.name, b"", overwrite=True)
        except ResourceNotFoundError:
            try:
                self.container.create_container()
            except ResourceExistsError:
                pass
            self.container.upload_blob(self.name, b"", overwrite=True)


def host_id(settings: Mapping[str, str]) -> str:
    return settings.get("AzureFunctionsWebHost__hostid") or DEFAULT_HOST_ID


__all__ = ["BindingError", "prepare", "blob_path_of", "Receipt"]

"""Turn new blobs in Azurite into ``Microsoft.Storage.BlobCreated`` events (the storage system topic).

Why polling a listing: Azurite emits no events and has no change feed. A listing of a container costs a few
milliseconds; each (blob, ETag) pair is remembered in SQLite, so an overwrite (new ETag) is a new event, as
on Azure, and a restart repeats none.
"""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient

from emulators.eventgrid.models import EventGrid, utc_now_iso

log = logging.getLogger("eventgrid.blobs")


class BlobWatcher:
    def __init__(
        self,
        grid: EventGrid,
        topic: str,
        connection_string: str,
        containers: list[str],
        interval: float = 0.2,
    ) -> None:
        self.grid = grid
        self.topic = topic
        self.service = BlobServiceClient.from_connection_string(connection_string)
        self.containers = containers
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="blob-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception as exc:  # storage briefly unreachable: try again next tick
                log.warning("blob poll failed: %s", exc)
            self._stop.wait(self.interval)

    def poll(self) -> int:
        found = 0
        for container in self.containers:
            try:
                blobs = list(self.service.get_container_client(container).list_blobs())
            except ResourceNotFoundError:
                continue
            for blob in blobs:
                key = f"{container}/{blob.name}"
                seen = self.grid.store.get("seen-blob", key)
                if seen and seen["etag"] == blob.etag:
                    continue
                sequencer = self.grid.store.next_id("sequencer")
                event = self._blob_created(container, blob, sequencer)
                with self.grid.store.lock:
                    self.grid.publish(self.topic, [event])
                    self.grid.store.put("seen-blob", key, {"etag": blob.etag})
                found += 1
        return found

    def _blob_created(self, container: str, blob: Any, sequencer: int) -> dict[str, Any]:
        account = self.service.account_name
        url = f"{self.service.url.rstrip('/')}/{container}/{blob.name}"
        return {
            "topic": f"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local/providers/"
            f"Microsoft.Storage/storageAccounts/{account}",
            "subject": f"/blobServices/default/containers/{container}/blobs/{blob.name}",
            "eventType": "Microsoft.Storage.BlobCreated",
            "eventTime": utc_now_iso(),
            "id": str(uuid.uuid4()),
            "data": {
                "api": "PutBlob",
                "clientRequestId": str(uuid.uuid4()),
                "requestId": str(uuid.uuid4()),
                "eTag": blob.etag.strip('"'),
                "contentType": blob.content_settings.content_type or "application/octet-stream",
                "contentLength": blob.size,
                "blobType": "BlockBlob",
                "url": url,
                "sequencer": f"{sequencer:032x}",
                "storageDiagnostics": {"batchId": str(uuid.uuid4())},
            },
            "dataVersion": "",
            "metadataVersion": "1",
        }

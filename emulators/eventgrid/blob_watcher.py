"""The storage account's system topic: ``Microsoft.Storage.BlobCreated`` / ``BlobDeleted`` from listings.

Why listing: Azurite emits no events and has no change feed. Each poll lists every watched container
(:mod:`blob_listing`; ≈ 2 ms for an empty one, ≈ 60 ms for 1,000 blobs — ``bench/eventgrid_throughput.py``)
and compares the listing with the blobs seen so far (name → ETag, kept in SQLite):
- a new name, or a block blob with a new ETag (an overwrite), is a BlobCreated with the blob's real ETag,
  size, content type and URL. ``api`` is ``CopyBlob`` when the listing shows a copy, ``PutBlockList`` when the
  blob has committed blocks, else ``PutBlob`` (one Get Block List request per new block blob);
- an append or page blob whose ETag changes without being re-created (AppendBlock, PutPage) is no event,
  as on Azure;
- a name gone from the listing is a BlobDeleted.
Each poll's events, their sequencers and the updated seen-set are committed in one transaction, so a
restart neither repeats nor misses an event. Sequencers come from one counter: monotonic across all blobs.

How often: Azure pushes blob events as the write commits ("near real-time event delivery",
https://learn.microsoft.com/azure/event-grid/overview), so every moment between polls is latency Azure
does not have. The next poll follows after the listing cost × 19 (the watcher and storage spend at most
≈ 5 % of one core listing; the cheapest of the last 8 listings, as one slowed by a busy machine says
nothing of what the next costs), at least ``MIN_WAIT`` and at most the topic's ``poll_interval`` (0.2 s
unless configured): a small container (≈ 2.5 ms a listing) is polled every ≈ 50 ms, one of 1,000 blobs
(≈ 60 ms) every 0.2 s as before. Publishing what a poll found is not counted (it is work Azure does too, and
counting it would slow the poll right after a write, when the next write of a burst is likeliest). After a
failed poll (storage unreachable) the next waits the full ``poll_interval``.

Woken by writes: given Azurite's ``--location`` (``storage_location`` in the configuration), the watcher also
waits on an inotify hint that Azurite wrote blob data (:mod:`write_hints`) and then lists after
``HINT_SETTLE`` (the hint comes ≈ 1–2 ms before the blob's metadata commit) — at most once every
``HINT_GAP`` (or 3 × the listing cost, if more), so a burst of writes (a job writing the lake) costs one
listing per gap, not one per write. A hinted listing that found nothing is repeated once after the gap.
The listing stays the truth and the cadence above the fallback: without the folder (Azurite in memory or
elsewhere) the watcher polls exactly as before.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Any

import requests
from azure.core.exceptions import AzureError
from azure.storage.blob import BlobServiceClient

from emulators.eventgrid.blob_listing import BlobLister, ListedBlob, ListingError
from emulators.eventgrid.models import EventGrid
from emulators.eventgrid.resources import Topic
from emulators.eventgrid.schemas import utc_now_iso
from emulators.eventgrid.write_hints import WriteHints

log = logging.getLogger("eventgrid.blobs")
BLOCK_BLOB = "BlockBlob"
#: the share of the time spent polling (listing + comparing + publishing), which sets the wait after a poll
POLL_SHARE = 0.05
#: the shortest wait between two polls (seconds), whatever a poll cost
MIN_WAIT = 0.02
#: how many recent listings the wait is based on (their cheapest)
RECENT_LISTINGS = 8
#: the shortest time between two listings a write hint starts (seconds)
HINT_GAP = 0.02
#: from a write hint to its listing (seconds): Azurite records the blob ≈ 1–2 ms after writing its bytes;
#: listed at once, 4 of 20 new blobs were listed, 19 of 20 after 5 ms, 20 of 20 after 10 ms (scratch probe)
HINT_SETTLE = 0.005


class BlobWatcher:
    def __init__(
        self, grid: EventGrid, topic: Topic, connection_string: str, hint_folder: Path | None = None
    ) -> None:
        self.grid = grid
        self.topic = topic
        self.service = BlobServiceClient.from_connection_string(connection_string)
        self.lister = BlobLister(self.service)
        self.interval = topic.poll_interval
        self._seen = grid.store.seen_blobs()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="eventgrid-blob-watcher", daemon=True)
        self._poll_lock = threading.Lock()
        self.last_poll_seconds = 0.0
        #: the last poll's time less its publishing: what sets the wait before the next
        self.last_listing_seconds = 0.0
        self._listings: deque[float] = deque(maxlen=RECENT_LISTINGS)
        self._publishing = 0.0
        #: write hints (None: poll only); a pipe that wakes the loop's select when stopping
        self.hints = WriteHints(hint_folder) if hint_folder is not None else None
        self._wake_r, self._wake_w = os.pipe() if self.hints is not None else (-1, -1)
        self._last_poll_end = 0.0
        #: how many listings a hint started (for tests and the log)
        self.hinted_polls = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self.hints is not None:
            os.write(self._wake_w, b"x")
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self.lister.close()
        if self.hints is not None:
            self.hints.close()
            os.close(self._wake_r)
            os.close(self._wake_w)

    def _loop(self) -> None:
        hinted = False  # whether the coming poll was started by a write hint
        while not self._stop.is_set():
            wait = self.interval
            try:
                found = self.poll()
                wait = self.next_wait()
                if hinted and not found:  # the hint may have come before the metadata commit
                    wait = min(wait, self.hint_gap())
                if hinted:
                    self.hinted_polls += 1
            except (
                AzureError,
                ListingError,
                requests.RequestException,
            ) as exc:  # storage unreachable for now
                log.warning("blob poll failed: %s", exc)
            except Exception:
                log.exception("blob poll failed")
            hinted = self._sleep(wait)

    def hint_gap(self) -> float:
        """The shortest time between hinted listings: ``HINT_GAP``, or 3 × the listing cost if more."""
        cost = min(self._listings, default=self.last_listing_seconds)
        return max(HINT_GAP, 3 * cost)

    def _sleep(self, wait: float) -> bool:
        """Wait ``wait`` seconds, or less when a write hint comes (then no sooner than the hint gap after the
        last poll); whether a hint ended the wait."""
        if self.hints is None or not self.hints.ensure():
            self._stop.wait(wait)
            return False
        fd = self.hints.fileno()
        ready, _, _ = select.select([fd, self._wake_r], [], [], wait)
        if fd not in ready or self._stop.is_set():
            return False
        self.hints.drain()
        early = self._last_poll_end + self.hint_gap() - time.perf_counter()
        self._stop.wait(max(HINT_SETTLE, early))
        self.hints.drain()  # writes meanwhile are covered by the listing that follows
        return True

    def next_wait(self) -> float:
        """Seconds from the end of a poll to the next: proportional to what listing costs (the cheapest of
        the recent listings), so that listing takes ``POLL_SHARE`` of the time, within [``MIN_WAIT``,
        ``poll_interval``]."""
        cost = min(self._listings, default=self.last_listing_seconds)
        proportional = cost * (1 / POLL_SHARE - 1)
        return min(self.interval, max(MIN_WAIT, proportional))

    def poll(self) -> int:
        """List every watched container once; returns how many events it published."""
        with self._poll_lock:
            began = time.perf_counter()
            self._publishing = 0.0
            if self.topic.containers is None:
                containers = self.lister.containers()
                for gone in set(self._seen) - set(containers):
                    self._forget_container(gone)
            else:
                containers = list(self.topic.containers)
            found = sum(self._poll_container(c) for c in containers)
            self.last_poll_seconds = time.perf_counter() - began
            self.last_listing_seconds = max(0.0, self.last_poll_seconds - self._publishing)
            self._listings.append(self.last_listing_seconds)
            self._last_poll_end = time.perf_counter()
            return found

    def _forget_container(self, container: str) -> None:
        """A deleted container: Azure sends no BlobDeleted per blob, so forget them silently."""
        self.grid.store.forget_seen(container)
        self._seen.pop(container, None)

    def _poll_container(self, container: str) -> int:
        blobs = self.lister.blobs(container)
        if blobs is None:
            if container in self._seen:
                self._forget_container(container)
            return 0
        listing = {blob.name: blob for blob in blobs}
        seen = self._seen.get(container, {})
        created, quiet = [], []
        for name, blob in listing.items():
            previous = seen.get(name)
            if previous is not None and previous[0] == blob.etag:
                continue
            facts = {"contentType": blob.content_type, "blobType": blob.blob_type, "created": blob.created}
            regrown = previous is not None and blob.blob_type != BLOCK_BLOB
            if regrown and previous[1].get("created") == blob.created:
                quiet.append((name, blob.etag, facts))  # AppendBlock / PutPage: no event on Azure
            else:
                created.append((blob, facts))
        deleted = [(name, facts) for name, (_, facts) in seen.items() if name not in listing]
        if not (created or quiet or deleted):
            return 0
        publishing = time.perf_counter()
        apis = {blob.name: self._api(container, blob) for blob, _ in created}
        published = time.time()
        with self.grid.store.transaction():
            events = [self._created(container, blob, facts, apis[blob.name]) for blob, facts in created]
            events += [self._deleted(container, name, facts) for name, facts in deleted]
            self.grid.publish(self.topic.name, events, published, notify=False)
            for blob, facts in created:
                self.grid.store.mark_seen(container, blob.name, blob.etag, facts)
            for name, etag, facts in quiet:
                self.grid.store.mark_seen(container, name, etag, facts)
            for name, _ in deleted:
                self.grid.store.forget_seen(container, name)
        seen = self._seen.setdefault(container, {})
        for blob, facts in created:
            seen[blob.name] = (blob.etag, facts)
        for name, etag, facts in quiet:
            seen[name] = (etag, facts)
        for name, _ in deleted:
            seen.pop(name, None)
        self.grid.notify()  # committed: the scheduler may claim the deliveries now (publish left it to us)
        self._publishing += time.perf_counter() - publishing
        return len(created) + len(deleted)

    def _api(self, container: str, blob: ListedBlob) -> str:
        if blob.copy_id:
            return "CopyBlob"
        if blob.blob_type != BLOCK_BLOB:
            return "PutBlob"
        # None: deleted since the listing; the event still says what was written
        return "PutBlockList" if self.lister.has_committed_blocks(container, blob.name) else "PutBlob"

    def _envelope(self, container: str, name: str, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "topic": self.topic.event_source,
            "subject": f"/blobServices/default/containers/{container}/blobs/{name}",
            "eventType": event_type,
            "eventTime": utc_now_iso(),
            "id": str(uuid.uuid4()),
            "data": data,
            "dataVersion": "",
            "metadataVersion": "1",
        }

    def _common(self, container: str, name: str, facts: dict[str, Any]) -> dict[str, Any]:
        return {
            "clientRequestId": str(uuid.uuid4()),
            "requestId": str(uuid.uuid4()),
            "contentType": facts.get("contentType", "application/octet-stream"),
            "blobType": facts.get("blobType", BLOCK_BLOB),
            "url": self.service.get_blob_client(container, name).url,
            "sequencer": f"{self.grid.store.next_id('sequencer'):048x}",
            "storageDiagnostics": {"batchId": str(uuid.uuid4())},
        }

    def _created(self, container: str, blob: ListedBlob, facts: dict[str, Any], api: str) -> dict[str, Any]:
        data = {"api": api, **self._common(container, blob.name, facts)}
        data.update(eTag=blob.etag, contentLength=blob.size)
        return self._envelope(container, blob.name, "Microsoft.Storage.BlobCreated", data)

    def _deleted(self, container: str, name: str, facts: dict[str, Any]) -> dict[str, Any]:
        data = {"api": "DeleteBlob", **self._common(container, name, facts)}
        return self._envelope(container, name, "Microsoft.Storage.BlobDeleted", data)

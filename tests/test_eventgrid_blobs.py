"""The storage system topic: every blob written in Azurite by any client — SDK upload, block-list commit,
copy, a PUT with a SAS URL — yields exactly one BlobCreated with its real properties within a second, a
deletion one BlobDeleted, and a restart of the stand-in neither repeats nor misses one."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from azure.storage.blob import BlobSasPermissions, BlobServiceClient, ContentSettings, generate_blob_sas

from climatelake.settings import AZURITE_ACCOUNT, AZURITE_KEY
from emulators.eventgrid import blob_watcher
from emulators.eventgrid.testing import RunningGrid, Webhook
from emulators.stack import Stack, wait_until

CREATED, DELETED = "Microsoft.Storage.BlobCreated", "Microsoft.Storage.BlobDeleted"


@pytest.fixture()
def container(azurite: Stack) -> Iterator[str]:
    name = f"blobs-{uuid.uuid4().hex[:12]}"
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    service.create_container(name)
    yield name
    service.delete_container(name)


@pytest.fixture()
def hook() -> Iterator[Webhook]:
    webhook = Webhook()
    yield webhook
    webhook.close()


def blob_grid(
    tmp_path: Path, azurite: Stack, container: str, hook: Webhook, poll_interval: float | None = None
) -> RunningGrid:
    """The stand-in watching ``container``; told Azurite's data folder when Azurite keeps one (on disk)."""
    config = {
        "data_dir": str(tmp_path),
        "time_scale": 0.01,
        "storage_connection_string": azurite.connection_string,
        "resources": [
            {
                "type": "Microsoft.EventGrid/systemTopics",
                "name": "storage",
                "properties": {"topicType": "Microsoft.Storage.StorageAccounts"},
                "containers": [container],
                "pollIntervalSeconds": poll_interval,
            },
            {
                "type": "Microsoft.EventGrid/systemTopics/eventSubscriptions",
                "name": "storage/blobs",
                "properties": {
                    "destination": {
                        "endpointType": "WebHook",
                        "properties": {"endpointUrl": f"{hook.url}/b"},
                    },
                    "filter": {
                        "includedEventTypes": [CREATED, DELETED],
                        "subjectBeginsWith": f"/blobServices/default/containers/{container}/",
                    },
                },
            },
        ],
    }
    if not azurite.in_memory:
        config["storage_location"] = str(azurite.state_dir / "azurite")
    return RunningGrid(config)


def by_name(hook: Webhook, kind: str = CREATED) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for event in hook.events("/b"):
        if event["eventType"] == kind:
            found.setdefault(event["subject"].split("/blobs/", 1)[1], []).append(event)
    return found


def wait_events(hook: Webhook, count: int, kind: str = CREATED, timeout: float = 5.0) -> None:
    hook.wait_for(
        lambda: sum(len(v) for v in by_name(hook, kind).values()) >= count,
        timeout,
        f"{count} {kind} event(s)",
    )


def test_every_kind_of_write_yields_one_blob_created_with_real_properties(
    tmp_path: Path, azurite: Stack, container: str, hook: Webhook
):
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    client = service.get_container_client(container)
    grid = blob_grid(tmp_path, azurite, container, hook)
    try:
        written: dict[str, float] = {}
        client.upload_blob("sdk/put.json", b'{"n": 1}', content_settings=ContentSettings("application/json"))
        written["sdk/put.json"] = time.time()
        blocks = client.get_blob_client("sdk/blocks.bin")
        blocks.stage_block("YmxvY2stMQ==", b"first-")
        blocks.stage_block("YmxvY2stMg==", b"second")
        blocks.commit_block_list(["YmxvY2stMQ==", "YmxvY2stMg=="])
        written["sdk/blocks.bin"] = time.time()
        copy = client.get_blob_client("copies/put-copy.json")
        copy.start_copy_from_url(client.get_blob_client("sdk/put.json").url)
        written["copies/put-copy.json"] = time.time()
        sas = generate_blob_sas(
            AZURITE_ACCOUNT,
            container,
            "sas/uploaded with spaces.txt",
            account_key=AZURITE_KEY,
            permission=BlobSasPermissions(create=True, write=True),
            expiry=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
        )
        sas_url = f"{client.get_blob_client('sas/uploaded with spaces.txt').url}?{sas}"
        put = requests.put(
            sas_url,
            data=b"plain",
            headers={"x-ms-blob-type": "BlockBlob", "Content-Type": "text/plain"},
            timeout=10,
        )
        assert put.status_code == 201
        written["sas/uploaded with spaces.txt"] = time.time()

        wait_events(hook, 4)
        events = by_name(hook)
        assert sorted(events) == sorted(written)
        assert all(len(v) == 1 for v in events.values())
        expected_api = {
            "sdk/put.json": "PutBlob",
            "sdk/blocks.bin": "PutBlockList",
            "copies/put-copy.json": "CopyBlob",
            "sas/uploaded with spaces.txt": "PutBlob",
        }
        for name, (event,) in events.items():
            props = client.get_blob_client(name).get_blob_properties()
            data = event["data"]
            assert data["api"] == expected_api[name], name
            assert data["eTag"] == props.etag.strip('"')
            assert data["contentLength"] == props.size
            assert data["contentType"] == props.content_settings.content_type
            assert data["blobType"] == "BlockBlob"
            assert data["url"] == client.get_blob_client(name).url
            assert event["topic"].endswith(f"/providers/Microsoft.Storage/storageAccounts/{AZURITE_ACCOUNT}")
            assert event["subject"] == f"/blobServices/default/containers/{container}/blobs/{name}"
            received = next(r.at for r in hook.notifications("/b") if event in r.events)
            assert received - written[name] < 1.0, f"{name} took {received - written[name]:.2f} s"
        assert events["sdk/blocks.bin"][0]["data"]["contentLength"] == len(b"first-second")
        assert events["sdk/put.json"][0]["data"]["contentType"] == "application/json"
    finally:
        grid.stop()


def test_overwrites_deletes_and_a_restart(tmp_path: Path, azurite: Stack, container: str, hook: Webhook):
    client = BlobServiceClient.from_connection_string(azurite.connection_string).get_container_client(
        container
    )
    grid = blob_grid(tmp_path, azurite, container, hook)
    try:
        client.upload_blob("a.json", b"1")
        client.upload_blob("b.json", b"2")
        wait_events(hook, 2)
        client.upload_blob("a.json", b"1 again", overwrite=True)  # a new ETag: a new BlobCreated, as on Azure
        client.delete_blob("b.json")
        wait_events(hook, 3)
        wait_events(hook, 1, DELETED)
        (deleted,) = by_name(hook, DELETED)["b.json"]
        assert deleted["data"]["api"] == "DeleteBlob" and deleted["data"]["blobType"] == "BlockBlob"
        assert "eTag" not in deleted["data"]
        grid.stop()

        client.upload_blob("c.json", b"3")  # written while the stand-in is down
        client.delete_blob("a.json")  # and deleted while down
        grid.start()
        wait_events(hook, 4)
        wait_events(hook, 2, DELETED)
        grid.standin.watchers[0].poll()  # one more full poll after the restart: nothing new
        grid.wait_idle()
        created = by_name(hook)
        assert {name: len(v) for name, v in created.items()} == {"a.json": 2, "b.json": 1, "c.json": 1}
        assert {name: len(v) for name, v in by_name(hook, DELETED).items()} == {"b.json": 1, "a.json": 1}
        sequencers = [e["data"]["sequencer"] for e in hook.events("/b")]
        assert len(set(sequencers)) == len(sequencers) == 6
        in_order = sorted(hook.events("/b"), key=lambda e: e["data"]["sequencer"])
        assert [e["subject"].rsplit("/", 1)[1] for e in in_order][:2] == sorted(["a.json", "b.json"])
    finally:
        grid.stop()


def test_many_concurrent_uploads_none_missed_none_doubled(
    tmp_path: Path, azurite: Stack, container: str, hook: Webhook
):
    client = BlobServiceClient.from_connection_string(azurite.connection_string).get_container_client(
        container
    )
    grid = blob_grid(tmp_path, azurite, container, hook)
    names = [f"many/{i:03d}.json" for i in range(60)]
    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda n: client.upload_blob(n, n.encode()), names))
        wait_events(hook, len(names), timeout=10)
        grid.wait_idle()
        events = by_name(hook)
        assert sorted(events) == names and all(len(v) == 1 for v in events.values())
    finally:
        grid.stop()


def test_append_blocks_are_not_blob_created(tmp_path: Path, azurite: Stack, container: str, hook: Webhook):
    client = BlobServiceClient.from_connection_string(azurite.connection_string).get_container_client(
        container
    )
    grid = blob_grid(tmp_path, azurite, container, hook)
    try:
        log = client.get_blob_client("logs/app.log")
        log.create_append_blob()
        wait_events(hook, 1)
        log.append_block(b"line 1\n")
        log.append_block(b"line 2\n")
        grid.standin.watchers[0].poll()
        client.upload_blob("marker.json", b"{}")  # a later event, to know the appends were seen
        wait_events(hook, 2)
        grid.wait_idle()
        (created,) = by_name(hook)["logs/app.log"]
        assert created["data"]["blobType"] == "AppendBlob" and created["data"]["api"] == "PutBlob"
    finally:
        grid.stop()


def test_all_containers_when_none_are_listed(tmp_path: Path, azurite: Stack, hook: Webhook):
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    name = f"any-{uuid.uuid4().hex[:12]}"
    grid = RunningGrid(
        {
            "data_dir": str(tmp_path),
            "time_scale": 0.01,
            "storage_connection_string": azurite.connection_string,
            "resources": [
                {"type": "Microsoft.EventGrid/systemTopics", "name": "storage"},
                {
                    "type": "Microsoft.EventGrid/systemTopics/eventSubscriptions",
                    "name": "storage/all",
                    "properties": {
                        "destination": {
                            "endpointType": "WebHook",
                            "properties": {"endpointUrl": f"{hook.url}/b"},
                        },
                        "filter": {"subjectBeginsWith": f"/blobServices/default/containers/{name}/"},
                    },
                },
            ],
        }
    )
    try:
        service.create_container(name).upload_blob("late.txt", b"x")
        wait_events(hook, 1)
        assert list(by_name(hook)) == ["late.txt"]
    finally:
        grid.stop()
        service.delete_container(name)


def test_a_small_container_is_polled_more_often_than_a_costly_one(
    tmp_path: Path, azurite: Stack, container: str, hook: Webhook
):
    """The wait after a poll follows its cost (issue 18): a small container is listed again long before the
    topic's poll interval (0.2 s, the config's default), a costly listing waits the whole interval."""
    BlobServiceClient.from_connection_string(azurite.connection_string).get_container_client(
        container
    ).upload_blob("one.json", b"1")
    grid = blob_grid(tmp_path, azurite, container, hook)
    try:
        watcher = grid.standin.watchers[0]
        wait_events(hook, 1)
        assert watcher.interval == 0.2
        waits = []
        for _ in range(5):
            watcher.poll()
            waits.append(watcher.next_wait())
        assert min(waits) < 0.1, f"waits {waits} after listings of {watcher.last_listing_seconds:.4f} s"
        assert min(waits) >= 0.02
        for _ in range(8):  # listings of a container of ≈ 1,000 blobs, as they cost here
            watcher._listings.append(0.06)
        assert watcher.next_wait() == 0.2
    finally:
        grid.stop()


def test_the_watcher_wakes_delivery_only_after_its_commit(
    tmp_path: Path, azurite: Stack, container: str, hook: Webhook
):
    """The scheduler takes ``wakeup`` and then the store's lock (``next_due``); the watcher used to publish
    (and so take ``wakeup``) inside its store transaction — the other order, a deadlock waiting to happen.
    Every acquisition of ``wakeup`` is checked: none may come from a thread holding the store's lock."""
    grid = blob_grid(tmp_path, azurite, container, hook)
    try:
        store_lock = grid.grid.store.lock
        wrong: list[str] = []

        class CheckedCondition(type(grid.grid.wakeup)):
            def __enter__(self):
                if store_lock._is_owned():
                    wrong.append(threading.current_thread().name)
                return super().__enter__()

        # Same lock as the condition it replaces: a thread that entered the old one (the scheduler, inside
        # ``with wakeup``) may then wait on or notify the new one without "un-acquired lock" errors.
        grid.grid.wakeup = CheckedCondition(grid.grid.wakeup._lock)
        grid.grid.notify()  # the scheduler waits on the new condition from its next round
        client = BlobServiceClient.from_connection_string(azurite.connection_string).get_container_client(
            container
        )
        for n in range(3):
            client.upload_blob(f"n{n}.json", b"1")
        wait_events(hook, 3)
        assert not wrong, f"wakeup taken under the store's lock by {sorted(set(wrong))}"
    finally:
        grid.stop()


@pytest.fixture(scope="module")
def azurite_on_disk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Azurite keeping its data in a folder (``--location``), as the local stack runs it."""
    stack = Stack(Path(tmp_path_factory.mktemp("azurite-disk")), in_memory=False)
    try:
        yield stack.start(only=("azurite",))
    finally:
        stack.stop()


@pytest.mark.parametrize("on_disk", [True, False], ids=["on-disk", "in-memory"])
def test_a_write_is_listed_at_once_not_at_the_next_poll(
    tmp_path: Path,
    request: pytest.FixtureRequest,
    hook: Webhook,
    monkeypatch: pytest.MonkeyPatch,
    on_disk: bool,
):
    """Azure pushes BlobCreated as the write commits; Azurite's writes to its data folder wake the listing
    (issue 18). Polls are 60 s apart here, so the event can only come that fast from the write hint; with
    Azurite in memory (no folder, no hint) the watcher waits for its poll as before."""
    monkeypatch.setattr(blob_watcher, "MIN_WAIT", 60.0)
    azurite = request.getfixturevalue("azurite_on_disk" if on_disk else "azurite")
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = f"hint-{uuid.uuid4().hex[:12]}"
    service.create_container(container)
    grid = blob_grid(tmp_path, azurite, container, hook, poll_interval=60.0)
    try:
        watcher = grid.standin.watchers[0]
        wait_until(lambda: watcher.last_poll_seconds > 0, 10, "the watcher's first poll")
        assert (watcher.hints is not None) is on_disk
        service.get_container_client(container).upload_blob("now.json", b'{"a": 1}')
        if not on_disk:
            with pytest.raises(TimeoutError):
                wait_events(hook, 1, timeout=1.0)
            return
        wait_events(hook, 1, timeout=5.0)  # far less than the 60 s to the next poll
        assert watcher.hinted_polls >= 1
        (event,) = by_name(hook)["now.json"]
        assert event["data"]["contentLength"] == 8
    finally:
        grid.stop()
        service.delete_container(container)

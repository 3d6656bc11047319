"""CachedTable: a Delta table held in memory until its version changes (the gateway's read path), on Azurite
with the table found through the workspace stand-in's Unity Catalog."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import polars as pl
from azure.storage.blob import BlobServiceClient

from climatelake.lake import CachedTable, storage_options
from climatelake.settings import Settings
from emulators.stack import Stack
from emulators.workspace.testing import InProcessWorkspace


def test_a_new_version_replaces_the_snapshot_and_readers_never_wait_for_the_check(
    tmp_path: Path, azurite: Stack
):
    settings = Settings(storage_connection_string=azurite.connection_string)
    container = f"lake{uuid.uuid4().hex[:8]}"
    BlobServiceClient.from_connection_string(azurite.connection_string).create_container(container)
    location = f"abfss://{container}@{settings.storage_account}.dfs.core.windows.net/t"
    options = storage_options(settings)
    pl.DataFrame({"city_id": [2, 1], "date": ["2024-01-01", "2024-01-01"], "hour": [0, 0]}).write_delta(
        location, storage_options=options
    )
    workspace = InProcessWorkspace(
        tmp_path / "ws", storage_connection_string=azurite.connection_string
    ).start()
    try:
        w = workspace.client()
        w.catalogs.create(name="c")
        w.schemas.create(name="s", catalog_name="c")
        workspace.register_external_table("c.s.t", location)
        table = CachedTable(w, settings, "c.s.t", check_seconds=0.2)
        frame, version = table.frame()
        assert version == 0 and frame["city_id"].to_list() == [1, 2]  # sorted by the key columns
        assert table.frame()[0] is frame  # within the interval: the same object, no storage call

        pl.DataFrame({"city_id": [3], "date": ["2024-01-01"], "hour": [0]}).write_delta(
            location, mode="append", storage_options=options
        )
        deadline = time.monotonic() + 10
        while table.frame()[1] != 1:
            assert time.monotonic() < deadline, "the new version was not picked up"
            time.sleep(0.05)
        assert table.frame()[0]["city_id"].to_list() == [1, 2, 3]

        # many readers while re-checks fall due: every call answers, none fails
        answers: list[int] = []

        def read() -> None:
            for _ in range(50):
                answers.append(table.frame()[1])
                time.sleep(0.01)

        threads = [threading.Thread(target=read) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert answers == [1] * 400
    finally:
        workspace.stop()

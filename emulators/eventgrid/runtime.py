"""One running stand-in: its store, state, delivery workers and blob watchers, started and stopped as one."""

from __future__ import annotations

from dataclasses import dataclass, field

from emulators.eventgrid.blob_watcher import BlobWatcher
from emulators.eventgrid.config import GridConfig
from emulators.eventgrid.deadletter import DeadLetterWriter
from emulators.eventgrid.delivery import Deliverer
from emulators.eventgrid.handshake import Handshake
from emulators.eventgrid.models import EventGrid
from emulators.eventgrid.resources import SYSTEM
from emulators.eventgrid.store import GridStore
from emulators.eventgrid.write_hints import AZURITE_BLOB_FOLDER


@dataclass
class StandIn:
    config: GridConfig
    store: GridStore
    grid: EventGrid
    deliverer: Deliverer
    watchers: list[BlobWatcher] = field(default_factory=list)

    @classmethod
    def build(cls, config: GridConfig) -> StandIn:
        store = GridStore(config.data_dir / "eventgrid.sqlite")
        dead_letters = (
            DeadLetterWriter(config.storage_connection_string) if config.storage_connection_string else None
        )
        grid = EventGrid(
            config, store, Handshake(config.delivery_timeout), can_dead_letter=dead_letters is not None
        )
        deliverer = Deliverer(grid, dead_letters, config.delivery_workers, config.delivery_timeout)
        hint_folder = config.storage_location / AZURITE_BLOB_FOLDER if config.storage_location else None
        watchers = [
            BlobWatcher(grid, topic, config.storage_connection_string or "", hint_folder)
            for topic in config.topics.values()
            if topic.kind == SYSTEM
        ]
        return cls(config, store, grid, deliverer, watchers)

    def start(self) -> None:
        self.deliverer.start()
        for watcher in self.watchers:
            watcher.start()

    def stop(self) -> None:
        """Stop every thread this stand-in started, then close its store."""
        for watcher in self.watchers:
            watcher.stop()
        self.deliverer.stop()
        self.store.close()

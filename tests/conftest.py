"""Shared fixtures. The ``local_stack`` fixture starts the real local stack (Azurite, Sail, the stand-ins,
the gateway under gunicorn) on free ports, in memory, once per test session, and stops every process after.
Tests that only need one stand-in start just that one, in-process, on a free port."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from emulators.common.event_sink import EventSink
from emulators.stack import Stack

SAMPLE_CITIES = [1, 2, 3]
SAMPLE_START = dt.date(2024, 1, 1)
SAMPLE_END = dt.date(2024, 1, 31)


@dataclass
class LocalStack:
    stack: Stack
    sink: EventSink
    gateway: requests.Session

    @property
    def gateway_url(self) -> str:
        return self.stack.url("gateway")

    def wait_for_request_event(self, request_id: str, timeout: float = 120.0) -> dict:
        return self.sink.wait_for(lambda e: e.get("data", {}).get("request_id") == request_id, timeout)


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    sink = EventSink()
    stack = Stack(Path(tmp_path_factory.mktemp("stack")), in_memory=True, subscribers=[sink.url])
    try:
        stack.start()
        stack.bootstrap(SAMPLE_CITIES, SAMPLE_START, SAMPLE_END)
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {stack.api_key}"
        yield LocalStack(stack, sink, session)
    finally:
        stack.stop()
        sink.close()


@pytest.fixture()
def event_sink() -> Iterator[EventSink]:
    sink = EventSink()
    yield sink
    sink.close()


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Just Azurite (in memory, free ports), for stand-in tests that need storage but not the rest."""
    stack = Stack(Path(tmp_path_factory.mktemp("azurite")), in_memory=True)
    try:
        yield stack.start(only=("azurite",))
    finally:
        stack.stop()

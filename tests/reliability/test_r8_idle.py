"""R8 time: the whole local stack idle past the engine's session timeout, then everything works.

Found by a user (issue 15): after an hour of idling, every SQL statement failed with ``invalid argument:
session <id> is not running`` until a restart — Sail ends idle Spark Connect sessions and the workspace
stand-in kept using its own. Here Sail ends sessions after a few seconds, the stack stays idle past that
twice over, and then SQL statements (databricks-sdk), a job run (a request through the gateway to its
completion event) and gateway reads all work again."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from databricks.sdk.service.sql import StatementParameterListItem, StatementState

from emulators.common.event_sink import EventSink
from emulators.stack import Stack
from tests.helpers.clock import idle_past

pytestmark = [pytest.mark.stack, pytest.mark.reliability]
SESSION_TIMEOUT = 5.0
CITY, START, END = 1, dt.date(2024, 3, 1), dt.date(2024, 3, 3)


@pytest.fixture(scope="module")
def idle_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, EventSink]]:
    sink = EventSink()
    stack = Stack(
        Path(tmp_path_factory.mktemp("r8")),
        in_memory=True,
        subscribers=[sink.url],
        sail_session_timeout=SESSION_TIMEOUT,
    )
    try:
        stack.start()
        stack.bootstrap([CITY], START, END)
        yield stack, sink
    finally:
        stack.stop()
        sink.close()



def every_api_works(stack: Stack, sink: EventSink) -> None:
    w = stack.workspace_client()
    for i in range(4):  # the stand-in's SQL workers each hold sessions: reach both
        answer = w.statement_execution.execute_statement(
            statement="SELECT count(*) AS n FROM weather_hourly WHERE city_id = :city",
            parameters=[StatementParameterListItem(name="city", value=str(CITY), type="INT")],
            warehouse_id="local",
            catalog="climatelake",
            schema="silver",
            wait_timeout="30s",
        )
        assert answer.status.state == StatementState.SUCCEEDED, (i, answer.status.error)
        assert answer.result.data_array == [["72"]]

    gateway = requests.Session()
    gateway.headers["Authorization"] = f"Bearer {stack.api_key}"
    body = {"city_ids": [CITY], "start_date": "2024-03-01", "end_date": "2024-03-02", "metrics": ["temp"]}
    accepted = gateway.post(f"{stack.url('gateway')}/v1/requests", json=body, timeout=30)
    assert accepted.status_code == 202, accepted.text
    request_id = accepted.json()["request_id"]
    event = sink.wait_for(lambda e: e.get("data", {}).get("request_id") == request_id, 180)
    assert event["eventType"] == "Climatelake.Request.Succeeded", event
    assert event["data"]["row_count"] == 48

    daily = gateway.get(
        f"{stack.url('gateway')}/v1/weather/daily",
        params={"city_id": CITY, "start_date": "2024-03-01", "end_date": "2024-03-03"},
        timeout=30,
    )
    assert daily.status_code == 200, daily.text
    results = gateway.get(f"{stack.url('gateway')}/v1/requests/{request_id}/results", timeout=30)
    assert results.status_code == 200 and len(results.json()["rows"]) == 48


def test_the_stack_works_after_idling_past_the_engine_session_timeout(idle_stack) -> None:
    stack, sink = idle_stack
    every_api_works(stack, sink)
    idle_past(SESSION_TIMEOUT * 2 + 1)
    every_api_works(stack, sink)

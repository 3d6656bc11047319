"""Functions host stand-in parts without storage: NCRONTAB, host.json, route templates, blob paths,
indexing errors, the Event Grid trigger's argument, ``functionTimeout``, and invocation ids in logs."""

from __future__ import annotations

import datetime as dt
import json
import logging
import textwrap
from pathlib import Path

import pytest

from emulators.functions_host.app_index import IndexingError, load_functions
from emulators.functions_host.expressions import BindingError, match_blob_path, resolve
from emulators.functions_host.host_config import HostConfig, parse_timespan
from emulators.functions_host.http_trigger import RouteTemplate
from emulators.functions_host.invoker import InvocationIdFilter
from emulators.functions_host.ncrontab import Schedule, ScheduleError
from emulators.functions_host.server import create_app

T0 = dt.datetime(2026, 11, 25, 13, 57, 30, 500, tzinfo=dt.UTC)  # a Wednesday


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("*/1 * * * * *", dt.datetime(2026, 11, 25, 13, 57, 31, tzinfo=dt.UTC)),
        ("*/15 * * * * *", dt.datetime(2026, 11, 25, 13, 57, 45, tzinfo=dt.UTC)),
        ("0 */5 * * * *", dt.datetime(2026, 11, 25, 14, 0, 0, tzinfo=dt.UTC)),
        ("5,10-12/2 * * * * *", dt.datetime(2026, 11, 25, 13, 58, 5, tzinfo=dt.UTC)),
        ("0 30 9 * * Mon-Fri", dt.datetime(2026, 11, 26, 9, 30, tzinfo=dt.UTC)),
        ("0 0 0 29 Feb *", dt.datetime(2028, 2, 29, tzinfo=dt.UTC)),
        ("0 0 12 1 * 1", dt.datetime(2027, 2, 1, 12, tzinfo=dt.UTC)),  # the 1st AND a Monday
        ("0 0 0 * * 7", dt.datetime(2026, 11, 29, tzinfo=dt.UTC)),  # 7 is Sunday too
        ("0 0 10 * Dec *", dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC)),
    ],
)
def test_ncrontab_next_occurrence(expression: str, expected: dt.datetime):
    assert Schedule.parse(expression).next_after(T0) == expected


@pytest.mark.parametrize(
    "expression",
    ["* * * * *", "60 * * * * *", "*/0 * * * * *", "a * * * * *", "5-1 * * * * *", "0 0 0 31 2 *"],
)
def test_ncrontab_rejects_bad_expressions(expression: str):
    with pytest.raises(ScheduleError):
        Schedule.parse(expression).next_after(T0)


def test_timespans_and_host_json(tmp_path: Path):
    assert parse_timespan("00:10:00") == 600 and parse_timespan("1.02:00:00") == 93600
    assert parse_timespan("00:00:00.500") == 0.5 and parse_timespan("-1") is None
    with pytest.raises(ValueError):
        parse_timespan("10 minutes")
    (tmp_path / "host.json").write_text(
        json.dumps({"functionTimeout": "00:00:07", "extensions": {"queues": {"maxDequeueCount": 2}}})
    )
    config = HostConfig.load(tmp_path)
    assert config.function_timeout == 7 and config.max_dequeue_count == 2 and config.route_prefix == "api"
    root = HostConfig.load(Path(__file__).resolve().parent.parent)
    assert root.function_timeout == 600 and root.max_dequeue_count == 5


def test_route_templates():
    assert RouteTemplate("items/{id:int}").match("items/12") == {"id": "12"}
    assert RouteTemplate("items/{id:int}").match("items/x") is None
    assert RouteTemplate("items/{id?}").match("items") == {}
    assert RouteTemplate("files/{*path}").match("files/a/b/c.txt") == {"path": "a/b/c.txt"}
    assert RouteTemplate("Job-Events").match("job-events") == {}


def test_blob_paths_and_binding_expressions():
    assert match_blob_path("in/{name}.json", "in/a/b.json") == {"name": "a/b"}
    assert match_blob_path("in/{name}.json", "in/a.txt") is None
    assert match_blob_path("in/{name}", "other/a.json") is None
    assert match_blob_path("in", "in/x") == {"name": "x"}
    assert resolve("%Out%/{name}.copy", {"name": "a"}, {"Out": "copies"}) == "copies/a.copy"
    with pytest.raises(BindingError):
        resolve("%Missing%/x", {}, {})
    with pytest.raises(BindingError):
        resolve("c/{nope}", {"name": "a"}, {})


def write_app(folder: Path, source: str, host: dict | None = None) -> Path:
    (folder / "function_app.py").write_text(textwrap.dedent(source))
    (folder / "host.json").write_text(json.dumps(host or {"version": "2.0"}))
    return folder


def test_unsupported_bindings_fail_loudly(tmp_path: Path):
    write_app(
        tmp_path,
        """
        import azure.functions as func
        app = func.FunctionApp()

        @app.route(route="x")
        @app.blob_input(arg_name="doc", path="c/x", connection="Storage")
        def x(req: func.HttpRequest, doc: func.InputStream) -> func.HttpResponse:
            return func.HttpResponse("")
        """,
    )
    with pytest.raises(IndexingError, match="'doc' of type 'blob'"):
        load_functions(tmp_path)


EVENT_GRID_APP = """
import logging
import threading

import azure.functions as func

app = func.FunctionApp()
SEEN = []
RELEASE = threading.Event()


@app.event_grid_trigger(arg_name="event")
def on_event(event: func.EventGridEvent, context: func.Context) -> None:
    logging.getLogger("test.app").info("handling %s", event.id)
    SEEN.append(
        (type(event).__name__, event.event_type, event.subject, event.get_json(), context.invocation_id)
    )
    if event.subject == "/fail":
        raise RuntimeError("boom")
    if event.subject == "/slow":
        RELEASE.wait(30)
"""


def grid_event(subject: str) -> list[dict]:
    return [
        {
            "id": f"id{subject}",
            "topic": "/t",
            "subject": subject,
            "eventType": "Test.Happened",
            "eventTime": "2026-11-25T12:00:00Z",
            "dataVersion": "1",
            "data": {"n": 1},
        }
    ]


def test_event_grid_trigger_argument_errors_and_timeout(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    import sys

    write_app(tmp_path, EVENT_GRID_APP, {"version": "2.0", "functionTimeout": "00:00:01"})
    app = create_app(tmp_path, [])
    module = sys.modules["function_app"]
    client = app.test_client()
    url = "/runtime/webhooks/EventGrid?functionName=on_event"
    caplog.handler.addFilter(InvocationIdFilter())
    try:
        with caplog.at_level(logging.INFO):
            assert (
                client.post(
                    url, json=grid_event("/ok"), headers={"aeg-event-type": "Notification"}
                ).status_code
                == 202
            )
        kind, event_type, subject, data, invocation_id = module.SEEN[-1]
        assert (kind, event_type, subject, data) == ("EventGridEvent", "Test.Happened", "/ok", {"n": 1})
        own = [r for r in caplog.records if r.name == "test.app"]
        assert own and own[-1].invocation_id == invocation_id  # the function's own log carries the id
        assert any(invocation_id in r.getMessage() and "Succeeded" in r.getMessage() for r in caplog.records)
        assert client.post(url, json=grid_event("/fail")).status_code == 500
        assert client.post(url, json=grid_event("/slow")).status_code == 500
        assert any("Timeout value of 00:00:01 exceeded" in r.getMessage() for r in caplog.records)
    finally:
        module.RELEASE.set()
        app.extensions["functions_host"].stop()

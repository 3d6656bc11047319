"""The stand-in's HTTP surface: Azure's publish API, the validation URL, the local control plane; wiring.

Publish (``POST /api/events?api-version=2018-01-01``, as azure-eventgrid sends it): ``aeg-sas-key`` (header
or query) or a SAS token; Event Grid schema (``application/json``, an array) or CloudEvents 1.0
(``application/cloudevents-batch+json`` array, ``application/cloudevents+json`` single event) — whichever
the topic's ``inputSchema`` takes; at most 1 MB per request (so per event too) → 413. The answer is exactly
200 with an empty body, and only once the deliveries are committed to SQLite. Which topic: the path
``/topics/<topic>/api/events``, else the host name's first label when it names a topic
(``climatelake.localhost:7080``), else the first custom topic in the config.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
from pathlib import Path

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from emulators.eventgrid import auth
from emulators.eventgrid.config import load
from emulators.eventgrid.errors import BadRequest, EventGridError, NotFound, PayloadTooLarge
from emulators.eventgrid.management import register_management
from emulators.eventgrid.models import EventGrid
from emulators.eventgrid.resources import CUSTOM, Topic
from emulators.eventgrid.runtime import StandIn
from emulators.eventgrid.schemas import EVENTGRID_SCHEMA, validate_cloudevent, validate_eventgrid

log = logging.getLogger("eventgrid")
MAX_REQUEST_BYTES = 1024 * 1024
PUBLISH_API_VERSIONS = ("2018-01-01",)
CLOUDEVENTS_BATCH = "application/cloudevents-batch+json"
CLOUDEVENTS_SINGLE = "application/cloudevents+json"


def _publish_topic(grid: EventGrid, name: str | None) -> Topic:
    if name is not None:
        topic = grid.config.topic(name)
        if topic is None or topic.kind != CUSTOM:
            raise NotFound(f"Topic '{name}' does not exist.")
        return topic
    label = request.host.split(":", 1)[0].split(".", 1)[0]
    topic = grid.config.topic(label)
    if topic is not None and topic.kind == CUSTOM:
        return topic
    topics = grid.custom_topics()
    if not topics:
        raise NotFound("This stand-in has no custom topic to publish to.")
    return topics[0]


def _check_api_version() -> None:
    version = request.args.get("api-version")
    if version is None:
        raise BadRequest("The api-version query parameter (?api-version=) is required for all requests.")
    if version not in PUBLISH_API_VERSIONS:
        raise BadRequest(
            f"The api-version '{version}' is not supported. "
            f"Supported versions: {', '.join(PUBLISH_API_VERSIONS)}."
        )


def _read_events(topic: Topic) -> list[dict]:
    if request.content_length is not None and request.content_length > MAX_REQUEST_BYTES:
        raise PayloadTooLarge(f"The maximum size ({MAX_REQUEST_BYTES}) has been exceeded.")
    raw = request.get_data(cache=False)
    if len(raw) > MAX_REQUEST_BYTES:
        raise PayloadTooLarge(f"The maximum size ({MAX_REQUEST_BYTES}) has been exceeded.")
    mimetype = request.mimetype
    cloudevents = mimetype in (CLOUDEVENTS_BATCH, CLOUDEVENTS_SINGLE)
    if topic.input_schema == EVENTGRID_SCHEMA and cloudevents:
        raise BadRequest(
            f"Topic '{topic.name}' is configured to receive events in the EventGridSchema schema; "
            f"{mimetype} is CloudEvents.",
            detail_code="InputJsonInvalid",
        )
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadRequest("The request body is not valid JSON.", detail_code="InputJsonInvalid") from None
    if topic.input_schema == EVENTGRID_SCHEMA:
        if not isinstance(body, list):
            raise BadRequest(
                "The request body must be a JSON array of events.", detail_code="InputJsonInvalid"
            )
        return [validate_eventgrid(event, i, topic.event_source) for i, event in enumerate(body)]
    if mimetype == CLOUDEVENTS_SINGLE or (mimetype != CLOUDEVENTS_BATCH and isinstance(body, dict)):
        body = [body]
    if not isinstance(body, list):
        raise BadRequest("A CloudEvents batch must be a JSON array.", detail_code="InputJsonInvalid")
    return [validate_cloudevent(event, i) for i, event in enumerate(body)]


def register_publish(app: Flask, grid: EventGrid) -> None:
    @app.post("/api/events")
    @app.post("/topics/<topic>/api/events")
    def publish(topic: str | None = None):
        target = _publish_topic(grid, topic)
        _check_api_version()
        auth.authenticate(request.headers, request.args, target.keys, request.base_url, request.host)
        events = _read_events(target)
        grid.publish(target.name, events)
        return Response(status=200)


def register_local(app: Flask, standin: StandIn) -> None:
    """The validation URL handed to subscribers, and a small control plane the product never calls."""

    @app.get("/eventsubscriptions/<name>/validate")
    def validate(name: str):
        sub = standin.grid.complete_manual_validation(
            request.args.get("id", ""), request.args.get("token", "")
        )
        log.info("event subscription %s validated manually", sub.name)
        return Response("Webhook successfully validated as a subscription endpoint.", mimetype="text/plain")

    @app.get("/local/health")
    def health():
        return jsonify({"ok": True})

    @app.get("/local/state")
    def state():
        return jsonify(
            {
                "deliveries": standin.grid.counts(),
                "subscriptions": {s.key: s.provisioning_state for s in standin.grid.subscriptions()},
                "last_blob_poll_seconds": {w.topic.name: w.last_poll_seconds for w in standin.watchers},
            }
        )


def create_app(raw_config: dict) -> Flask:
    """Build and start a stand-in from a config dict (see :mod:`emulators.eventgrid.config`). Stop it with
    ``app.extensions["eventgrid_standin"].stop()``."""
    standin = StandIn.build(load(raw_config))
    app = Flask("eventgrid")
    app.extensions["eventgrid"] = standin.grid
    app.extensions["eventgrid_standin"] = standin
    app.extensions["eventgrid_workers"] = [standin]

    @app.errorhandler(EventGridError)
    def event_grid_error(error: EventGridError):
        return jsonify(error.body()), error.status

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        code = {404: "NotFound", 405: "MethodNotAllowed"}.get(error.code or 500, "BadRequest")
        return jsonify({"error": {"code": code, "message": error.description}}), error.code

    register_publish(app, standin.grid)
    register_management(app, standin.grid)
    register_local(app, standin)
    standin.start()
    return app


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    from werkzeug.serving import make_server

    from emulators.common.serving import quiet_werkzeug

    parser = argparse.ArgumentParser(
        prog="python -m emulators.eventgrid", description="Azure Event Grid stand-in"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7080)
    parser.add_argument("--config", required=True)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # the launcher's SIGTERM: stop workers and close the store
    logging.basicConfig(level=logging.INFO, format="%(asctime)s eventgrid %(levelname)s %(message)s")
    quiet_werkzeug()
    app = create_app(json.loads(Path(args.config).read_text()))
    server = make_server(args.host, args.port, app, threaded=True)
    log.info("event grid stand-in listening on http://%s:%d", args.host, args.port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        app.extensions["eventgrid_standin"].stop()

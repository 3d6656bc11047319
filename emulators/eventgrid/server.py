"""The Event Grid stand-in's HTTP surface (custom-topic publish) and process wiring."""

from __future__ import annotations

import argparse
import hmac
import json
import logging
from pathlib import Path

from flask import Flask, jsonify, request

from emulators.common.records import RecordStore
from emulators.eventgrid.blob_watcher import BlobWatcher
from emulators.eventgrid.delivery import Deliverer
from emulators.eventgrid.models import EventGrid, Subscription

log = logging.getLogger("eventgrid")
REQUIRED_FIELDS = ("id", "subject", "eventType", "eventTime", "data", "dataVersion")
MAX_EVENT_BYTES = 1024 * 1024


def _error(status: int, code: str, message: str):
    return jsonify({"error": {"code": code, "message": message}}), status


def create_app(config: dict) -> Flask:
    """``config``: data_dir, time_scale, topics {name: {key}}, system_topic {name, connection_string,
    containers}, subscriptions [{name, topic, endpoint, filter, retryPolicy}]."""
    store = RecordStore(Path(config["data_dir"]) / "eventgrid.sqlite")
    grid = EventGrid(
        store,
        [Subscription.from_config(s) for s in config.get("subscriptions", [])],
        time_scale=float(config.get("time_scale", 1.0)),
    )
    deliverer = Deliverer(grid)
    watcher = None
    system = config.get("system_topic")
    if system:
        watcher = BlobWatcher(
            grid,
            system["name"],
            system["connection_string"],
            system["containers"],
            float(system.get("poll_interval", 0.2)),
        )
    topics = config.get("topics", {})
    app = Flask("eventgrid")
    app.extensions["eventgrid"] = grid

    @app.post("/api/events")
    @app.post("/topics/<topic>/api/events")
    def publish(topic: str | None = None):
        topic = topic or next(iter(topics), "")
        spec = topics.get(topic)
        if spec is None:
            return _error(404, "NotFound", f"Topic '{topic}' does not exist.")
        key = request.headers.get("aeg-sas-key", "")
        if not hmac.compare_digest(key, spec["key"]):
            return _error(
                401,
                "Unauthorized",
                "The request authorization key is not authorized for "
                f"{request.host}. Use aeg-sas-key with the topic's access key.",
            )
        if request.content_length and request.content_length > MAX_EVENT_BYTES:
            return _error(413, "RequestEntityTooLarge", "The maximum size (1536000) has been exceeded.")
        try:
            events = json.loads(request.get_data())
        except json.JSONDecodeError:
            return _error(400, "BadRequest", "The request body is not valid JSON.")
        if not isinstance(events, list):
            return _error(400, "BadRequest", "The request body must be a JSON array of events.")
        for event in events:
            missing = [f for f in REQUIRED_FIELDS if not isinstance(event, dict) or f not in event]
            if missing:
                return _error(400, "BadRequest", f"Required property '{missing[0]}' was not set.")
            event.setdefault("topic", f"/local/topics/{topic}")
            event.setdefault("metadataVersion", "1")
        grid.publish(topic, events)
        return "", 200

    @app.get("/local/health")
    def health():
        return jsonify({"ok": True})

    app.extensions["eventgrid_workers"] = [w for w in (deliverer, watcher) if w]
    deliverer.start()
    if watcher:
        watcher.start()
    return app


def main(argv: list[str] | None = None) -> None:
    from werkzeug.serving import make_server

    from emulators.common.serving import quiet_werkzeug

    parser = argparse.ArgumentParser(description="Azure Event Grid stand-in")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7080)
    parser.add_argument("--config", required=True)
    args = parser.parse_args(argv)
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
        for worker in app.extensions["eventgrid_workers"]:
            worker.stop()

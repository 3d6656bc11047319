"""The host's HTTP surface: Event Grid and blob webhooks and HTTP triggers, dispatched to the indexed
functions; the queue and timer listeners run beside it (``FunctionsHost``)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.functions.eventgrid import EventGridEventInConverter
from azure.functions.meta import Datum
from flask import Flask, Response, jsonify, request

from emulators.functions_host import blob_trigger
from emulators.functions_host.app_index import load_functions
from emulators.functions_host.expressions import BindingError
from emulators.functions_host.host_config import HostConfig
from emulators.functions_host.http_trigger import authorized, find_routes
from emulators.functions_host.invoker import InvocationFailed, InvocationIdFilter, Invoker
from emulators.functions_host.queue_trigger import QueueListener
from emulators.functions_host.timer_trigger import TimerListener

log = logging.getLogger("functions_host")
HTTP_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def load_local_settings(path: Path) -> None:
    """Put ``Values`` of local.settings.json into the environment, as the host does for the worker."""
    values = json.loads(path.read_text()).get("Values", {})
    for key, value in values.items():
        os.environ.setdefault(key, str(value))


class FunctionsHost:
    """The indexed app, its host.json, app settings, and the listeners (queue pollers, timers)."""

    def __init__(self, app_dir: Path, settings: Mapping[str, str] | None = None) -> None:
        self.app_dir = app_dir
        self.config = HostConfig.load(app_dir)
        self.settings: dict[str, str] = {**os.environ, **(settings or {})}
        self.functions = load_functions(app_dir)
        self.invoker = Invoker(self.config, self.settings, str(app_dir))
        self.listeners: list[Any] = []
        for function in self.functions.values():
            if function.trigger_type == "queueTrigger":
                self.listeners.append(QueueListener(function, self.invoker, self.config, self.settings))
            elif function.trigger_type == "timerTrigger":
                self.listeners.append(TimerListener(function, self.invoker, self.settings))

    def start(self) -> None:
        for listener in self.listeners:
            listener.start()

    def stop(self) -> None:
        for listener in self.listeners:
            listener.stop()


def _events(body: bytes) -> list[dict[str, Any]]:
    parsed = json.loads(body or b"null")
    return parsed if isinstance(parsed, list) else [parsed]


def _webhook_events():
    """An Event Grid webhook delivery's events, or the answer to send instead: the CloudEvents (OPTIONS) or
    Event Grid (SubscriptionValidation) handshake, or a 400 for a body that is not JSON."""
    if request.method == "OPTIONS":
        return _cloudevents_handshake()
    try:
        events = _events(request.get_data())
    except json.JSONDecodeError:
        return jsonify({"error": "body is not JSON"}), 400
    handshake = _handshake(events)
    return events if handshake is None else handshake


def _handshake(events: list[dict[str, Any]]) -> Response | None:
    """Event Grid's ``SubscriptionValidation`` (the header or the event type) → ``validationResponse``."""
    kind = request.headers.get("aeg-event-type", "Notification")
    first = events[0] if events and isinstance(events[0], dict) else {}
    if kind == "SubscriptionValidation" or first.get("eventType") == (
        "Microsoft.EventGrid.SubscriptionValidationEvent"
    ):
        return jsonify({"validationResponse": (first.get("data") or {}).get("validationCode", "")})
    return None


def _cloudevents_handshake() -> Response:
    """CloudEvents webhook validation (OPTIONS with ``WebHook-Request-Origin``)."""
    origin = request.headers.get("WebHook-Request-Origin", "")
    return Response(status=200, headers={"WebHook-Allowed-Origin": origin, "WebHook-Allowed-Rate": "*"})


def create_app(
    app_dir: Path,
    function_keys: list[str],
    master_key: str = "",
    settings: Mapping[str, str] | None = None,
    start_listeners: bool = True,
) -> Flask:
    """The host as a WSGI app; ``app.extensions["functions_host"].stop()`` stops its listeners."""
    host = FunctionsHost(app_dir, settings)
    functions = host.functions
    app = Flask("functions_host")
    app.extensions["functions"] = functions
    app.extensions["functions_host"] = host
    prefix = f"/{host.config.route_prefix}" if host.config.route_prefix else ""

    @app.get("/admin/host/status")
    def host_status():
        return jsonify({"state": "Running", "functions": sorted(functions)})

    @app.route("/runtime/webhooks/EventGrid", methods=["POST", "OPTIONS"], provide_automatic_options=False)
    @app.route("/runtime/webhooks/eventgrid", methods=["POST", "OPTIONS"], provide_automatic_options=False)
    def event_grid_webhook():
        name = request.args.get("functionName", "")
        function = functions.get(name)
        if function is None or function.trigger_type != "eventGridTrigger":
            return jsonify({"error": f"No Event Grid function named '{name}'"}), 404
        events = _webhook_events()
        if not isinstance(events, list):
            return events  # the handshake's answer, or a 400
        failed = False
        for event in events:
            argument = EventGridEventInConverter.decode(
                Datum(json.dumps(event), "json"), trigger_metadata=None
            )
            try:
                host.invoker.invoke(
                    function, argument, {"data": event.get("data")}, "EventGrid trigger fired"
                )
            except InvocationFailed:
                failed = True
        return Response(status=500) if failed else Response(status=202)

    @app.route("/runtime/webhooks/blobs", methods=["POST", "OPTIONS"], provide_automatic_options=False)
    def blobs_webhook():
        name = request.args.get("functionName", "")
        function = functions.get(name.removeprefix("Host.Functions."))
        if (
            function is None
            or function.trigger_type != "blobTrigger"
            or not name.startswith("Host.Functions.")
        ):
            return jsonify({"error": f"No blob trigger function named '{name}'"}), 404
        if str(function.trigger.get("source", "")).lower() != "eventgrid":
            return jsonify({"error": f"'{name}' is a polling blob trigger (source is not EventGrid)"}), 400
        events = _webhook_events()
        if not isinstance(events, list):
            return events  # the handshake's answer, or a 400
        failed = False
        for event in events:
            try:
                prepared = blob_trigger.prepare(function, event, host.settings)
                if prepared is None:
                    continue
                stream, data, receipt = prepared
                host.invoker.invoke(
                    function, stream, data, f"New blob detected(EventGrid): {data['blobTrigger']}"
                )
                receipt.write()
            except (InvocationFailed, BindingError):
                failed = True
            except Exception:
                log.exception("blob trigger '%s': could not read the blob", function.name)
                failed = True
        return Response(status=500) if failed else Response(status=202)

    @app.route(f"{prefix}/", defaults={"route": ""}, methods=HTTP_METHODS, provide_automatic_options=False)
    @app.route(f"{prefix}/<path:route>", methods=HTTP_METHODS, provide_automatic_options=False)
    def http_trigger(route: str):
        matches = find_routes(functions.values(), route)
        if not matches:
            return Response(status=404)
        allowed = [(f, p) for f, p in matches if not f.methods or request.method in f.methods]
        if not allowed:
            return Response(status=405)
        function, route_params = allowed[0]
        given = request.headers.get("x-functions-key") or request.args.get("code") or ""
        if not authorized(function, given, function_keys, master_key):
            return Response(status=401)
        req = func.HttpRequest(
            method=request.method,
            url=request.url,
            headers=dict(request.headers),
            params=dict(request.args),
            route_params=route_params,
            body=request.get_data(),
        )
        data = {**dict(request.args), **route_params}
        try:
            answer = host.invoker.invoke(
                function, req, data, "This function was programmatically called via HTTP"
            )
        except InvocationFailed:
            return Response(status=500)
        if not isinstance(answer, func.HttpResponse):
            return Response(status=204)
        return Response(
            answer.get_body(),
            status=answer.status_code,
            headers=dict(answer.headers),
            mimetype=answer.mimetype,
        )

    if start_listeners:
        host.start()
    return app


def main(argv: list[str] | None = None) -> None:
    from werkzeug.serving import make_server

    from emulators.common.serving import quiet_werkzeug

    parser = argparse.ArgumentParser(description="Azure Functions host stand-in")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--app-dir", default=".")
    parser.add_argument("--settings", default="local.settings.json")
    args = parser.parse_args(argv)
    handler = logging.StreamHandler()
    handler.addFilter(InvocationIdFilter())
    handler.setFormatter(
        logging.Formatter("%(asctime)s functions %(name)s %(levelname)s [%(invocation_id)s] %(message)s")
    )
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    logging.getLogger("azure").setLevel(logging.WARNING)
    quiet_werkzeug()
    settings_path = Path(args.settings)
    if settings_path.is_file():
        load_local_settings(settings_path)
    keys = [k for k in os.environ.get("FUNCTIONS_HOST_KEYS", "").split(",") if k]
    app = create_app(Path(args.app_dir).resolve(), keys, os.environ.get("FUNCTIONS_HOST_MASTER_KEY", ""))
    server = make_server(args.host, args.port, app, threaded=True)
    log.info("functions host listening on http://%s:%d", args.host, args.port)

    def on_sigterm(signum, frame):  # stop the listeners too (a message being received is released)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        app.extensions["functions_host"].stop()

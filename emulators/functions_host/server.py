"""The host's HTTP surface: Event Grid webhooks and HTTP triggers, dispatched to the indexed functions."""

from __future__ import annotations

import argparse
import hmac
import json
import logging
import os
import uuid
from pathlib import Path

import azure.functions as func
from azure.functions.eventgrid import EventGridEventInConverter
from azure.functions.meta import Datum
from flask import Flask, Response, jsonify, request

from emulators.functions_host.app_index import IndexedFunction, load_functions

log = logging.getLogger("functions_host")


def load_local_settings(path: Path) -> None:
    """Put ``Values`` of local.settings.json into the environment, as the host does for the worker."""
    values = json.loads(path.read_text()).get("Values", {})
    for key, value in values.items():
        os.environ.setdefault(key, str(value))


def create_app(app_dir: Path, function_keys: list[str]) -> Flask:
    functions = load_functions(app_dir)
    app = Flask("functions_host")
    app.extensions["functions"] = functions

    def invoke(function: IndexedFunction, argument) -> object:
        invocation_id = str(uuid.uuid4())
        log.info("Executing 'Functions.%s' (Id=%s)", function.name, invocation_id)
        try:
            result = function.user_function(**{function.arg_name: argument})
        except Exception:
            log.exception("Executed 'Functions.%s' (Failed, Id=%s)", function.name, invocation_id)
            raise
        log.info("Executed 'Functions.%s' (Succeeded, Id=%s)", function.name, invocation_id)
        return result

    @app.get("/admin/host/status")
    def host_status():
        return jsonify({"state": "Running", "functions": sorted(functions)})

    @app.post("/runtime/webhooks/EventGrid")
    @app.post("/runtime/webhooks/eventgrid")
    def event_grid_webhook():
        name = request.args.get("functionName", "")
        function = functions.get(name)
        if function is None or function.trigger_type != "eventGridTrigger":
            return jsonify({"error": f"No Event Grid function named '{name}'"}), 404
        try:
            body = json.loads(request.get_data() or b"null")
        except json.JSONDecodeError:
            return jsonify({"error": "body is not JSON"}), 400
        events = body if isinstance(body, list) else [body]
        kind = request.headers.get("aeg-event-type", "Notification")
        if kind == "SubscriptionValidation":
            code = events[0].get("data", {}).get("validationCode", "")
            return jsonify({"validationResponse": code})
        failed = False
        for event in events:
            argument = EventGridEventInConverter.decode(
                Datum(json.dumps(event), "json"), trigger_metadata=None
            )
            try:
                invoke(function, argument)
            except Exception:
                failed = True
        return Response(status=500) if failed else Response(status=202)

    @app.route("/api/<path:route>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def http_trigger(route: str):
        function = next(
            (f for f in functions.values() if f.trigger_type == "httpTrigger" and f.route == route), None
        )
        if function is None:
            return Response(status=404)
        if function.methods and request.method not in function.methods:
            return Response(status=405)
        if function.auth_level != "anonymous":
            given = request.headers.get("x-functions-key") or request.args.get("code") or ""
            if not any(hmac.compare_digest(given, key) for key in function_keys):
                return Response(status=401)
        req = func.HttpRequest(
            method=request.method,
            url=request.url,
            headers=dict(request.headers),
            params=dict(request.args),
            route_params={},
            body=request.get_data(),
        )
        try:
            answer = invoke(function, req)
        except Exception:
            return Response(status=500)
        if not isinstance(answer, func.HttpResponse):
            return Response(status=204)
        return Response(
            answer.get_body(),
            status=answer.status_code,
            headers=dict(answer.headers),
            mimetype=answer.mimetype,
        )

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
    logging.basicConfig(level=logging.INFO, format="%(asctime)s functions %(name)s %(levelname)s %(message)s")
    quiet_werkzeug()
    settings_path = Path(args.settings)
    if settings_path.is_file():
        load_local_settings(settings_path)
    keys = [k for k in os.environ.get("FUNCTIONS_HOST_KEYS", "").split(",") if k]
    app = create_app(Path(args.app_dir).resolve(), keys)
    server = make_server(args.host, args.port, app, threaded=True)
    log.info("functions host listening on http://%s:%d", args.host, args.port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass

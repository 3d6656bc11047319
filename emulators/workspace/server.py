"""The workspace stand-in's HTTP server: auth, error shaping, wiring of models and routes.

Run: ``python -m emulators.workspace --port 8080 --data-dir .local/workspace --token TOKEN=principal``.
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from flask import Flask, g, jsonify, request
from werkzeug.exceptions import HTTPException

from emulators.common.records import RecordStore
from emulators.workspace.catalog import UnityCatalog
from emulators.workspace.errors import ApiError
from emulators.workspace.jobs import Jobs
from emulators.workspace.routes import jobs_api, not_implemented, uc
from emulators.workspace.runner import RunExecutor

log = logging.getLogger("workspace")


@dataclass
class WorkspaceConfig:
    data_dir: Path
    #: bearer token → principal (user name recorded as owner/created_by)
    tokens: dict[str, str]
    #: where managed tables live, e.g. abfss://lake@devstoreaccount1.dfs.core.windows.net/unity
    managed_root: str
    #: Azure Storage connection string, to read Delta logs (columns of EXTERNAL tables)
    storage_connection_string: str = ""
    #: environment for job task processes (SPARK_REMOTE and the like)
    task_env: dict[str, str] = field(default_factory=dict)
    #: notification destination id → webhook URL
    notification_destinations: dict[str, str] = field(default_factory=dict)
    host_url: str = ""


def delta_schema_reader(connection_string: str):
    """A function that reads a Delta table's schema string from Azure Storage with delta-rs, or None."""
    from deltalake import DeltaTable  # imported lazily: only EXTERNAL registrations need it

    parts = dict(item.split("=", 1) for item in connection_string.split(";") if "=" in item)
    options = {"account_name": parts.get("AccountName", ""), "account_key": parts.get("AccountKey", "")}
    if parts.get("BlobEndpoint", "").startswith("http://"):
        options.update(azure_storage_endpoint=parts["BlobEndpoint"].rstrip("/"), allow_http="true")

    def read(location: str) -> str | None:
        try:
            return DeltaTable(location, storage_options=options).schema().to_json()
        except Exception as exc:  # no Delta log there (yet): the table simply has no columns
            log.info("no Delta schema at %s: %s", location, exc)
            return None

    return read


class Workspace:
    def __init__(self, config: WorkspaceConfig) -> None:
        self.config = config
        self.store = RecordStore(config.data_dir / "workspace.sqlite")
        reader = (
            delta_schema_reader(config.storage_connection_string)
            if config.storage_connection_string
            else (lambda location: None)
        )
        self.catalog = UnityCatalog(self.store, config.managed_root, reader)
        self.jobs = Jobs(self.store, config.host_url)
        self.executor = RunExecutor(self.jobs, config.data_dir / "run-logs", config.task_env, self.notify)

    def notify(self, event_type: str, run: dict[str, Any]) -> None:
        """Fire the job's webhook notifications for ``event_type`` (jobs.on_start/on_success/on_failure)."""
        hook = event_type.split(".", 1)[1]
        destinations = (run["job_settings"].get("webhook_notifications") or {}).get(hook) or []
        payload = {
            "event_type": event_type,
            "workspace_id": "0",
            "run": {"run_id": run["run_id"]},
            "job": {"job_id": run["job_id"], "name": run["job_settings"].get("name", "")},
        }
        for destination in destinations:
            url = self.config.notification_destinations.get(destination.get("id", ""))
            if not url:
                log.warning("notification destination %s is not configured", destination)
                continue
            threading.Thread(target=_post_with_retries, args=(url, payload), daemon=True).start()

    def close(self) -> None:
        self.executor.stop()
        self.store.close()


def _post_with_retries(url: str, payload: dict[str, Any], attempts: int = 5) -> None:
    delay = 0.5
    for attempt in range(1, attempts + 1):
        try:
            answer = requests.post(url, json=payload, timeout=30)
            if answer.status_code < 300:
                return
            log.warning("webhook %s answered %s (attempt %d)", url, answer.status_code, attempt)
        except requests.RequestException as exc:
            log.warning("webhook %s failed: %s (attempt %d)", url, exc, attempt)
        threading.Event().wait(delay)
        delay *= 2


def create_app(config: WorkspaceConfig) -> Flask:
    app = Flask("workspace")
    workspace = Workspace(config)
    app.extensions["workspace"] = workspace

    @app.before_request
    def authenticate():
        if request.path == "/.well-known/databricks-config":
            return None
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        principal = config.tokens.get(token)
        if not principal:
            raise ApiError(401, "UNAUTHENTICATED", "Missing or invalid bearer token.")
        g.principal = principal
        return None

    @app.errorhandler(ApiError)
    def api_error(error: ApiError):
        answer = jsonify(error.body())
        answer.status_code = error.status
        return answer

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if error.code in (404, 405):
            return api_error(not_implemented(request.path.lstrip("/")))
        return api_error(ApiError(error.code or 500, "INVALID_REQUEST", error.description or "Bad request."))

    @app.get("/.well-known/databricks-config")
    def well_known():
        return api_error(ApiError(404, "NOT_FOUND", "No host metadata here."))

    @app.get("/api/2.0/local/ping")
    def ping():
        return jsonify({"ok": True})

    app.register_blueprint(uc)
    app.register_blueprint(jobs_api)
    workspace.executor.start()
    return app


def main(argv: list[str] | None = None) -> None:
    from werkzeug.serving import make_server

    from emulators.common.serving import quiet_werkzeug

    parser = argparse.ArgumentParser(description="Databricks workspace stand-in")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--config", required=True, help="JSON file with WorkspaceConfig fields")
    args = parser.parse_args(argv)
    raw = json.loads(Path(args.config).read_text())
    raw["data_dir"] = Path(raw["data_dir"])
    config = WorkspaceConfig(**raw)
    config.host_url = config.host_url or f"http://{args.host}:{args.port}"
    logging.basicConfig(level=logging.INFO, format="%(asctime)s workspace %(levelname)s %(message)s")
    quiet_werkzeug()
    app = create_app(config)
    server = make_server(args.host, args.port, app, threaded=True)
    log.info("workspace stand-in listening on %s", config.host_url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        app.extensions["workspace"].close()

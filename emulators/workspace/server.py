"""The workspace stand-in's HTTP server: auth, error shaping, wiring of models and routes.

Run: ``python -m emulators.workspace --port 8080 --config workspace.json``, the JSON holding the fields of
:class:`WorkspaceConfig` (``emulators/stack.py`` writes it). Served by werkzeug's threaded server (a thread
per request, no keep-alive), fast enough: ``bench/workspace_latency.py`` measures it.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from flask import Flask, g, jsonify, request
from werkzeug.exceptions import HTTPException

from emulators.common.records import RecordStore
from emulators.workspace.access import Access
from emulators.workspace.audit import AuditLog
from emulators.workspace.catalog import DeltaLog, UnityCatalog
from emulators.workspace.catalog_external import ExternalStorage
from emulators.workspace.credentials import CredentialVendor
from emulators.workspace.errors import ApiError, not_implemented
from emulators.workspace.faults import Faults
from emulators.workspace.governance import Governance
from emulators.workspace.grants_sql import GrantsSql
from emulators.workspace.information_schema import InformationSchema
from emulators.workspace.job_acls import JobAcls
from emulators.workspace.jobs import Jobs
from emulators.workspace.lineage import JobLineage, Lineage, answer_system_table
from emulators.workspace.managed_ddl import ManagedTableDdl
from emulators.workspace.metastore import Metastore
from emulators.workspace.notification_destinations import NotificationDestinations
from emulators.workspace.openlineage import OpenLineageEmitter
from emulators.workspace.principals import Directory
from emulators.workspace.privileges import Privileges
from emulators.workspace.routes import BLUEPRINTS
from emulators.workspace.run_identity import RunIdentity, resolve_run_as
from emulators.workspace.runner import RunExecutor
from emulators.workspace.secret_acls import SecretAcls
from emulators.workspace.secrets import Secrets, load_key
from emulators.workspace.sharing import PUBLIC_PATHS, build_sharing
from emulators.workspace.sharing_sql import SharingSql
from emulators.workspace.sql_functions import SqlFunctions
from emulators.workspace.statement_access import StatementAccess
from emulators.workspace.statements import Statements
from emulators.workspace.sync_metadata import SyncMetadata
from emulators.workspace.workspace_files import WorkspaceFiles

log = logging.getLogger("workspace")


@dataclass
class WorkspaceConfig:
    data_dir: Path
    #: bearer token → principal (user name recorded as owner/created_by)
    tokens: dict[str, str]
    #: where managed tables live, e.g. abfss://lake@devstoreaccount1.dfs.core.windows.net/unity
    managed_root: str
    #: Azure Storage connection string: to read Delta logs (columns of EXTERNAL tables) and sign SAS tokens
    storage_connection_string: str = ""
    #: environment for job task processes (SPARK_REMOTE and the like)
    task_env: dict[str, str] = field(default_factory=dict)
    #: notification destination id → webhook URL
    notification_destinations: dict[str, str] = field(default_factory=dict)
    host_url: str = ""
    #: Spark Connect address of the engine that runs SQL statements (``sc://127.0.0.1:50051``)
    sql_engine_remote: str = ""
    sql_workers: int = 2
    #: AES-256 key (base64) for secrets at rest; empty: ``secrets.key`` in the data folder
    secrets_key: str = ""
    #: lifetime of vended temporary credentials
    credential_ttl_seconds: int = 3600
    #: account group → member principals (``is_account_group_member`` in column masks)
    groups: dict[str, list[str]] = field(default_factory=dict)
    #: OpenLineage transport of openlineage-python ({"type": "http", "url": …} or {"type": "file",
    #: "log_file_path": …}); None: no OpenLineage events
    openlineage: dict[str, Any] | None = None
    #: metastore admins (user, service principal or group names). None: the principals of ``tokens`` (what
    #: the in-process test workspaces rely on); the local stack names its one admin, the operator, so the
    #: product's service principals hold only their grants. Principals made through SCIM are never admins
    metastore_admins: list[str] | None = None


def storage_options(connection_string: str) -> dict[str, str]:
    """delta-rs (object_store) options for the account of an Azure Storage connection string."""
    parts = dict(item.split("=", 1) for item in connection_string.split(";") if "=" in item)
    options = {"account_name": parts.get("AccountName", ""), "account_key": parts.get("AccountKey", "")}
    if parts.get("BlobEndpoint", "").startswith("http://"):
        options.update(azure_storage_endpoint=parts["BlobEndpoint"].rstrip("/"), allow_http="true")
    return options


def delta_log_reader(connection_string: str):
    """A function that reads a Delta table's schema and partitioning with delta-rs, or None."""
    from deltalake import DeltaTable  # imported lazily: only EXTERNAL registrations need it

    options = storage_options(connection_string)

    def read(location: str) -> DeltaLog | None:
        try:
            table = DeltaTable(location, storage_options=options)
            return DeltaLog(table.schema().to_json(), list(table.metadata().partition_columns))
        except Exception as exc:  # no Delta log there (yet): the table simply has no columns
            log.info("no Delta schema at %s: %s", location, exc)
            return None

    return read


class Workspace:
    """The models of one workspace, wired together (what the routes reach through ``current_app``)."""

    def __init__(self, config: WorkspaceConfig) -> None:
        self.config = config
        self.store = RecordStore(config.data_dir / "workspace.sqlite")
        reader = (
            delta_log_reader(config.storage_connection_string)
            if config.storage_connection_string
            else (lambda location: None)
        )
        self.catalog = UnityCatalog(self.store, config.managed_root, reader)
        self.external_storage = ExternalStorage(self.store)
        self.notification_destinations = NotificationDestinations(self.store)
        self.workspace_files = WorkspaceFiles(self.store, config.data_dir / "workspace-files")
        self.credentials = CredentialVendor(config.storage_connection_string, config.credential_ttl_seconds)
        self.jobs = Jobs(self.store, config.host_url)
        self.lineage = Lineage(self.store, self._table_type)
        self.openlineage = OpenLineageEmitter.from_config(config.openlineage, config.host_url)
        self.lineage.on_statement = self.openlineage.statement if self.openlineage else None
        job_lineage = JobLineage(
            self.lineage,
            self._column_names,
            lambda: self._statement_defaults({}),
            lambda: [body for _, body in self.store.scan("table")],
            self.openlineage,
        )
        self.executor = RunExecutor(
            self.jobs,
            config.data_dir / "run-logs",
            config.task_env,
            self.notify,
            lineage=job_lineage,
            local_path=self.workspace_files.local_path,
        )
        self.principals = Directory(self.store, config.tokens, config.groups)
        admins = config.metastore_admins
        self.privileges = Privileges(
            self.store,
            self.principals.identities,
            sorted(set(config.tokens.values())) if admins is None else admins,
            self.principals.exists,
        )
        self.audit = AuditLog(RecordStore(config.data_dir / "audit.sqlite"))
        self.access = Access(self.privileges, self.audit)
        self.metastore = Metastore(self.store, config.managed_root, self.privileges.is_admin)
        # job runs act as their job's run_as principal: its checked setting, its run tokens, plan checks
        self.jobs.run_as = lambda settings, caller: resolve_run_as(
            settings, caller, self.principals, self.access.is_workspace_admin
        )
        self.executor.identity = RunIdentity(self.principals, self.access)
        self.governance = Governance(self.store, self.catalog, config.groups)
        # column masks' is_account_group_member reads the directory's (transitive) membership
        self.governance.is_member = self.principals.is_member
        self.catalog.column_masks = self.governance.column_masks
        self.access.masked = lambda full_name: self.governance.masks_of(full_name) is not None
        self.sharing = build_sharing(
            self.store, self.catalog, self.governance, config.storage_connection_string, config.host_url
        )
        self.sharing_sql = SharingSql(self.sharing, self.access)
        self.managed_ddl = ManagedTableDdl(self.catalog)
        self.sync_metadata = SyncMetadata(self.catalog)
        # SQL's ways into the privilege model (issue 16): checks first, then GRANT & co, information_schema
        self.statement_access = StatementAccess(self.access)
        self.grants_sql = GrantsSql(self.privileges, self.access, self.catalog)
        self.information_schema = InformationSchema(self.catalog, self.privileges)
        self.statements = Statements(
            config.sql_engine_remote,
            config.sql_workers,
            on_success=lambda record: self.lineage.capture_statement(
                record, self._column_names, lambda: _session_defaults(record)
            ),
            answer_locally=lambda record: (
                self.statement_access.check(record, lambda: self._statement_defaults(record))
                or self.governance.answer(record, lambda: self._statement_defaults(record))
                or self.sharing_sql.answer(record, lambda: self._statement_defaults(record))
                or self.grants_sql.answer(record, lambda: self._statement_defaults(record))
                or self.information_schema.answer(record, lambda: self._statement_defaults(record))
                or self.sync_metadata.answer(record, lambda: self._statement_defaults(record))
                or self.managed_ddl.answer(
                    record,
                    lambda: self._statement_defaults(record),
                    lambda: (
                        self.statements.engine
                        and self.statements.engine.session(record["catalog"], record["schema"])
                    ),
                )
                or answer_system_table(record, self.lineage)
            ),
            rewrite=self._rewrite,
            # secret() in a statement is resolved from this workspace's scopes (self.secrets, made below)
            functions=SqlFunctions(lambda scope, key: self.secrets.get(scope, key)["value"]),
        )
        self.secrets = Secrets(self.store, load_key(config.secrets_key, config.data_dir))
        self.secret_acls = SecretAcls(self.store, self.access)
        self.job_acls = JobAcls(self.store, self.access, self.principals)
        self.faults = Faults()

    def _rewrite(self, record: dict[str, Any]) -> str | None:
        """The SQL the engine runs instead of the statement: column masks applied, ``system.access.audit``
        read from the audit rows; None when it runs as written."""
        masked = self.governance.rewrite(record, lambda: self._statement_defaults(record))
        return self.statement_access.rewrite(record, masked or record["statement"]) or masked

    def _column_names(self, full_name: str) -> list[str] | None:
        """A table's column names from the catalog (lineage resolves ``*`` and bare columns with them)."""
        try:
            return [c["name"] for c in self.catalog.get_table(full_name).get("columns") or []] or None
        except ApiError:
            return None

    def _statement_defaults(self, record: dict[str, Any]) -> tuple[str | None, str | None]:
        """A statement's catalog and schema, the engine session's current ones filling what it names not
        (asked only when a name needs them: a round trip to the engine)."""
        catalog, schema = record.get("catalog"), record.get("schema")
        if catalog and schema or self.statements.engine is None:
            return catalog, schema
        spark = record.get("session") or self.statements.engine.session(catalog, schema)
        return catalog or spark.catalog.currentCatalog(), schema or spark.catalog.currentDatabase()

    def _table_type(self, full_name: str) -> str | None:
        try:
            return self.catalog.get_table(full_name)["table_type"]
        except ApiError:
            return None

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
            # a destination of the configuration (the local stack's), else one made through the API
            destination_id = destination.get("id", "")
            url = self.config.notification_destinations.get(destination_id)
            webhook = {"url": url} if url else self.notification_destinations.webhook(destination_id)
            if not webhook:
                log.warning("notification destination %s is not configured", destination)
                continue
            auth = (webhook["username"], webhook.get("password", "")) if webhook.get("username") else None
            threading.Thread(
                target=_post_with_retries, args=(webhook["url"], payload), kwargs={"auth": auth}, daemon=True
            ).start()

    def close(self) -> None:
        self.executor.stop()
        self.audit.close()
        self.audit.store.close()
        if self.openlineage is not None:
            self.openlineage.close()
        self.statements.close()
        self.store.close()


def _session_defaults(record: dict[str, Any]) -> tuple[str | None, str | None]:
    """The current catalog and schema of the engine session that ran a statement (lineage's defaults)."""
    spark = record.get("session")
    if spark is None:
        return None, None
    return spark.catalog.currentCatalog(), spark.catalog.currentDatabase()


def _post_with_retries(
    url: str, payload: dict[str, Any], attempts: int = 5, auth: tuple[str, str] | None = None
) -> None:
    delay = 0.5
    for attempt in range(1, attempts + 1):
        try:
            answer = requests.post(url, json=payload, timeout=30, auth=auth)
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
        path = request.path
        if path == "/.well-known/databricks-config" or path.startswith(PUBLIC_PATHS):
            return None
        header = request.headers.get("Authorization", "")
        # configured tokens, then those made through the token APIs (principals.py)
        token = header[7:] if header.startswith("Bearer ") else ""
        principal = workspace.principals.principal_for_token(token) if token else None
        if not principal:
            raise ApiError(401, "UNAUTHENTICATED", "Missing or invalid bearer token.")
        g.principal = principal
        if not path.startswith("/api/2.0/local/"):
            workspace.faults.check(request.method, path)
        return None

    @app.errorhandler(ApiError)
    def api_error(error: ApiError):
        answer = jsonify(error.body())
        # Sail's requests alone get its status for a duplicate (errors.already_exists)
        answer.status_code = error.status_for(request.headers.get("User-Agent", ""))
        answer.headers.update(error.headers())
        return answer

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if error.code in (404, 405):
            return api_error(not_implemented(request.method, request.path.lstrip("/")))
        return api_error(ApiError(error.code or 500, "INVALID_REQUEST", error.description or "Bad request."))

    @app.errorhandler(Exception)
    def internal_error(error: Exception):
        log.exception("%s %s failed inside the workspace", request.method, request.path)
        return api_error(ApiError(500, "INTERNAL_ERROR", f"The local workspace failed: {error}"))

    @app.get("/.well-known/databricks-config")
    def well_known():
        return api_error(ApiError(404, "NOT_FOUND", "No host metadata here."))

    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    workspace.executor.start()
    for run in workspace.jobs.lost_runs:  # ended at start-up: their on_failure notifications are due
        workspace.executor.notify("jobs.on_failure", run)
    return app


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


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
    signal.signal(signal.SIGTERM, _interrupt)  # stop like Ctrl-C: reap the task processes before exiting
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        app.extensions["workspace"].close()

"""The local stack launcher: Azurite, Sail, the workspace, Event Grid and Functions stand-ins, the gateway.

``python -m emulators.stack up [--demo]`` starts everything (``make run``), bootstraps it (containers,
bundle deploy, sample data, ingest) and serves until Ctrl-C, which stops every process it started. The
tests use :class:`Stack` the same way, on free ports, in memory, in a temporary folder.

Every setting has an environment variable (README, "Configuration"): ports ``CLIMATELAKE_<PART>_PORT``,
state folder ``CLIMATELAKE_STATE_DIR``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from climatelake.settings import AZURITE_ACCOUNT, AZURITE_KEY, azurite_connection_string

ROOT = Path(__file__).resolve().parent.parent
JOB_EVENTS_DESTINATION = "climatelake-job-events"
PII_READER = "pii-reader@climatelake.dev"
#: the operator: the token of :attr:`Stack.env`, the metastore admin
LOCAL_USER = "local-user@climatelake.dev"
#: the product's service principals by display name (databricks/principals.yml)
JOBS_SP, GATEWAY_SP, FUNCTIONS_SP = "climatelake-jobs", "climatelake-gateway", "climatelake-functions"
STARTABLE = ("azurite", "sail", "workspace", "eventgrid", "functions", "gateway")
PARTS = ("blob", "queue", "table", "workspace", "sail", "eventgrid", "functions", "gateway")
DEFAULT_PORTS = {
    "blob": 10000,
    "queue": 10001,
    "table": 10002,
    "workspace": 8080,
    "sail": 50051,
    "eventgrid": 7080,
    "functions": 7071,
    "gateway": 8000,
}


class StackError(RuntimeError):
    """A part could not start; the message says which and why (with the end of its log)."""


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports, each socket held until all are picked: picked one by one (bind, close,
    bind again) the kernel may hand out the same port twice (seen: Azurite's Blob and Table services on one
    port, 'EADDRINUSE')."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def port_is_free(port: int) -> bool:
    """True if a server could listen on ``port`` (connections lingering in TIME_WAIT do not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def wait_until(
    check, timeout: float, what: str, process: subprocess.Popen | None = None, log_path: Path | None = None
) -> None:
    """Poll ``check()`` until it is true; fail early if ``process`` died. Never a fixed sleep."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise StackError(f"{what} exited with code {process.returncode}.\n{_tail(log_path)}")
        try:
            if check():
                return
        except (requests.RequestException, OSError):
            pass
        time.sleep(delay)
        delay = min(delay * 1.5, 0.25)
    raise StackError(f"{what} was not ready within {timeout:.0f} s.\n{_tail(log_path)}")


def _tail(path: Path | None, lines: int = 20) -> str:
    if path is None or not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _http_ok(url: str, **kwargs: Any) -> bool:
    return requests.get(url, timeout=2, **kwargs).status_code < 500


def sail_session_env(timeout: float | None = None) -> dict[str, str]:
    """Sail's settings for how long it keeps an idle session (``timeout`` seconds, else
    ``CLIMATELAKE_SAIL_SESSION_TIMEOUT_SECS``, else Sail's default of 900 s).

    Sail sends a heartbeat every ``spark.execution_heartbeat_interval_secs`` (15 s) while an operation runs;
    a timeout shorter than that would end sessions in the middle of long statements, so the heartbeat is
    kept at a third of the timeout.
    """
    if timeout is None:
        configured = os.environ.get("CLIMATELAKE_SAIL_SESSION_TIMEOUT_SECS", "").strip()
        if not configured:
            return {}
        timeout = float(configured)
    if timeout <= 0:
        raise ValueError(f"the Sail session timeout must be positive, not {timeout}")
    heartbeat = max(1, min(15, int(timeout // 3)))
    return {
        "SAIL_SPARK__SESSION_TIMEOUT_SECS": str(max(1, int(timeout))),
        "SAIL_SPARK__EXECUTION_HEARTBEAT_INTERVAL_SECS": str(heartbeat),
    }


def _tcp_open(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


def eventgrid_resources(functions_url: str, topic_key: str, subscribers: list[str]) -> list[dict[str, Any]]:
    """The Event Grid wiring of the local stack, declared as ARM/Bicep declares it: the custom topic
    ``climatelake`` (one subscription per ``subscribers`` URL) and the storage account's system topic, whose
    BlobCreated events under ``manifests/`` go to the function ``on_manifest_created``. The cloud declares
    the same in infra/ (modules/eventgrid*.bicep); tests/test_infra.py checks the two agree (filter,
    function, schema, retry policy). Local-only: webhook URLs (Azure: an AzureFunction destination), the
    topic's ``keys`` and the system topic's ``containers`` (stand-in extensions), no dead-letter container."""

    def webhook(url: str, event_filter: dict[str, Any] | None = None) -> dict[str, Any]:
        properties: dict[str, Any] = {
            "destination": {"endpointType": "WebHook", "properties": {"endpointUrl": url}},
            "eventDeliverySchema": "EventGridSchema",
        }
        if event_filter:
            properties["filter"] = event_filter
        return {"properties": properties}

    manifest_created = webhook(
        f"{functions_url}/runtime/webhooks/EventGrid?functionName=on_manifest_created",
        {
            "includedEventTypes": ["Microsoft.Storage.BlobCreated"],
            "subjectBeginsWith": "/blobServices/default/containers/manifests/",
        },
    )
    # Azure's defaults, written out as infra/modules/eventgrid-subscription.bicep writes them
    manifest_created["properties"]["retryPolicy"] = {
        "maxDeliveryAttempts": 30,
        "eventTimeToLiveInMinutes": 1440,
    }
    return [
        {
            "type": "Microsoft.EventGrid/topics",
            "name": "climatelake",
            "properties": {"inputSchema": "EventGridSchema"},
            "keys": [topic_key],
        },
        *(
            {
                "type": "Microsoft.EventGrid/topics/eventSubscriptions",
                "name": f"climatelake/subscriber-{i}",
                **webhook(endpoint),
            }
            for i, endpoint in enumerate(subscribers)
        ),
        {
            "type": "Microsoft.EventGrid/systemTopics",
            "name": "storage",
            "properties": {"topicType": "Microsoft.Storage.StorageAccounts"},
            "containers": ["manifests"],
        },
        {
            "type": "Microsoft.EventGrid/systemTopics/eventSubscriptions",
            "name": "storage/manifest-created",
            **manifest_created,
        },
    ]


@dataclass
class Stack:
    """One running local stack. ``env`` configures product code (gateway, functions, CLI) to use it."""

    state_dir: Path
    in_memory: bool = False
    ports: dict[str, int] = field(default_factory=dict)
    subscribers: list[str] = field(default_factory=list)
    gateway_workers: int = 2
    #: extra environment for the gateway only, e.g. CLIMATELAKE_GATEWAY_RATE_LIMIT_PER_MINUTE for benchmarks
    gateway_env: dict[str, str] = field(default_factory=dict)
    #: extra app settings for the Functions host, e.g. a fast CLIMATELAKE_RECOVERY_SCHEDULE for failure tests
    functions_env: dict[str, str] = field(default_factory=dict)
    #: the workspace's OpenLineage transport (WorkspaceConfig.openlineage); None: no OpenLineage events
    openlineage: dict[str, Any] | None = None
    #: seconds Sail keeps an idle Spark Connect session (its ``spark.session_timeout_secs``, 900 by default);
    #: None: ``CLIMATELAKE_SAIL_SESSION_TIMEOUT_SECS`` or Sail's own default. Short values test healing.
    sail_session_timeout: float | None = None
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    #: parts started at least once: a restart keeps their state, even in memory (only the first start wipes)
    _started: set[str] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        self.state_dir = Path(self.state_dir).resolve()
        for part, port in zip(PARTS, free_ports(len(PARTS)), strict=True):
            self.ports.setdefault(part, port)
        self.workspace_token = "dapi-local-" + secrets.token_hex(16)
        #: a second principal, member of the account group pii_readers (column masks reveal PII to it)
        self.pii_reader_token = "dapi-pii-reader-" + secrets.token_hex(16)
        self.topic_key = secrets.token_urlsafe(24)
        self.function_key = secrets.token_urlsafe(24)
        self.functions_master_key = secrets.token_urlsafe(24)  # admin-level functions; kept across restarts
        self.api_key = ""  # an admin key, created in the key store once Azurite is up
        #: the gateway's and the function app's own Databricks tokens (their service principals' OBO
        #: tokens, made once the workspace is up: :meth:`_provision_principals`)
        self.gateway_token = ""
        self.functions_token = ""

    # addresses ---------------------------------------------------------------------------------
    def url(self, part: str) -> str:
        return f"http://127.0.0.1:{self.ports[part]}"

    @property
    def connection_string(self) -> str:
        return azurite_connection_string(self.ports["blob"], self.ports["queue"], self.ports["table"])

    @property
    def env(self) -> dict[str, str]:
        """Environment for product code: exactly what would point it at Azure + Databricks instead."""
        return {
            "CLIMATELAKE_STORAGE_CONNECTION_STRING": self.connection_string,
            "DATABRICKS_HOST": self.url("workspace"),
            "DATABRICKS_TOKEN": self.workspace_token,
            "CLIMATELAKE_EVENTGRID_TOPIC_ENDPOINT": f"{self.url('eventgrid')}/api/events",
            "CLIMATELAKE_EVENTGRID_TOPIC_KEY": self.topic_key,
        }

    # life cycle --------------------------------------------------------------------------------
    def start(self, only: tuple[str, ...] = STARTABLE) -> Stack:
        """Start the parts in ``only`` (default: all), in dependency order."""
        wanted = {"azurite": ("blob", "queue", "table")}
        needed = [p for part in only for p in wanted.get(part, (part,))]
        busy = [f"{part}={self.ports[part]}" for part in needed if not port_is_free(self.ports[part])]
        if busy:
            raise StackError(
                f"ports already in use: {', '.join(busy)}; set CLIMATELAKE_<PART>_PORT "
                "to free ones, or stop what holds them."
            )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "logs").mkdir(exist_ok=True)
        try:
            for part in STARTABLE:
                if part in only:
                    getattr(self, f"_start_{part}")()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every process (SIGTERM to its group, SIGKILL after 10 s); leave none running."""
        for process in reversed(list(self.processes.values())):
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        for process in reversed(list(self.processes.values())):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        self.processes.clear()

    def kill(self, part: str, sig: signal.Signals = signal.SIGKILL) -> None:
        """End one part (``sig`` to its process group, SIGKILL by default: at once, as a crash would) and
        wait for it to exit; for failure tests. SIGTERM lets it shut down as a restart would: Azurite only
        writes its LokiJS metadata to disk every 5 s and on SIGTERM, so after a SIGKILL it has lost what it
        acknowledged in its last seconds, which Azure Storage never does (tests/reliability/test_r7_*)."""
        process = self.processes.pop(part)
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:  # it did not stop on ``sig``: never leave it running
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def restart(self, part: str) -> None:
        """Start a part again on its port (after :meth:`kill`), keeping its configuration and state."""
        if part in self.processes:
            self.kill(part)
        getattr(self, f"_start_{part}")()

    def _spawn(
        self, name: str, args: list[str], env: dict[str, str] | None = None, cwd: Path = ROOT
    ) -> tuple[subprocess.Popen, Path]:
        log_path = self.state_dir / "logs" / f"{name}.log"
        log_file = open(log_path, "ab")  # noqa: SIM115 - the child process owns it
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DATABRICKS_", "SAIL_", "UNITY_", "UC_", "AZURE_", "CLIMATELAKE_"))
        }
        process = subprocess.Popen(
            args,
            cwd=str(cwd),
            env={**base, **(env or {})},
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log_file.close()
        self.processes[name] = process
        return process, log_path

    def _start_azurite(self) -> None:
        azurite = ROOT / "node_modules" / ".bin" / "azurite"
        if not azurite.exists():
            raise StackError("Azurite is not installed: run `make install` (needs Node.js 20 and npm).")
        args = [
            str(azurite),
            "--silent",
            "--skipApiVersionCheck",
            "--disableTelemetry",
            "--loose",
            "--blobHost",
            "127.0.0.1",
            "--queueHost",
            "127.0.0.1",
            "--tableHost",
            "127.0.0.1",
            "--blobPort",
            str(self.ports["blob"]),
            "--queuePort",
            str(self.ports["queue"]),
            "--tablePort",
            str(self.ports["table"]),
        ]
        if self.in_memory:
            args.append("--inMemoryPersistence")
        else:
            args += ["--location", str(self.state_dir / "azurite")]
        process, log_path = self._spawn("azurite", args)
        for part in ("blob", "queue", "table"):
            wait_until(lambda p=part: _tcp_open(self.ports[p]), 30, f"Azurite {part}", process, log_path)
        self._create_api_key()

    def _create_api_key(self) -> None:
        """An admin key for the gateway, made through the product's key store (as `climatelake keys`)."""
        from climatelake.keys import ApiKeyStore

        keys = ApiKeyStore(self.connection_string)
        keys.ensure_table()
        self.api_key, _ = keys.create("admin", "local stack")

    def _start_sail(self) -> None:
        catalog_uri = f"{self.url('workspace')}/api/2.1/unity-catalog"
        env = {
            "AZURE_STORAGE_ACCOUNT_NAME": AZURITE_ACCOUNT,
            "AZURE_STORAGE_ACCOUNT_KEY": AZURITE_KEY,
            "AZURE_STORAGE_ENDPOINT": f"{self.url('blob')}/{AZURITE_ACCOUNT}",
            "AZURE_ALLOW_HTTP": "true",
            "SAIL_CATALOG__LIST": f'[{{name="climatelake", type="unity", uri="{catalog_uri}", '
            f'default_catalog="climatelake", token="{self.workspace_token}"}}]',
            "SAIL_CATALOG__DEFAULT_CATALOG": "climatelake",
            "RUST_LOG": "warn",
            **sail_session_env(self.sail_session_timeout),
        }
        sail = Path(sys.executable).parent / "sail"
        process, log_path = self._spawn(
            "sail",
            [str(sail), "spark", "server", "--ip", "127.0.0.1", "--port", str(self.ports["sail"])],
            env,
        )
        wait_until(lambda: _tcp_open(self.ports["sail"]), 30, "Sail", process, log_path)

    def _start_workspace(self) -> None:
        config = {
            "data_dir": str(self.state_dir / "workspace"),
            "tokens": {
                self.workspace_token: LOCAL_USER,
                self.pii_reader_token: PII_READER,
            },
            # the operator is the metastore admin; every other principal holds what it is granted
            "metastore_admins": [LOCAL_USER],
            # account groups for is_account_group_member() in column masks (sql/pii_masks.sql)
            "groups": {"pii_readers": [PII_READER]},
            "managed_root": f"abfss://lake@{AZURITE_ACCOUNT}.dfs.core.windows.net/unity",
            "storage_connection_string": self.connection_string,
            # What a Databricks cluster gives a task: its Spark session and workspace authentication.
            "task_env": {
                "SPARK_REMOTE": f"sc://127.0.0.1:{self.ports['sail']}",
                "DATABRICKS_HOST": self.url("workspace"),
                "DATABRICKS_TOKEN": self.workspace_token,
                # where the account's blob endpoint is (bronze lists raw files there); on Azure it is the
                # account's public endpoint, which the job derives from the path
                "CLIMATELAKE_BLOB_ENDPOINT": f"{self.url('blob')}/{AZURITE_ACCOUNT}",
            },
            "notification_destinations": {
                JOB_EVENTS_DESTINATION: f"{self.url('functions')}/api/job-events?code={self.function_key}",
            },
            # SQL statements run on Sail; secrets' key lives in the workspace's data folder (0600)
            "sql_engine_remote": f"sc://127.0.0.1:{self.ports['sail']}",
        }
        if self.openlineage:
            config["openlineage"] = self.openlineage
        if self.in_memory and "workspace" not in self._started:  # a restart keeps the workspace's state
            shutil.rmtree(self.state_dir / "workspace", ignore_errors=True)
        self._started.add("workspace")
        path = self._write_json("workspace.json", config)
        process, log_path = self._spawn(
            "workspace",
            [
                sys.executable,
                "-m",
                "emulators.workspace",
                "--port",
                str(self.ports["workspace"]),
                "--config",
                str(path),
            ],
        )
        headers = {"Authorization": f"Bearer {self.workspace_token}"}
        wait_until(
            lambda: (
                requests.get(f"{self.url('workspace')}/api/2.0/local/ping", headers=headers, timeout=2).ok
            ),
            30,
            "workspace stand-in",
            process,
            log_path,
        )
        self._provision_principals()

    def _provision_principals(self) -> None:
        """The product's service principals (the deploy's own step, :func:`bundle_access.ensure_principals`)
        and an on-behalf-of token each for the gateway and the function app, made by the operator as a
        workspace admin does on Databricks (``w.token_management.create_obo_token``). Kept across restarts:
        the workspace keeps its tokens."""
        if self.gateway_token and self.functions_token:
            return
        from climatelake import bundle_access
        from climatelake.bundle import BUNDLE_ROOT

        w = self.workspace_client()
        ids = bundle_access.ensure_principals(w, BUNDLE_ROOT)
        for attribute, principal in (("gateway_token", GATEWAY_SP), ("functions_token", FUNCTIONS_SP)):
            made = w.token_management.create_obo_token(ids[principal], comment=f"local stack: {principal}")
            setattr(self, attribute, made.token_value)

    def token_table(self) -> list[tuple[str, str, str]]:
        """Which token is which: (token, principal, used by) — what `make run` prints. Only the operator's
        token is shown whole (the one a user needs, for databricks-sdk or curl); the others by prefix."""

        def prefix(token: str) -> str:
            return f"{token[:10]}…" if token else "(not made: no workspace)"

        return [
            (self.workspace_token, LOCAL_USER, "you (metastore admin): DATABRICKS_TOKEN, bootstrap"),
            (prefix(self.gateway_token), GATEWAY_SP, "the Flask gateway"),
            (prefix(self.functions_token), FUNCTIONS_SP, "the function app"),
            ("minted per task run", JOBS_SP, "every job (run_as); revoked when the task ends"),
            (prefix(self.pii_reader_token), PII_READER, "a member of pii_readers (masks reveal PII)"),
        ]

    def _start_eventgrid(self) -> None:
        """Event Grid stand-in, wired as :func:`eventgrid_resources` declares."""
        resources = eventgrid_resources(self.url("functions"), self.topic_key, self.subscribers)
        config = {
            "data_dir": str(self.state_dir / "eventgrid"),
            "time_scale": 0.05,
            "storage_connection_string": self.connection_string,
            "resources": resources,
        }
        if not self.in_memory:  # Azurite's data folder: its writes wake the system topic's listing
            config["storage_location"] = str(self.state_dir / "azurite")
        if self.in_memory and "eventgrid" not in self._started:  # a restart keeps its state
            shutil.rmtree(self.state_dir / "eventgrid", ignore_errors=True)
        self._started.add("eventgrid")
        path = self._write_json("eventgrid.json", config)
        process, log_path = self._spawn(
            "eventgrid",
            [
                sys.executable,
                "-m",
                "emulators.eventgrid",
                "--port",
                str(self.ports["eventgrid"]),
                "--config",
                str(path),
            ],
        )
        wait_until(
            lambda: _http_ok(f"{self.url('eventgrid')}/local/health"),
            30,
            "Event Grid stand-in",
            process,
            log_path,
        )

    def _start_functions(self) -> None:
        settings = {
            "IsEncrypted": False,
            "Values": {
                "FUNCTIONS_WORKER_RUNTIME": "python",
                "AzureWebJobsStorage": self.connection_string,
                **self.env,
                # the recovery timer (functions/recovery.py): every minute, requests stuck for 15 minutes
                "CLIMATELAKE_RECOVERY_SCHEDULE": "0 * * * * *",
                "DATABRICKS_TOKEN": self.functions_token or self.workspace_token,
                **self.functions_env,
            },
        }
        path = self._write_json("local.settings.json", settings)
        process, log_path = self._spawn(
            "functions",
            [
                sys.executable,
                "-m",
                "emulators.functions_host",
                "--port",
                str(self.ports["functions"]),
                "--app-dir",
                str(ROOT),
                "--settings",
                str(path),
            ],
            {
                "FUNCTIONS_HOST_KEYS": self.function_key,
                # admin-level functions need the master key; kept on the stack so a restart keeps it
                "FUNCTIONS_HOST_MASTER_KEY": self.functions_master_key,
            },
        )
        wait_until(
            lambda: requests.get(f"{self.url('functions')}/admin/host/status", timeout=2).ok,
            60,
            "Functions host",
            process,
            log_path,
        )

    def _start_gateway(self) -> None:
        gunicorn = Path(sys.executable).parent / "gunicorn"
        process, log_path = self._spawn(
            "gateway",
            [
                str(gunicorn),
                "--bind",
                f"127.0.0.1:{self.ports['gateway']}",
                "--workers",
                str(self.gateway_workers),
                "--threads",
                "4",
                "--access-logfile",
                "-",
                "flask_gateway:create_app()",
            ],
            {**self.env, "DATABRICKS_TOKEN": self.gateway_token or self.workspace_token, **self.gateway_env},
        )
        wait_until(
            lambda: requests.get(f"{self.url('gateway')}/healthz", timeout=2).ok,
            60,
            "gateway",
            process,
            log_path,
        )

    def _write_json(self, name: str, data: dict[str, Any]) -> Path:
        path = self.state_dir / name
        path.write_text(json.dumps(data, indent=2))
        path.chmod(0o600)
        return path

    # bootstrap ---------------------------------------------------------------------------------
    def settings(self):
        from climatelake.settings import Settings

        return Settings.from_env(self.env)

    def workspace_client(self, token: str | None = None):
        """databricks-sdk pointed at this stack's workspace (as ``token``'s principal, default the local
        user); retries bounded to 30 s (the SDK's default 300 s would hide a stand-in that died behind a
        five-minute hang)."""
        from databricks.sdk import WorkspaceClient
        from databricks.sdk.config import Config

        return WorkspaceClient(
            config=Config(
                host=self.url("workspace"), token=token or self.workspace_token, retry_timeout_seconds=30
            )
        )

    def bootstrap(self, cities: list[int], start: dt.date, end: dt.date) -> dict[str, Any]:
        """Containers and tables, the bundle's jobs, sample data and the ingest run (product code does it)."""
        from climatelake.bootstrap import bootstrap

        return bootstrap(self.settings(), self.workspace_client(), cities, start, end)


def _configured_ports() -> dict[str, int]:
    return {
        part: int(os.environ.get(f"CLIMATELAKE_{part.upper()}_PORT", port))
        for part, port in DEFAULT_PORTS.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emulators.stack", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the whole local stack and serve until Ctrl-C")
    up.add_argument("--demo", action="store_true", help="load sample data and submit one demo request")
    up.add_argument("--cities", type=int, default=3)
    up.add_argument("--start", default="2024-01-01")
    up.add_argument("--end", default="2024-03-31")
    args = parser.parse_args(argv)

    import logging

    from emulators.common.event_sink import EventSink

    # The stand-in answers 404 for host metadata, which databricks-sdk tolerates but warns about.
    logging.getLogger("databricks.sdk").setLevel(logging.ERROR)

    sink = EventSink(
        on_event=lambda e: print(f"[subscriber] {e['eventType']} {json.dumps(e['data'])}", flush=True)
    )
    state_dir = Path(os.environ.get("CLIMATELAKE_STATE_DIR", ROOT / ".local" / "stack"))
    # OpenLineage events to a lineage tool (e.g. Marquez's http://localhost:5000): off unless asked for
    lineage_url = os.environ.get("CLIMATELAKE_OPENLINEAGE_URL")
    stack = Stack(
        state_dir,
        ports=_configured_ports(),
        subscribers=[sink.url],
        openlineage={"type": "http", "url": lineage_url} if lineage_url else None,
    )
    stopping = False

    def on_signal(signum, frame):
        nonlocal stopping
        if not stopping:
            stopping = True
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        print(f"Starting the local stack in {state_dir} …", flush=True)
        stack.start()
        if args.demo:
            from emulators import demo

            demo.run(
                stack,
                sink,
                list(range(1, args.cities + 1)),
                dt.date.fromisoformat(args.start),
                dt.date.fromisoformat(args.end),
            )
        print(
            f"\nGateway:  {stack.url('gateway')}\nAPI key:  {stack.api_key}\n"
            f"Console:  {stack.url('gateway')}/console/ (sign in with the API key)\n"
            f"Try:      curl -H 'Authorization: Bearer {stack.api_key}' {stack.url('gateway')}/healthz\n"
            "Serving; Ctrl-C stops everything.",
            flush=True,
        )
        print(f"\nWorkspace: {stack.url('workspace')} — who each Databricks token is (issue 16):", flush=True)
        for token, principal, used_by in stack.token_table():
            print(f"  {token:<48} {principal:<28} {used_by}", flush=True)
        while all(p.poll() is None for p in stack.processes.values()):
            time.sleep(1)
        dead = [n for n, p in stack.processes.items() if p.poll() is not None]
        print(f"stopping: {', '.join(dead)} exited (logs in {state_dir / 'logs'})", file=sys.stderr)
        return 1
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        print("Stopping the local stack …", flush=True)
        stack.stop()
        sink.close()


if __name__ == "__main__":
    sys.exit(main())

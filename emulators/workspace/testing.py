"""An in-process workspace stand-in on a free port, for tests and benchmarks (the product never uses it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emulators.common.serving import serve_in_thread
from emulators.workspace.server import WorkspaceConfig, create_app

TOKEN = "dapi-test-token"
PRINCIPAL = "ada@example.com"


class InProcessWorkspace:
    """Start with :meth:`start`, stop with :meth:`stop`; restartable on the same data folder."""

    def __init__(self, data_dir: Path, *, port: int = 0, **config) -> None:
        """``port`` 0 takes a free one; a fixed one lets a restart keep the URL others were given."""
        config.setdefault("tokens", {TOKEN: PRINCIPAL})
        config.setdefault("managed_root", "abfss://lake@devstoreaccount1.dfs.core.windows.net/unity")
        self.config = WorkspaceConfig(data_dir=Path(data_dir), **config)
        self.port = port
        self.url = ""

    def start(self) -> InProcessWorkspace:
        self.app = create_app(self.config)
        self.server, self.thread = serve_in_thread(self.app, port=self.port)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
        self.app.extensions["workspace"].close()

    @property
    def uc_url(self) -> str:
        return f"{self.url}/api/2.1/unity-catalog"

    def client(self, token: str = TOKEN, **config):
        from databricks.sdk import WorkspaceClient
        from databricks.sdk.config import Config

        config.setdefault("retry_timeout_seconds", 10)
        return WorkspaceClient(config=Config(host=self.url, token=token, **config))

    def register_external_table(
        self, full_name: str, location: str, columns: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """Register an EXTERNAL Delta table (catalog and schema must exist) the way Sail and the jobs do:
        ``POST /tables`` — databricks-sdk has no typed call for it. Without ``columns`` the stand-in reads
        them from the Delta log."""
        catalog, schema, name = full_name.split(".")
        body = {
            "catalog_name": catalog,
            "schema_name": schema,
            "name": name,
            "table_type": "EXTERNAL",
            "data_source_format": "DELTA",
            "storage_location": location,
        }
        if columns is not None:
            body["columns"] = columns
        return self.client().api_client.do("POST", "/api/2.1/unity-catalog/tables", body=body)

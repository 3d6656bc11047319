"""The workspace stand-in in the test's own process, over the stack's Azurite and Sail, and the SQL statement
helpers the tests of it share.

Why in-process: the tests need principals, tokens and groups the stack's own workspace is not configured
with. It listens on the port the stack gave the workspace, because that is the catalog URI Sail was started
with (Sail reaches Unity Catalog there). Only the stack's own principal (Sail's, :data:`ADMIN`) is a
metastore admin unless a test configures otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from azure.storage.blob import BlobServiceClient
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.sql import StatementState

from climatelake.settings import AZURITE_ACCOUNT
from emulators.stack import Stack
from emulators.workspace.testing import InProcessWorkspace

CATALOG = "climatelake"  # the catalog the stack's Sail is configured with
WAREHOUSE = "local"
ADMIN = "local-user@climatelake.dev"  # the principal of the stack's workspace token (Sail's)


def sail_options(stack: Stack) -> dict[str, Any]:
    """The :class:`InProcessWorkspace` options that put it in the stack's place: its port, Azurite storage
    for managed tables, Sail as the SQL engine."""
    return {
        "port": stack.ports["workspace"],
        "managed_root": f"abfss://lake@{AZURITE_ACCOUNT}.dfs.core.windows.net/unity",
        "storage_connection_string": stack.connection_string,
        "sql_engine_remote": f"sc://127.0.0.1:{stack.ports['sail']}",
        "host_url": stack.url("workspace"),
    }


def admin_options(stack: Stack) -> dict[str, Any]:
    """:func:`sail_options` with the stack's token as :data:`ADMIN`, the only metastore admin."""
    return {**sail_options(stack), "tokens": {stack.workspace_token: ADMIN}, "metastore_admins": [ADMIN]}


@contextmanager
def sail_workspace(
    root: Path, make: Callable[[Stack], InProcessWorkspace] | None = None
) -> Iterator[tuple[Stack, InProcessWorkspace]]:
    """Start Azurite and Sail (in memory, free ports) under ``root``, the ``lake`` container, and the stand-in
    ``make`` builds (default: :func:`admin_options` on ``root / "workspace"``); give both, stop both after.
    For a module-scoped fixture: ``with sail_workspace(root) as (stack, ws): … yield …``."""
    stack = Stack(root / "stack", in_memory=True)
    ws = None
    try:
        stack.start(only=("azurite", "sail"))
        BlobServiceClient.from_connection_string(stack.connection_string).create_container("lake")
        made = make(stack) if make else InProcessWorkspace(root / "workspace", **admin_options(stack))
        ws = made.start()
        yield stack, ws
    finally:
        if ws is not None:
            ws.stop()
        stack.stop()


def client_of(ws: InProcessWorkspace, admin: WorkspaceClient, principal: str) -> WorkspaceClient:
    """A client of ``principal`` with a token the admin makes for it (the stand-in's local token route)."""
    made = admin.api_client.do("POST", "/api/2.0/local/tokens", body={"principal": principal})
    return ws.client(made["token_value"], retry_timeout_seconds=30)


def run(w: WorkspaceClient, statement: str, **kwargs):
    """``statement`` through databricks-sdk's statement execution on the local warehouse, waited for."""
    kwargs.setdefault("wait_timeout", "30s")
    return w.statement_execution.execute_statement(statement=statement, warehouse_id=WAREHOUSE, **kwargs)


def ok(w: WorkspaceClient, statement: str, **kwargs) -> list[list[str]]:
    """The rows of a statement that must succeed."""
    answer = run(w, statement, **kwargs)
    assert answer.status.state == StatementState.SUCCEEDED, (statement, answer.status)
    return (answer.result.data_array if answer.result else None) or []


def failed(w: WorkspaceClient, statement: str, error_class: str, **kwargs) -> str:
    """The statement FAILED with ``[error_class]`` (BAD_REQUEST, as the statements API reports SQL errors)."""
    answer = run(w, statement, **kwargs)
    assert answer.status.state == StatementState.FAILED, (statement, answer.status)
    message = answer.status.error.message
    assert message.startswith(f"[{error_class}]"), message
    return message

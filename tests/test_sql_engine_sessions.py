"""SQL statements keep working after the engine ends an idle session (issue 15, item 1).

Sail removes a Spark Connect session that has been idle for ``spark.session_timeout_secs`` and answers every
later call on it with ``invalid argument: session <id> is not running``. The workspace stand-in keeps
sessions per worker thread; these tests start Sail with a two-second timeout, let the sessions go idle past
it, and check every statement still succeeds — on a new session, run exactly once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from databricks.sdk.service.sql import StatementState

from emulators.stack import Stack, sail_session_env
from emulators.workspace.statements import session_ended
from tests.helpers.catalog_stack import catalog_stack
from tests.helpers.clock import idle_past

pytestmark = pytest.mark.stack
CATALOG = "climatelake"
TIMEOUT = 2.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = Path(tmp_path_factory.mktemp("short-sessions"))
    stack = Stack(folder, in_memory=True, sail_session_timeout=TIMEOUT)
    yield from catalog_stack(stack, CATALOG)



def run(stack: Stack, statement: str, schema: str | None = None):
    w = stack.workspace_client()
    return w.statement_execution.execute_statement(
        statement=statement, warehouse_id="local", catalog=CATALOG, schema=schema, wait_timeout="30s"
    )


def test_statements_heal_after_the_engine_ends_idle_sessions(stack: Stack) -> None:
    schema = f"s_{uuid.uuid4().hex[:8]}"
    stack.workspace_client().schemas.create(name=schema, catalog_name=CATALOG)
    created = run(stack, "CREATE TABLE t (id INT) USING DELTA", schema)
    assert created.status.state == StatementState.SUCCEEDED, created.status
    first = [run(stack, f"SELECT {i} AS n", schema) for i in range(4)]  # sessions on both worker threads
    assert all(r.status.state == StatementState.SUCCEEDED for r in first)

    for round_ in range(2):  # healing twice: a new session is itself ended and replaced again
        idle_past(TIMEOUT * 2 + 1)
        inserted = run(stack, f"INSERT INTO t VALUES ({round_})", schema)
        assert inserted.status.state == StatementState.SUCCEEDED, inserted.status.error
        answers = [run(stack, f"SELECT {i} AS n", schema) for i in range(4)]
        assert [r.status.state for r in answers] == [StatementState.SUCCEEDED] * 4, [
            r.status.error for r in answers
        ]
        assert [r.result.data_array for r in answers] == [[[str(i)]] for i in range(4)]

    # the INSERTs ran exactly once each: a refused call is retried, nothing is replayed
    rows = run(stack, "SELECT id FROM t ORDER BY id", schema)
    assert rows.result.data_array == [["0"], ["1"]]


def test_only_the_engines_refusal_counts_as_an_ended_session() -> None:
    assert session_ended(RuntimeError("invalid argument: session 07e6014c-43f0 is not running"))
    assert not session_ended(RuntimeError("StatusCode.UNAVAILABLE: failed to connect"))
    assert not session_ended(RuntimeError("[TABLE_OR_VIEW_NOT_FOUND] session_log is not running"))


def test_sail_session_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLIMATELAKE_SAIL_SESSION_TIMEOUT_SECS", raising=False)
    assert sail_session_env() == {}  # Sail's own default (900 s)
    assert sail_session_env(60) == {
        "SAIL_SPARK__SESSION_TIMEOUT_SECS": "60",
        "SAIL_SPARK__EXECUTION_HEARTBEAT_INTERVAL_SECS": "15",
    }
    monkeypatch.setenv("CLIMATELAKE_SAIL_SESSION_TIMEOUT_SECS", "3")
    assert sail_session_env() == {
        "SAIL_SPARK__SESSION_TIMEOUT_SECS": "3",
        "SAIL_SPARK__EXECUTION_HEARTBEAT_INTERVAL_SECS": "1",
    }
    with pytest.raises(ValueError, match="positive"):
        sail_session_env(0)

"""Run a ``.sql`` file statement by statement through the Databricks SQL Statement Execution API.

Why statement by statement: the API takes one statement per request, and a script must stop at the first
failure (later statements usually depend on earlier ones), saying which statement failed and why. Why through
databricks-sdk's ``statement_execution``: it is the same call on Databricks and on the local stand-in, so
lineage, auditing and permissions apply exactly as they would to any user's SQL.

``${catalog}`` in the file is replaced by the configured catalog before the file is split, so one script
serves every environment. Nothing else is substituted; use named parameters for values.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from databricks.sdk import WorkspaceClient
from databricks.sdk.service.sql import StatementResponse, StatementState

_TERMINAL = (StatementState.SUCCEEDED, StatementState.FAILED, StatementState.CANCELED, StatementState.CLOSED)


class SqlRunError(RuntimeError):
    """A statement of the script did not succeed; the ones before it did, the ones after it did not run."""

    def __init__(self, index: int, line: int, statement: str, state: str, message: str, statement_id: str):
        self.index, self.line, self.statement, self.state = index, line, statement, state
        self.statement_id = statement_id
        first = " ".join(statement.split())[:80]
        super().__init__(
            f"statement {index} (line {line}) {state}: {message} [statement_id {statement_id}]: {first}"
        )


@dataclass(frozen=True)
class Statement:
    text: str
    #: 1-based line of the file where the statement begins
    line: int


@dataclass(frozen=True)
class StatementResult:
    statement: Statement
    statement_id: str
    #: rows of a query (strings, as the API sends them); empty for commands
    rows: list[list[str | None]]


def split_statements(script: str) -> list[Statement]:
    """Split on ``;`` outside quotes (``'``, ``"``, backticks) and comments; comments are dropped."""
    statements: list[Statement] = []
    current: list[str] = []
    has_code = False
    start_line = line = 1
    i, n = 0, len(script)
    quote: str | None = None
    while i < n:
        ch = script[i]
        nxt = script[i + 1] if i + 1 < n else ""
        if quote:
            current.append(ch)
            if ch == "\\" and quote != "`" and nxt:
                current.append(nxt)
                i += 1
            elif ch == quote:
                quote = None
        elif ch == "-" and nxt == "-":
            end = script.find("\n", i)
            i = n if end < 0 else end  # comments are not sent: the statement starts at its first word
            continue
        elif ch == "/" and nxt == "*":
            end = script.find("*/", i + 2)
            end = n if end < 0 else end + 2
            line += script.count("\n", i, end)
            current.append(" ")
            i = end
            continue
        elif ch == ";":
            if has_code:
                statements.append(Statement("".join(current).strip(), start_line))
            current, has_code = [], False
            i += 1
            continue
        else:
            if ch in "'\"`":
                quote = ch
            current.append(ch)
        if not ch.isspace():
            if not has_code:
                start_line = line
            has_code = True
        if ch == "\n":
            line += 1
        i += 1
    if has_code:
        statements.append(Statement("".join(current).strip(), start_line))
    return statements


def substitute(script: str, catalog: str) -> str:
    return script.replace("${catalog}", catalog)


def run_sql_file(
    w: WorkspaceClient,
    path: str | Path,
    *,
    catalog: str,
    warehouse_id: str,
    timeout_seconds: float = 600.0,
    on_statement: Callable[[StatementResult], None] | None = None,
) -> list[StatementResult]:
    """Run every statement of the file in order; raise :class:`SqlRunError` at the first that fails."""
    script = substitute(Path(path).read_text(encoding="utf-8"), catalog)
    return run_sql(
        w, script, warehouse_id=warehouse_id, timeout_seconds=timeout_seconds, on_statement=on_statement
    )


def run_sql(
    w: WorkspaceClient,
    script: str,
    *,
    warehouse_id: str,
    timeout_seconds: float = 600.0,
    on_statement: Callable[[StatementResult], None] | None = None,
) -> list[StatementResult]:
    results = []
    for index, statement in enumerate(split_statements(script), start=1):
        answer = _execute(w, statement.text, warehouse_id, timeout_seconds)
        state = answer.status.state if answer.status else None
        if state != StatementState.SUCCEEDED:
            error = answer.status.error if answer.status else None
            message = (error.message if error and error.message else "no error message") or ""
            raise SqlRunError(
                index,
                statement.line,
                statement.text,
                state.value if state else "UNKNOWN",
                message,
                answer.statement_id or "",
            )
        rows = (answer.result.data_array if answer.result and answer.result.data_array else []) or []
        result = StatementResult(statement, answer.statement_id or "", rows)
        results.append(result)
        if on_statement:
            on_statement(result)
    return results


def _execute(w: WorkspaceClient, text: str, warehouse_id: str, timeout_seconds: float) -> StatementResponse:
    """Submit one statement and wait for it to end (the API waits up to 50 s; poll beyond that)."""
    deadline = time.monotonic() + timeout_seconds
    answer = w.statement_execution.execute_statement(
        statement=text, warehouse_id=warehouse_id, wait_timeout="50s"
    )
    delay = 0.2
    while answer.status is None or answer.status.state not in _TERMINAL:
        if time.monotonic() > deadline:
            w.statement_execution.cancel_execution(answer.statement_id)
            raise TimeoutError(f"statement {answer.statement_id} did not finish in {timeout_seconds:.0f} s")
        time.sleep(delay)
        delay = min(delay * 2, 5.0)
        answer = w.statement_execution.get_statement(answer.statement_id)
    return answer

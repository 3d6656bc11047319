"""SQL Statement Execution 2.0 state and behaviour (no HTTP here), executed on Sail over Spark Connect.

A statement moves PENDING → RUNNING → SUCCEEDED | FAILED | CANCELED (a state machine per statement, under
one lock). Worker threads each hold their own Spark Connect session to the engine (``sc://host:port``), so
``catalog``/``schema`` of one statement never leak into another; a session that lost its connection is
replaced, and so is one the engine ended: Sail removes a session idle for ``spark.session_timeout_secs``
(900 s by default) and then refuses every call on it with ``invalid argument: session <id> is not running``.
That refusal comes before the engine runs anything, so the statement is run once more on a new session —
the only case that is retried: a connection broken mid-statement fails the statement (it may have run).
Named parameters are bound as typed literals through Spark's own parameter binding (``:name``
markers) — never spliced into the SQL text. What the engine lacks is supplied on the way (``rewrite``:
column masks; ``functions``: ``secret()`` and the AES functions, see ``sql_functions.py``).

Results are JSON_ARRAY, INLINE: every value a string (or null) as Databricks sends them — booleans
``true``/``false``, dates ``YYYY-MM-DD``, timestamps ISO 8601 in UTC with ``Z``, binary in base64, arrays,
maps and structs as JSON.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import logging
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from emulators.workspace.errors import invalid, not_implemented, resource_does_not_exist
from emulators.workspace.sql_functions import Prepared, SqlFunctions

log = logging.getLogger("workspace.statements")

TERMINAL = ("SUCCEEDED", "FAILED", "CANCELED", "CLOSED")
#: statements whose first word makes them queries (their rows are the result); the rest run as commands
_QUERY_WORDS = {"SELECT", "WITH", "VALUES", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "FROM", "TABLE", "LIST"}
_COMMENTS = re.compile(r"(--[^\n]*\n?)|(/\*.*?\*/)", re.S)
_WAIT = re.compile(r"^(\d+)s$")
#: Sail's answer on a session it ended (idle past ``spark.session_timeout_secs``): nothing was run
_SESSION_ENDED = re.compile(r"session \S+ is not running")
_TYPE_NAMES = {
    "integer": "INT",
    "long": "LONG",
    "short": "SHORT",
    "byte": "BYTE",
    "float": "FLOAT",
    "double": "DOUBLE",
    "decimal": "DECIMAL",
    "string": "STRING",
    "char": "STRING",
    "varchar": "STRING",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "timestamp_ntz": "TIMESTAMP",
    "binary": "BINARY",
    "array": "ARRAY",
    "map": "MAP",
    "struct": "STRUCT",
    "void": "NULL",
    "interval": "INTERVAL",
}
MAX_KEPT = 1000
#: a statement's (manifest, result) when the workspace answers it itself
LocalAnswer = tuple[dict[str, Any], dict[str, Any]]


def parse_wait_timeout(value: Any) -> float:
    """``wait_timeout``: ``0s`` (answer at once) or 5 to 50 seconds; default 10 s, as Databricks."""
    if value in (None, ""):
        return 10.0
    match = _WAIT.match(str(value))
    seconds = int(match.group(1)) if match else -1
    if seconds != 0 and not 5 <= seconds <= 50:
        raise invalid(f"wait_timeout must be 0s or between 5s and 50s, not '{value}'.")
    return float(seconds)


def is_query(statement: str) -> bool:
    words = _COMMENTS.sub(" ", statement).strip().lstrip("(").split(None, 1)
    return bool(words) and words[0].upper() in _QUERY_WORDS


class SqlEngine:
    """Spark Connect sessions to the engine: per worker thread, one per (catalog, schema) asked for.

    A session's current catalog and schema are set once, when it is made, so a statement never inherits
    another's; the few sessions each thread keeps are reused (making one costs about half a second).
    """

    SESSIONS_PER_THREAD = 8

    def __init__(self, remote: str, conf: dict[str, str] | None = None) -> None:
        self.remote = remote
        self.conf = {"spark.sql.sources.default": "delta", **(conf or {})}
        self._local = threading.local()
        #: every session made, by any thread: closed with the engine (else PySpark's exit hook calls the
        #: engine, and waits out its retries when the engine is already gone)
        self._made: list[Any] = []
        self._made_lock = threading.Lock()

    def session(self, catalog: str | None = None, schema: str | None = None):
        sessions = self._sessions()
        key = (catalog, schema)
        spark = sessions.get(key)
        if spark is not None:
            sessions.move_to_end(key)
            return spark
        from pyspark.sql import SparkSession  # imported lazily: only SQL statements need it

        spark = SparkSession.builder.remote(self.remote).create()
        for name, value in self.conf.items():
            spark.conf.set(name, value)
        if catalog:
            spark.catalog.setCurrentCatalog(catalog)
        if schema:
            spark.catalog.setCurrentDatabase(schema)
        sessions[key] = spark
        with self._made_lock:
            self._made.append(spark)
        while len(sessions) > self.SESSIONS_PER_THREAD:
            _, idle = sessions.popitem(last=False)  # the engine ends idle sessions itself
            self._forget(idle)
        return spark

    def discard(self, spark) -> None:
        """Forget one of this thread's sessions (the engine ended it); the next call makes a new one."""
        sessions = self._sessions()
        for key in [k for k, s in sessions.items() if s is spark]:
            del sessions[key]
        self._forget(spark)

    def reset(self) -> None:
        """Forget this thread's sessions (after the connection broke)."""
        for spark in self._sessions().values():
            self._forget(spark)
        self._local.sessions = OrderedDict()

    def _forget(self, spark) -> None:
        with self._made_lock:
            self._made = [s for s in self._made if s is not spark]
        try:
            spark.client.close()
        except Exception:  # closing is best effort
            pass

    def close(self) -> None:
        """Close every session's channel (no call to the engine)."""
        with self._made_lock:
            made, self._made = self._made, []
        for spark in made:
            try:
                spark.client.close()
            except Exception:  # closing is best effort
                pass

    def _sessions(self) -> OrderedDict:
        if not hasattr(self._local, "sessions"):
            self._local.sessions = OrderedDict()
        return self._local.sessions


class Statements:
    """Statements by id (in memory, the newest :data:`MAX_KEPT`), executed by ``workers`` threads."""

    def __init__(
        self,
        remote: str,
        workers: int = 2,
        on_success: Callable[[dict[str, Any]], None] | None = None,
        answer_locally: Callable[[dict[str, Any]], LocalAnswer | None] | None = None,
        rewrite: Callable[[dict[str, Any]], str | None] | None = None,
        functions: SqlFunctions | None = None,
    ) -> None:
        self.engine = SqlEngine(remote) if remote else None
        #: called with a statement's record once the engine ran it, before it shows SUCCEEDED (lineage)
        self.on_success = on_success
        #: answers a query the workspace serves itself (``system.access`` lineage tables), else None
        self.answer_locally = answer_locally
        #: the SQL the engine runs instead of the statement's text (column masks for the caller), else None
        self.rewrite = rewrite
        #: ``secret()`` and the AES functions, which the engine lacks (resolved and registered per statement)
        self.functions = functions
        self._statements: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._changed = threading.Condition()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sql")
        #: test control: seconds a statement stays RUNNING before it reaches the engine (cancellable)
        self.start_delay = 0.0

    # requests -----------------------------------------------------------------------------------
    def execute(self, body: dict[str, Any], principal: str) -> dict[str, Any]:
        if self.engine is None:
            raise not_implemented("POST", "api/2.0/sql/statements (no SQL engine is configured)")
        statement = body.get("statement")
        if not isinstance(statement, str) or not statement.strip():
            raise invalid("statement is required.")
        if not body.get("warehouse_id"):
            raise invalid("warehouse_id is required.")
        wait = parse_wait_timeout(body.get("wait_timeout"))
        on_timeout = str(body.get("on_wait_timeout") or "CONTINUE").upper()
        if on_timeout not in ("CONTINUE", "CANCEL"):
            raise invalid("on_wait_timeout must be CONTINUE or CANCEL.")
        disposition = str(body.get("disposition") or "INLINE").upper()
        result_format = str(body.get("format") or "JSON_ARRAY").upper()
        if disposition != "INLINE" or result_format != "JSON_ARRAY":
            raise not_implemented("POST", f"api/2.0/sql/statements with {disposition} {result_format}")
        row_limit = body.get("row_limit")
        if row_limit is not None and (not isinstance(row_limit, int) or row_limit < 0):
            raise invalid("row_limit must be a non-negative integer.")
        parameters = _parameters(body.get("parameters"))
        record = {
            "statement_id": str(uuid.uuid4()),
            "state": "PENDING",
            "statement": statement,
            "parameters": parameters,
            "catalog": body.get("catalog"),
            "schema": body.get("schema"),
            "row_limit": row_limit,
            "warehouse_id": body["warehouse_id"],
            "created_by": principal,
            "created_at": time.time(),
        }
        with self._changed:
            self._statements[record["statement_id"]] = record
            while len(self._statements) > MAX_KEPT:
                self._statements.popitem(last=False)
        self._pool.submit(self._run, record)
        if wait > 0 and not self._wait(record, wait) and on_timeout == "CANCEL":
            self.cancel(record["statement_id"])
        return self.view(record["statement_id"])

    def get(self, statement_id: str) -> dict[str, Any]:
        return self.view(statement_id)

    def cancel(self, statement_id: str) -> None:
        with self._changed:
            record = self._record(statement_id)
            if record["state"] not in TERMINAL:
                record["state"] = "CANCELED"
                self._changed.notify_all()
        spark = record.get("session")
        if spark is not None and record["state"] == "CANCELED":
            try:
                spark.interruptTag(_tag(statement_id))
            except Exception:  # best effort: the result is discarded anyway
                pass

    def chunk(self, statement_id: str, index: int) -> dict[str, Any]:
        with self._changed:
            record = self._record(statement_id)
            if record["state"] != "SUCCEEDED":
                raise invalid(f"Statement {statement_id} has no result (state {record['state']}).")
            if index != 0:
                raise invalid(f"Chunk {index} does not exist: the result has one chunk.")
            return record["result"]

    def view(self, statement_id: str) -> dict[str, Any]:
        with self._changed:
            record = self._record(statement_id)
            answer: dict[str, Any] = {"statement_id": statement_id, "status": {"state": record["state"]}}
            if record["state"] == "FAILED":
                answer["status"]["error"] = record["error"]
                if record.get("sql_state"):
                    answer["status"]["sql_state"] = record["sql_state"]
            if record["state"] == "SUCCEEDED":
                answer["manifest"] = record["manifest"]
                answer["result"] = record["result"]
            return answer

    def close(self) -> None:
        with self._changed:
            for record in self._statements.values():
                if record["state"] not in TERMINAL:
                    record["state"] = "CANCELED"
            self._changed.notify_all()
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self.engine is not None:
            self.engine.close()

    # execution ----------------------------------------------------------------------------------
    def _record(self, statement_id: str) -> dict[str, Any]:
        record = self._statements.get(statement_id)
        if record is None:
            raise resource_does_not_exist(f"Statement {statement_id} does not exist.")
        return record

    def _wait(self, record: dict[str, Any], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._changed:
            while record["state"] not in TERMINAL:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
        return True

    def _set(self, record: dict[str, Any], **changes: Any) -> bool:
        """Apply changes unless the statement was cancelled meanwhile; True if applied."""
        with self._changed:
            if record["state"] == "CANCELED":
                return False
            record.update(changes)
            self._changed.notify_all()
            return True

    def _run(self, record: dict[str, Any]) -> None:
        if not self._set(record, state="RUNNING"):
            return
        if self.start_delay > 0:
            deadline = time.monotonic() + self.start_delay
            with self._changed:
                while record["state"] == "RUNNING" and (remaining := deadline - time.monotonic()) > 0:
                    self._changed.wait(remaining)
            if record["state"] != "RUNNING":
                return
        assert self.engine is not None
        try:
            try:
                manifest, result = self._execute(record)
            except Exception as exc:
                if not session_ended(exc):
                    raise
                # the engine ended the idle session before running anything: once more, on a new session
                log.info("statement %s: the engine ended its session; a new one", record["statement_id"])
                self.engine.discard(record.pop("session", None))
                manifest, result = self._execute(record)
        except Exception as exc:  # the statement's failure (or the engine's): FAILED with its message
            if _is_connection_error(exc):
                self.engine.reset()
                error = {"error_code": "TEMPORARILY_UNAVAILABLE", "message": f"The SQL engine failed: {exc}"}
            else:
                error = {"error_code": "BAD_REQUEST", "message": _message(exc)}
            self._set(record, state="FAILED", error=error, sql_state=_sql_state(exc))
            return
        if self.on_success is not None and record["state"] == "RUNNING":
            self.on_success(record)  # before SUCCEEDED shows, so a client that saw it sees its lineage
        self._set(record, state="SUCCEEDED", manifest=manifest, result=result)

    def _execute(self, record: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        from pyspark.sql import functions as F  # noqa: N812 - the conventional name

        assert self.engine is not None
        if self.answer_locally is not None:
            local = self.answer_locally(record)
            if local is not None:
                return local
        spark = self.engine.session(record["catalog"], record["schema"])
        record["session"] = spark
        sql = (self.rewrite(record) if self.rewrite is not None else None) or record["statement"]
        # the text the engine runs may hold a secret's value: it stays in this function, never in the record
        prepared = self.functions.prepare(sql) if self.functions is not None else None
        if prepared is not None:
            sql = prepared.sql
        args = {
            p["name"]: F.lit(p.get("value")).cast(p.get("type") or "STRING") for p in record["parameters"]
        }
        tag = _tag(record["statement_id"])
        spark.addTag(tag)
        try:
            try:
                answer = self._collect(spark, sql, args, record, prepared)
            except Exception as exc:
                if prepared is None or self.functions is None or session_ended(exc):
                    raise
                if not (prepared.udfs and self.functions.lost_udfs(exc)):
                    raise self.functions.engine_error(exc, prepared) from None
                # the engine made the session anew and forgot the UDFs: register them again, once
                self.functions.register(spark, again=True)
                try:
                    answer = self._collect(spark, sql, args, record, prepared)
                except Exception as again:
                    raise self.functions.engine_error(again, prepared) from None
        finally:
            spark.removeTag(tag)
        if answer is None:
            return _manifest([], 0, False), {"chunk_index": 0, "row_offset": 0, "row_count": 0}
        rows, fields = answer
        limit = record["row_limit"]
        truncated = limit is not None and len(rows) > limit
        rows = rows[:limit] if truncated else rows
        data = [[_text(row[i], f.dataType) for i, f in enumerate(fields)] for row in rows]
        columns = [_column(f, i) for i, f in enumerate(fields)]
        if prepared is not None:
            # Databricks redacts secret values from output; names show the calls, as Databricks names them
            data = [[prepared.redact(value) for value in row] for row in data]
            for column in columns:
                column["name"] = prepared.column_name(column["name"])
        manifest = _manifest(columns, len(data), truncated)
        result: dict[str, Any] = {"chunk_index": 0, "row_offset": 0, "row_count": len(data)}
        if data:
            result["data_array"] = data
        return manifest, result

    def _collect(
        self, spark, sql: str, args: dict[str, Any], record: dict[str, Any], prepared: Prepared | None
    ) -> tuple[list[Any], list[Any]] | None:
        """Run the SQL on the engine: a query's rows (one past ``row_limit``, to tell truncation) and
        fields, None for a command. The AES UDFs are registered in the session first when it uses them."""
        if prepared is not None and prepared.udfs and self.functions is not None:
            self.functions.register(spark)
        frame = spark.sql(sql, args=args or None)
        if not is_query(record["statement"]):
            return None
        limit = record["row_limit"]
        rows = (frame.limit(limit + 1) if limit is not None else frame).collect()
        return rows, frame.schema.fields


def _tag(statement_id: str) -> str:
    return "stmt-" + statement_id.replace("-", "")


def _parameters(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid("parameters must be a list of {name, value, type}.")
    seen = set()
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            raise invalid("Every parameter needs a name.")
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", item["name"]):
            raise invalid(f"Invalid parameter name '{item['name']}'.")
        if item["name"] in seen:
            raise invalid(f"Parameter '{item['name']}' is given twice.")
        seen.add(item["name"])
        if item.get("value") is not None and not isinstance(item["value"], str):
            raise invalid(f"The value of parameter '{item['name']}' must be a string.")
        if item.get("type") is not None and not re.match(r"^[A-Za-z_][A-Za-z0-9_(), <>:]*$", item["type"]):
            raise invalid(f"Invalid type '{item['type']}' of parameter '{item['name']}'.")
    return value


def _manifest(columns: list[dict[str, Any]], rows: int, truncated: bool) -> dict[str, Any]:
    return {
        "format": "JSON_ARRAY",
        "schema": {"column_count": len(columns), "columns": columns},
        "total_chunk_count": 1,
        "chunks": [{"chunk_index": 0, "row_offset": 0, "row_count": rows}],
        "total_row_count": rows,
        "truncated": truncated,
    }


def _column(field, position: int) -> dict[str, Any]:
    data_type = field.dataType
    kind = data_type.typeName()
    column: dict[str, Any] = {
        "name": field.name,
        "position": position,
        "type_name": _TYPE_NAMES.get(kind, "USER_DEFINED_TYPE"),
        "type_text": data_type.simpleString().upper(),
    }
    if kind == "decimal":
        column["type_precision"] = data_type.precision
        column["type_scale"] = data_type.scale
    return column


def _plain(value: Any) -> Any:
    """A Python value as JSON data (nested values of arrays, maps and structs)."""
    if hasattr(value, "asDict"):
        return {k: _plain(v) for k, v in value.asDict(recursive=False).items()}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bool | int | float) or value is None:
        return value
    return _text(value, None)


def _text(value: Any, data_type) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value in (float("inf"), float("-inf")):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value)
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if hasattr(value, "asDict") or isinstance(value, dict | list | tuple):
        return json.dumps(_plain(value), separators=(",", ":"))
    return str(value)


def _message(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.split("\n\nJVM stacktrace")[0][:4000]


def _sql_state(exc: Exception) -> str | None:
    getter = getattr(exc, "getSqlState", None)
    try:
        state = getter() if getter else None
    except Exception:
        state = None
    if state:
        return state
    name = type(exc).__name__
    if name == "ParseException" or "found " in str(exc):
        return "42601"
    if "TABLE_OR_VIEW_NOT_FOUND" in str(exc):
        return "42P01"
    return None


def session_ended(exc: BaseException) -> bool:
    """True when the engine refused a call because it had ended the session (nothing was run)."""
    return bool(_SESSION_ENDED.search(str(exc)))


def _is_connection_error(exc: Exception) -> bool:
    text = f"{type(exc).__name__} {exc}"
    return any(s in text for s in ("StatusCode.UNAVAILABLE", "failed to connect", "Connection refused"))

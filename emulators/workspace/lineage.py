"""Unity Catalog lineage: state and behaviour (no HTTP here).

Why it exists: on Databricks lineage is captured automatically — a user writes no code for it — so the
stand-in captures it where the work passes through it. Every SQL statement that SUCCEEDS through the SQL
statements API and writes from a query (CTAS, INSERT … SELECT, MERGE, CREATE VIEW, UPDATE … FROM) is parsed
with sqlglot (Databricks dialect); ``*`` and unqualified columns are resolved with the catalog's own table
schemas and the statement's default ``catalog``/``schema``. What it yields — source tables → target table,
and each target column ← its source columns — is one *lineage event*, stored as a plain record in the
workspace's SQLite (so a restart keeps it) with the statement id, time and principal. Job runs give the
same events with the job and run instead of a statement (:class:`JobLineage`, fed by the per-task Spark
Connect proxy of ``connect_proxy.py``); table lineage only when a write's sources came through the DataFrame
API, column lineage too when they came as SQL.

Reads (the lineage-tracking API and the ``system.access`` lineage tables) come from an in-memory index that
is rebuilt from those records at start, so a query is a few dictionary look-ups, not a scan.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulators.common.records import RecordStore
from emulators.workspace.errors import ApiError, invalid
from emulators.workspace.results import inline_result
from emulators.workspace.table_paths import tables_reached

log = logging.getLogger("workspace.lineage")

EVENT_KIND = "lineage-event"
#: first words of the statements that can carry lineage (``WITH … INSERT`` too)
_WRITING_WORDS = {"CREATE", "INSERT", "MERGE", "UPDATE", "REPLACE", "WITH"}
_COMMENTS = re.compile(r"(--[^\n]*\n?)|(/\*.*?\*/)", re.S)
#: the two system tables answered from this store (``system.access.*``)
SYSTEM_TABLES = ("table_lineage", "column_lineage")
#: a fixed id: the stand-in is one workspace, in one metastore
WORKSPACE_ID = 0
METASTORE_ID = "00000000-0000-0000-0000-000000000000"


@dataclass
class Extracted:
    """What one statement says about lineage: fully qualified, lower-case names."""

    target: str
    sources: set[str] = field(default_factory=set)
    #: target column → {(source table, source column)}
    columns: dict[str, set[tuple[str, str]]] = field(default_factory=dict)


def lineage_not_found(table_name: str) -> ApiError:
    return ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Table '{table_name}' does not exist.")


# extraction ---------------------------------------------------------------------------------------
def extract(
    sql: str,
    default_catalog: str | None,
    default_schema: str | None,
    columns_of: Callable[[str], list[str] | None],
) -> Extracted | None:
    """Lineage of one statement, or None when it writes nothing from a query.

    ``columns_of(full_name)`` gives a table's column names from the catalog (None when unknown): sqlglot
    needs them to expand ``*`` and to say which table an unqualified column comes from.
    """
    import sqlglot  # imported lazily: only statements that succeeded reach here
    from sqlglot import exp

    try:
        statements = [s for s in sqlglot.parse(sql, dialect="databricks") if s is not None]
    except sqlglot.errors.SqlglotError as exc:
        log.info("no lineage: sqlglot cannot parse the statement: %s", exc)
        return None
    if len(statements) != 1:
        return None
    tree = statements[0]
    if isinstance(tree, exp.Create):
        kind = str(tree.args.get("kind") or "").upper()
        query = tree.expression
        if kind not in ("TABLE", "VIEW") or not isinstance(query, exp.Query):
            return None
        target = _target_table(tree.this)
        target_columns = _schema_columns(tree.this)
        return _from_query(target, target_columns, query, default_catalog, default_schema, columns_of)
    if isinstance(tree, exp.Insert):
        query = tree.expression
        if not isinstance(query, exp.Query) or isinstance(query, exp.Values):
            return None
        target = _target_table(tree.this)
        names = _schema_columns(tree.this)
        full = _full_name(target, default_catalog, default_schema)
        if names is None and not tree.args.get("by_name"):
            names = columns_of(full) if full else None  # INSERT without a column list: by position
        return _from_query(target, names, query, default_catalog, default_schema, columns_of)
    if isinstance(tree, exp.Merge):
        return _from_merge(tree, default_catalog, default_schema, columns_of)
    if isinstance(tree, exp.Update) and tree.args.get("from_"):
        assignments = [(_column_name(eq.this), eq.expression) for eq in tree.expressions]
        sources = [tree.this, tree.args["from_"].this]
        for join in tree.args.get("joins") or []:
            sources.append(join.this)
        return _from_assignments(tree.this, sources, assignments, default_catalog, default_schema, columns_of)
    return None


def _target_table(node: Any):
    from sqlglot import exp

    return node.this if isinstance(node, exp.Schema) else node


def _schema_columns(node: Any) -> list[str] | None:
    from sqlglot import exp

    if isinstance(node, exp.Schema) and node.expressions:
        names = [e.name for e in node.expressions if isinstance(e, exp.Identifier | exp.Column)]
        return [n.lower() for n in names] or None
    return None


def _column_name(node: Any) -> str:
    return node.name.lower()


def _full_name(table: Any, default_catalog: str | None, default_schema: str | None) -> str | None:
    """``catalog.schema.name`` of a sqlglot table, with the statement's defaults filled in."""
    name, schema, catalog = table.name, table.db or default_schema, table.catalog or default_catalog
    if not (name and schema and catalog):
        return None
    return f"{catalog}.{schema}.{name}".lower()


def _mapping(
    tree: Any, default_catalog: str | None, default_schema: str | None, columns_of: Callable
) -> dict[str, Any]:
    """sqlglot's nested schema ``{catalog: {schema: {table: {column: type}}}}`` of the tables read."""

    mapping: dict[str, Any] = {}
    for table in _catalog_tables(tree):
        full = _full_name(table, default_catalog, default_schema)
        if not full or full.startswith("system."):
            continue
        names = columns_of(full)
        if names:
            catalog, schema, name = full.split(".")
            mapping.setdefault(catalog, {}).setdefault(schema, {})[name] = {c: "STRING" for c in names}
    return mapping


def _catalog_tables(tree: Any) -> list[Any]:
    """The table references of a statement that name catalog tables (not CTEs)."""
    from sqlglot import exp

    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    return [t for t in tree.find_all(exp.Table) if t.db or t.name.lower() not in ctes]


def _qualify(query: Any, mapping: dict, default_catalog: str | None, default_schema: str | None):
    from sqlglot.optimizer.qualify import qualify

    return qualify(
        query.copy(),
        schema=mapping or None,
        catalog=default_catalog,
        db=default_schema,
        dialect="databricks",
        validate_qualify_columns=False,
        identify=False,
    )


def _read_tables(qualified: Any) -> set[str]:
    """The catalog tables a qualified query reads (CTE and subquery names are not tables)."""
    from sqlglot import exp

    found = set()
    for table in qualified.find_all(exp.Table):
        if table.name and table.db and table.catalog:
            found.add(f"{table.catalog}.{table.db}.{table.name}".lower())
    return found


def _column_sources(qualified: Any, output: str, mapping: dict) -> set[tuple[str, str]]:
    """The catalog columns one output column of a qualified query is computed from."""
    from sqlglot import exp
    from sqlglot.lineage import lineage

    node = lineage(output, qualified, schema=mapping or None, dialect="databricks")
    found = set()
    for step in node.walk():
        if step.downstream or not isinstance(step.source, exp.Table):
            continue
        table = step.source
        if table.name and table.db and table.catalog:
            column = step.name.split(".")[-1].strip('"`').lower()
            found.add((f"{table.catalog}.{table.db}.{table.name}".lower(), column))
    return found


def _from_query(
    target_node: Any,
    target_columns: list[str] | None,
    query: Any,
    default_catalog: str | None,
    default_schema: str | None,
    columns_of: Callable,
) -> Extracted | None:
    target = _full_name(target_node, default_catalog, default_schema)
    if not target:
        return None
    mapping = _mapping(query, default_catalog, default_schema, columns_of)
    try:
        qualified = _qualify(query, mapping, default_catalog, default_schema)
    except Exception as exc:  # e.g. an ambiguous column: the tables read are still known
        log.info("table lineage only for %s: %s", target, exc)
        read = {_full_name(t, default_catalog, default_schema) for t in _catalog_tables(query)}
        return Extracted(target, {name for name in read if name} - {target})
    result = Extracted(target, _read_tables(qualified) - {target})
    outputs = [s.alias_or_name for s in qualified.selects]
    names = target_columns if target_columns and len(target_columns) == len(outputs) else outputs
    for position, output in enumerate(outputs):
        if output == "*":
            continue  # a star sqlglot could not expand (table unknown to the catalog)
        try:
            sources = _column_sources(qualified, output, mapping)
        except Exception as exc:  # sqlglot cannot trace it: keep the table lineage
            log.info("no column lineage for %s.%s: %s", target, output, exc)
            continue
        sources = {s for s in sources if s[0] != target}
        if sources:
            result.columns.setdefault(names[position].lower(), set()).update(sources)
    return result


def _from_merge(tree: Any, default_catalog, default_schema, columns_of) -> Extracted | None:
    """MERGE: each ``UPDATE SET`` / ``INSERT`` assignment is a target column ← the columns of its value."""
    from sqlglot import exp

    target_node = tree.this
    target = _full_name(target_node, default_catalog, default_schema)
    using = tree.args.get("using")
    if not target or using is None:
        return None
    target_names = columns_of(target) or []
    assignments: list[tuple[str, Any]] = []
    source_alias = using.alias_or_name
    for when in (tree.args.get("whens") or exp.Whens(expressions=[])).expressions:
        then = when.args.get("then")
        if isinstance(then, exp.Update):
            if not any(isinstance(e, exp.Star) for e in then.expressions):
                assignments += [(_column_name(eq.this), eq.expression) for eq in then.expressions]
            else:  # UPDATE SET *
                assignments += [(c, exp.column(c, table=source_alias)) for c in target_names]
        elif isinstance(then, exp.Insert):
            columns, values = then.this, then.expression
            if isinstance(columns, exp.Tuple) and isinstance(values, exp.Tuple):
                assignments += [
                    (_column_name(c), v)
                    for c, v in zip(columns.expressions, values.expressions, strict=False)
                ]
            else:  # INSERT *
                assignments += [(c, exp.column(c, table=source_alias)) for c in target_names]
    return _from_assignments(
        target_node, [target_node, using], assignments, default_catalog, default_schema, columns_of
    )


def _from_assignments(
    target_node: Any,
    sources: list[Any],
    assignments: list[tuple[str, Any]],
    default_catalog: str | None,
    default_schema: str | None,
    columns_of: Callable,
) -> Extracted | None:
    """UPDATE … FROM and MERGE, each assignment as ``SELECT <value> FROM <target>, <sources>``.

    Rewriting the assignments as a query lets the same resolution (``*``, unqualified columns, subqueries)
    serve every kind of statement; the target's own columns are left out (a table is not its own source).
    """
    from sqlglot import exp

    target = _full_name(target_node, default_catalog, default_schema)
    if not target:
        return None

    def query(*values: Any):
        select = exp.select(*values).from_(sources[0].copy())
        for source in sources[1:]:
            select = select.join(source.copy(), join_type="cross")
        return select

    frame = query("1")
    mapping = _mapping(frame, default_catalog, default_schema, columns_of)
    result = Extracted(
        target, _read_tables(_qualify(frame, mapping, default_catalog, default_schema)) - {target}
    )
    for name, value in assignments:  # one at a time: a column one source lacks (SET *) spoils only itself
        try:
            qualified = _qualify(
                query(exp.alias_(value.copy(), "_value")), mapping, default_catalog, default_schema
            )
            found = {s for s in _column_sources(qualified, "_value", mapping) if s[0] != target}
        except Exception as exc:
            log.info("no column lineage for %s.%s: %s", target, name, exc)
            continue
        if found:
            result.columns.setdefault(name, set()).update(found)
    return result


# the store ----------------------------------------------------------------------------------------
def _timestamp(epoch_ms: int) -> str:
    """Databricks' ``lineage_timestamp`` text: ``YYYY-MM-DD HH:MM:SS.f`` in UTC."""
    moment = dt.datetime.fromtimestamp(epoch_ms / 1000, dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + str(moment.microsecond // 100000)


class Lineage:
    """Lineage events by id (SQLite records) and the indexes the reads use (memory, rebuilt at start)."""

    def __init__(self, store: RecordStore, table_type_of: Callable[[str], str | None]) -> None:
        self.store = store
        #: catalog table type (MANAGED, EXTERNAL, VIEW) of a full name, None when it no longer exists
        self.table_type_of = table_type_of
        #: called with (statement record, its lineage) after a statement's lineage was stored (OpenLineage)
        self.on_statement: Callable[[dict[str, Any], Extracted], None] | None = None
        self._lock = threading.Lock()
        self._events: list[dict[str, Any]] = []
        #: (target, source) → events, and the reverse; (target, column) → [(event, source, column)]
        self._up: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
        self._down: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
        self._col_up: dict[tuple[str, str], list[tuple[dict, str, str]]] = defaultdict(list)
        self._col_down: dict[tuple[str, str], list[tuple[dict, str, str]]] = defaultdict(list)
        for _, event in store.scan(EVENT_KIND):
            self._index(event)

    # writes -------------------------------------------------------------------------------------
    def record(
        self,
        extracted: Extracted,
        principal: str,
        *,
        statement_id: str | None = None,
        job: dict[str, Any] | None = None,
        task: dict[str, Any] | None = None,
        at_ms: int | None = None,
    ) -> dict[str, Any] | None:
        """Store one event (nothing when the statement read no table); the key sorts by time."""
        if not extracted.sources and not extracted.columns:
            return None
        at_ms = at_ms if at_ms is not None else int(time.time() * 1000)
        event = {
            "event_id": str(uuid.uuid4()),
            "event_time_ms": at_ms,
            "created_by": principal,
            "target": extracted.target,
            "sources": sorted(extracted.sources),
            "columns": {
                t: sorted([list(s) for s in sources]) for t, sources in sorted(extracted.columns.items())
            },
        }
        if statement_id:
            event["statement_id"] = statement_id
        if job:
            event["job"] = job
        if task:
            event["task"] = task
        self.store.put(EVENT_KIND, f"{at_ms:015d}-{event['event_id']}", event)
        self._index(event)
        return event

    def capture_statement(
        self,
        record: dict[str, Any],
        columns_of: Callable[[str], list[str] | None],
        engine_defaults: Callable[[], tuple[str | None, str | None]] = lambda: (None, None),
    ) -> None:
        """The hook the SQL statements model calls once a statement succeeded; never fails the statement.

        ``engine_defaults`` gives the engine session's current catalog and schema, asked only when the
        statement named none and may write (a round trip to the engine).
        """
        words = _COMMENTS.sub(" ", record["statement"]).split(None, 1)
        if not words or words[0].upper() not in _WRITING_WORDS:
            return  # queries and plain DDL: nothing to parse
        try:
            catalog, schema = record.get("catalog"), record.get("schema")
            if not (catalog and schema):
                engine_catalog, engine_schema = engine_defaults()
                catalog, schema = catalog or engine_catalog, schema or engine_schema
            extracted = extract(record["statement"], catalog, schema, columns_of)
            if extracted is not None:
                self.record(extracted, record.get("created_by", ""), statement_id=record["statement_id"])
                if self.on_statement is not None:
                    self.on_statement(record, extracted)
        except Exception:  # lineage is a side effect: a parser surprise must not turn into a failure
            log.exception("lineage capture failed for statement %s", record.get("statement_id"))

    def _index(self, event: dict[str, Any]) -> None:
        with self._lock:
            self._events.append(event)
            target = event["target"]
            for source in event["sources"]:
                self._up[target][source].append(event)
                self._down[source][target].append(event)
            for column, sources in event["columns"].items():
                for source_table, source_column in sources:
                    self._col_up[(target, column)].append((event, source_table, source_column))
                    self._col_down[(source_table, source_column)].append((event, target, column))

    # reads --------------------------------------------------------------------------------------
    def table_lineage(self, table_name: str, include_entity_lineage: bool) -> dict[str, Any]:
        """``upstreams``/``downstreams`` of a table, as ``/api/2.0/lineage-tracking/table-lineage``."""
        name = _check_table_name(table_name)
        with self._lock:
            up = {k: list(v) for k, v in self._up.get(name, {}).items()}
            down = {k: list(v) for k, v in self._down.get(name, {}).items()}
        if not up and not down and self.table_type_of(name) is None:
            raise lineage_not_found(table_name)
        return {
            "upstreams": [self._entry(t, events, include_entity_lineage) for t, events in sorted(up.items())],
            "downstreams": [
                self._entry(t, events, include_entity_lineage) for t, events in sorted(down.items())
            ],
        }

    def column_lineage(self, table_name: str, column_name: str) -> dict[str, Any]:
        """``upstream_cols``/``downstream_cols`` of a column, as ``…/lineage-tracking/column-lineage``."""
        name = _check_table_name(table_name)
        if not column_name:
            raise invalid("column_name is required.")
        key = (name, column_name.lower())
        with self._lock:
            up = list(self._col_up.get(key, ()))
            down = list(self._col_down.get(key, ()))
        if not up and not down and self.table_type_of(name) is None:
            raise lineage_not_found(table_name)
        return {"upstream_cols": self._columns(up), "downstream_cols": self._columns(down)}

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._events)

    def _table_info(self, full_name: str, latest_ms: int) -> dict[str, Any]:
        catalog, schema, name = full_name.split(".")
        return {
            "name": name,
            "catalog_name": catalog,
            "schema_name": schema,
            "table_type": "VIEW" if self.table_type_of(full_name) == "VIEW" else "TABLE",
            "lineage_timestamp": _timestamp(latest_ms),
        }

    def _entry(self, full_name: str, events: list[dict], include_entity_lineage: bool) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "tableInfo": self._table_info(full_name, max(e["event_time_ms"] for e in events))
        }
        if include_entity_lineage:
            jobs = {}
            queries = {}
            for event in events:
                if event.get("job"):  # job runs store {job_id, job_run_id}: one entry per run, as Databricks
                    job = event["job"]
                    jobs[tuple(sorted(job.items()))] = {"workspace_id": WORKSPACE_ID, **job}
                if event.get("statement_id"):
                    queries[event["statement_id"]] = {
                        "workspace_id": WORKSPACE_ID,
                        "query_id": event["statement_id"],
                    }
            if jobs:
                entry["jobInfos"] = list(jobs.values())
            if queries:
                entry["queryInfos"] = list(queries.values())
        return entry

    def _columns(self, hits: list[tuple[dict, str, str]]) -> list[dict[str, Any]]:
        latest: dict[tuple[str, str], int] = {}
        for event, table, column in hits:
            key = (table, column)
            latest[key] = max(latest.get(key, 0), event["event_time_ms"])
        answer = []
        for (table, column), at_ms in sorted(latest.items()):
            info = self._table_info(table, at_ms)
            answer.append(
                {
                    "name": column,
                    "catalog_name": info["catalog_name"],
                    "schema_name": info["schema_name"],
                    "table_name": info["name"],
                    "table_type": info["table_type"],
                    "lineage_timestamp": info["lineage_timestamp"],
                }
            )
        return answer


class JobLineage:
    """What the runner calls around job runs: a plan recorder per task, then the task's lineage.

    Why: a job run's lineage comes from the Spark Connect plans its tasks send (``connect_proxy.py``), with
    nothing in the job's code. Each table a task wrote becomes one lineage event with the job and its run
    (``{"job_id", "job_run_id"}``, as the table-lineage API's ``jobInfos``; the task in ``task``), so the
    API and ``system.access.table_lineage`` (entity_type JOB) answer it. A run's reads and writes are also
    kept until it ends, for its OpenLineage START/COMPLETE/FAIL events (``emitter``, optional).
    """

    def __init__(
        self,
        lineage: Lineage,
        columns_of: Callable[[str], list[str] | None],
        engine_defaults: Callable[[], tuple[str | None, str | None]],
        table_records: Callable[[], list[dict[str, Any]]],
        emitter: Any = None,
    ) -> None:
        self.lineage = lineage
        self.columns_of = columns_of
        self.engine_defaults = engine_defaults
        self.table_records = table_records
        self.emitter = emitter
        self._lock = threading.Lock()
        #: job run id → (tables read, {target: Extracted}) of the tasks finished so far
        self._runs: dict[int, tuple[set[str], dict[str, Extracted]]] = {}

    def tables_at(self, path: str) -> set[str]:
        """The catalog tables whose data ``path`` reaches: the one whose location holds it, or those a
        folder or glob covers (``table_paths.py``); a job that reads or writes by path names them so."""
        records = [(t.get("storage_location") or "", t["full_name"].lower()) for t in self.table_records()]
        return tables_reached(path, records)

    def task_finished(self, run: dict[str, Any], task: dict[str, Any], found: Any) -> None:
        """Store a finished task's lineage (``TaskLineage``) as job lineage events."""
        job = {"job_id": run["job_id"], "job_run_id": run["run_id"]}
        where = {"task_key": task["task_key"], "task_run_id": task["run_id"]}
        actor = run.get("run_as_user_name") or run.get("creator_user_name") or ""  # who the run acted as
        for write in found.writes:
            self.lineage.record(write, actor, job=job, task=where)
        with self._lock:
            reads, writes = self._runs.setdefault(run["run_id"], (set(), {}))
            reads |= found.reads
            for write in found.writes:
                merged = writes.setdefault(write.target, Extracted(write.target))
                merged.sources |= write.sources
                for column, sources in write.columns.items():
                    merged.columns.setdefault(column, set()).update(sources)

    def run_event(self, event_type: str, run: dict[str, Any]) -> None:
        """``jobs.on_start`` / ``on_success`` / ``on_failure`` of a run → its OpenLineage event."""
        final = event_type != "jobs.on_start"
        with self._lock:
            reads, writes = (self._runs.pop if final else self._runs.get)(run["run_id"], None) or (set(), {})
        if self.emitter is None:
            return
        state = {"jobs.on_start": "START", "jobs.on_success": "COMPLETE"}.get(event_type, "FAIL")
        run_state = run.get("state") or {}
        if state == "FAIL" and run_state.get("result_state") == "CANCELED":
            state = "ABORT"
        message = run_state.get("state_message")
        try:
            self.emitter.job_run(state, run, reads, list(writes.values()), message)
        except Exception:  # lineage is a side effect
            log.exception("OpenLineage event of run %s failed", run.get("run_id"))


def _check_table_name(table_name: str) -> str:
    if not table_name:
        raise invalid("table_name is required.")
    if len(table_name.split(".")) != 3 or not all(table_name.split(".")):
        raise invalid(f"Invalid table_name '{table_name}': expected catalog.schema.table.")
    return table_name.lower()


# system.access lineage tables ---------------------------------------------------------------------
_TABLE_COLUMNS = (
    ("account_id", "STRING"),
    ("metastore_id", "STRING"),
    ("workspace_id", "STRING"),
    ("entity_type", "STRING"),
    ("entity_id", "STRING"),
    ("entity_run_id", "STRING"),
    ("source_table_full_name", "STRING"),
    ("source_table_catalog", "STRING"),
    ("source_table_schema", "STRING"),
    ("source_table_name", "STRING"),
    ("source_path", "STRING"),
    ("source_type", "STRING"),
    ("target_table_full_name", "STRING"),
    ("target_table_catalog", "STRING"),
    ("target_table_schema", "STRING"),
    ("target_table_name", "STRING"),
    ("target_path", "STRING"),
    ("target_type", "STRING"),
    ("created_by", "STRING"),
    ("event_time", "TIMESTAMP"),
    ("event_date", "DATE"),
    ("record_id", "STRING"),
    ("statement_id", "STRING"),
)
_COLUMN_COLUMNS = (
    *_TABLE_COLUMNS[:10],
    ("source_column_name", "STRING"),
    *_TABLE_COLUMNS[10:16],
    ("target_column_name", "STRING"),
    *_TABLE_COLUMNS[16:],
)
SYSTEM_SCHEMAS = {"table_lineage": _TABLE_COLUMNS, "column_lineage": _COLUMN_COLUMNS}


def system_rows(lineage: Lineage, table: str) -> list[dict[str, Any]]:
    """The rows of ``system.access.table_lineage`` or ``…column_lineage``, one per edge of each event."""
    rows = []
    for event in lineage.events():
        moment = dt.datetime.fromtimestamp(event["event_time_ms"] / 1000, dt.UTC)
        job = event.get("job") or {}
        common = {
            "account_id": None,
            "metastore_id": METASTORE_ID,
            "workspace_id": str(WORKSPACE_ID),
            "entity_type": "JOB" if job else None,
            "entity_id": str(job["job_id"]) if job else None,
            "entity_run_id": str(job.get("job_run_id", job.get("run_id"))) if job else None,
            "created_by": event.get("created_by"),
            "event_time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "event_date": moment.date().isoformat(),
            "statement_id": event.get("statement_id"),
        }
        if table == "table_lineage":
            edges = [(source, None, event["target"], None) for source in event["sources"]]
        else:
            edges = [
                (source, source_column, event["target"], column)
                for column, sources in event["columns"].items()
                for source, source_column in sources
            ]
        for index, (source, source_column, target, target_column) in enumerate(edges):
            row = dict(common, record_id=f"{event['event_id']}-{index}")
            for prefix, full_name in (("source", source), ("target", target)):
                catalog, schema, name = full_name.split(".")
                row.update(
                    {
                        f"{prefix}_table_full_name": full_name,
                        f"{prefix}_table_catalog": catalog,
                        f"{prefix}_table_schema": schema,
                        f"{prefix}_table_name": name,
                        f"{prefix}_path": None,
                        f"{prefix}_type": "VIEW" if lineage.table_type_of(full_name) == "VIEW" else "TABLE",
                    }
                )
            if table == "column_lineage":
                row.update(source_column_name=source_column, target_column_name=target_column)
            rows.append({name: row.get(name) for name, _ in SYSTEM_SCHEMAS[table]})
    return rows


def answer_system_table(
    record: dict[str, Any], lineage: Lineage
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Answer a query of ``system.access.table_lineage``/``column_lineage`` from this store, else None.

    Why here: Sail knows no ``system`` catalog, and Databricks users read lineage with SQL. Accepted: one
    query that reads only these two tables, in the SQL sqlglot's Python executor runs (SELECT with
    expressions, WHERE, GROUP BY with aggregates, ORDER BY, LIMIT, joins between the two); named parameters
    are not bound here. Any other statement goes to the engine untouched.
    """
    sql = record["statement"]
    if "system" not in sql.lower():
        return None
    import sqlglot
    from sqlglot import exp
    from sqlglot.executor import execute

    try:
        tree = sqlglot.parse_one(sql, dialect="databricks")
    except sqlglot.errors.SqlglotError:
        return None
    tables = list(tree.find_all(exp.Table))
    ours = [t for t in tables if (t.catalog.lower(), t.db.lower()) == ("system", "access")]
    ours = [t for t in ours if t.name.lower() != "audit"]  # system.access.audit: statement_access.py
    if not ours:
        return None
    unknown = {t.name.lower() for t in ours} - set(SYSTEM_TABLES)
    if unknown or len(ours) != len(tables) or not isinstance(tree, exp.Query):
        raise ValueError(
            "The local workspace answers only queries that read system.access.table_lineage and "
            "system.access.column_lineage alone."
        )
    if record.get("parameters"):
        raise ValueError("Named parameters are not supported in queries of system.access lineage tables.")
    data = {"system": {"access": {name: system_rows(lineage, name) for name in SYSTEM_TABLES}}}
    table = execute(tree, tables=data, dialect="databricks")
    types = {name: kind for schema in SYSTEM_SCHEMAS.values() for name, kind in schema}
    columns = [
        {
            "name": name,
            "position": i,
            "type_name": types.get(name, "STRING"),
            "type_text": types.get(name, "STRING"),
        }
        for i, name in enumerate(table.columns)
    ]
    return inline_result(columns, [list(row) for row in table.rows], record.get("row_limit"))

"""A per-task Spark Connect proxy that sees the plans a job sends, so job runs get lineage for free.

Why: on Databricks a job's lineage is captured by the platform, with no code in the job. Locally every task is
a process whose only way to the engine is Spark Connect (``SPARK_REMOTE``); a proxy on that path sees every
plan the job executes, whatever library or helper built it. The runner starts one proxy per task run (so the
lineage belongs to exactly one job, run and task) and stops it when the task ends.

Forwarding is byte for byte (``connect_forwarder.py``: every method relayed with generic handlers, metadata,
deadlines, trailing metadata and error details included; :class:`ConnectProxy` is its server with a
:class:`PlanRecorder`). Only ``ExecutePlanRequest`` is parsed — the proto classes of
``pyspark.sql.connect.proto`` — and only to read; this module says what a plan reads and writes:

* reads: ``Read.named_table`` (``spark.table``/``spark.read.table``), ``Read.data_source`` paths and SQL text
  (``spark.sql`` queries, parsed with sqlglot) anywhere in a plan, including expressions' subqueries;
* writes: ``WriteOperation`` (``save(path)``, ``saveAsTable``, ``insertInto``), ``WriteOperationV2``
  (``writeTo``), ``MergeIntoTableCommand`` (``mergeInto``) and SQL commands (CTAS, INSERT … SELECT, MERGE,
  UPDATE … FROM through :func:`emulators.workspace.lineage.extract`, which also gives column lineage);
* the session's temporary views (``createOrReplaceTempView``) and paths written earlier in the task stand for
  the tables they were computed from, and ``CREATE TABLE … LOCATION`` (or the catalog) names a path: a path
  at or under a table's location is that table (``table_paths.py``, also SQL's ``parquet.`path```).

An operation counts once its ExecutePlan stream ended without error (a failed write made no lineage); it is
recorded before the stream's last message is passed on, so the job's next request always sees it.

Access (issue 16): with a ``guard`` (the runner's, for a run whose principal is not a metastore admin), each
ExecutePlanRequest is parsed once and decided before it is forwarded — :meth:`PlanRecorder.touched` gives the
tables it reads, writes and creates with the same resolution as lineage, and the paths that reach no table,
``run_identity.PlanAccess`` decides them. A refusal ends the call as a Spark Connect server ends it for an
``AnalysisException`` (``connect_forwarder._refuse``: INTERNAL with a ``google.rpc.ErrorInfo`` holding
``classes``, ``errorClass``, ``sqlState``), so unmodified pyspark raises
``pyspark.errors.AnalysisException``; nothing reaches the engine. Allowed requests are
forwarded as the bytes that came. Cost: ≈ 0.14 ms p50 for ``spark.table(t).count()``, ≈ 0.5 ms for a
``spark.sql`` INSERT … SELECT (sqlglot), measured in-process on 2026-12-07.

LIMITATIONS: one session per task is assumed for temporary views (names are not keyed by session id);
``USE CATALOG``/``USE SCHEMA`` are not followed (unqualified names get the engine's defaults); file paths
that are no table (raw CSV files) are left out of lineage (the access check decides them: ``Touched.files``);
an operation whose ExecutePlan stream is cut and then
finished through ReattachExecute counts when the first stream ends; TLS (``use_ssl=true``) is not proxied.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulators.workspace import connect_forwarder
from emulators.workspace.access import Touched
from emulators.workspace.connect_forwarder import (
    Guard,
    parse_analyze,
    parse_request,
    proxied_remote,
    split_remote,
)
from emulators.workspace.lineage import Extracted, extract
from emulators.workspace.table_paths import sql_file_paths, statement_paths, tables_reached

log = logging.getLogger("workspace.connect_proxy")

#: stands for "the session's current catalog/schema" while sqlglot resolves a statement's names
_SESSION = "__session__"


# what a plan reads and writes -----------------------------------------------------------------------
@dataclass
class _Sources:
    """What a relation is computed from: catalog tables and file paths (a path may turn out a table)."""

    tables: set[str] = field(default_factory=set)
    paths: set[str] = field(default_factory=set)

    def add(self, other: _Sources) -> None:
        self.tables |= other.tables
        self.paths |= other.paths


@dataclass
class TaskLineage:
    """What one task run read and wrote, resolved to catalog tables (lower-case ``catalog.schema.table``)."""

    reads: set[str] = field(default_factory=set)
    writes: list[Extracted] = field(default_factory=list)

    @property
    def outputs(self) -> set[str]:
        return {w.target for w in self.writes}


def normalize_path(path: str) -> str:
    return path.strip().rstrip("/")



class PlanRecorder:
    """Turns the ExecutePlanRequests of one Spark session into table lineage (no gRPC here: testable alone).

    ``columns_of(full_name)`` gives a catalog table's column names (sqlglot resolves ``*`` with them);
    ``defaults()`` the engine's current catalog and schema, asked once, only if a name is not fully
    qualified; ``tables_at(path)`` the catalog tables whose data ``path`` reaches (``table_paths.py``: a
    path at or under a table's location is that table; a plan's path is decided as the tables it reaches).
    """

    def __init__(
        self,
        columns_of: Callable[[str], list[str] | None] = lambda name: None,
        defaults: Callable[[], tuple[str | None, str | None]] = lambda: (None, None),
        tables_at: Callable[[str], set[str]] = lambda path: set(),
    ) -> None:
        self._columns_of = columns_of
        self._defaults_source = defaults
        self._defaults: tuple[str | None, str | None] | None = None
        self._tables_at = tables_at
        self._lock = threading.Lock()
        self._views: dict[str, _Sources] = {}
        self._path_sources: dict[str, _Sources] = {}
        self._locations: dict[str, str] = {}
        self._reads: set[str] = set()
        self._read_paths: set[str] = set()
        #: (target table or None, target path or None, sources, column lineage)
        self._writes: list[tuple[str | None, str | None, _Sources, dict[str, set[tuple[str, str]]]]] = []

    # entry points ---------------------------------------------------------------------------------
    def inspect(self, request_bytes: bytes) -> Callable[[], None] | None:
        """Parse one ExecutePlanRequest; returns what to record once it succeeded (None: nothing to)."""
        return self.commit_for(parse_request(request_bytes))

    def commit_for(self, request: Any) -> Callable[[], None] | None:
        """What to record of a parsed ExecutePlanRequest once it succeeded (None: nothing to)."""
        if request is None:
            return None
        plan = request.plan
        if plan.HasField("root"):
            return lambda: self._commit_query(plan.root)
        if plan.HasField("command"):
            return lambda: self._commit_command(plan.command)
        return None

    def result(self) -> TaskLineage:
        """The task's lineage: written paths named as tables (``CREATE TABLE … LOCATION`` or the catalog)."""
        with self._lock:
            writes = list(self._writes)
            reads = set(self._reads)
            read_paths = set(self._read_paths)
        answer = TaskLineage(reads=reads | {t for p in read_paths if (t := self._path_table(p))})
        merged: dict[str, Extracted] = {}
        for table, path, sources, columns in writes:
            target = table or (self._path_table(path) if path else None)
            if not target:
                continue
            tables = sources.tables | {t for p in sources.paths if (t := self._path_table(p))}
            entry = merged.setdefault(target, Extracted(target))
            entry.sources |= tables - {target}
            for column, found in columns.items():
                entry.columns.setdefault(column, set()).update(s for s in found if s[0] != target)
        answer.writes = [e for e in merged.values() if e.sources or e.columns]
        return answer

    # what a plan uses, before it runs (the run's privilege checks, run_identity.PlanAccess) -----------
    def touched(self, request: Any) -> Touched:
        """The catalog tables a parsed ExecutePlanRequest reads, writes and creates, resolved as lineage
        resolves them (temporary views stand for their sources, a path for the table stored there), and the
        paths it reads or writes that reach no table (``files``: raw files, a staging folder; a view's or
        an earlier write's path is read again each time)."""
        found = Touched()
        plan = request.plan
        if plan.HasField("root"):
            self._touch_reads(found, self._relation_sources(plan.root))
            return found
        if not plan.HasField("command"):
            return found
        command = plan.command
        kind = command.WhichOneof("command_type")
        if kind == "write_operation":
            op = command.write_operation
            self._touch_reads(found, self._relation_sources(op.input))
            if op.HasField("table"):
                if table := self._table(op.table.table_name):
                    insert = op.table.save_method == op.SaveTable.TABLE_SAVE_METHOD_INSERT_INTO
                    (found.writes if insert else found.creates).add(table)
            elif path := op.path or op.options.get("path"):
                self._touch_path(found, normalize_path(path), True)
        elif kind == "write_operation_v2":
            op = command.write_operation_v2
            self._touch_reads(found, self._relation_sources(op.input))
            if table := self._table(op.table_name):
                creating = op.mode in (op.MODE_CREATE, op.MODE_CREATE_OR_REPLACE, op.MODE_REPLACE)
                (found.creates if creating else found.writes).add(table)
        elif kind == "merge_into_table_command":
            op = command.merge_into_table_command
            self._touch_reads(found, self._relation_sources(op.source_table_plan))
            if table := self._table(op.target_table_name):
                found.writes.add(table)
        elif kind == "create_dataframe_view":
            self._touch_reads(found, self._relation_sources(command.create_dataframe_view.input))
        elif kind == "sql_command":
            op = command.sql_command
            text = op.input.sql.query if op.HasField("input") and op.input.HasField("sql") else op.sql
            if text:
                self._touch_sql(found, text)
        return found

    def _table_known(self, tree: Any) -> bool:
        """Whether the table a CREATE names is in the catalog already (its columns are known)."""
        from sqlglot import exp

        target = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
        name = self._qualified(target) if isinstance(target, exp.Table) else None
        return bool(name) and self._columns_of(name) is not None

    def _touch_reads(self, found: Touched, sources: _Sources) -> None:
        found.reads |= sources.tables
        for path in sources.paths:
            self._touch_path(found, path, False)

    def _touch_path(self, found: Touched, path: str, written: bool) -> None:
        """A path used: the tables it reaches (read or written as those tables), else a path that is no
        table's (``found.files``: the external location's privileges decide it)."""
        if tables := self._path_tables(path):
            found.by_path |= tables
            (found.writes if written else found.reads).update(tables)
        else:
            found.files[path] = found.files.get(path, False) or written

    def _touch_sql(self, found: Touched, sql: str) -> None:
        from sqlglot import exp

        from emulators.workspace.statement_access import parse_statement, tables_touched

        tree = parse_statement(sql)  # once: tables_touched reads the same tree
        if tree is None:
            found.unreadable = True
            return
        if isinstance(tree, exp.Create) and tree.find(exp.TemporaryProperty) is not None:
            if isinstance(tree.expression, exp.Query):  # a temporary view: its query's reads
                self._touch_reads(found, self._sql_sources(tree.expression))
            return
        used = tables_touched(sql, self._engine_defaults, tree)
        if used is None:
            found.unreadable = True
            return
        found.reads |= used.reads
        found.writes |= used.writes
        paths = statement_paths(tree)  # <format>.`path`, read_files(…): the tables its files belong to
        found.unreadable |= paths is None  # a read_files path that cannot be told
        for path, written in (paths or {}).items():
            self._touch_path(found, path, written)
        if not (isinstance(tree, exp.Create) and tree.args.get("exists") and self._table_known(tree)):
            found.creates_in_schema |= used.creates_in_schema  # IF NOT EXISTS of a table there: no create
            if isinstance(tree, exp.Create) and str(tree.args.get("kind") or "").upper() == "TABLE":
                target = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
                if isinstance(target, exp.Table) and (name := self._qualified(target)):
                    found.created.add(name)
        found.drops |= used.drops
        for table in tree.find_all(exp.Table):  # a temporary view read: the tables it reads
            if table.name and not table.db:
                with self._lock:
                    view = self._views.get(table.name.lower())
                if view is not None:
                    self._touch_reads(found, view)

    # commands and queries -------------------------------------------------------------------------
    def _commit_query(self, relation: Any) -> None:
        sources = self._relation_sources(relation)
        with self._lock:
            self._reads |= sources.tables
            self._read_paths |= sources.paths

    def _commit_command(self, command: Any) -> None:
        kind = command.WhichOneof("command_type")
        if kind == "write_operation":
            op = command.write_operation
            sources = self._relation_sources(op.input)
            table = self._table(op.table.table_name) if op.HasField("table") else None
            path = op.path or op.options.get("path") or None
            self._add_write(table, normalize_path(path) if path and not table else None, sources)
        elif kind == "write_operation_v2":
            op = command.write_operation_v2
            self._add_write(self._table(op.table_name), None, self._relation_sources(op.input))
        elif kind == "merge_into_table_command":
            op = command.merge_into_table_command
            self._add_write(
                self._table(op.target_table_name), None, self._relation_sources(op.source_table_plan)
            )
        elif kind == "create_dataframe_view":
            op = command.create_dataframe_view
            sources = self._relation_sources(op.input)
            with self._lock:
                self._views[op.name.lower()] = sources
        elif kind == "sql_command":
            op = command.sql_command
            text = op.input.sql.query if op.HasField("input") and op.input.HasField("sql") else op.sql
            if text:
                self._commit_sql(text)

    def _add_write(
        self,
        table: str | None,
        path: str | None,
        sources: _Sources,
        columns: dict[str, set[tuple[str, str]]] | None = None,
    ) -> None:
        with self._lock:
            self._reads |= sources.tables
            self._read_paths |= sources.paths
            self._writes.append((table, path, sources, columns or {}))
            if path:
                self._path_sources[path] = sources

    def _commit_sql(self, sql: str) -> None:
        import sqlglot
        from sqlglot import exp

        try:
            trees = [t for t in sqlglot.parse(sql, dialect="databricks") if t is not None]
        except sqlglot.errors.SqlglotError:
            return
        if len(trees) != 1:
            return
        tree = trees[0]
        if isinstance(tree, exp.Create):
            location = tree.find(exp.LocationProperty)
            if location is not None and str(tree.args.get("kind") or "").upper() == "TABLE":
                name = self._qualified(tree.this.this if isinstance(tree.this, exp.Schema) else tree.this)
                if name:
                    with self._lock:
                        self._locations[normalize_path(location.this.name)] = name
            temporary = tree.find(exp.TemporaryProperty) is not None
            if temporary and isinstance(tree.expression, exp.Query):
                view = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
                sources = self._sql_sources(tree.expression)
                with self._lock:
                    self._views[view.name.lower()] = sources
                return
        if isinstance(tree, exp.Query):
            sources = self._sql_sources(tree)
            with self._lock:
                self._reads |= sources.tables
            return
        extracted = extract(sql, _SESSION, _SESSION, self._sql_columns_of)
        if extracted is None:
            return
        target = self._resolve_name(extracted.target)
        if not target or isinstance(target, _Sources):
            return
        sources = _Sources()
        for name in extracted.sources:
            resolved = self._resolve_name(name)
            if isinstance(resolved, _Sources):
                sources.add(resolved)
            elif resolved:
                sources.tables.add(resolved)
        columns: dict[str, set[tuple[str, str]]] = {}
        for column, found in extracted.columns.items():
            tables = {(r, c) for t, c in found if isinstance(r := self._resolve_name(t), str) and r}
            if tables:
                columns[column] = tables
        self._add_write(target, None, sources, columns)

    # names ------------------------------------------------------------------------------------------
    def _engine_defaults(self) -> tuple[str | None, str | None]:
        if self._defaults is None:
            try:
                self._defaults = self._defaults_source()
            except Exception as exc:  # no engine answer: unqualified names stay unresolved
                log.info("engine defaults unavailable: %s", exc)
                self._defaults = (None, None)
        return self._defaults

    def _table(self, identifier: str) -> str | None:
        """``catalog.schema.table`` of a table identifier as a job writes it (1 to 3 parts, backticks)."""
        from sqlglot import exp

        try:
            table = exp.to_table(identifier, dialect="databricks")
        except Exception:
            return None
        return self._qualified(table)

    def _qualified(self, table: Any) -> str | None:
        parts = [p for p in (table.catalog, table.db, table.name) if p]
        if len(parts) < 3:
            catalog, schema = self._engine_defaults()
            parts = ([catalog, schema] if len(parts) == 1 else [catalog])[: 3 - len(parts)] + parts
        if len(parts) != 3 or not all(parts):
            return None
        return ".".join(parts).lower()

    def _resolve_name(self, name: str) -> str | _Sources | None:
        """A name sqlglot qualified with the session placeholders: a temp view's sources, or a table."""
        catalog, schema, table = name.split(".")
        if catalog == _SESSION and schema == _SESSION:
            with self._lock:
                view = self._views.get(table)
            if view is not None:
                return view
        defaults = self._engine_defaults()
        catalog = defaults[0] if catalog == _SESSION else catalog
        schema = defaults[1] if schema == _SESSION else schema
        return f"{catalog}.{schema}.{table}".lower() if catalog and schema else None

    def _sql_columns_of(self, name: str) -> list[str] | None:
        resolved = self._resolve_name(name)
        return self._columns_of(resolved) if isinstance(resolved, str) else None

    def _path_table(self, path: str) -> str | None:
        """The one table ``path`` belongs to, for lineage (None if none or several; errors logged)."""
        try:
            tables = self._path_tables(path)
        except Exception as exc:
            log.info("no table for path %s: %s", path, exc)
            return None
        return next(iter(tables)) if len(tables) == 1 else None

    def _path_tables(self, path: str) -> set[str]:
        """The tables ``path`` reaches: the task's own ``CREATE TABLE … LOCATION`` ones and the catalog's."""
        with self._lock:
            known = tables_reached(path, list(self._locations.items()))
        return known | set(self._tables_at(path))

    # relations -------------------------------------------------------------------------------------
    def _relation_sources(self, message: Any) -> _Sources:
        """Tables and paths anywhere under a relation (any relation or expression type, by reflection)."""
        found = _Sources()
        stack = [message]
        while stack:
            node = stack.pop()
            name = node.DESCRIPTOR.full_name
            if name == "spark.connect.Read":
                self._read_sources(node, found)
                continue
            if name == "spark.connect.SQL":
                found.add(self._sql_text_sources(node.query))
                continue
            for descriptor, value in node.ListFields():
                if descriptor.type != descriptor.TYPE_MESSAGE:
                    continue
                if hasattr(value, "DESCRIPTOR"):
                    stack.append(value)
                elif hasattr(value, "values"):  # a map field
                    stack.extend(v for v in value.values() if hasattr(v, "DESCRIPTOR"))
                else:  # a repeated field
                    stack.extend(value)
        return found

    def _read_sources(self, read: Any, found: _Sources) -> None:
        if read.HasField("named_table"):
            identifier = read.named_table.unparsed_identifier
            with self._lock:
                view = self._views.get(identifier.lower())
            if view is not None:
                found.add(view)
            elif table := self._table(identifier):
                found.tables.add(table)
        elif read.HasField("data_source"):
            source = read.data_source
            paths = list(source.paths) + ([source.options["path"]] if "path" in source.options else [])
            if "table" in source.options and (table := self._table(source.options["table"])):
                found.tables.add(table)
            for path in map(normalize_path, paths):
                with self._lock:
                    earlier = self._path_sources.get(path)
                if earlier is not None:
                    found.add(earlier)
                found.paths.add(path)  # also when written earlier: a table's files are read again

    def _sql_text_sources(self, sql: str) -> _Sources:
        import sqlglot

        try:
            trees = [t for t in sqlglot.parse(sql, dialect="databricks") if t is not None]
        except sqlglot.errors.SqlglotError:
            return _Sources()
        found = _Sources()
        for tree in trees:
            found.add(self._sql_sources(tree))
        return found

    def _sql_sources(self, tree: Any) -> _Sources:
        from sqlglot import exp

        ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
        found = _Sources(paths={normalize_path(p) for p in sql_file_paths(tree)})
        for table in tree.find_all(exp.Table):
            if not table.name or (not table.db and table.name.lower() in ctes):
                continue
            if not table.db:
                with self._lock:
                    view = self._views.get(table.name.lower())
                if view is not None:
                    found.add(view)
                    continue
            if name := self._qualified(table):
                found.tables.add(name)
        return found


# the proxy (connect_forwarder.py) -----------------------------------------------------------------------
class ConnectProxy(connect_forwarder.ConnectProxy):
    """A Spark Connect server on a free local port that relays to ``upstream`` (``host:port``), recording
    lineage with ``recorder`` (default: a :class:`PlanRecorder` of its own) — the forwarding itself is
    ``connect_forwarder.py``'s."""

    def __init__(
        self,
        upstream: str,
        recorder: PlanRecorder | None = None,
        workers: int = 16,
        guard: Guard | None = None,
    ) -> None:
        super().__init__(upstream, recorder or PlanRecorder(), workers, guard)


__all__ = [
    "ConnectProxy",
    "Guard",
    "PlanRecorder",
    "TaskLineage",
    "normalize_path",
    "parse_analyze",
    "parse_request",
    "proxied_remote",
    "split_remote",
]

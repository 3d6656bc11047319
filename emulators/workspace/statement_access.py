"""Unity Catalog privileges enforced on SQL statements, and ``system.access.audit`` as a SQL table (issue 16).

Enforcement (:meth:`StatementAccess.check`, the first ``answer_locally`` step, before any statement reaches
the engine or is answered here): the tables a statement reads and writes are found with sqlglot, as lineage
parses statements (``lineage.py``: CTE names are not tables; a name of fewer parts takes the statement's
catalog and schema), and each is decided by the privilege model with the path to it ("Unity Catalog
privileges reference": reading a table needs ``USE CATALOG`` + ``USE SCHEMA`` + ``SELECT``; adding, updating
or deleting its data ``MODIFY``):

- a table read (FROM, JOIN, a subquery, MERGE's USING, a CTAS's or INSERT's query) needs ``SELECT``;
- the target of INSERT, UPDATE, DELETE and MERGE needs ``MODIFY`` (choice: not also ``SELECT``, although a
  WHERE reads it);
- ``ALTER TABLE … [ALTER COLUMN c] SET|UNSET TAGS`` needs ``APPLY TAG`` on the table (with the path),
  ``SET|DROP MASK`` its owner (or a parent's), ``MANAGE`` or a metastore admin (``governance.py`` answers
  them);
- CREATE TABLE / VIEW (with or without a query) needs ``CREATE TABLE`` on its schema; CREATE SCHEMA
  ``CREATE SCHEMA`` on its catalog; DROP TABLE / VIEW the owner (of it or a parent), ``MANAGE`` or a
  metastore admin; DESCRIBE a table the metadata read of ``tables/get``;
- ``system.access.audit`` is read by metastore admins only (choice: the system catalog has no grants here;
  on Databricks an admin grants ``SELECT`` on it). Other ``system`` and ``information_schema`` tables are
  answered by the stand-in from what the caller may see.

A refusal fails the statement with ``[INSUFFICIENT_PERMISSIONS] Insufficient privileges: User does not have
SELECT on Table '…'. SQLSTATE: 42501`` (Databricks' error class for statements) after its audit row;
each decision is a row (``generateTemporaryTableCredential`` with ``operation`` READ / READ_WRITE and the
statement's id — what a SQL warehouse asks Unity Catalog for to reach a table's files); every row a
statement causes (here, in ``grants_sql.py``) has the statement's id as ``request_id``. A revoke takes
effect on the next statement. Metastore admins by name pass without a decision, as in the REST routes
(interim of issue 16). A statement of a non-admin that sqlglot cannot read is refused (fail closed);
names that are not in the catalog (temporary views) are left to the engine, which knows no such table in
the catalog and answers so.

Storage paths (``table_paths.statement_paths``: ``<format>.`<path>```, ``read_files('<path>' | :param)``,
``COPY INTO … FROM '<path>'``; ``OPTIMIZE``/``VACUUM``/``RESTORE`` by path as writes) are decided as a
job's Spark Connect channel decides them (``connect_proxy.py``, ``table_paths.py``):

- a path at, under or above a table's location (a file, ``_delta_log``, a partition folder, a glob that
  may match it) is that table: ``SELECT`` to read, ``MODIFY`` to write, with the path, through the same
  ``Access.decide_tables`` calls and audit rows as by name; ``…/weather_hourly_old`` is not
  ``…/weather_hourly``;
- a table with a row filter or column mask is refused by path for everyone, metastore admins and owners
  too (``Access.refuse_masked_paths``: ``[UNAUTHORIZED_ACCESS] … Path-based access to table … with row
  filter or column mask not supported. SQLSTATE: 42501``); a metastore admin's statement is parsed only
  when it may name a path (a backtick, ``read_files``, ``LOCATION``, ``COPY``);
- a path that is no table's needs ``READ FILES`` (read) / ``READ FILES`` + ``WRITE FILES`` (written) on
  the external location holding it, and is refused in none (``[NO_PARENT_EXTERNAL_LOCATION_FOR_PATH] …
  SQLSTATE: 22KD1``): ``Access.decide_files``, the decision a job's Spark session gets too (there
  driver-local paths are left alone; a statement's local path is in no location and refused); metastore
  admins are not decided;
- ``CREATE TABLE … LOCATION`` over another table's files fails for everyone with Databricks'
  ``LOCATION_OVERLAP`` (:meth:`StatementAccess._refuse_overlap`).

LEFT: ``LIST '<path>'`` (sqlglot reads it as a cast; Sail has no ``LIST``); a path that is a volume's or
managed storage without a table (``path_access.py`` refuses managed storage for credentials; statements
do not); ``CREATE TABLE … LOCATION`` outside tables is not checked for ``CREATE EXTERNAL TABLE`` on the
location; ``read_files`` of an expression other than a literal or parameter is refused for non-admins and
not decided for admins; ``IDENTIFIER(…)`` names.

``system.access.audit`` (:meth:`StatementAccess.rewrite`): the audit rows are put in the statement's own
engine session as a temporary view with the table's columns and types (structs for ``user_identity`` and
``response``, a map for ``request_params``), and the statement's references to the table are pointed at it:
any query Spark SQL runs works, with parameters. Rows hold names and ids only (``audit.py``).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable
from typing import Any

from emulators.workspace.access import Access, MaskedPathAccess, NoParentLocation, Touched
from emulators.workspace.audit import Caller
from emulators.workspace.errors import ApiError
from emulators.workspace.governance import SqlStatementError
from emulators.workspace.grants_sql import name_parts
from emulators.workspace.lineage import _full_name, _target_table
from emulators.workspace.sync_metadata import repaired_table
from emulators.workspace.table_paths import is_file_table, statement_paths, tables_at_path, text_paths

log = logging.getLogger("workspace.statement_access")

Defaults = Callable[[], tuple[str | None, str | None]]
_IDENT = r"(?:`(?:[^`]|``)+`|[A-Za-z_][A-Za-z0-9_]*)"
_GOVERNANCE = re.compile(
    r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*"
    rf"ALTER\s+TABLE\s+(?P<table>{_IDENT}(?:\s*\.\s*{_IDENT}){{0,2}})\s+"
    rf"(?:(?:ALTER|CHANGE)(?:\s+COLUMN)?\s+{_IDENT}\s+)?"
    r"(?P<what>SET\s+TAGS|UNSET\s+TAGS|SET\s+MASK|DROP\s+MASK)\b",
    re.I | re.S,
)
#: what a statement naming a storage path has in it (a metastore admin's other statements are not parsed)
_MAY_NAME_PATH = re.compile(r"`|read_files|\blocation\b|\bcopy\b", re.I)
AUDIT_TABLE = "system.access.audit"
AUDIT_VIEW = "climatelake_system_access_audit"
AUDIT_SCHEMA = (
    "version STRING, event_time TIMESTAMP, event_date DATE, workspace_id BIGINT, source_ip_address STRING, "
    "user_agent STRING, session_id STRING, user_identity STRUCT<email: STRING, subject_name: STRING>, "
    "service_name STRING, action_name STRING, request_id STRING, request_params MAP<STRING, STRING>, "
    "response STRUCT<status_code: INT, error_message: STRING, result: STRING>, audit_level STRING, "
    "account_id STRING, event_id STRING"
)


def parse_statement(sql: str):
    """The one statement of ``sql`` as sqlglot reads it (Databricks' dialect), else None."""
    import sqlglot

    try:
        trees = [t for t in sqlglot.parse(sql, dialect="databricks") if t is not None]
    except sqlglot.errors.SqlglotError:
        return None
    return trees[0] if len(trees) == 1 else None


def tables_touched(sql: str, defaults: Defaults, tree: Any = None) -> Touched | None:
    """What one statement reads, writes, creates and drops; None when sqlglot cannot read it. ``tree``:
    ``sql`` already parsed by :func:`parse_statement` (a caller that needs the tree too parses once)."""
    from sqlglot import exp

    found = Touched()
    repaired = repaired_table(sql, defaults)
    if repaired is not None:  # REPAIR TABLE … SYNC METADATA (sync_metadata.py): MODIFY, as a write
        found.writes.add(repaired)
        return found
    governed = _GOVERNANCE.match(sql)
    if governed:  # governance.py's commands, which sqlglot does not read
        parts = name_parts(governed["table"])
        if len(parts) < 3:
            catalog, schema = defaults()
            parts = [p.lower() for p in [catalog, schema][: 3 - len(parts)] if p] + parts
        if len(parts) == 3:
            target = found.masks if "MASK" in governed["what"].upper() else found.tags
            target.add(".".join(parts))
        return found
    if tree is None:
        tree = parse_statement(sql)
    if tree is None:
        return None
    known: dict[str, str | None] = {}

    def full(table) -> str | None:
        if not table.name or is_file_table(table):  # <format>.`path`: statement_paths decides it
            return None
        if not (table.db and table.catalog) and "catalog" not in known:
            known["catalog"], known["schema"] = defaults()
        return _full_name(table, known.get("catalog"), known.get("schema"))

    skip = None
    if isinstance(tree, exp.Insert | exp.Update | exp.Delete | exp.Merge | exp.Copy):
        skip = _target_table(tree.this)
        if (name := full(skip)) is not None:
            found.writes.add(name)
    elif isinstance(tree, exp.Create):
        kind = str(tree.args.get("kind") or "").upper()
        skip = _target_table(tree.this)
        if kind in ("TABLE", "VIEW") and (name := full(skip)):
            found.creates_in_schema.add(name.rsplit(".", 1)[0])
        elif kind in ("SCHEMA", "DATABASE") and isinstance(skip, exp.Table):
            catalog = skip.catalog or defaults()[0]  # sqlglot: the schema is the "db", its catalog "catalog"
            if catalog:
                found.creates_in_catalog.add(str(catalog).lower())
        elif kind not in ("TABLE", "VIEW"):
            return found  # a function, …: not decided here
    elif isinstance(tree, exp.Drop):
        if str(tree.args.get("kind") or "").upper() in ("TABLE", "VIEW"):
            targets = tree.args.get("tables") or ([tree.this] if tree.this is not None else [])
            found.drops |= {
                name for table in targets if isinstance(table, exp.Table) and (name := full(table))
            }
        return found
    elif isinstance(tree, exp.Describe):
        if isinstance(tree.this, exp.Table) and (name := full(tree.this)):
            found.describes.add(name)
        return found
    elif not isinstance(tree, exp.Query):
        return found  # SET, USE, SHOW, GRANT …: no table data
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    for table in tree.find_all(exp.Table):
        if table is skip or (not table.db and table.name.lower() in ctes):
            continue
        if isinstance(table.parent, exp.Schema) and table.parent is tree.this:
            continue
        name = full(table)
        if name:
            found.reads.add(name)
    return found


def insufficient(message: str) -> SqlStatementError:
    """A refusal as a statement fails with it: ``message`` is ``Insufficient privileges: …``."""
    return SqlStatementError("INSUFFICIENT_PERMISSIONS", message, "42501")


class StatementAccess:
    def __init__(self, access: Access, tables_at: Callable[[str], set[str]] | None = None) -> None:
        self.access = access
        self.privileges = access.privileges
        #: the catalog tables whose data a storage path reaches (default: the catalog's table records)
        self.tables_at = tables_at or (
            lambda path: tables_at_path(path, (body for _, body in self.privileges.store.scan("table")))
        )

    def check(self, record: dict[str, Any], defaults: Defaults) -> None:
        """Refuse the statement (raise) unless its principal may do what it does; always None."""
        principal, sql = record.get("created_by") or "", record["statement"]
        admin = principal.lower() in self.privileges.admins
        if admin and not _MAY_NAME_PATH.search(sql):
            return None
        caller = Caller(principal, request_id=record["statement_id"])
        statement = {"statement_id": record["statement_id"]}
        tree = parse_statement(sql)
        parameters = {p["name"]: p.get("value") for p in record.get("parameters") or [] if p.get("name")}
        paths = text_paths(sql) if tree is None else statement_paths(tree, parameters)
        if admin:  # no privilege decision; path access to a masked table is refused to admins too
            touched = Touched()
        else:
            touched = tables_touched(sql, defaults, tree)
            if touched is None or paths is None:  # sqlglot cannot read it: fail closed
                touched = Touched(unreadable=True)
        for path, written in (paths or {}).items():  # a path at or under a table's location is the table
            if not (tables := self.tables_at(path)):  # no table's: the external location's privileges
                touched.files[path] = written
            touched.by_path |= tables
            (touched.writes if written else touched.reads).update(tables)
        try:
            if admin:
                self.access.refuse_masked_paths(caller, touched, statement)
            else:
                special = {AUDIT_TABLE: lambda: self._audit_table(caller, statement)}
                self.access.decide_tables(caller, touched, statement, insufficient, special)
                self.access.decide_files(caller, touched.files, statement, insufficient)
        except MaskedPathAccess as masked:
            text = masked.message.removeprefix(f"[{masked.error_class}] ")
            raise SqlStatementError(masked.error_class, text, masked.sql_state) from None
        except NoParentLocation as nowhere:
            raise SqlStatementError(nowhere.error_class, nowhere.text, nowhere.sql_state) from None
        self._refuse_overlap(caller, tree, defaults, statement)
        return None

    def _refuse_overlap(self, caller: Caller, tree: Any, defaults: Defaults, params: dict[str, str]) -> None:
        """``CREATE TABLE … LOCATION`` at, under or above another table's location fails for everyone: "Tables
        can't overlap other tables" ("Path rules and access in Unity Catalog volumes"); Databricks answers
        ``[INVALID_PARAMETER_VALUE.LOCATION_OVERLAP] Input path url '…' overlaps with other external tables
        or volumes within 'CreateTable' call. Conflicting tables/volumes: …`` (as quoted in
        elementary-data/elementary#1635). Why here: a table made over another's files would give its creator
        (its owner) the other table's data without SELECT, and bypass its masks. ``IF NOT EXISTS`` of a table
        that exists is a no-op; ``CREATE OR REPLACE`` of the table at its own location is no overlap."""
        from sqlglot import exp

        if not isinstance(tree, exp.Create) or str(tree.args.get("kind") or "").upper() != "TABLE":
            return
        location = tree.find(exp.LocationProperty)
        if location is None or not isinstance(location.this, exp.Literal):
            return
        target = _target_table(tree.this)
        catalog, schema = (None, None) if target.db and target.catalog else defaults()
        name = _full_name(target, catalog, schema) if isinstance(target, exp.Table) else None
        url = location.this.this
        others = sorted(self.tables_at(url) - {name})
        if not others or (tree.args.get("exists") and name and self._exists(name)):
            return
        message = (
            f"Input path url '{url}' overlaps with other external tables or volumes within 'CreateTable' "
            f"call. Conflicting tables/volumes: {', '.join(others)}."
        )
        self.access.audit.record(caller, "createTable", {"full_name_arg": name or "", **params}, 400, message)
        raise SqlStatementError("INVALID_PARAMETER_VALUE.LOCATION_OVERLAP", message, "22023")

    def _exists(self, full_name: str) -> bool:
        try:
            self.privileges.resolve("TABLE", full_name)
        except ApiError:
            return False
        return True

    def _audit_table(self, caller: Caller, statement: dict[str, str]) -> None:
        params = {"table_full_name": AUDIT_TABLE, "operation": "READ", **statement}
        if self.privileges.is_admin(caller.principal):
            self.access.audit.record(caller, "generateTemporaryTableCredential", params)
            return
        message = f"User does not have SELECT on Table '{AUDIT_TABLE}'."
        self.access.audit.record(caller, "generateTemporaryTableCredential", params, 403, message)
        raise insufficient(f"Insufficient privileges: {message}")

    # system.access.audit ------------------------------------------------------------------------
    def rewrite(self, record: dict[str, Any], sql: str) -> str | None:
        """``sql`` reading the audit rows from a temporary view of the statement's session, else None."""
        if "audit" not in sql.lower() or record.get("session") is None:
            return None
        from sqlglot import exp

        tree = parse_statement(sql)
        if tree is None:
            return None
        ours = [
            t
            for t in tree.find_all(exp.Table)
            if (t.catalog.lower(), t.db.lower(), t.name.lower()) == ("system", "access", "audit")
        ]
        if not ours:
            return None
        self._register(record["session"])
        for table in ours:
            alias = table.args.get("alias") or exp.TableAlias(this=exp.to_identifier("audit"))
            table.replace(exp.Table(this=exp.to_identifier(AUDIT_VIEW), alias=alias))
        return tree.sql(dialect="databricks")

    def _register(self, spark) -> None:
        rows = []
        for row in self.access.audit.rows():
            moment = dt.datetime.fromisoformat(row["event_time"])
            identity, response = row["user_identity"], row["response"]
            rows.append(
                (
                    row["version"],
                    moment.astimezone(dt.UTC).replace(tzinfo=None),
                    dt.date.fromisoformat(row["event_date"]),
                    int(row["workspace_id"] or 0),
                    row.get("source_ip_address"),
                    row.get("user_agent"),
                    row.get("session_id"),
                    (identity.get("email"), identity.get("subject_name")),
                    row["service_name"],
                    row["action_name"],
                    row.get("request_id"),
                    dict(row.get("request_params") or {}),
                    (response.get("status_code"), response.get("error_message"), response.get("result")),
                    row.get("audit_level"),
                    row.get("account_id"),
                    row.get("event_id"),
                )
            )
        spark.createDataFrame(rows, AUDIT_SCHEMA).createOrReplaceTempView(AUDIT_VIEW)

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
tables that are not in the catalog (temporary views, ``delta.`path```) are left to the engine, which knows
no such table in the catalog and answers so.

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

from emulators.workspace.access import Access, Touched
from emulators.workspace.audit import Caller
from emulators.workspace.governance import SqlStatementError
from emulators.workspace.grants_sql import name_parts
from emulators.workspace.lineage import _full_name, _target_table
from emulators.workspace.sync_metadata import repaired_table

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
        if not table.name:
            return None
        if not (table.db and table.catalog) and "catalog" not in known:
            known["catalog"], known["schema"] = defaults()
        return _full_name(table, known.get("catalog"), known.get("schema"))

    skip = None
    if isinstance(tree, exp.Insert | exp.Update | exp.Delete | exp.Merge):
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
    def __init__(self, access: Access) -> None:
        self.access = access
        self.privileges = access.privileges

    def check(self, record: dict[str, Any], defaults: Defaults) -> None:
        """Refuse the statement (raise) unless its principal may do what it does; always None."""
        principal = record.get("created_by") or ""
        if principal.lower() in self.privileges.admins:
            return None
        touched = tables_touched(record["statement"], defaults)
        if touched is None:  # sqlglot cannot read it: fail closed
            touched = Touched(unreadable=True)
        caller = Caller(principal, request_id=record["statement_id"])
        statement = {"statement_id": record["statement_id"]}
        special = {AUDIT_TABLE: lambda: self._audit_table(caller, statement)}
        self.access.decide_tables(caller, touched, statement, insufficient, special)
        return None

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

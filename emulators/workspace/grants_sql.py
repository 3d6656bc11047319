"""Unity Catalog access control in SQL, answered by the workspace from the privilege model (issue 16): the
same grants, owners and comments as the REST API (``privileges.py``, ``access.py``) — one truth, two ways in.

Databricks' grammar ("SQL language reference": GRANT, REVOKE, SHOW GRANTS, ALTER … OWNER TO, COMMENT ON),
as far as the local workspace supports it; names may be back-quoted, a schema or table name of fewer parts
is completed with the statement's catalog and schema, principals with special characters are back-quoted
(`` `data engineers` ``, `` `user@x.com` ``):

- ``GRANT <privilege>[, …] | ALL PRIVILEGES ON <securable> TO <principal>`` and ``REVOKE … FROM …``, the
  securable ``METASTORE``, ``CATALOG c``, ``SCHEMA|DATABASE s``, ``[TABLE|VIEW] t``, ``VOLUME v``,
  ``FUNCTION f``, ``SHARE s``, ``RECIPIENT r``, ``EXTERNAL LOCATION l``; privileges spelled as SQL spells
  them (``USE CATALOG``).
  ``GRANT SELECT ON SHARE s TO RECIPIENT r`` is Delta Sharing's (``sharing_sql.py``, asked first).
- ``SHOW GRANTS [<principal>] ON <securable>``: columns ``principal``, ``actionType``, ``objectType``,
  ``objectKey`` (the reference's "Returns"), the privileges granted on the securable and those it inherits
  from its schema and catalog (``objectType``/``objectKey`` name where each is granted). Allowed, as the
  reference says, to its owner (or a parent's), a ``MANAGE`` holder, a metastore admin, and to the named
  principal itself (any of the caller's identities).
- ``ALTER CATALOG|SCHEMA|TABLE|VIEW|VOLUME <name> [SET] OWNER TO <principal>``: the REST update's owner
  transfer (same check: owner of it or a parent, ``MANAGE``, metastore admin; same audit action).
- ``COMMENT ON CATALOG|SCHEMA|TABLE|VOLUME <name> IS '…' | NULL``, ``COMMENT ON COLUMN <table>.<column> IS
  …`` and ``ALTER TABLE t ALTER|CHANGE [COLUMN] c COMMENT '…'``: the comment of the Unity Catalog record
  (``tables/get`` shows it; ``information_schema`` and DESCRIBE too). Choice: the owner/MANAGE check of an
  update for catalogs, schemas and volumes; for a table ``MODIFY`` (with the path) suffices too, as the
  COMMENT ON reference says of tables.
- ``DESCRIBE [TABLE] <table>`` (not EXTENDED): ``col_name``, ``data_type``, ``comment`` from the catalog's
  record, then the ``# Partition Information`` rows of a partitioned table.

Failures are Databricks' error classes (``[CLASS] message SQLSTATE: …``): ``PERMISSION_DENIED`` (42501),
``PRINCIPAL_DOES_NOT_EXIST`` (42704), ``TABLE_OR_VIEW_NOT_FOUND``, ``SCHEMA_NOT_FOUND``,
``NO_SUCH_CATALOG_EXCEPTION``, ``INVALID_PARAMETER_VALUE`` (an inapplicable privilege), and
``PARSE_SYNTAX_ERROR`` (42601) for a GRANT, REVOKE or SHOW GRANTS this grammar cannot read.
"""

from __future__ import annotations

import json
import re
from typing import Any

from emulators.workspace.access import Access
from emulators.workspace.audit import Caller
from emulators.workspace.catalog import UnityCatalog
from emulators.workspace.catalog_records import now_ms
from emulators.workspace.errors import ApiError
from emulators.workspace.local_answers import (
    Defaults,
    LocalAnswer,
    SqlStatementError,
    column_not_found,
    done,
    quoted,
    string_rows,
    table_not_found,
)
from emulators.workspace.privileges import Privileges, Securable

#: a SQL identifier as Databricks' grammar has it: plain, or back-quoted with a backquote inside written
#: twice (the one definition: managed_ddl.py and sync_metadata.py read names with it and ``name_parts``)
IDENT = r"(?:`(?:[^`]|``)+`|[A-Za-z_][A-Za-z0-9_]*)"
_NAME = rf"{IDENT}(?:\s*\.\s*{IDENT}){{0,3}}"
_PRINCIPAL = r"(?:`(?:[^`]|``)+`|[A-Za-z0-9_.@+\-]+)"
_STRING = r"'(?:[^'\\]|\\.)*'"
_TYPES = r"EXTERNAL\s+LOCATION|CATALOG|SCHEMA|DATABASE|TABLE|VIEW|VOLUME|FUNCTION|SHARE|RECIPIENT"
_ON = rf"ON\s+(?:(?P<metastore>METASTORE)|(?:(?P<type>{_TYPES})\s+)?(?P<name>{_NAME}))"
_END = r"\s*;?\s*$"
_LEADING = re.compile(r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*", re.S)
_COMMANDS = [
    ("grant", rf"GRANT\s+(?P<privileges>.+?)\s+{_ON}\s+TO\s+(?P<principal>{_PRINCIPAL})"),
    ("revoke", rf"REVOKE\s+(?P<privileges>.+?)\s+{_ON}\s+FROM\s+(?P<principal>{_PRINCIPAL})"),
    ("show_grants", rf"SHOW\s+GRANTS?\s+(?:(?P<principal>{_PRINCIPAL})\s+)?{_ON}"),
    (
        "owner",
        r"ALTER\s+(?P<type>CATALOG|SCHEMA|DATABASE|TABLE|VIEW|VOLUME)\s+"
        rf"(?P<name>{_NAME})\s+(?:SET\s+)?OWNER\s+TO\s+(?P<principal>{_PRINCIPAL})",
    ),
    (
        "comment_on",
        rf"COMMENT\s+ON\s+(?P<type>CATALOG|SCHEMA|DATABASE|TABLE|VIEW|VOLUME|COLUMN)\s+(?P<name>{_NAME})"
        rf"\s+IS\s+(?P<value>{_STRING}|NULL)",
    ),
    (
        "column_comment",
        rf"ALTER\s+TABLE\s+(?P<name>{_NAME})\s+(?:ALTER|CHANGE)(?:\s+COLUMN)?\s+(?P<column>{IDENT})"
        rf"\s+COMMENT\s+(?P<value>{_STRING})",
    ),
    ("describe", rf"(?:DESCRIBE|DESC)(?:\s+TABLE)?\s+(?!EXTENDED\b|FORMATTED\b)(?P<name>{_NAME})"),
]
_PATTERNS = [(name, re.compile(rf"^{pattern}{_END}", re.I | re.S)) for name, pattern in _COMMANDS]
#: statements of these first words are Databricks' access control and documentation commands
_WORDS = ("GRANT", "REVOKE", "SHOW", "ALTER", "COMMENT", "DESCRIBE", "DESC")
#: what a securable type is called in SQL results (SHOW GRANTS' objectType)
_PARTS = {"METASTORE": 0, "CATALOG": 1, "SCHEMA": 2, "SHARE": 1, "RECIPIENT": 1, "EXTERNAL_LOCATION": 1}
#: the REST update's audit action of each kind (routes/unity_catalog.py)
_UPDATE_ACTIONS = {
    "CATALOG": "updateCatalog",
    "SCHEMA": "updateSchema",
    "TABLE": "updateTables",
    "VOLUME": "updateVolume",
}
_STORE_KINDS = {"CATALOG": "catalog", "SCHEMA": "schema", "TABLE": "table", "VOLUME": "volume"}


def _unquote(part: str) -> str:
    part = part.strip()
    return part[1:-1].replace("``", "`") if part.startswith("`") else part


def name_parts(name: str) -> list[str]:
    return [_unquote(p).lower() for p in re.findall(IDENT, name)]


def _literal(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def sql_spelling(privilege: str) -> str:
    """``USE_CATALOG`` as SQL spells it: ``USE CATALOG``."""
    return privilege.replace("_", " ")


def parse_error(sql: str) -> SqlStatementError:
    near = sql.split(None, 1)[0] if sql else ""
    return SqlStatementError("PARSE_SYNTAX_ERROR", f"Syntax error at or near '{near}'.", "42601")


def sql_error(error: ApiError, kind: str, full_name: str) -> SqlStatementError:
    """A REST refusal of the privilege model as the statement's failure, in Databricks' error classes."""
    if isinstance(error, SqlStatementError):
        return error
    if error.status == 403:
        return SqlStatementError("PERMISSION_DENIED", error.message, "42501")
    if error.error_code == "PRINCIPAL_DOES_NOT_EXIST":
        return SqlStatementError("PRINCIPAL_DOES_NOT_EXIST", error.message, "42704")
    if error.status == 404 and kind == "TABLE":
        return table_not_found(full_name)
    if error.status == 404 and kind == "SCHEMA":
        return SqlStatementError(
            "SCHEMA_NOT_FOUND",
            f"The schema {quoted(full_name)} cannot be found. Verify the spelling and correctness of the "
            "schema and catalog.",
            "42704",
        )
    if error.status == 404 and kind == "CATALOG":
        return SqlStatementError(
            "NO_SUCH_CATALOG_EXCEPTION", f"Catalog '{full_name}' was not found.", "42704"
        )
    if error.status == 404:
        return SqlStatementError("RESOURCE_DOES_NOT_EXIST", error.message, "42704")
    return SqlStatementError("INVALID_PARAMETER_VALUE", error.message, "22023")


class GrantsSql:
    """The statements model's ``answer_locally`` hook for the access control and comment commands."""

    def __init__(self, privileges: Privileges, access: Access, catalog: UnityCatalog) -> None:
        self.privileges = privileges
        self.access = access
        self.catalog = catalog

    def answer(self, record: dict[str, Any], defaults: Defaults) -> LocalAnswer | None:
        sql = _LEADING.sub("", record["statement"]).strip()
        first = sql.split(None, 1)[0].upper() if sql else ""
        if first not in _WORDS:
            return None
        for name, pattern in _PATTERNS:
            match = pattern.match(sql)
            if match:
                return getattr(self, name)(match, record, defaults)
        if first in ("GRANT", "REVOKE") or re.match(r"^SHOW\s+GRANTS?\b", sql, re.I):
            raise parse_error(sql)
        return None  # another ALTER, SHOW or DESCRIBE: the engine's

    # names --------------------------------------------------------------------------------------
    @staticmethod
    def _full_name(kind: str, name: str, defaults: Defaults) -> str:
        parts = name_parts(name)
        wanted = 4 if kind == "COLUMN" else _PARTS.get(kind, 3)
        missing = wanted - len(parts)
        if 0 < missing <= 2 and wanted >= 2:
            catalog, schema = defaults()
            parts = [p.lower() for p in [catalog, schema][:missing] if p] + parts
        if len(parts) != wanted:
            raise SqlStatementError(
                "INVALID_PARAMETER_VALUE", f"Cannot resolve {kind.lower()} name '{name.strip()}'.", "22023"
            )
        return ".".join(parts)

    def _securable(self, match, defaults: Defaults) -> Securable:
        kind = "METASTORE" if match["metastore"] else re.sub(r"\s+", "_", (match["type"] or "TABLE").upper())
        kind = {"DATABASE": "SCHEMA", "VIEW": "TABLE"}.get(kind, kind)
        full_name = "" if kind == "METASTORE" else self._full_name(kind, match["name"], defaults)
        try:
            return self.privileges.resolve(kind, full_name)
        except ApiError as error:
            raise sql_error(error, kind, full_name) from None

    @staticmethod
    def _caller(record: dict[str, Any]) -> Caller:
        return Caller(record.get("created_by") or "", request_id=record["statement_id"])

    # grants -------------------------------------------------------------------------------------
    def grant(self, match, record, defaults) -> LocalAnswer:
        return self._change(match, record, defaults, "add")

    def revoke(self, match, record, defaults) -> LocalAnswer:
        return self._change(match, record, defaults, "remove")

    def _change(self, match, record, defaults, how: str) -> LocalAnswer:
        securable = self._securable(match, defaults)
        privileges = [p.strip() for p in match["privileges"].split(",")]
        if not all(re.fullmatch(r"[A-Za-z_]+(?:\s+[A-Za-z_]+)*", p) for p in privileges):
            raise parse_error(match["privileges"])
        changes = [{"principal": _unquote(match["principal"]), how: [p.upper() for p in privileges]}]
        params = {
            "securable_type": securable.type.lower(),
            "securable_full_name": securable.full_name,
            "changes": json.dumps(changes, sort_keys=True),
        }
        caller = self._caller(record)
        try:
            self.access.manage(
                caller,
                "updatePermissions",
                securable,
                params,
                lambda: self.privileges.update(securable, changes, grantor=caller.principal),
            )
        except ApiError as error:
            raise sql_error(error, securable.type, securable.full_name) from None
        return done()

    def show_grants(self, match, record, defaults) -> LocalAnswer:
        securable = self._securable(match, defaults)
        principal = _unquote(match["principal"]) if match["principal"] else None
        caller = self._caller(record)
        params = {"securable_type": securable.type.lower(), "securable_full_name": securable.full_name}
        own = principal and principal.lower() in self.privileges.identities(caller.principal)
        try:
            if own:
                self.access.audit.record(caller, "getPermissions", params)
            else:
                self.access.manage(caller, "getPermissions", securable, params)
        except ApiError as error:
            raise sql_error(error, securable.type, securable.full_name) from None
        rows = []
        for level in securable.levels:
            for grantee, held in sorted(self.privileges.assignments(level).items()):
                if principal and grantee.lower() != principal.lower():
                    continue
                for privilege in sorted(held):
                    rows.append([grantee, sql_spelling(privilege), level.type, level.full_name or None])
        columns = ["principal", "actionType", "objectType", "objectKey"]
        return string_rows(columns, rows, record.get("row_limit"))

    # owners and comments ------------------------------------------------------------------------
    def _update(self, record, kind: str, full_name: str, params: dict[str, Any], apply) -> None:
        try:
            securable = self.privileges.resolve(kind, full_name)
            self.access.manage(self._caller(record), _UPDATE_ACTIONS[kind], securable, params, apply)
        except ApiError as error:
            raise sql_error(error, kind, full_name) from None

    def owner(self, match, record, defaults) -> LocalAnswer:
        kind = {"DATABASE": "SCHEMA", "VIEW": "TABLE"}.get(match["type"].upper(), match["type"].upper())
        full_name = self._full_name(kind, match["name"], defaults)
        principal = _unquote(match["principal"])
        if not self.privileges.principal_exists(principal):
            raise SqlStatementError(
                "PRINCIPAL_DOES_NOT_EXIST", f"Could not find principal with name {principal}.", "42704"
            )
        arg = "name_arg" if kind == "CATALOG" else "full_name_arg"
        params = {arg: full_name, "owner": principal}
        apply = lambda: self._set(kind, full_name, record, owner=principal)  # noqa: E731
        self._update(record, kind, full_name, params, apply)
        return done()

    def comment_on(self, match, record, defaults) -> LocalAnswer:
        kind = {"DATABASE": "SCHEMA", "VIEW": "TABLE"}.get(match["type"].upper(), match["type"].upper())
        value = None if match["value"].upper() == "NULL" else _literal(match["value"])
        if kind == "COLUMN":
            full_name = self._full_name("COLUMN", match["name"], defaults)
            table, column = full_name.rsplit(".", 1)
            return self._column_comment(record, table, column, value)
        full_name = self._full_name(kind, match["name"], defaults)
        self._comment(record, kind, full_name, lambda: self._set(kind, full_name, record, comment=value))
        return done()

    def column_comment(self, match, record, defaults) -> LocalAnswer:
        table = self._full_name("TABLE", match["name"], defaults)
        return self._column_comment(record, table, _unquote(match["column"]), _literal(match["value"]))

    def _comment(self, record, kind: str, full_name: str, apply) -> None:
        """Owner/MANAGE (an update), or for a table MODIFY with the path."""
        arg = "name_arg" if kind == "CATALOG" else "full_name_arg"
        params = {arg: full_name, "comment": "set"}
        if kind == "TABLE":
            try:
                securable = self.privileges.resolve("TABLE", full_name)
            except ApiError as error:
                raise sql_error(error, kind, full_name) from None
            if not self.privileges.can_manage(record.get("created_by") or "", securable):
                try:
                    self.access.use(self._caller(record), "updateTables", securable, "MODIFY", params)
                except ApiError as error:
                    raise sql_error(error, kind, full_name) from None
                apply()
                return
        self._update(record, kind, full_name, params, apply)

    def _column_comment(self, record, table: str, column: str, value: str | None) -> LocalAnswer:
        def apply() -> None:
            with self.catalog.store.lock:
                body = self.catalog.store.get("table", table)
                if body is None:
                    raise table_not_found(table)
                found = [c for c in body.get("columns") or [] if c["name"].lower() == column.lower()]
                if not found:
                    raise column_not_found(column, body)
                if value is None:
                    found[0].pop("comment", None)
                else:
                    found[0]["comment"] = value
                body.update(updated_at=now_ms(), updated_by=record.get("created_by") or "")
                self.catalog.store.put("table", table, body)

        self._comment(record, "TABLE", table, apply)
        return done()

    def _set(self, kind: str, full_name: str, record: dict[str, Any], **fields: Any) -> dict[str, Any]:
        """Set fields of a catalog, schema, table or volume record (None removes one, as ``IS NULL``)."""
        store_kind = _STORE_KINDS[kind]
        with self.catalog.store.lock:
            body = self.catalog.store.get(store_kind, full_name)
            if body is None:
                raise sql_error(ApiError(404, "NOT_FOUND", f"{kind} {full_name}"), kind, full_name)
            for name, value in fields.items():
                if value is None:
                    body.pop(name, None)
                else:
                    body[name] = value
            body.update(updated_at=now_ms(), updated_by=record.get("created_by") or "")
            self.catalog.store.put(store_kind, full_name, body)
            return body

    # DESCRIBE -----------------------------------------------------------------------------------
    def describe(self, match, record, defaults) -> LocalAnswer | None:
        parts = name_parts(match["name"])
        if len(parts) > 3:
            return None
        try:
            full_name = self._full_name("TABLE", match["name"], defaults)
        except SqlStatementError:
            return None
        table = self.catalog.store.get("table", full_name)
        if table is None:
            return None  # a temporary view, or no such table: the engine answers
        columns = table.get("columns") or []
        rows = [[c["name"], (c.get("type_text") or "").lower(), c.get("comment")] for c in columns]
        partitions = sorted(
            (c for c in columns if c.get("partition_index") is not None), key=lambda c: c["partition_index"]
        )
        if partitions:
            rows += [["# Partition Information", "", ""], ["# col_name", "data_type", "comment"]]
            rows += [[c["name"], (c.get("type_text") or "").lower(), c.get("comment")] for c in partitions]
        return string_rows(["col_name", "data_type", "comment"], rows, record.get("row_limit"))

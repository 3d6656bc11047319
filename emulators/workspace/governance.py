"""Unity Catalog governance: tags and column masks, state and behaviour (no HTTP here).

Why it exists: on Databricks, PII is flagged with tags (``ALTER TABLE … ALTER COLUMN email SET TAGS ('pii' =
'email')``) and hidden with column masks (a SQL function set with ``ALTER COLUMN … SET MASK``) that the
platform applies to every query, for the principal who runs it. Sail knows neither, so the stand-in does
both where SQL passes through it, the SQL statements API:

- Tag and mask commands (``SET``/``UNSET TAGS`` on tables and columns, ``SET``/``DROP MASK``) are answered
  here, validated against the catalog (the table and column must exist, as Databricks checks) and stored as
  one plain record per table in the workspace's SQLite, so a restart keeps them. A table dropped (or dropped
  and made again: a new ``table_id``) loses them, as on Databricks.
- ``<catalog>.information_schema.column_tags`` and ``…table_tags`` are answered from that store with
  sqlglot's executor (the mechanism lineage uses for ``system.access``).
- ``CREATE [OR REPLACE] FUNCTION <c>.<s>.<f>(<arg> <type>, …) RETURNS <type> RETURN <expr>`` is stored in
  the catalog's functions API (``routine_body`` SQL); ``DROP FUNCTION`` removes it.
- Masks: a statement that reads a table with masked columns is rewritten before it reaches the engine:
  each such table reference becomes ``(SELECT c1, <mask of c2> AS c2, … FROM <table>) AS <alias>``, the mask
  being the function's body with its parameters replaced by the column (and ``USING COLUMNS``),
  ``is_account_group_member('g')``/``is_member('g')`` decided for the caller from the configured groups,
  ``current_user()`` the caller, and ``CASE``/``IF`` branches that can no longer be taken removed. Masking
  at the table reference is Databricks' semantics (filters, joins and ``*`` see masked values too), and
  the branch removal keeps a mask working for non-members even when the members' branch calls something
  the engine cannot run. The members' ``aes_decrypt(…, secret(…))`` does run: ``sql_functions.py``
  resolves ``secret()`` and supplies the AES functions after this rewrite, in the statements model.
"""

from __future__ import annotations

import copy
import logging
import re
import threading
from typing import Any

from emulators.common.records import RecordStore
from emulators.workspace.catalog import UnityCatalog
from emulators.workspace.errors import ApiError
from emulators.workspace.local_answers import (
    Defaults,
    LocalAnswer,
    SqlStatementError,
    column_not_found,
    done,
    quoted,
    routine_not_found,
    string_rows,
    table_not_found,
    unsupported,
)

# the statement errors are local_answers.py's; information_schema, sharing_sql, sql_functions and
# statement_access still import SqlStatementError, table_not_found and unsupported from here
log = logging.getLogger("workspace.governance")

KIND = "governance"
#: the information_schema views answered from this store, with their columns
TAG_VIEWS = {
    "column_tags": ("catalog_name", "schema_name", "table_name", "column_name", "tag_name", "tag_value"),
    "table_tags": ("catalog_name", "schema_name", "table_name", "tag_name", "tag_value"),
}
#: Databricks' limits on tags
MAX_TAGS = 50
MAX_KEY_LENGTH = 255
MAX_VALUE_LENGTH = 1000
#: functions that ask who the caller is: decided before the statement reaches the engine
_MEMBERSHIP = ("is_account_group_member", "is_member")
_USER = ("current_user", "session_user", "user")

_IDENT = r"(?:`[^`]+`|[A-Za-z_][A-Za-z0-9_]*)"
_NAME = rf"{_IDENT}(?:\s*\.\s*{_IDENT}){{0,2}}"
_STRING = r"(?:'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"
#: comments and spaces before a statement (comments inside it are left to sqlglot: ``'a--b'`` is a string)
_LEADING = re.compile(r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*", re.S)
_ALTER = re.compile(rf"^ALTER\s+TABLE\s+(?P<table>{_NAME})\s+(?P<rest>.*?)\s*;?\s*$", re.I | re.S)
_COLUMN = rf"(?:ALTER|CHANGE)(?:\s+COLUMN)?\s+(?P<column>{_IDENT})\s+"
_ACTIONS = (
    ("set_column_tags", re.compile(rf"^{_COLUMN}SET\s+TAGS\s*\((?P<args>.*)\)$", re.I | re.S)),
    ("unset_column_tags", re.compile(rf"^{_COLUMN}UNSET\s+TAGS\s*\((?P<args>.*)\)$", re.I | re.S)),
    (
        "set_mask",
        re.compile(
            rf"^{_COLUMN}SET\s+MASK\s+(?P<function>{_NAME})"
            rf"(?:\s+USING\s+COLUMNS\s*\((?P<using>[^)]*)\))?$",
            re.I | re.S,
        ),
    ),
    ("drop_mask", re.compile(rf"^{_COLUMN}DROP\s+MASK$", re.I | re.S)),
    ("set_table_tags", re.compile(r"^SET\s+TAGS\s*\((?P<args>.*)\)$", re.I | re.S)),
    ("unset_table_tags", re.compile(r"^UNSET\s+TAGS\s*\((?P<args>.*)\)$", re.I | re.S)),
)
_DROP_FUNCTION = re.compile(
    rf"^DROP\s+FUNCTION\s+(?P<exists>IF\s+EXISTS\s+)?(?P<name>{_NAME})\s*;?\s*$", re.I | re.S
)
#: first words of the statements that may read a table (the rest never reach the mask rewrite)
_READING_WORDS = {
    "SELECT",
    "WITH",
    "FROM",
    "TABLE",
    "VALUES",
    "CREATE",
    "INSERT",
    "MERGE",
    "UPDATE",
    "REPLACE",
}
_RETURN_BODY = re.compile(r"\bRETURN\b\s+(?P<body>.*?)\s*;?\s*$", re.I | re.S)
#: sqlglot data type → Unity Catalog type_name of a function parameter or result
_UC_TYPES = {
    "TEXT": "STRING",
    "VARCHAR": "STRING",
    "CHAR": "STRING",
    "INT": "INT",
    "BIGINT": "LONG",
    "SMALLINT": "SHORT",
    "TINYINT": "BYTE",
    "DOUBLE": "DOUBLE",
    "FLOAT": "FLOAT",
    "BOOLEAN": "BOOLEAN",
    "DATE": "DATE",
    "TIMESTAMP": "TIMESTAMP",
    "TIMESTAMPNTZ": "TIMESTAMP_NTZ",
    "BINARY": "BINARY",
    "DECIMAL": "DECIMAL",
}


def invalid_tag(message: str) -> SqlStatementError:
    return SqlStatementError("INVALID_PARAMETER_VALUE.INVALID_TAG", message, "22023")


# parsing helpers ----------------------------------------------------------------------------------
def _strip(sql: str) -> str:
    return _LEADING.sub("", sql).strip()


def _unquote(part: str) -> str:
    part = part.strip()
    return part[1:-1] if part.startswith("`") else part


def _split_name(name: str) -> list[str]:
    return [_unquote(p).lower() for p in re.findall(_IDENT, name)]


def _literal(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


def _tag_pairs(args: str) -> dict[str, str]:
    """``'k' = 'v', …`` of SET TAGS (string literals, as Databricks' grammar has them)."""
    pairs: dict[str, str] = {}
    pattern = re.compile(rf"\s*(?P<key>{_STRING})\s*=\s*(?P<value>{_STRING})\s*(?:,|$)", re.S)
    position = 0
    while position < len(args):
        match = pattern.match(args, position)
        if not match or match.end() == position:
            raise invalid_tag(f"Cannot read the tags ({args.strip()}): expected 'name' = 'value', ….")
        pairs[_literal(match["key"])] = _literal(match["value"])
        position = match.end()
    if not pairs:
        raise invalid_tag("SET TAGS needs at least one 'name' = 'value'.")
    return pairs


def _tag_keys(args: str) -> list[str]:
    keys = re.findall(_STRING, args)
    rest = re.sub(_STRING, "", args).replace(",", "").strip()
    if rest or not keys:
        raise invalid_tag(f"Cannot read the tag names ({args.strip()}): expected 'name', ….")
    return [_literal(k) for k in keys]


def _check_tags(tags: dict[str, str]) -> None:
    for key, value in tags.items():
        if not key.strip() or key != key.strip() or len(key) > MAX_KEY_LENGTH:
            raise invalid_tag(f"Invalid tag name '{key}': 1 to {MAX_KEY_LENGTH} characters, no outer spaces.")
        if re.search(r"[.,\-=/:]", key):
            raise invalid_tag(f"Invalid tag name '{key}': it must not contain . , - = / or :.")
        if len(value) > MAX_VALUE_LENGTH:
            raise invalid_tag(f"The value of tag '{key}' is longer than {MAX_VALUE_LENGTH} characters.")


class Governance:
    """Tags and masks by table (one SQLite record each, cached in memory), and what the statements use."""

    def __init__(self, store: RecordStore, catalog: UnityCatalog, groups: dict[str, list[str]]) -> None:
        self.store = store
        self.catalog = catalog
        #: group → principals (lower-case): what ``is_account_group_member`` answers from
        self.groups = {g.lower(): {p.lower() for p in members} for g, members in (groups or {}).items()}
        self._lock = threading.Lock()
        self._records: dict[str, dict[str, Any]] = {key: body for key, body in store.scan(KIND)}

    # names --------------------------------------------------------------------------------------
    @staticmethod
    def _resolve(parts: list[str], defaults: Defaults, what: int = 3) -> str:
        """``catalog.schema.name`` from one, two or three parts and the statement's defaults."""
        if len(parts) < what:
            catalog, schema = defaults()
            missing = [catalog, schema][: what - len(parts)]
            parts = [p.lower() for p in missing if p] + parts
        if len(parts) != what:
            raise unsupported(f"Cannot resolve '{'.'.join(parts)}': name the catalog and schema.")
        return ".".join(parts)

    def _table(self, full_name: str) -> dict[str, Any]:
        try:
            return self.catalog.get_table(full_name)
        except ApiError:
            raise table_not_found(full_name) from None

    # the record of a table ----------------------------------------------------------------------
    def _current(self, table: dict[str, Any]) -> dict[str, Any]:
        """A copy of the table's governance record (changed, then saved whole: a failed command changes
        nothing); a record of a table since dropped (another id) is forgotten."""
        record = copy.deepcopy(self._records.get(table["full_name"]))
        if record is None or record.get("table_id") != table["table_id"]:
            record = {
                "full_name": table["full_name"],
                "table_id": table["table_id"],
                "table_tags": {},
                "column_tags": {},
                "masks": {},
            }
        return record

    def _save(self, record: dict[str, Any]) -> None:
        empty = not (record["table_tags"] or record["column_tags"] or record["masks"])
        if empty:
            self.store.delete(KIND, record["full_name"])
            self._records.pop(record["full_name"], None)
        else:
            self.store.put(KIND, record["full_name"], record)
            self._records[record["full_name"]] = record

    def _live(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(record, table) of every record whose table still exists under the same id."""
        with self._lock:
            records = list(self._records.values())
        live = []
        for record in records:
            try:
                table = self.catalog.get_table(record["full_name"])
            except ApiError:
                continue
            if table["table_id"] == record["table_id"]:
                live.append((record, table))
        return live

    # commands -----------------------------------------------------------------------------------
    def _tag_target(self, full_name: str, column: str | None) -> tuple[dict[str, Any], dict[str, str]]:
        """The table's governance record and the tag dict to change: the table's, or one column's."""
        table = self._table(full_name)
        record = self._current(table)
        if column is None:
            return record, record["table_tags"]
        return record, record["column_tags"].setdefault(self._column(table, column), {})

    def set_tags(self, full_name: str, column: str | None, tags: dict[str, str]) -> None:
        _check_tags(tags)
        with self._lock:
            record, target = self._tag_target(full_name, column)
            if len({**target, **tags}) > MAX_TAGS:
                raise invalid_tag(f"At most {MAX_TAGS} tags may be set on one object.")
            target.update(tags)
            self._save(record)

    def unset_tags(self, full_name: str, column: str | None, keys: list[str]) -> None:
        with self._lock:
            record, target = self._tag_target(full_name, column)
            for key in keys:
                target.pop(key, None)  # unsetting a tag that is not there is not an error
            record["column_tags"] = {c: t for c, t in record["column_tags"].items() if t}
            self._save(record)

    def set_mask(self, full_name: str, column: str, function: str, using: list[str]) -> None:
        with self._lock:
            table = self._table(full_name)
            record = self._current(table)
            column = self._column(table, column)
            using = [self._column(table, c) for c in using]
            params = self._function(function)["params"]
            if len(params) != 1 + len(using):
                raise SqlStatementError(
                    "MASK_FUNCTION_ARITY",
                    f"The mask function {quoted(function)} takes {len(params)} parameter(s); the column "
                    f"and USING COLUMNS give {1 + len(using)}.",
                    "42K0E",
                )
            record["masks"][column] = {"function_name": function, "using_column_names": using}
            self._save(record)

    def drop_mask(self, full_name: str, column: str) -> None:
        with self._lock:
            table = self._table(full_name)
            record = self._current(table)
            record["masks"].pop(self._column(table, column), None)
            self._save(record)

    @staticmethod
    def _column(table: dict[str, Any], column: str) -> str:
        for known in table.get("columns") or []:
            if known["name"].lower() == column.lower():
                return known["name"]
        raise column_not_found(column, table)

    # reads --------------------------------------------------------------------------------------
    def rows(self, view: str, catalog_name: str) -> list[dict[str, Any]]:
        """The rows of ``<catalog_name>.information_schema.<view>`` (column_tags or table_tags)."""
        rows = []
        for record, table in sorted(self._live(), key=lambda pair: pair[0]["full_name"]):
            if table["catalog_name"] != catalog_name:
                continue
            where = {
                "catalog_name": table["catalog_name"],
                "schema_name": table["schema_name"],
                "table_name": table["name"],
            }
            if view == "table_tags":
                rows += [
                    dict(where, tag_name=k, tag_value=v) for k, v in sorted(record["table_tags"].items())
                ]
                continue
            known = {c["name"] for c in table.get("columns") or []}
            for column, tags in sorted(record["column_tags"].items()):
                if column in known:
                    rows += [
                        dict(where, column_name=column, tag_name=k, tag_value=v)
                        for k, v in sorted(tags.items())
                    ]
        return rows

    def masks_of(self, full_name: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]] | None:
        """(table, column → mask) of a table that has masks now, else None."""
        record = self._records.get(full_name)
        if not record or not record["masks"]:
            return None
        try:
            table = self.catalog.get_table(full_name)
        except ApiError:
            return None
        if table["table_id"] != record["table_id"]:
            return None
        return table, dict(record["masks"])

    def column_masks(self, table: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """column → ``{function_name, using_column_names}`` of a catalog table (its ColumnInfo.mask)."""
        record = self._records.get(table["full_name"])
        if not record or record.get("table_id") != table.get("table_id"):
            return {}
        return dict(record["masks"])

    def is_member(self, principal: str, group: str) -> bool:
        return principal.lower() in self.groups.get(group.lower(), set())

    # functions ----------------------------------------------------------------------------------
    def _function(self, full_name: str) -> dict[str, Any]:
        """A SQL function of the catalog: its parameter names and body."""
        try:
            info = self.catalog.get_function(full_name)
        except ApiError:
            raise routine_not_found(full_name) from None
        params = [p["name"] for p in (info.get("input_params") or {}).get("parameters") or []]
        return {"params": params, "body": info.get("routine_definition") or ""}

    def create_function(self, tree: Any, sql: str, defaults: Defaults, principal: str) -> None:
        from sqlglot import exp

        udf = tree.this
        full_name = self._resolve([part.name.lower() for part in udf.this.parts], defaults)
        body = _RETURN_BODY.search(_strip(sql))
        if body is None:
            raise unsupported("Only SQL functions with a RETURN expression are supported.")
        returns = next(
            (
                p
                for p in (tree.args.get("properties") or exp.Properties(expressions=[])).expressions
                if isinstance(p, exp.ReturnsProperty)
            ),
            None,
        )
        if returns is None or returns.args.get("is_table") or not isinstance(returns.this, exp.DataType):
            raise unsupported("Only scalar SQL functions (RETURNS <type>) are supported.")
        parameters = []
        for position, column in enumerate(udf.expressions):
            kind = column.args.get("kind")
            type_text = kind.sql(dialect="databricks").lower() if kind is not None else "string"
            type_name = _UC_TYPES.get(kind.this.name if kind is not None else "TEXT", "STRING")
            parameters.append(
                {
                    "name": column.name.lower(),
                    "type_text": type_text,
                    "type_name": type_name,
                    "type_json": f'{{"name":"{column.name.lower()}","type":"{type_text}","nullable":true,'
                    '"metadata":{}}',
                    "position": position,
                }
            )
        catalog_name, schema_name, name = full_name.split(".")
        return_text = returns.this.sql(dialect="databricks").lower()
        info = {
            "name": name,
            "catalog_name": catalog_name,
            "schema_name": schema_name,
            "input_params": {"parameters": parameters},
            "data_type": _UC_TYPES.get(returns.this.this.name, "STRING"),
            "full_data_type": return_text,
            "routine_body": "SQL",
            "routine_definition": body["body"],
            "parameter_style": "S",
            "is_deterministic": True,
            "sql_data_access": "CONTAINS_SQL",
            "is_null_call": False,
            "security_type": "DEFINER",
            "specific_name": name,
        }
        with self.store.lock:
            exists = self.store.get("function", full_name) is not None
            if exists and tree.args.get("exists"):
                return
            if exists and not tree.args.get("replace"):
                raise SqlStatementError(
                    "ROUTINE_ALREADY_EXISTS",
                    f"Cannot create the routine {quoted(full_name)} because it already exists.",
                    "42723",
                )
            if exists:
                self.catalog.delete_function(full_name)
            try:
                self.catalog.create_function({"function_info": info}, principal)
            except ApiError as exc:
                raise SqlStatementError("INVALID_FUNCTION", exc.message, "42000") from None

    # the statements' hooks ----------------------------------------------------------------------
    def answer(self, record: dict[str, Any], defaults: Defaults) -> LocalAnswer | None:
        """Answer a tag or mask command, a SQL function's DDL or a tags view query here, else None.

        Called by the SQL statements model before the engine (its ``answer_locally`` hook); a failure is
        raised and becomes the statement's FAILED error.
        """
        sql = _strip(record["statement"])
        first = sql.split(None, 1)[0].upper() if sql else ""
        if first == "ALTER":
            return self._alter(sql, defaults)
        if first == "DROP" and (match := _DROP_FUNCTION.match(sql)):
            full_name = self._resolve(_split_name(match["name"]), defaults)
            try:
                self.catalog.delete_function(full_name)
            except ApiError:
                if not match["exists"]:
                    raise routine_not_found(full_name) from None
            return done()
        if first == "CREATE" and re.match(r"^CREATE\s+(OR\s+REPLACE\s+)?FUNCTION\b", sql, re.I):
            tree = self._parse(sql)
            from sqlglot import exp

            if isinstance(tree, exp.Create) and isinstance(tree.expression, exp.Return):
                self.create_function(tree, sql, defaults, record.get("created_by", ""))
                return done()
            return None
        if "information_schema" in sql.lower():
            return self._tags_query(record, sql, defaults)
        return None

    def _alter(self, sql: str, defaults: Defaults) -> LocalAnswer | None:
        match = _ALTER.match(sql)
        if not match:
            return None
        for action, pattern in _ACTIONS:
            found = pattern.match(match["rest"])
            if not found:
                continue
            full_name = self._resolve(_split_name(match["table"]), defaults)
            column = _unquote(found["column"]) if "column" in pattern.groupindex else None
            if action == "set_column_tags" or action == "set_table_tags":
                self.set_tags(full_name, column, _tag_pairs(found["args"]))
            elif action in ("unset_column_tags", "unset_table_tags"):
                self.unset_tags(full_name, column, _tag_keys(found["args"]))
            elif action == "set_mask":
                function = self._resolve(_split_name(found["function"]), defaults)
                using = [_unquote(c) for c in found["using"].split(",")] if found["using"] else []
                assert column is not None
                self.set_mask(full_name, column, function, [c for c in using if c])
            else:
                assert column is not None
                self.drop_mask(full_name, column)
            return done()
        return None  # another ALTER TABLE: the engine's

    @staticmethod
    def _parse(sql: str):
        import sqlglot

        try:
            trees = [t for t in sqlglot.parse(sql, dialect="databricks") if t is not None]
        except sqlglot.errors.SqlglotError:
            return None
        return trees[0] if len(trees) == 1 else None

    def _tags_query(self, record: dict[str, Any], sql: str, defaults: Defaults) -> LocalAnswer | None:
        from sqlglot import exp
        from sqlglot.executor import execute

        tree = self._parse(sql)
        if tree is None:
            return None
        tables = list(tree.find_all(exp.Table))
        ours = [t for t in tables if t.db.lower() == "information_schema" and t.name.lower() in TAG_VIEWS]
        if not ours:
            return None
        if len(ours) != len(tables) or not isinstance(tree, exp.Query):
            raise unsupported(
                "The local workspace answers only queries that read information_schema.column_tags and "
                "table_tags alone."
            )
        if record.get("parameters"):
            raise unsupported("Named parameters are not supported in queries of information_schema tags.")
        data: dict[str, Any] = {}
        for table in ours:
            catalog_name = (table.catalog or defaults()[0] or "").lower()
            try:
                self.catalog.get_catalog(catalog_name)
            except ApiError:
                raise table_not_found(f"{catalog_name}.information_schema.{table.name.lower()}") from None
            table.set("catalog", exp.to_identifier(catalog_name))
            table.set("db", exp.to_identifier("information_schema"))
            table.set("this", exp.to_identifier(table.name.lower()))
            views = data.setdefault(catalog_name, {}).setdefault("information_schema", {})
            for view in TAG_VIEWS:
                views[view] = self.rows(view, catalog_name)
        schema = {
            catalog_name: {
                "information_schema": {view: dict.fromkeys(TAG_VIEWS[view], "STRING") for view in views}
            }
            for catalog_name, schemas in data.items()
            for views in schemas.values()
        }
        result = execute(tree, schema=schema, tables=data, dialect="databricks")
        return string_rows(list(result.columns), [list(row) for row in result.rows], record.get("row_limit"))

    def rewrite(self, record: dict[str, Any], defaults: Defaults) -> str | None:
        """The statement with every masked table read replaced by its masked projection, else None.

        Called by the SQL statements model just before the engine runs a statement. Queries, CTAS and
        INSERT … SELECT are rewritten; any other statement that reads a masked table (MERGE … USING,
        UPDATE … FROM, CREATE VIEW) is refused rather than run unmasked.
        """
        with self._lock:
            names = {name.rsplit(".", 1)[1] for name, r in self._records.items() if r["masks"]}
        sql = _strip(record["statement"])
        first = sql.split(None, 1)[0].upper().lstrip("(") if sql else ""
        if first not in _READING_WORDS or not names or not any(name in sql.lower() for name in names):
            return None
        from sqlglot import exp

        tree = self._parse(sql)
        if tree is None:
            return None
        ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
        target = (
            tree.this
            if isinstance(tree, exp.Insert | exp.Create | exp.Merge | exp.Update | exp.Delete)
            else None
        )
        if isinstance(target, exp.Schema):
            target = target.this
        reads = []
        for table in tree.find_all(exp.Table):
            if table is target or not table.name or (not table.db and table.name.lower() in ctes):
                continue
            parts = [p.name.lower() for p in table.parts]
            if len(parts) < 3 and parts[-1] not in names:
                continue
            full_name = self._resolve(parts, defaults)
            masked = self.masks_of(full_name)
            if masked:
                reads.append((table, full_name, *masked))
        if not reads:
            return None
        rewritable = isinstance(tree, exp.Query) or (
            isinstance(tree, exp.Insert | exp.Create)
            and isinstance(tree.expression, exp.Query)
            and str(tree.args.get("kind") or "TABLE").upper() == "TABLE"
        )
        if not rewritable or not all(isinstance(t.parent, exp.From | exp.Join) for t, *_ in reads):
            raise unsupported(
                "The local workspace applies column masks to queries, CTAS and INSERT … SELECT reading "
                f"tables in FROM/JOIN only; this statement reads the masked table {quoted(reads[0][1])}."
            )
        principal = record.get("created_by", "")
        for table, full_name, info, masks in reads:
            table.replace(self._masked_read(table, full_name, info, masks, principal))
        return tree.sql(dialect="databricks")

    def _masked_read(self, table, full_name: str, info: dict[str, Any], masks: dict, principal: str):
        """``(SELECT c1, <mask>(c2) AS c2, … FROM <table>) AS <alias>`` for one masked table reference."""
        from sqlglot import exp

        inner = table.copy()
        alias = inner.args.get("alias")
        inner.set("alias", None)
        projections = []
        for column in info.get("columns") or []:
            name = column["name"]
            mask = masks.get(name)
            if mask is None:
                projections.append(exp.column(name, quoted=True))
                continue
            value = self.mask_expression(mask, name, principal)
            projections.append(exp.alias_(value, name, quoted=True))
        select = exp.select(*projections).from_(inner)
        subquery = exp.Subquery(this=select)
        subquery.set("alias", alias.copy() if alias else exp.TableAlias(this=exp.to_identifier(table.name)))
        return subquery

    def mask_expression(self, mask: dict[str, Any], column: str, principal: str):
        """The mask function's body for one column and caller: membership and user decided, dead branches
        removed, parameters replaced by the masked column and the ``USING COLUMNS``."""
        import sqlglot
        from sqlglot import exp

        function = self._function(mask["function_name"])
        arguments = [column, *mask.get("using_column_names", [])]
        bound = dict(zip(function["params"], arguments, strict=False))
        try:
            body = sqlglot.parse_one(function["body"], dialect="databricks")
        except sqlglot.errors.SqlglotError as exc:
            raise unsupported(
                f"Cannot read the body of mask function {mask['function_name']}: {exc}"
            ) from None

        def decide(node):
            name = ""
            if isinstance(node, exp.Anonymous):
                name = str(node.this).lower()
            elif isinstance(node, exp.Func):
                name = node.sql_name().lower()
            if name in _MEMBERSHIP and node.expressions and isinstance(node.expressions[0], exp.Literal):
                return exp.Boolean(this=self.is_member(principal, node.expressions[0].name))
            if isinstance(node, exp.CurrentUser) or (isinstance(node, exp.Anonymous) and name in _USER):
                return exp.Literal.string(principal)
            if isinstance(node, exp.Column) and not node.table and node.name.lower() in bound:
                return exp.column(bound[node.name.lower()], quoted=True)
            return node

        body = body.transform(decide)
        return _prune(body)


def _prune(node):
    """``CASE``/``IF`` with conditions now TRUE or FALSE reduced to the branch taken (bottom-up), so a branch
    that is never taken never reaches the engine."""
    from sqlglot import exp

    def known(condition) -> bool | None:
        if isinstance(condition, exp.Not):
            inner = known(condition.this)
            return None if inner is None else not inner
        if isinstance(condition, exp.Paren):
            return known(condition.this)
        return bool(condition.this) if isinstance(condition, exp.Boolean) else None

    def reduce(item):
        if isinstance(item, exp.Case) and item.this is None:
            ifs = []
            for branch in item.args.get("ifs") or []:
                value = known(branch.this)
                if value is False:
                    continue
                if value is True and not ifs:
                    return branch.args["true"]
                ifs.append(branch)
                if value is True:
                    break
            if not ifs:
                return item.args.get("default") or exp.Null()
            item.set("ifs", ifs)
            return item
        if isinstance(item, exp.If) and not isinstance(item.parent, exp.Case):
            value = known(item.this)
            if value is True:
                return item.args["true"]
            if value is False:
                return item.args.get("false") or exp.Null()
        return item

    return node.transform(reduce)

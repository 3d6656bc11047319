"""Delta Sharing's SQL commands, answered by the workspace itself (the engine knows no shares).

Databricks' grammar, as far as the local workspace supports it (names may be back-quoted; a table name of
one or two parts is completed with the statement's catalog and schema):

- ``CREATE SHARE [IF NOT EXISTS] s [COMMENT '…']``; ``DROP SHARE [IF EXISTS] s``
- ``ALTER SHARE s ADD [TABLE] t [COMMENT '…'] [PARTITION (c = v, …)[, PARTITION (…)]] [AS schema.name]
  [WITH HISTORY | WITHOUT HISTORY]`` (clauses in any order); ``ALTER SHARE s REMOVE [TABLE] t``
- ``CREATE RECIPIENT [IF NOT EXISTS] r [COMMENT '…']`` (answers as DESCRIBE RECIPIENT: the activation
  link); ``DROP RECIPIENT [IF EXISTS] r``; ``DESCRIBE RECIPIENT r``
- ``GRANT SELECT ON SHARE s TO RECIPIENT r``; ``REVOKE SELECT ON SHARE s FROM RECIPIENT r``
- ``SHOW SHARES``, ``SHOW RECIPIENTS``, ``SHOW ALL IN SHARE s``, ``DESCRIBE SHARE s``,
  ``SHOW GRANTS ON SHARE s``, ``SHOW GRANTS TO RECIPIENT r``

A failure becomes the statement's FAILED error in Databricks' words (``[ERROR_CLASS] … SQLSTATE``).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any

from emulators.workspace.access import Access
from emulators.workspace.audit import Caller
from emulators.workspace.errors import ApiError
from emulators.workspace.governance import SqlStatementError
from emulators.workspace.results import inline_result
from emulators.workspace.sharing import Sharing

LocalAnswer = tuple[dict[str, Any], dict[str, Any]]
Defaults = Callable[[], tuple[str | None, str | None]]

_IDENT = r"(?:`[^`]+`|[A-Za-z_][A-Za-z0-9_]*)"
_NAME = rf"{_IDENT}(?:\s*\.\s*{_IDENT}){{0,2}}"
_STRING = r"'(?:[^'\\]|\\.)*'"
_LEADING = re.compile(r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*", re.S)
_END = r"\s*;?\s*$"
_COMMANDS = [
    (
        "create_share",
        rf"CREATE\s+SHARE\s+(?P<exists>IF\s+NOT\s+EXISTS\s+)?(?P<share>{_IDENT})"
        rf"(?:\s+COMMENT\s+(?P<comment>{_STRING}))?",
    ),
    ("drop_share", rf"DROP\s+SHARE\s+(?P<exists>IF\s+EXISTS\s+)?(?P<share>{_IDENT})"),
    (
        "add_table",
        rf"ALTER\s+SHARE\s+(?P<share>{_IDENT})\s+ADD\s+(?:TABLE\s+)?(?P<table>{_NAME})(?P<rest>.*?)",
    ),
    ("remove_table", rf"ALTER\s+SHARE\s+(?P<share>{_IDENT})\s+REMOVE\s+(?:TABLE\s+)?(?P<table>{_NAME})"),
    (
        "create_recipient",
        rf"CREATE\s+RECIPIENT\s+(?P<exists>IF\s+NOT\s+EXISTS\s+)?(?P<recipient>{_IDENT})"
        rf"(?:\s+COMMENT\s+(?P<comment>{_STRING}))?",
    ),
    ("drop_recipient", rf"DROP\s+RECIPIENT\s+(?P<exists>IF\s+EXISTS\s+)?(?P<recipient>{_IDENT})"),
    ("describe_recipient", rf"(?:DESCRIBE|DESC)\s+RECIPIENT\s+(?P<recipient>{_IDENT})"),
    ("describe_share", rf"(?:DESCRIBE|DESC)\s+SHARE\s+(?P<share>{_IDENT})"),
    (
        "grant",
        rf"GRANT\s+SELECT\s+ON\s+SHARE\s+(?P<share>{_IDENT})\s+TO\s+RECIPIENT\s+(?P<recipient>{_IDENT})",
    ),
    (
        "revoke",
        rf"REVOKE\s+SELECT\s+ON\s+SHARE\s+(?P<share>{_IDENT})\s+FROM\s+RECIPIENT\s+(?P<recipient>{_IDENT})",
    ),
    ("show_shares", r"SHOW\s+SHARES"),
    ("show_recipients", r"SHOW\s+RECIPIENTS"),
    ("show_all_in_share", rf"SHOW\s+ALL\s+IN\s+SHARE\s+(?P<share>{_IDENT})"),
    ("show_grants_on_share", rf"SHOW\s+GRANTS?\s+ON\s+SHARE\s+(?P<share>{_IDENT})"),
    ("show_grants_to_recipient", rf"SHOW\s+GRANTS?\s+TO\s+RECIPIENT\s+(?P<recipient>{_IDENT})"),
]
_PATTERNS = [(name, re.compile(rf"^{pattern}{_END}", re.I | re.S)) for name, pattern in _COMMANDS]
_WORDS = ("CREATE", "DROP", "ALTER", "DESCRIBE", "DESC", "GRANT", "REVOKE", "SHOW")
_CLAUSES = [
    ("comment", re.compile(rf"^\s*COMMENT\s+(?P<value>{_STRING})", re.I | re.S)),
    ("alias", re.compile(rf"^\s*AS\s+(?P<value>{_IDENT}\s*\.\s*{_IDENT})", re.I | re.S)),
    ("history", re.compile(r"^\s*(?P<value>WITH|WITHOUT)\s+HISTORY\b", re.I | re.S)),
    (
        "partition",
        re.compile(r"^\s*,?\s*PARTITION\s*\((?P<value>(?:[^()']|'(?:[^'\\]|\\.)*')*)\)", re.I | re.S),
    ),
]
_PARTITION_VALUE = re.compile(
    rf"\s*(?P<name>{_IDENT})\s*(?P<op>=|LIKE)\s*(?P<value>{_STRING}|-?\d+(?:\.\d+)?|NULL|TRUE|FALSE)\s*(?:,|$)",
    re.I | re.S,
)
#: ApiError status → (error class, SQLSTATE) of the statement's failure
_SQL_ERRORS = {
    400: ("INVALID_PARAMETER_VALUE", "22023"),
    403: ("PERMISSION_DENIED", "42501"),
    404: ("RESOURCE_DOES_NOT_EXIST", "42704"),
    409: ("RESOURCE_ALREADY_EXISTS", "42710"),
}


def _unquote(part: str) -> str:
    part = part.strip()
    return part[1:-1] if part.startswith("`") else part


def _literal(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def _parts(name: str) -> list[str]:
    return [_unquote(p).lower() for p in re.findall(_IDENT, name)]


def _time(ms: int | None) -> str | None:
    if ms is None:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _rows(columns: list[tuple[str, str]], rows: list[list[Any]], row_limit: int | None) -> LocalAnswer:
    schema = [
        {"name": name, "position": i, "type_name": kind, "type_text": kind.lower()}
        for i, (name, kind) in enumerate(columns)
    ]
    return inline_result(schema, rows, row_limit)


def _done() -> LocalAnswer:
    return _rows([], [], None)


_RECIPIENT_COLUMNS = [
    ("name", "STRING"),
    ("created_at", "TIMESTAMP"),
    ("created_by", "STRING"),
    ("comment", "STRING"),
    ("activation_link", "STRING"),
    ("active_token_id", "STRING"),
    ("active_token_expiration_time", "TIMESTAMP"),
    ("rotated_token_id", "STRING"),
    ("rotated_token_expiration_time", "TIMESTAMP"),
]
_LISTING = [("name", "STRING"), ("created_at", "TIMESTAMP"), ("created_by", "STRING"), ("comment", "STRING")]


class SharingSql:
    """The ``answer_locally`` hook of the SQL statements model for the sharing commands."""

    def __init__(self, sharing: Sharing, access: Access | None = None) -> None:
        self.sharing = sharing
        #: ALTER SHARE … ADD|REMOVE is checked as ``w.shares.update`` is (``Access.update_share``, issue 16)
        self.access = access

    def _update_share(
        self, record, share_name: str, action: str, table: str, apply: Callable[[], Any]
    ) -> None:
        """``apply`` once the statement's principal may change the share (and, for an ADD, the share's
        owner may SELECT the table); a refusal is the statement's [INSUFFICIENT_PERMISSIONS] failure."""
        if self.access is None:
            apply()
            return
        privileges = self.access.privileges
        share = privileges.resolve("SHARE", share_name)
        tables = []
        if action == "ADD":
            try:
                tables.append(privileges.resolve("TABLE", table))
            except ApiError:
                pass  # not in the catalog: add_table answers TABLE_DOES_NOT_EXIST
        caller = Caller(record.get("created_by") or "", request_id=record.get("statement_id") or "")
        updates = [{"action": action, "data_object": {"name": table}}]
        params = {"name_arg": share_name, "updates": json.dumps(updates), "statement_id": caller.request_id}
        try:
            self.access.update_share(caller, share, share.owner or "", tables, params, apply)
        except ApiError as error:
            if error.status == 403:
                message = f"Insufficient privileges: {error.message}"
                raise SqlStatementError("INSUFFICIENT_PERMISSIONS", message, "42501") from None
            raise

    def answer(self, record: dict[str, Any], defaults: Defaults) -> LocalAnswer | None:
        sql = _LEADING.sub("", record["statement"]).strip()
        if not sql or sql.split(None, 1)[0].upper() not in _WORDS:
            return None
        for name, pattern in _PATTERNS:
            match = pattern.match(sql)
            if match:
                try:
                    return getattr(self, name)(match, record, defaults)
                except ApiError as exc:
                    if isinstance(exc, SqlStatementError):
                        raise
                    error_class, state = _SQL_ERRORS.get(exc.status, ("INTERNAL_ERROR", "XX000"))
                    raise SqlStatementError(exc.error_code or error_class, exc.message, state) from None
        return None

    # shares -------------------------------------------------------------------------------------
    def create_share(self, match, record, defaults) -> LocalAnswer:
        comment = _literal(match["comment"]) if match["comment"] else None
        body = {"name": _unquote(match["share"]), "comment": comment}
        self.sharing.create_share(body, record.get("created_by", ""), if_not_exists=bool(match["exists"]))
        return _done()

    def drop_share(self, match, record, defaults) -> LocalAnswer:
        self.sharing.delete_share(_unquote(match["share"]), if_exists=bool(match["exists"]))
        return _done()

    def add_table(self, match, record, defaults) -> LocalAnswer:
        data_object: dict[str, Any] = {"name": self._table(match["table"], defaults)}
        rest = match["rest"]
        partitions = []
        while rest.strip():
            for clause, pattern in _CLAUSES:
                found = pattern.match(rest)
                if found:
                    value = found["value"]
                    if clause == "comment":
                        data_object["comment"] = _literal(value)
                    elif clause == "alias":
                        data_object["shared_as"] = ".".join(_parts(value))
                    elif clause == "history":
                        enabled = value.upper() == "WITH"
                        data_object["history_data_sharing_status"] = "ENABLED" if enabled else "DISABLED"
                    else:
                        partitions.append({"values": _partition_values(value)})
                    rest = rest[found.end() :]
                    break
            else:
                raise SqlStatementError(
                    "PARSE_SYNTAX_ERROR",
                    f"Syntax error at or near '{rest.strip()[:40]}' in ALTER SHARE … ADD TABLE.",
                    "42601",
                )
        if partitions:
            data_object["partitions"] = partitions
        share = _unquote(match["share"])
        apply = lambda: self.sharing.add_table(share, data_object, record.get("created_by", ""))  # noqa: E731
        self._update_share(record, share, "ADD", data_object["name"], apply)
        return _done()

    def remove_table(self, match, record, defaults) -> LocalAnswer:
        parts = _parts(match["table"])
        name = ".".join(parts) if len(parts) == 2 else self._table(match["table"], defaults)
        share = _unquote(match["share"])
        apply = lambda: self.sharing.remove_table(share, name, record.get("created_by", ""))  # noqa: E731
        self._update_share(record, share, "REMOVE", name, apply)
        return _done()

    def describe_share(self, match, record, defaults) -> LocalAnswer:
        share = self.sharing.get_share(_unquote(match["share"]), include_shared_data=False)
        row = [share["name"], _time(share.get("created_at")), share.get("created_by"), share.get("comment")]
        return _rows(_LISTING, [row], record.get("row_limit"))

    def show_shares(self, match, record, defaults) -> LocalAnswer:
        rows = [
            [s["name"], _time(s.get("created_at")), s.get("created_by"), s.get("comment")]
            for s in self.sharing.list_shares()
        ]
        return _rows(_LISTING, rows, record.get("row_limit"))

    def show_all_in_share(self, match, record, defaults) -> LocalAnswer:
        share = self.sharing.get_share(_unquote(match["share"]))
        columns = [
            ("name", "STRING"),
            ("type", "STRING"),
            ("shared_object", "STRING"),
            ("added_at", "TIMESTAMP"),
            ("added_by", "STRING"),
            ("comment", "STRING"),
            ("partitions", "STRING"),
            ("history_sharing", "STRING"),
        ]
        rows = [
            [
                o.get("shared_as"),
                o["data_object_type"],
                o["name"],
                _time(o.get("added_at")),
                o.get("added_by"),
                o.get("comment"),
                _partition_text(o.get("partitions")),
                o.get("history_data_sharing_status"),
            ]
            for o in share.get("objects") or []
        ]
        return _rows(columns, rows, record.get("row_limit"))

    # recipients ---------------------------------------------------------------------------------
    def create_recipient(self, match, record, defaults) -> LocalAnswer:
        comment = _literal(match["comment"]) if match["comment"] else None
        body = {"name": _unquote(match["recipient"]), "comment": comment, "authentication_type": "TOKEN"}
        info = self.sharing.create_recipient(body, record.get("created_by", ""), bool(match["exists"]))
        return self._describe(info, record)

    def drop_recipient(self, match, record, defaults) -> LocalAnswer:
        self.sharing.delete_recipient(_unquote(match["recipient"]), if_exists=bool(match["exists"]))
        return _done()

    def describe_recipient(self, match, record, defaults) -> LocalAnswer:
        return self._describe(self.sharing.get_recipient(_unquote(match["recipient"])), record)

    def _describe(self, info: dict[str, Any], record) -> LocalAnswer:
        tokens = sorted(info.get("tokens") or [], key=lambda t: t["created_at"], reverse=True)
        active = tokens[0] if tokens else {}
        rotated = tokens[1] if len(tokens) > 1 else {}
        row = [
            info["name"],
            _time(info.get("created_at")),
            info.get("created_by"),
            info.get("comment"),
            info.get("activation_url"),
            active.get("id"),
            _time(active.get("expiration_time")),
            rotated.get("id"),
            _time(rotated.get("expiration_time")),
        ]
        return _rows(_RECIPIENT_COLUMNS, [row], record.get("row_limit"))

    def show_recipients(self, match, record, defaults) -> LocalAnswer:
        rows = [
            [r["name"], _time(r.get("created_at")), r.get("created_by"), r.get("comment")]
            for r in self.sharing.list_recipients()
        ]
        return _rows(_LISTING, rows, record.get("row_limit"))

    # grants -------------------------------------------------------------------------------------
    def grant(self, match, record, defaults) -> LocalAnswer:
        self.sharing.grant(_unquote(match["share"]), _unquote(match["recipient"]))
        return _done()

    def revoke(self, match, record, defaults) -> LocalAnswer:
        self.sharing.revoke(_unquote(match["share"]), _unquote(match["recipient"]))
        return _done()

    def show_grants_on_share(self, match, record, defaults) -> LocalAnswer:
        permissions = self.sharing.share_permissions(_unquote(match["share"]))["privilege_assignments"]
        rows = [[p["principal"], privilege] for p in permissions for privilege in p["privileges"]]
        return _rows([("recipient", "STRING"), ("privilege", "STRING")], rows, record.get("row_limit"))

    def show_grants_to_recipient(self, match, record, defaults) -> LocalAnswer:
        out = self.sharing.recipient_share_permissions(_unquote(match["recipient"]))["permissions_out"]
        rows = [[p["share_name"], "SELECT"] for p in out]
        return _rows([("share", "STRING"), ("privilege", "STRING")], rows, record.get("row_limit"))

    # names --------------------------------------------------------------------------------------
    @staticmethod
    def _table(name: str, defaults: Defaults) -> str:
        parts = _parts(name)
        if len(parts) < 3:
            catalog, schema = defaults()
            parts = [p.lower() for p in [catalog, schema][: 3 - len(parts)] if p] + parts
        if len(parts) != 3:
            raise SqlStatementError(
                "INVALID_PARAMETER_VALUE",
                f"Cannot resolve table '{name}': name its catalog and schema.",
                "22023",
            )
        return ".".join(parts)


def _partition_values(text: str) -> list[dict[str, Any]]:
    values = []
    position = 0
    while text[position:].strip():
        found = _PARTITION_VALUE.match(text, position)
        if not found or found.end() == position:
            raise SqlStatementError(
                "PARSE_SYNTAX_ERROR", f"Cannot read the partition filter ({text.strip()}).", "42601"
            )
        raw = found["value"]
        value = None if raw.upper() == "NULL" else (_literal(raw) if raw.startswith("'") else raw.lower())
        op = "LIKE" if found["op"].upper() == "LIKE" else "EQUAL"
        values.append({"name": _unquote(found["name"]), "op": op, "value": value})
        position = found.end()
    return values


def _partition_text(partitions: list[dict[str, Any]] | None) -> str | None:
    if not partitions:
        return None
    return ", ".join(
        "("
        + ", ".join(
            f"{v['name']} {'LIKE' if v['op'] == 'LIKE' else '='} "
            + ("NULL" if v.get("value") is None else f"'{v['value']}'")
            for v in p["values"]
        )
        + ")"
        for p in partitions
    )

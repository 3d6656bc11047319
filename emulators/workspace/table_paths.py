"""Which catalog tables a storage path reaches (issue 16): a path at or under a table's storage location is
that table's data, so reading or writing it by path is decided as reading or writing the table.

Why: a job's Spark session reads and writes by path too (``spark.read.parquet(url)``, ``df.write.save(url)``,
``SELECT … FROM delta.`url```). If only a path equal to a table's location were the table, the table's
files (``<location>/part-….parquet``, ``<location>/_delta_log/…``, a partition folder
``<location>/city_id=1``) could be read by a principal without ``SELECT`` on it.

What Databricks documents:

- "Unity Catalog external tables" (SQL reference, ``sql-ref-external-tables``), Examples: without
  permissions on the external table ``sec_filings`` both ``LIST `…/sec_filings``` and
  ``LIST `…/sec_filings/_delta_log``` fail; after ``GRANT SELECT ON TABLE sec_filings TO employee`` any
  member of ``employee`` can list files under the table. So a path at or under a table's location is
  governed by the table's privileges, not the location's: reading needs what reading the table needs
  (``USE CATALOG`` + ``USE SCHEMA`` + ``SELECT``), writing what writing it needs (``MODIFY``).
- "External locations" (SQL reference): "To further refine access control you can use GRANT on external
  tables to encapsulate access to individual files within an external location."
- "Path rules and access in Unity Catalog volumes" (``volumes/paths``): "Tables can't overlap other
  tables", "You can't define a table within another table" — a path lies under at most one table's
  location, and "under" is by whole path segments (``…/weather_hourly_old`` is not under
  ``…/weather_hourly``).

Choices where the documents say nothing exact:

- managed tables are treated like external ones (their files by path need the table's privileges); on
  Databricks path access to managed storage is refused more often than that, never allowed more;
- a path *above* a table's location (a folder holding tables) reaches every table under it: engines list
  a folder's files recursively, so reading ``…/silver`` reads ``…/silver/weather_hourly``'s files (fail
  closed: it needs the privilege on each). On Databricks the external location's ``READ FILES`` governs
  such a path, which the stand-in does not check;
- a path segment with glob characters (``*``, ``?``, ``[…]``, ``{a,b}``, as Hadoop globs) is matched
  against the location's segment with :func:`fnmatch.fnmatchcase`; it reaches every table it may match;
- a path that names no account (``az://container/…``) matches that container in any account.

Spellings (:func:`storage_key`): ``abfs[s]://container@account.dfs.core.windows.net/p``,
``wasb[s]://container@account.blob.core.windows.net/p``, ``az|azure|adl://container/p``,
``https://account.{blob,dfs}.core.windows.net/container/p`` and Azurite's path-style
``http://127.0.0.1:10000/account/container/p`` are one location; account and container compare
case-insensitively (Azure allows only lower case in them), blob paths case-sensitively; empty and ``.``
segments, ``..``, trailing slashes and percent-escapes are normalised away. Other URLs (``file:``,
local paths) compare by scheme, host and segments.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote

_AZURE_SCHEMES = {"abfs", "abfss", "wasb", "wasbs"}
_ACCOUNTLESS_SCHEMES = {"az", "azure", "adl"}
_AZURE_HOST = re.compile(r"^(?P<account>[a-z0-9]+)\.(?:blob|dfs)\.core\.windows\.net$")
_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<netloc>[^/]*)(?P<path>.*)$")
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*):")
_GLOB = re.compile(r"[*?\[{]")
_BRACES = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True)
class StorageKey:
    """A location in one comparable form: ``scheme`` is ``azure`` for every Azure Storage spelling."""

    scheme: str
    #: the storage account, lower case; None when the URL names none (``az://container/…``)
    account: str | None
    #: the container (Azure) or host (other URLs), lower case
    container: str
    parts: tuple[str, ...]


def storage_key(url: str) -> StorageKey | None:
    """``url`` in comparable form, or None if it is not a URL or path at all. Not ``urlsplit``: in a
    Hadoop path ``?`` is a glob character, not a query."""
    text = (url or "").strip()
    if not text:
        return None
    match = _URL.match(text)
    if match is None:  # a plain path
        return StorageKey("file", None, "", _segments(text))
    scheme, netloc, path = match["scheme"].lower(), match["netloc"], match["path"]
    if scheme in _AZURE_SCHEMES:
        container, _, host = netloc.rpartition("@")
        account = host.split(".", 1)[0].lower() or None
        return StorageKey("azure", account, container.lower(), _segments(path))
    if scheme in _ACCOUNTLESS_SCHEMES:
        return StorageKey("azure", None, netloc.lower(), _segments(path))
    host, _, port = netloc.rpartition("@")[2].lower().partition(":")
    parts = _segments(path)
    if scheme in ("http", "https"):
        if account := _AZURE_HOST.match(host):  # https://account.dfs.core.windows.net/container/path
            return StorageKey("azure", account["account"], parts[0].lower() if parts else "", parts[1:])
        azurite = host in ("127.0.0.1", "localhost") or bool(port)  # /account/container/path
        if azurite and len(parts) >= 2:
            return StorageKey("azure", parts[0].lower(), parts[1].lower(), parts[2:])
    return StorageKey("file" if scheme == "file" else scheme, None, host, parts)


def _segments(path: str) -> tuple[str, ...]:
    normal = posixpath.normpath("/" + unquote(path))  # "//" and "." go; ".." climbs, never above the root
    return tuple(p for p in normal.split("/") if p)


def _same_place(path: StorageKey, location: StorageKey) -> bool:
    if path.scheme != location.scheme:
        return False
    if not _segment_matches(path.container, location.container):
        return False
    return path.account is None or location.account is None or path.account == location.account


def _segment_matches(pattern: str, segment: str) -> bool:
    if pattern == segment:
        return True
    if not _GLOB.search(pattern):
        return False
    return any(fnmatch.fnmatchcase(segment, p) for p in _expand_braces(pattern))


def _expand_braces(pattern: str) -> list[str]:
    """Hadoop's ``{a,b}`` alternatives as plain fnmatch patterns (one level per brace, left to right)."""
    match = _BRACES.search(pattern)
    if match is None:
        return [pattern]
    head, tail = pattern[: match.start()], pattern[match.end() :]
    return [e for alt in match.group(1).split(",") for e in _expand_braces(head + alt + tail)]


def reaches(path: str, location: str) -> bool:
    """Whether reading or writing ``path`` can touch files at ``location``: ``path`` is at or under it,
    above it (a folder holding it), or a glob that may match it (see the module's choices)."""
    p, loc = storage_key(path), storage_key(location)
    if p is None or loc is None or (not loc.parts and not loc.container) or not _same_place(p, loc):
        return False
    return all(_segment_matches(a, b) for a, b in zip(p.parts, loc.parts, strict=False))


def tables_reached(path: str, locations: Iterable[tuple[str, str]]) -> set[str]:
    """The names (of ``(storage location, name)`` pairs) whose data ``path`` reaches (:func:`reaches`)."""
    return {name for location, name in locations if location and reaches(path, location)}


#: ``<format>.`<path>``` in SQL reads files directly (Spark's "run SQL on files")
SQL_FILE_FORMATS = frozenset({"delta", "parquet", "csv", "json", "orc", "avro", "text", "binaryfile"})
#: table-valued functions that read the files at a path (Databricks SQL ``read_files``)
FILE_FUNCTIONS = frozenset({"read_files"})
_SHOWS = re.compile(r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*(?:SHOW|DESCRIBE|DESC|LIST|EXPLAIN)\b", re.I | re.S)
_COMMAND_PATH = re.compile(rf"\b(?:{'|'.join(SQL_FILE_FORMATS)})\s*\.\s*`((?:[^`]|``)+)`", re.I)


def is_local_path(path: str) -> bool:
    """Whether ``path`` names the engine's own disk: a ``file:`` URL (``file:/…``, ``file:///…``) or a
    path with no scheme at all (``/tmp/x``, ``spark-warehouse/t``). Any ``scheme:`` other than ``file``
    (``abfss://``, ``https://``, ``dbfs:/``, ``s3://``) is not local (``access.Access.decide_files``)."""
    match = _SCHEME.match((path or "").strip())
    return match is None or match["scheme"].lower() == "file"


def is_file_table(table: object) -> bool:
    """Whether a sqlglot ``exp.Table`` is ``<format>.`<path>``` (a path, not a catalog name)."""
    from sqlglot import exp

    if not isinstance(table, exp.Table) or table.catalog:
        return False
    return (table.db or "").lower() in SQL_FILE_FORMATS and ("/" in table.name or ":" in table.name)


def sql_file_paths(tree: object) -> dict[str, object]:
    """The file paths a parsed statement names as ``<format>.`<path>``` (sqlglot ``exp.Table`` nodes by
    path), e.g. ``SELECT * FROM parquet.`abfss://…/part-0.parquet```."""
    from sqlglot import exp

    found: dict[str, object] = {}
    if not isinstance(tree, exp.Expression):
        return found
    for table in tree.find_all(exp.Table):
        if is_file_table(table):
            found.setdefault(table.name, table)
    return found


def statement_paths(tree: object, parameters: Mapping[str, str] | None = None) -> dict[str, bool] | None:
    """The storage paths one parsed statement reads or writes, each with whether it writes there; None when
    it reads a path that cannot be told (``read_files`` of an expression). The one reading of SQL paths for
    statements (``statement_access.py``) and a job's ``spark.sql`` (``connect_proxy.py``):

    - ``<format>.`<path>``` anywhere (FROM, JOIN, subqueries, MERGE's USING): read; as the target of
      INSERT, UPDATE, DELETE, MERGE, CREATE, ALTER or DROP: written;
    - ``read_files('<path>', …)`` (or ``path => '<path>'``; a named statement parameter ``:p`` is its
      value): read;
    - ``COPY INTO … FROM '<path>'``: read;
    - a statement sqlglot keeps as a command (``OPTIMIZE delta.`…```, ``VACUUM delta.`…```):
      :func:`text_paths`.
    """
    from sqlglot import exp

    found: dict[str, bool] = {}
    if isinstance(tree, exp.Command):
        return text_paths(f"{tree.this} {tree.expression or ''}")
    if not isinstance(tree, exp.Expression):
        return found
    targets: list[object] = []
    if isinstance(tree, exp.Insert | exp.Update | exp.Delete | exp.Merge | exp.Create | exp.Alter):
        targets.append(tree.this.this if isinstance(tree.this, exp.Schema) else tree.this)
    elif isinstance(tree, exp.Drop):
        targets.extend(tree.args.get("tables") or [tree.this])
    for table in tree.find_all(exp.Table):
        if is_file_table(table):
            found[table.name] = found.get(table.name, False) or any(table is t for t in targets)
    for call in tree.find_all(exp.Anonymous):
        if str(call.this).lower() not in FILE_FUNCTIONS:
            continue
        if isinstance(call.parent, exp.Table) and call.parent.db:
            continue  # a function of a schema, not the built-in
        path = _file_function_path(call, parameters or {})
        if path is None:
            return None
        found.setdefault(path, False)
    if isinstance(tree, exp.Copy):
        for literal in tree.args.get("files") or []:
            if isinstance(literal, exp.Literal) and literal.is_string:
                found.setdefault(literal.this, False)
    return found


def text_paths(sql: str) -> dict[str, bool]:
    """The ``<format>.`<path>``` paths of SQL that sqlglot does not read (a command it keeps as text, or
    cannot parse: ``OPTIMIZE``, ``VACUUM``, ``RESTORE``, ``DESCRIBE HISTORY``): written, unless the statement
    only shows (``SHOW``, ``DESCRIBE``, ``LIST``, ``EXPLAIN``)."""
    reads_only = _SHOWS.match(sql) is not None
    return {m.group(1).replace("``", "`"): not reads_only for m in _COMMAND_PATH.finditer(sql)}


def _file_function_path(call: object, parameters: Mapping[str, str]) -> str | None:
    from sqlglot import exp

    arguments = list(call.expressions)
    named = [a.expression for a in arguments if isinstance(a, exp.Kwarg) and a.this.name.lower() == "path"]
    positional = [a for a in arguments if not isinstance(a, exp.Kwarg)]
    value = (positional or named or [None])[0]
    if isinstance(value, exp.Literal) and value.is_string:
        return value.this
    if isinstance(value, exp.Placeholder) and value.name in parameters:
        return parameters[value.name]
    return None


def tables_at_path(path: str, records: Iterable[Mapping[str, object]]) -> set[str]:
    """The catalog tables (table records, as the store keeps them) whose data ``path`` reaches."""
    pairs = [(str(t.get("storage_location") or ""), str(t["full_name"]).lower()) for t in records]
    return tables_reached(path, pairs)

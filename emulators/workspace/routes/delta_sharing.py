"""The Delta Sharing open protocol server (the recipient side), where Databricks serves it:
``/api/2.0/delta-sharing/metastores/<metastore_id>/…`` (../shared/specs/delta-sharing-protocol-api.yaml).

Auth is the recipient's bearer token from its profile file, never a workspace token (``server.py`` lets
these paths through to the check here). Errors are the protocol's ``{"errorCode", "message"}``. Queries
answer the parquet response format only (protocol, metaData, then one ``file`` line per data file with a
short-lived SAS URL); a client asking for ``responseformat=delta`` is told parquet (no capabilities
header), as the protocol lets a server do. ``predicateHints`` (SQL text) are ignored; ``jsonPredicateHints``
prune files on partition values; ``limitHint`` stops listing files once their ``numRecords`` reach it.
"""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from emulators.workspace.errors import ApiError, invalid
from emulators.workspace.routes.common import workspace
from emulators.workspace.sharing_delta import file_id

log = logging.getLogger("workspace.delta_sharing")
delta_sharing_api = Blueprint(
    "delta_sharing", __name__, url_prefix="/api/2.0/delta-sharing/metastores/<metastore_id>"
)
#: the largest page the server answers (the protocol's default maxResults is 500)
MAX_PAGE = 500
NDJSON = "application/x-ndjson; charset=utf-8"


def _sharing():
    return workspace().sharing


@delta_sharing_api.url_value_preprocessor
def _metastore(endpoint, values):
    metastore_id = (values or {}).pop("metastore_id", "")
    if metastore_id != _sharing().metastore_id:
        raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Metastore '{metastore_id}' does not exist.")


@delta_sharing_api.before_request
def _authenticate():
    g.recipient = _sharing().authenticate(request.headers.get("Authorization", ""))


@delta_sharing_api.errorhandler(ApiError)
def _protocol_error(error: ApiError):
    answer = jsonify({"errorCode": error.error_code, "message": error.message})
    answer.status_code = error.status
    return answer


@delta_sharing_api.errorhandler(Exception)
def _unexpected_error(error: Exception):
    """Anything else still answers in the protocol's shape (a client reads ``errorCode`` and ``message``)."""
    if isinstance(error, HTTPException):
        return _protocol_error(ApiError(error.code or 500, "INVALID_PARAMETER_VALUE", str(error.description)))
    log.exception("%s %s failed in the sharing server", request.method, request.path)
    return _protocol_error(ApiError(500, "INTERNAL_ERROR", f"The sharing server failed: {error}"))


def _page(items: list[dict[str, Any]], key, scope: str) -> dict[str, Any]:
    """``maxResults``/``pageToken`` paging; tokens name the last item given and the listing they page."""
    raw = request.args.get("maxResults")
    try:
        size = int(raw) if raw not in (None, "") else MAX_PAGE
    except ValueError:
        raise invalid("maxResults must be an integer.") from None
    if size < 0:
        raise invalid("maxResults must not be negative.")
    size = min(size, MAX_PAGE)
    token = request.args.get("pageToken")
    if token:
        try:
            decoded = json.loads(base64.urlsafe_b64decode(token.encode() + b"=" * (-len(token) % 4)))
            if decoded["s"] != scope:
                raise ValueError
        except (ValueError, KeyError, TypeError):
            raise invalid("Invalid pageToken: it does not belong to this listing.") from None
        items = [item for item in items if key(item) > decoded["k"]]
    # the spec requires nextPageToken; PROTOCOL.md: an empty string when there are no more pages
    answer: dict[str, Any] = {"items": items[:size], "nextPageToken": ""}
    if size < len(items):
        last = key(items[size - 1]) if size else ""
        answer["nextPageToken"] = (
            base64.urlsafe_b64encode(json.dumps({"s": scope, "k": last}).encode()).decode().rstrip("=")
        )
    return answer


def _tables(share: dict[str, Any], schema: str | None = None) -> list[dict[str, Any]]:
    tables = []
    for data_object in share["objects"]:
        schema_name, table_name = data_object["shared_as"].split(".")
        if schema is None or schema_name == schema.lower():
            tables.append(
                {
                    "name": table_name,
                    "schema": schema_name,
                    "share": share["name"],
                    "shareId": share["id"],
                    "id": file_id(share["id"] + data_object["name"]),
                }
            )
    return sorted(tables, key=lambda t: (t["schema"], t["name"]))


@delta_sharing_api.get("/shares")
def list_shares():
    shares = [{"name": s["name"], "id": s["id"]} for s in _sharing().granted_shares(g.recipient)]
    return jsonify(_page(shares, lambda s: s["name"], "shares"))


@delta_sharing_api.get("/shares/<share>")
def get_share(share: str):
    record = _sharing().granted_share(g.recipient, share)
    return jsonify({"share": {"name": record["name"], "id": record["id"]}})


@delta_sharing_api.get("/shares/<share>/schemas")
def list_schemas(share: str):
    record = _sharing().granted_share(g.recipient, share)
    names = sorted({o["shared_as"].split(".")[0] for o in record["objects"]})
    schemas = [{"name": name, "share": record["name"]} for name in names]
    return jsonify(_page(schemas, lambda s: s["name"], f"schemas:{record['name']}"))


@delta_sharing_api.get("/shares/<share>/schemas/<schema>/tables")
def list_tables(share: str, schema: str):
    record = _sharing().granted_share(g.recipient, share)
    tables = _tables(record, schema)
    if not tables:
        raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Schema '{schema}' is not in share '{share}'.")
    return jsonify(_page(tables, lambda t: t["name"], f"tables:{record['name']}.{schema.lower()}"))


@delta_sharing_api.get("/shares/<share>/all-tables")
def list_all_tables(share: str):
    record = _sharing().granted_share(g.recipient, share)
    tables = _tables(record)
    return jsonify(_page(tables, lambda t: f"{t['schema']}.{t['name']}", f"all-tables:{record['name']}"))


def _object(share: str, schema: str, table: str) -> dict[str, Any]:
    return _sharing().shared_object(g.recipient, share, schema, table)


@delta_sharing_api.get("/shares/<share>/schemas/<schema>/tables/<table>/version")
def table_version(share: str, schema: str, table: str):
    sharing = _sharing()
    data_object = _object(share, schema, table)
    catalog_table = sharing.readable(data_object)
    starting = request.args.get("startingTimestamp")
    if starting:
        version = sharing.files.version_at(catalog_table, starting, at_or_after=True)
    else:
        version = sharing.files.latest_version(catalog_table)
    answer = Response(status=200)
    answer.headers["Delta-Table-Version"] = str(version)
    return answer


def _protocol_lines(snapshot, data_object: dict[str, Any], with_stats: bool) -> list[dict[str, Any]]:
    metadata = {
        key: snapshot.metadata[key]
        for key in (
            "id",
            "name",
            "description",
            "format",
            "schemaString",
            "partitionColumns",
            "configuration",
        )
        if key in snapshot.metadata
    }
    metadata["format"] = {"provider": "parquet"}
    metadata["description"] = data_object.get("comment") or metadata.get("description")
    metadata = {k: v for k, v in metadata.items() if v is not None}
    if with_stats:
        metadata.update(
            version=snapshot.version,
            size=sum(f["size"] for f in snapshot.files),
            numFiles=len(snapshot.files),
        )
    return [{"protocol": {"minReaderVersion": 1}}, {"metaData": metadata}]


def _ndjson(lines: list[dict[str, Any]], version: int) -> Response:
    body = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines)
    answer = Response(body, status=200, content_type=NDJSON)
    answer.headers["Delta-Table-Version"] = str(version)
    return answer


@delta_sharing_api.get("/shares/<share>/schemas/<schema>/tables/<table>/metadata")
def table_metadata(share: str, schema: str, table: str):
    data_object = _object(share, schema, table)
    _, snapshot = _sharing().query(data_object, {})
    return _ndjson(_protocol_lines(snapshot, data_object, with_stats=True), snapshot.version)


@delta_sharing_api.post("/shares/<share>/schemas/<schema>/tables/<table>/query")
def query_table(share: str, schema: str, table: str):
    try:
        body = json.loads(request.get_data() or b"{}")
    except ValueError:
        raise invalid("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.")
    if body.get("startingVersion") is not None or body.get("endingVersion") is not None:
        raise invalid("Change data feed queries (startingVersion) are not supported by this server.")
    limit = body.get("limitHint")
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise invalid("limitHint must be a non-negative integer.")
    sharing = _sharing()
    data_object = _object(share, schema, table)
    catalog_table, snapshot = sharing.query(data_object, body)
    files = [f for f in snapshot.files if _may_match(body.get("jsonPredicateHints"), f)]
    files.sort(key=lambda f: f["path"])
    if limit is not None:
        files = _limited(files, limit)
    lines = _protocol_lines(snapshot, data_object, with_stats=False)
    for file in files:
        url, expires = sharing.files.signed_url(catalog_table, file["path"])
        line = {
            "url": url,
            "id": file_id(file["path"]),
            "partitionValues": file["partitionValues"],
            "size": file["size"],
            "expirationTimestamp": expires,
        }
        if file.get("stats"):
            line["stats"] = file["stats"]
        lines.append({"file": line})
    return _ndjson(lines, snapshot.version)


def _limited(files: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """The first files whose ``numRecords`` reach ``limit`` (all of them when a file has no stats)."""
    kept, rows = [], 0
    for file in files:
        if rows >= limit:
            break
        try:
            count = json.loads(file.get("stats") or "{}")["numRecords"]
        except (ValueError, KeyError, TypeError):
            return files
        kept.append(file)
        rows += count
    return kept


def _may_match(hints: Any, file: dict[str, Any]) -> bool:
    """Best effort: False only when the JSON predicate is surely false on the file's partition values."""
    if not hints:
        return True
    try:
        tree = json.loads(hints) if isinstance(hints, str) else hints
        return _evaluate(tree, {k.lower(): v for k, v in file["partitionValues"].items()}) is not False
    except (ValueError, KeyError, TypeError, AttributeError):
        return True  # the protocol: a predicate the server cannot evaluate is skipped


def _evaluate(node: dict[str, Any], values: dict[str, str | None]) -> Any:
    """True, False or None (unknown: a column that is not a partition column, or an odd op)."""
    op = node["op"]
    children = node.get("children") or []
    if op in ("and", "or", "not"):
        results = [_evaluate(child, values) for child in children]
        if op == "not":
            return None if results[0] is None else not results[0]
        if op == "and":
            return False if False in results else (None if None in results else True)
        return True if True in results else (None if None in results else False)
    if op == "isNull":
        column = children[0]["name"].lower()
        return None if column not in values else values[column] is None
    comparisons = {
        "equal": lambda a, b: a == b,
        "lessThan": lambda a, b: a < b,
        "lessThanOrEqual": lambda a, b: a <= b,
        "greaterThan": lambda a, b: a > b,
        "greaterThanOrEqual": lambda a, b: a >= b,
    }
    if op not in comparisons or len(children) != 2:
        return None
    left, right = (_leaf(child, values) for child in children)
    if left is None or right is None:
        return None
    return comparisons[op](left, right)


def _leaf(node: dict[str, Any], values: dict[str, str | None]) -> Any:
    if node["op"] == "column":
        name = node["name"].lower()
        if name not in values or values[name] is None:
            return None
        raw = values[name]
    elif node["op"] == "literal":
        raw = node["value"]
    else:
        return None
    kind = node.get("valueType", "string")
    if kind in ("int", "long"):
        return int(raw)
    if kind in ("float", "double"):
        return float(raw)
    if kind == "bool":
        return str(raw).lower() == "true"
    return str(raw)

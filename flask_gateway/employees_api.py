"""``/v1/employees``: the employee table, masked for most roles, decrypted for ``pii_reader`` and above.

The table holds email, phone and salary encrypted (AES-GCM, see climatelake.pii). Masks need the plaintext
(first letter and domain of an email, last four digits of a phone), so the gateway decrypts in memory and
sends only what the caller's role may see: ``j***@example.com``, ``***-***-0142`` and the salary band for
readers and submitters; the values for ``pii_reader`` and ``admin``. Every call is audited with whether PII
was revealed — never the values. Keys come from the provider configuration names
(``climatelake.pii.provider_from_env``: the workspace secret scope through databricks-sdk by default); each
row is decrypted with the key version it records (``pii_key_version``), so a rotation never breaks a running
gateway: keys are cached per version, and a new version is fetched on first sight.
"""

from __future__ import annotations

import orjson
import polars as pl
from databricks.sdk.errors import NotFound
from flask import Blueprint, Response, current_app, g, request

from climatelake import pii
from climatelake.keys import role_allows
from climatelake.lake import CachedTable
from flask_gateway import clients
from flask_gateway.auth import require
from flask_gateway.errors import Problem
from flask_gateway.schemas import LIST_QUERY, coerce_query

bp = Blueprint("employees", __name__, url_prefix="/v1/employees")
#: the fields a role below pii_reader gets masked (salary: null, the band stays)
MASKED = ("email", "phone", "salary")


def _table() -> CachedTable:
    cache = current_app.extensions.setdefault("employees_table", {})
    if "table" not in cache:
        settings = clients.settings()
        cache["table"] = CachedTable(clients.workspace(), settings, f"{settings.catalog}.silver.employees")
    return cache["table"]


def _frame() -> pl.DataFrame:
    try:
        frame, _ = _table().frame()
    except NotFound:
        raise Problem(404, "Not Found", "No employee data has been loaded yet.") from None
    return frame


def _key(version: str | None) -> bytes:
    """The encryption key of a row's version (rows written before versions existed: version 1)."""
    version = str(version or "1")
    cache = current_app.extensions.setdefault("pii_keys", {})
    if version not in cache:
        provider = cache.get("provider") or pii.provider_from_env(workspace=clients.workspace())
        cache["provider"] = provider
        cache[version] = provider.keys(version).encryption
    return cache[version]


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def mask_phone(phone: str) -> str:
    return "***-***-" + "".join(c for c in phone if c.isdigit())[-4:]


def _view(row: dict, reveal: bool) -> dict:
    key = _key(row.get("pii_key_version"))
    email, phone, salary = (pii.decrypt(row[c], key) for c in ("email", "phone", "salary"))
    view = {
        "employee_id": row["employee_id"],
        "name": row["name"],
        "hire_date": row["hire_date"].isoformat(),
        "salary_band": row["salary_band"],
    }
    if reveal:
        return {**view, "email": email, "phone": phone, "salary": float(salary)}
    return {**view, "email": mask_email(email), "phone": mask_phone(phone), "salary": None}


def _reveal() -> bool:
    reveal = role_allows(g.key.role, "pii_reader")
    g.audit_extra = {"pii_revealed": reveal}
    return reveal


@bp.get("")
@require("reader")
def list_employees():
    query = coerce_query(LIST_QUERY, request.args.to_dict())
    limit = query.get("limit", 50)
    after = int(query["cursor"]) if query.get("cursor", "").isdigit() else 0
    frame = _frame()
    page = frame.filter(pl.col("employee_id") > after).sort("employee_id").head(limit + 1)
    rows, more = page.head(limit).to_dicts(), page.height > limit
    reveal = _reveal()
    return Response(
        orjson.dumps(
            {
                "employees": [_view(r, reveal) for r in rows],
                "next_cursor": str(rows[-1]["employee_id"]) if more else None,
                # which fields this caller's role gets masked (the console marks those cells)
                "masked": [] if reveal else list(MASKED),
            }
        ),
        mimetype="application/json",
    )


@bp.get("/<int:employee_id>")
@require("reader")
def get_employee(employee_id: int):
    found = _frame().filter(pl.col("employee_id") == employee_id)
    if found.is_empty():
        raise Problem(404, "Not Found", f"No employee {employee_id}.")
    return Response(
        orjson.dumps(_view(found.row(0, named=True), _reveal())),
        mimetype="application/json",
    )

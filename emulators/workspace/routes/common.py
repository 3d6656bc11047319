"""What every route module shares: the workspace's models, the JSON body, flags and paging."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from flask import current_app, request

from emulators.workspace.errors import SAIL_USER_AGENT_PREFIX, invalid

#: the server-configured page length (Unity Catalog: "the minimum of max_results and a server value")
SERVER_PAGE_SIZE = 1000


def workspace():
    return current_app.extensions["workspace"]


def from_sail() -> bool:
    """Whether the request comes from Sail's own Unity Catalog client (``User-Agent: Sail/<version>``,
    measured with Sail 0.7.2), the one client a few answers are shaped for (see the callers)."""
    return request.headers.get("User-Agent", "").startswith(SAIL_USER_AGENT_PREFIX)


def body() -> dict[str, Any]:
    data = request.get_data()
    if not data:
        return {}
    try:
        value = json.loads(data)
    except ValueError:
        raise invalid("The request body is not valid JSON.") from None
    if not isinstance(value, dict):
        raise invalid("The request body must be a JSON object.")
    return value


def flag(name: str) -> bool:
    return request.args.get(name, "false").lower() == "true"


def arg(name: str, required: bool = True) -> str:
    value = request.args.get(name) or ""
    if required and not value:
        raise invalid(f"{name} is required.")
    return value


def page(
    items: list[dict[str, Any]],
    key: str,
    scope: str,
    item_key: Callable[[dict[str, Any]], str] = lambda item: item["full_name"],
) -> dict[str, Any]:
    """``max_results``/``page_token`` paging over ``items`` (sorted by ``item_key``).

    Without ``max_results`` everything is answered in one page, as Databricks does (Sail reads one page);
    ``0`` means the server's page length. Tokens are opaque, name the last item answered (so pages neither
    skip nor repeat when items come and go between calls) and are bound to the listing they came from.
    """
    raw = request.args.get("max_results")
    try:
        max_results = int(raw) if raw not in (None, "") else None
    except ValueError:
        raise invalid("max_results must be an integer.") from None
    if max_results is not None and max_results < 0:
        raise invalid("max_results must not be negative.")
    token = request.args.get("page_token")
    after = None
    if token:
        try:
            decoded = json.loads(base64.urlsafe_b64decode(token.encode() + b"=" * (-len(token) % 4)))
            if decoded["s"] != scope:
                raise ValueError
            after = str(decoded["k"])
        except (ValueError, KeyError, TypeError):
            raise invalid("Invalid page_token: it does not belong to this listing.") from None
        items = [item for item in items if item_key(item) > after]
    size = len(items) if max_results is None else min(max_results or SERVER_PAGE_SIZE, SERVER_PAGE_SIZE)
    answer: dict[str, Any] = {key: items[:size]}
    if size < len(items):
        last = item_key(items[size - 1])
        answer["next_page_token"] = (
            base64.urlsafe_b64encode(json.dumps({"s": scope, "k": last}).encode()).decode().rstrip("=")
        )
    return answer

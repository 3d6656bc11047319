"""Databricks' error body ``{"error_code", "message", "details"}``, produced in one place.

Every failure the stand-in answers is an :class:`ApiError`; ``server.py`` turns it into the HTTP answer
(status, JSON body, and ``Retry-After`` for 429/503). The helpers below name the codes the clients map:
databricks-sdk picks its exception class from the status and ``error_code``, Sail and polars from the status.
"""

from __future__ import annotations

#: What Sail's Unity Catalog client sends as ``User-Agent`` (measured with Sail 0.7.2: ``Sail/0.7.2``; its
#: source: ``SAIL_USER_AGENT = concat!("Sail/", CARGO_PKG_VERSION)`` in sail-common's ``utils/http.rs``).
SAIL_USER_AGENT_PREFIX = "Sail/"


class ApiError(Exception):
    """An error answer. ``sail_status``, when set, is the status answered instead to Sail's own requests
    (``User-Agent: Sail/…``, :func:`status_for`): the one deliberate per-client deviation, see
    :func:`already_exists`."""

    def __init__(
        self,
        status: int,
        error_code: str,
        message: str,
        *,
        retry_after: int | None = None,
        sail_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.retry_after = retry_after
        self.sail_status = sail_status

    def status_for(self, user_agent: str) -> int:
        """The HTTP status to answer a client that sent ``user_agent``."""
        if self.sail_status is not None and user_agent.startswith(SAIL_USER_AGENT_PREFIX):
            return self.sail_status
        return self.status

    def body(self) -> dict:
        return {"error_code": self.error_code, "message": self.message, "details": []}

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(int(self.retry_after))} if self.retry_after is not None else {}


def not_found(what: str, name: str) -> ApiError:
    code = what.upper().replace(" ", "_")
    return ApiError(404, f"{code}_DOES_NOT_EXIST", f"{what.capitalize()} '{name}' does not exist.")


def already_exists(what: str, name: str) -> ApiError:
    """A duplicate catalog, schema, table, volume or function, as a Databricks workspace answers it: 400
    ``<KIND>_ALREADY_EXISTS`` "<Kind> '<name>' already exists.", which databricks-sdk raises as
    ``BadRequest`` — what tools written against real workspaces catch (databrickslabs/ucx PR #2077 catches
    ``BadRequest`` for an existing catalog or schema; issue #1939 shows the message). The code is deliberately
    not ``RESOURCE_ALREADY_EXISTS``: databricks-sdk maps that code to ``ResourceAlreadyExists``, a
    ``ResourceConflict``, whatever the status.

    Deviation: Sail's own requests get 409 instead (open-source Unity Catalog's status). Sail 0.7.2's Unity
    Catalog provider treats only a 409 CONFLICT as "exists" for ``CREATE SCHEMA IF NOT EXISTS`` /
    ``CREATE TABLE IF NOT EXISTS`` (measured: with a 400 the statement fails "Failed to create schema: …
    400 Bad Request"); every other client gets what Databricks answers.
    """
    code = what.upper().replace(" ", "_")
    return ApiError(
        400, f"{code}_ALREADY_EXISTS", f"{what.capitalize()} '{name}' already exists.", sail_status=409
    )


def invalid(message: str) -> ApiError:
    return ApiError(400, "INVALID_PARAMETER_VALUE", message)


def resource_does_not_exist(message: str) -> ApiError:
    """Databricks' generic 404 (secrets, SQL statements)."""
    return ApiError(404, "RESOURCE_DOES_NOT_EXIST", message)


def resource_already_exists(message: str) -> ApiError:
    """Databricks' generic "already exists" of the 2.0 APIs (secret scopes): 400, as Databricks answers."""
    return ApiError(400, "RESOURCE_ALREADY_EXISTS", message)


def conflict(message: str) -> ApiError:
    return ApiError(409, "RESOURCE_CONFLICT", message)


def permission_denied(message: str) -> ApiError:
    return ApiError(403, "PERMISSION_DENIED", message)


def too_many_requests(message: str, retry_after: int = 1) -> ApiError:
    return ApiError(429, "REQUEST_LIMIT_EXCEEDED", message, retry_after=retry_after)


def unavailable(message: str, retry_after: int = 1) -> ApiError:
    return ApiError(503, "TEMPORARILY_UNAVAILABLE", message, retry_after=retry_after)


def not_implemented(method: str, path: str) -> ApiError:
    return ApiError(501, "NOT_IMPLEMENTED", f"The local workspace does not implement {method} /{path}.")

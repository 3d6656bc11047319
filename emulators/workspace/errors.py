"""Databricks' error body ``{"error_code", "message", "details"}``, produced in one place.

Every failure the stand-in answers is an :class:`ApiError`; ``server.py`` turns it into the HTTP answer
(status, JSON body, and ``Retry-After`` for 429/503). The helpers below name the codes the clients map:
databricks-sdk picks its exception class from the status and ``error_code``, Sail and polars from the status.
"""

from __future__ import annotations


class ApiError(Exception):
    def __init__(self, status: int, error_code: str, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.retry_after = retry_after

    def body(self) -> dict:
        return {"error_code": self.error_code, "message": self.message, "details": []}

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(int(self.retry_after))} if self.retry_after is not None else {}


def not_found(what: str, name: str) -> ApiError:
    code = what.upper().replace(" ", "_")
    return ApiError(404, f"{code}_DOES_NOT_EXIST", f"{what.capitalize()} '{name}' does not exist.")


def already_exists(what: str, name: str) -> ApiError:
    """409, as open-source Unity Catalog answers (Sail needs a conflict status for ``IF NOT EXISTS``)."""
    code = what.upper().replace(" ", "_")
    return ApiError(409, f"{code}_ALREADY_EXISTS", f"{what.capitalize()} '{name}' already exists.")


def catalog_already_exists(name: str) -> ApiError:
    """A duplicate catalog, as a Databricks workspace answers it: 400 ``CATALOG_ALREADY_EXISTS``
    "Catalog '<name>' already exists." — databricks-sdk raises ``BadRequest``, which tools written against
    real workspaces catch (databrickslabs/ucx, PR #2077). Sail never creates catalogs, so nothing here needs
    open-source Unity Catalog's 409 (schemas and tables keep it: Sail's ``IF NOT EXISTS`` needs a 409)."""
    return ApiError(400, "CATALOG_ALREADY_EXISTS", f"Catalog '{name}' already exists.")


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

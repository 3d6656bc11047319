"""Every error is ``application/problem+json`` (RFC 9457); no stack trace ever reaches a client.

Storage that cannot be reached (a refused or dropped connection, or a 500/503 answer: Azure Storage's
``ServerBusy``/``OperationTimedOut``/``InternalError``, which its error-code docs list as retryable) is
``503 Service Unavailable`` with ``Retry-After``: the client's request was not served and may be sent again
(RFC 9110 §15.6.4), rather than a 500 that says the gateway is broken. Azure's guidance for interactive
callers is the same: fail fast after a short retry and tell the caller when to come back
(learn.microsoft.com/azure/architecture/best-practices/transient-faults)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError
from flask import Flask, Response, json, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger("gateway")
#: seconds a client should wait before retrying a request storage could not serve (a storage restart or
#: failover takes seconds; the gateway's own storage clients already retried for a few)
STORAGE_RETRY_AFTER_SECONDS = 5
TRANSIENT_STORAGE_STATUS = (500, 503)


class Problem(Exception):
    """An error the client can act on."""

    def __init__(
        self, status: int, title: str, detail: str = "", headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


def problem_response(
    status: int, title: str, detail: str = "", headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail or title,
        "instance": request.path,
        **extra,
    }
    return Response(json.dumps(body), status=status, mimetype="application/problem+json", headers=headers)


def register(app: Flask) -> None:
    @app.errorhandler(Problem)
    def on_problem(error: Problem):
        return problem_response(error.status, error.title, error.detail, error.headers, **error.extra)

    @app.errorhandler(HTTPException)
    def on_http_error(error: HTTPException):
        return problem_response(error.code or 500, error.name, error.description or "")

    @app.errorhandler(ServiceRequestError)
    @app.errorhandler(ServiceResponseError)
    def on_storage_unreachable(error: Exception):
        return storage_unavailable(error)

    @app.errorhandler(HttpResponseError)
    def on_storage_error(error: HttpResponseError):
        if error.status_code in TRANSIENT_STORAGE_STATUS:
            return storage_unavailable(error)
        return on_unexpected(error)

    @app.errorhandler(Exception)
    def on_unexpected(error: Exception):
        error_id = uuid.uuid4().hex
        log.exception("unexpected error %s on %s %s", error_id, request.method, request.path)
        return problem_response(
            500,
            "Internal Server Error",
            f"An unexpected error occurred; quote error id {error_id}.",
            error_id=error_id,
        )


def storage_unavailable(error: Exception) -> Response:
    """503 with ``Retry-After`` for a storage fault the client can wait out (logged without a traceback:
    it is an outage of a dependency, not a bug here)."""
    first_line = (str(error).splitlines() or [""])[0]
    log.warning("storage unavailable on %s %s: %s", request.method, request.path, first_line)
    return problem_response(
        503,
        "Service Unavailable",
        "Storage is unavailable for now; try again after Retry-After seconds (a submission retried with "
        "the same Idempotency-Key cannot run twice).",
        headers={"Retry-After": str(STORAGE_RETRY_AFTER_SECONDS)},
    )

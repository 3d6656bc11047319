"""Every error is ``application/problem+json`` (RFC 9457); no stack trace ever reaches a client."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from flask import Flask, Response, json, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger("gateway")


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

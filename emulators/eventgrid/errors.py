"""Typed errors carrying Event Grid's own codes, turned into Azure's error body in exactly one place.

Why one place: the data plane (publish) and the management plane (ARM) both answer
``{"error": {"code", "message", "details"}}``; hand-written bodies scattered over routes drift apart.
"""

from __future__ import annotations

from typing import Any


class EventGridError(Exception):
    """An error answer; ``detail_code`` becomes the one entry of ``details``, as Azure's data plane has it."""

    status = 400
    code = "BadRequest"

    def __init__(self, message: str, *, code: str | None = None, detail_code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.detail_code = detail_code

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail_code:
            error["details"] = [{"code": self.detail_code, "message": self.message}]
        return {"error": error}


class BadRequest(EventGridError):
    status = 400
    code = "BadRequest"


class Unauthorized(EventGridError):
    status = 401
    code = "Unauthorized"


class NotFound(EventGridError):
    status = 404
    code = "NotFound"


class PayloadTooLarge(EventGridError):
    status = 413
    code = "RequestEntityTooLarge"


class InvalidSubscription(EventGridError):
    """ARM: a subscription body Azure would refuse."""

    status = 400
    code = "InvalidRequest"


class HandshakeFailed(EventGridError):
    """ARM: the endpoint did not pass the validation handshake, so the subscription is not created."""

    status = 400
    code = "URL validation"


class ResourceNotFound(EventGridError):
    """ARM's 404 for a topic or event subscription that does not exist."""

    status = 404
    code = "ResourceNotFound"


class UnsupportedApiVersion(EventGridError):
    status = 400
    code = "NoRegisteredProviderFound"

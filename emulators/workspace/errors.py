"""Databricks' error body ``{"error_code", "message", "details"}``, produced in one place."""

from __future__ import annotations


class ApiError(Exception):
    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message

    def body(self) -> dict:
        return {"error_code": self.error_code, "message": self.message, "details": []}


def not_found(what: str, name: str) -> ApiError:
    return ApiError(404, f"{what.upper()}_DOES_NOT_EXIST", f"{what.capitalize()} '{name}' does not exist.")


def already_exists(what: str, name: str) -> ApiError:
    return ApiError(409, f"{what.upper()}_ALREADY_EXISTS", f"{what.capitalize()} '{name}' already exists.")


def invalid(message: str) -> ApiError:
    return ApiError(400, "INVALID_PARAMETER_VALUE", message)

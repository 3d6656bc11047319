"""Binding expressions: ``%AppSetting%`` in binding properties, ``{name}`` from the trigger's binding data,
and the blob path patterns (``container/{name}``) a blob trigger matches."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping
from typing import Any

_SETTING = re.compile(r"%([^%]+)%")
_EXPRESSION = re.compile(r"\{([^{}]+)\}")


class BindingError(RuntimeError):
    """A binding cannot be resolved (missing app setting, unknown expression)."""


def resolve_settings(text: str, settings: Mapping[str, str]) -> str:
    """``%name%`` → the app setting's value, as the host resolves binding properties."""

    def one(match: re.Match) -> str:
        if match.group(1) not in settings:
            raise BindingError(f"app setting '{match.group(1)}' (in '{text}') is not set")
        return settings[match.group(1)]

    return _SETTING.sub(one, text)


def resolve(template: str, data: Mapping[str, Any], settings: Mapping[str, str]) -> str:
    """Resolve ``%setting%`` and ``{expression}`` (binding data, ``rand-guid``, ``DateTime``)."""
    text = resolve_settings(template, settings)

    def one(match: re.Match) -> str:
        key = match.group(1)
        if key == "rand-guid":
            return str(uuid.uuid4())
        if key == "DateTime":
            return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H-%M-%SZ")
        lowered = {k.lower(): v for k, v in data.items()}
        if key.lower() not in lowered:
            raise BindingError(f"no binding data named '{key}' (in '{template}'); have {sorted(data)}")
        return str(lowered[key.lower()])

    return _EXPRESSION.sub(one, text)


def connection_string(name: str | None, settings: Mapping[str, str]) -> str:
    """A storage binding's ``connection`` names an app setting (empty: ``AzureWebJobsStorage``)."""
    name = name or "AzureWebJobsStorage"
    for candidate in (name, f"AzureWebJobs{name}"):
        if settings.get(candidate):
            return settings[candidate]
    raise BindingError(f"Storage account connection string '{name}' does not exist (app setting not set)")


def match_blob_path(pattern: str, path: str) -> dict[str, str] | None:
    """``container/{name}.json`` against ``container/a/b.json`` → ``{"name": "a/b"}``; None if no match."""
    regex = ""
    for i, piece in enumerate(_EXPRESSION.split(pattern)):
        regex += f"(?P<{piece}>.+?)" if i % 2 else re.escape(piece)
    if "/" not in pattern:  # a bare container name: every blob in it
        regex += "/(?P<name>.+)"
    match = re.fullmatch(regex, path)
    return match.groupdict() if match else None

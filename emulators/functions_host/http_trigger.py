"""``httpTrigger``: route templates (``items/{id}``, ``{id:int}``, optional ``{id?}``, catch-all
``{*path}``) matched case-insensitively like ASP.NET routing, their values passed as ``route_params``;
auth levels ``anonymous``, ``function`` (a function key or the master key) and ``admin`` (the master key
only), the key given as ``x-functions-key`` or ``code``."""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable

from emulators.functions_host.app_index import IndexedFunction

_CONSTRAINTS = {
    "int": r"-?\d+",
    "long": r"-?\d+",
    "bool": r"(?i:true|false)",
    "guid": r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}",
    "alpha": r"[A-Za-z]+",
    "double": r"-?\d+(?:\.\d+)?",
    "float": r"-?\d+(?:\.\d+)?",
    "decimal": r"-?\d+(?:\.\d+)?",
}
_PARAMETER = re.compile(r"\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(?::([A-Za-z]+))?(\?)?\}")


class RouteTemplate:
    def __init__(self, template: str) -> None:
        self.template = template.strip("/")
        pattern = ""
        position = 0
        self.literal_length = 0
        for match in _PARAMETER.finditer(self.template):
            literal = self.template[position : match.start()]
            self.literal_length += len(literal)
            catch_all, name, constraint, optional = match.groups()
            value = ".*" if catch_all else _CONSTRAINTS.get((constraint or "").lower(), r"[^/]+")
            if optional or catch_all:
                if literal.endswith("/"):  # "items/{id?}" also matches "items"
                    pattern += re.escape(literal[:-1]) + f"(?:/(?P<{name}>{value}))?"
                else:
                    pattern += re.escape(literal) + f"(?P<{name}>{value})?"
            else:
                pattern += re.escape(literal) + f"(?P<{name}>{value})"
            position = match.end()
        self.literal_length += len(self.template) - position
        pattern += re.escape(self.template[position:])
        self.regex = re.compile(pattern, re.IGNORECASE)

    def match(self, path: str) -> dict[str, str] | None:
        found = self.regex.fullmatch(path.strip("/"))
        if found is None:
            return None
        return {k: v for k, v in found.groupdict().items() if v is not None}


def find_routes(
    functions: Iterable[IndexedFunction], path: str
) -> list[tuple[IndexedFunction, dict[str, str]]]:
    """Every HTTP function whose route matches ``path`` (most literal characters first), with its params."""
    candidates = [(RouteTemplate(f.route), f) for f in functions if f.trigger_type == "httpTrigger"]
    candidates.sort(key=lambda c: -c[0].literal_length)
    found = []
    for template, function in candidates:
        params = template.match(path)
        if params is not None:
            found.append((function, params))
    return found


def authorized(function: IndexedFunction, given: str, function_keys: list[str], master_key: str) -> bool:
    level = function.auth_level
    if level == "anonymous":
        return True
    accepted = [master_key] if level == "admin" else [*function_keys, master_key]
    return bool(given) and any(k and hmac.compare_digest(given, k) for k in accepted)

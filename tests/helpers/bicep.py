"""Read infra/'s Bicep as pycep-parser parses it (a JSON-like tree: resources, modules, params, variables,
outputs), and follow the few kinds of expression the checks need.

pycep writes a string literal and an identifier alike (``'x'`` and ``x`` both become ``"x"``), so a name is
a reference only when the file declares a parameter or variable of that name.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pycep import BicepParser

ROOT = Path(__file__).resolve().parent.parent.parent
INFRA = ROOT / "infra"


@dataclass
class BicepFile:
    path: Path
    tree: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.path.relative_to(INFRA))

    def section(self, key: str) -> dict[str, Any]:
        return self.tree.get(key) or {}

    def resources(self, kind: str | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
        """(symbolic name, body) of each resource (of type ``kind``), loops and conditions unwrapped."""
        for symbol, resource in self.section("resources").items():
            if kind is None or resource["type"] == kind:
                yield symbol, body(resource["config"])

    def resource(self, kind: str) -> dict[str, Any]:
        found = [b for _, b in self.resources(kind)]
        assert len(found) == 1, f"{self.name}: expected one {kind}, found {len(found)}"
        return found[0]

    def module(self, symbol: str) -> dict[str, Any]:
        return body(self.section("modules")[symbol]["config"])

    def module_path(self, symbol: str) -> str:
        return self.section("modules")[symbol]["detail"]["path"]

    def value(self, name: str) -> Any:
        """A variable's value, or a parameter's default."""
        if name in self.section("variables"):
            return self.section("variables")[name]["value"]
        return self.section("parameters")[name]["default"]

    def is_reference(self, value: Any) -> bool:
        return isinstance(value, str) and (
            value in self.section("variables") or value in self.section("parameters")
        )

    def literal_list(self, value: Any) -> list[Any]:
        """A list written out, or the list a variable holds."""
        return self.literal_list(self.value(value)) if self.is_reference(value) else list(value)


def body(config: dict[str, Any]) -> dict[str, Any]:
    """A resource's or module's properties, under any loop (``for``) or condition (``if``)."""
    while (
        isinstance(config, dict) and ("loop_type" in config or "condition" in config) and "config" in config
    ):
        config = config["config"]
    return config


def loop_source(value: Any) -> Any:
    """What a ``[for x in items(obj): ...]`` or ``[for x in list: ...]`` loop runs over."""
    source = value["loop_type"]["detail"]["array_name"]
    if isinstance(source, dict) and source.get("function", {}).get("type") == "items":
        return source["function"]["parameters"]["arg_1"]
    return source


def call(value: Any, function: str) -> list[Any] | None:
    """The arguments of ``function(...)`` if ``value`` is that call, else None."""
    if isinstance(value, dict) and value.get("function", {}).get("type") == function:
        return list(value["function"]["parameters"].values())
    return None


def walk(value: Any) -> Iterator[Any]:
    """Every node of a parsed value, depth first."""
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)


def parse_all() -> list[BicepFile]:
    parser = BicepParser()
    return [BicepFile(path, parser.parse(file_path=path)) for path in sorted(INFRA.rglob("*.bicep"))]

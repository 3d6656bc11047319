"""Event subscription filters with Azure's rules: event types, subject prefix/suffix, advanced filters.

Rules followed (Azure's "Event filtering" article):
- every part of a filter must hold (AND); inside one advanced filter, any of its values may match (OR);
- string comparisons are case-insensitive; the subject filters are too unless ``isSubjectCaseSensitive``;
- a key is ``subject``, ``eventType``/``type``, ``id``, ``source``, ``topic``, ``dataVersion``, any
  CloudEvents attribute, or a path into the data such as ``data.a.b``; envelope names ignore case;
- a key missing from the event fails every operator except the ``Not*`` ones and ``IsNullOrUndefined``,
  which it satisfies (their pseudo-code starts from "match" and looks for a counter-example);
- an array value is only looked into when ``enableAdvancedFilteringOnArrays`` is true (then any element
  matching counts); otherwise an array matches no positive operator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulators.eventgrid.errors import InvalidSubscription

_MISSING = object()
MAX_ADVANCED_FILTERS = 25
MAX_FILTER_VALUES = 25
MAX_STRING_VALUE = 512


def _fold(value: str) -> str:
    return value.casefold()


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _string_test(compare: Callable[[str, str], bool]) -> Callable[[Any, Any], bool]:
    return lambda key_value, filter_value: (
        isinstance(key_value, str) and compare(_fold(key_value), _fold(str(filter_value)))
    )


def _number_test(compare: Callable[[float, float], bool]) -> Callable[[Any, Any], bool]:
    return lambda key_value, filter_value: _is_number(key_value) and compare(key_value, filter_value)


def _in_range(key_value: Any, bounds: Any) -> bool:
    return _is_number(key_value) and bounds[0] <= key_value <= bounds[1]


#: operator → (test of one key value against one filter value, negated?, takes a list of values?)
OPERATORS: dict[str, tuple[Callable[[Any, Any], bool], bool, bool]] = {
    "StringIn": (_string_test(lambda a, b: a == b), False, True),
    "StringNotIn": (_string_test(lambda a, b: a == b), True, True),
    "StringBeginsWith": (_string_test(str.startswith), False, True),
    "StringNotBeginsWith": (_string_test(str.startswith), True, True),
    "StringEndsWith": (_string_test(str.endswith), False, True),
    "StringNotEndsWith": (_string_test(str.endswith), True, True),
    "StringContains": (_string_test(lambda a, b: b in a), False, True),
    "StringNotContains": (_string_test(lambda a, b: b in a), True, True),
    "NumberIn": (_number_test(lambda a, b: a == b), False, True),
    "NumberNotIn": (_number_test(lambda a, b: a == b), True, True),
    "NumberGreaterThan": (_number_test(lambda a, b: a > b), False, False),
    "NumberGreaterThanOrEquals": (_number_test(lambda a, b: a >= b), False, False),
    "NumberLessThan": (_number_test(lambda a, b: a < b), False, False),
    "NumberLessThanOrEquals": (_number_test(lambda a, b: a <= b), False, False),
    "NumberInRange": (_in_range, False, True),
    "NumberNotInRange": (_in_range, True, True),
    "BoolEquals": (lambda a, b: isinstance(a, bool) and a is b, False, False),
}
PRESENCE_OPERATORS = ("IsNullOrUndefined", "IsNotNull")


def lookup(event: dict[str, Any], key: str) -> Any:
    """The value at ``key`` (``subject``, ``data.a.b``…) or ``_MISSING``; envelope names ignore case."""
    node: Any = event
    for part in key.split("."):
        if not isinstance(node, dict):
            return _MISSING
        if part in node:
            node = node[part]
            continue
        folded = _fold(part)
        match = next((k for k in node if _fold(k) == folded), _MISSING)
        if match is _MISSING:
            return _MISSING
        node = node[match]
    return node


@dataclass(frozen=True)
class AdvancedFilter:
    operator: str
    key: str
    values: tuple[Any, ...]

    @classmethod
    def parse(cls, raw: Any) -> AdvancedFilter:
        if not isinstance(raw, dict):
            raise InvalidSubscription("Each advanced filter must be an object.")
        operator = raw.get("operatorType") or raw.get("operator") or ""
        key = raw.get("key")
        if operator not in OPERATORS and operator not in PRESENCE_OPERATORS:
            raise InvalidSubscription(f"Advanced filter operator type '{operator}' is not supported.")
        if not isinstance(key, str) or not key:
            raise InvalidSubscription(f"Advanced filter '{operator}' needs a key.")
        if operator in PRESENCE_OPERATORS:
            return cls(operator, key, ())
        _, _, many = OPERATORS[operator]
        if many:
            values = raw.get("values")
            if not isinstance(values, list) or not values:
                raise InvalidSubscription(f"Advanced filter '{operator}' on '{key}' needs a list of values.")
        else:
            if "value" not in raw:
                raise InvalidSubscription(f"Advanced filter '{operator}' on '{key}' needs a value.")
            values = [raw["value"]]
        for value in values:
            cls._check_value(operator, key, value)
        return cls(operator, key, tuple(tuple(v) if isinstance(v, list) else v for v in values))

    @staticmethod
    def _check_value(operator: str, key: str, value: Any) -> None:
        if operator.startswith("String"):
            ok = isinstance(value, str) and len(value) <= MAX_STRING_VALUE
        elif operator in ("NumberInRange", "NumberNotInRange"):
            ok = isinstance(value, list) and len(value) == 2 and all(_is_number(v) for v in value)
        elif operator.startswith("Number"):
            ok = _is_number(value)
        else:
            ok = isinstance(value, bool)
        if not ok:
            raise InvalidSubscription(
                f"Advanced filter '{operator}' on '{key}' has an invalid value {value!r}."
            )

    def matches(self, event: dict[str, Any], on_arrays: bool) -> bool:
        value = lookup(event, self.key)
        if self.operator == "IsNullOrUndefined":
            return value is _MISSING or value is None
        if self.operator == "IsNotNull":
            return value is not _MISSING and value is not None
        test, negated, _ = OPERATORS[self.operator]
        if value is _MISSING:
            return negated
        candidates = value if isinstance(value, list) and on_arrays else [value]
        found = any(test(candidate, wanted) for candidate in candidates for wanted in self.values)
        return not found if negated else found

    def to_arm(self) -> dict[str, Any]:
        arm: dict[str, Any] = {"operatorType": self.operator, "key": self.key}
        if self.operator in PRESENCE_OPERATORS:
            return arm
        plain = [list(v) if isinstance(v, tuple) else v for v in self.values]
        if OPERATORS[self.operator][2]:
            arm["values"] = plain
        else:
            arm["value"] = plain[0]
        return arm


@dataclass(frozen=True)
class EventFilter:
    included_event_types: tuple[str, ...] = ()
    subject_begins_with: str = ""
    subject_ends_with: str = ""
    subject_case_sensitive: bool = False
    advanced: tuple[AdvancedFilter, ...] = field(default=())
    advanced_on_arrays: bool = False

    @classmethod
    def parse(cls, raw: Any) -> EventFilter:
        """From an ARM ``filter`` object; raises :class:`InvalidSubscription` for what Azure refuses."""
        raw = raw or {}
        if not isinstance(raw, dict):
            raise InvalidSubscription("The filter must be an object.")
        types = raw.get("includedEventTypes") or []
        if not isinstance(types, list) or not all(isinstance(t, str) and t for t in types):
            raise InvalidSubscription("includedEventTypes must be a list of event type names.")
        if [t.casefold() for t in types] == ["all"]:
            types = []
        advanced = tuple(AdvancedFilter.parse(f) for f in raw.get("advancedFilters") or [])
        if len(advanced) > MAX_ADVANCED_FILTERS:
            raise InvalidSubscription(f"At most {MAX_ADVANCED_FILTERS} advanced filters are allowed.")
        if sum(max(1, len(f.values)) for f in advanced) > MAX_FILTER_VALUES:
            raise InvalidSubscription(
                f"At most {MAX_FILTER_VALUES} advanced filter values are allowed in all."
            )
        for name in ("subjectBeginsWith", "subjectEndsWith"):
            if not isinstance(raw.get(name, "") or "", str):
                raise InvalidSubscription(f"{name} must be a string.")
        return cls(
            included_event_types=tuple(types),
            subject_begins_with=raw.get("subjectBeginsWith") or "",
            subject_ends_with=raw.get("subjectEndsWith") or "",
            subject_case_sensitive=bool(raw.get("isSubjectCaseSensitive", False)),
            advanced=advanced,
            advanced_on_arrays=bool(raw.get("enableAdvancedFilteringOnArrays", False)),
        )

    def matches(self, event: dict[str, Any]) -> bool:
        """``event`` in its input schema (Event Grid: ``eventType``; CloudEvents: ``type``)."""
        event_type = event.get("eventType", event.get("type", ""))
        if self.included_event_types and _fold(str(event_type)) not in {
            _fold(t) for t in self.included_event_types
        }:
            return False
        subject = str(event.get("subject") or "")
        begins, ends = self.subject_begins_with, self.subject_ends_with
        if not self.subject_case_sensitive:
            subject, begins, ends = _fold(subject), _fold(begins), _fold(ends)
        if not (subject.startswith(begins) and subject.endswith(ends)):
            return False
        return all(f.matches(event, self.advanced_on_arrays) for f in self.advanced)

    def to_arm(self) -> dict[str, Any]:
        return {
            "subjectBeginsWith": self.subject_begins_with,
            "subjectEndsWith": self.subject_ends_with,
            "includedEventTypes": list(self.included_event_types) or None,
            "isSubjectCaseSensitive": self.subject_case_sensitive,
            "enableAdvancedFilteringOnArrays": self.advanced_on_arrays,
            "advancedFilters": [f.to_arm() for f in self.advanced],
        }

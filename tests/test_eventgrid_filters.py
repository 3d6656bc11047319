"""Event subscription filters: each kind end to end through azure-eventgrid, and Azure's rules in detail."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.core.credentials import AzureKeyCredential
from azure.core.messaging import CloudEvent
from azure.eventgrid import EventGridEvent, EventGridPublisherClient

from emulators.eventgrid.errors import InvalidSubscription
from emulators.eventgrid.filters import EventFilter
from emulators.eventgrid.testing import RunningGrid, Webhook

KEY = "ZmlsdGVyLXRlc3Qta2V5LTAxMjM0NTY3ODk="

#: subscription name → its filter; each is one filter kind.
FILTERS = {
    "types": {"includedEventTypes": ["Order.Created", "Order.Paid"]},
    "begins": {"subjectBeginsWith": "/orders/eu/"},
    "ends": {"subjectEndsWith": ".json"},
    "case-sensitive": {"subjectBeginsWith": "/Orders/", "isSubjectCaseSensitive": True},
    "string-in": {
        "advancedFilters": [{"operatorType": "StringIn", "key": "data.country", "values": ["fr", "DE"]}]
    },
    "string-not-in": {
        "advancedFilters": [{"operatorType": "StringNotIn", "key": "data.country", "values": ["fr"]}]
    },
    "string-begins": {
        "advancedFilters": [{"operatorType": "StringBeginsWith", "key": "data.sku", "values": ["BK-", "MG-"]}]
    },
    "string-contains": {
        "advancedFilters": [{"operatorType": "StringContains", "key": "subject", "values": ["/us/"]}]
    },
    "number-in": {"advancedFilters": [{"operatorType": "NumberIn", "key": "data.qty", "values": [1, 3]}]},
    "number-greater": {
        "advancedFilters": [{"operatorType": "NumberGreaterThan", "key": "data.total", "value": 100}]
    },
    "number-less": {
        "advancedFilters": [{"operatorType": "NumberLessThan", "key": "data.total", "value": 10.5}]
    },
    "bool-equals": {"advancedFilters": [{"operatorType": "BoolEquals", "key": "data.gift", "value": True}]},
    "nested-key": {
        "advancedFilters": [{"operatorType": "StringIn", "key": "data.customer.tier", "values": ["gold"]}]
    },
    "event-type-key": {
        "advancedFilters": [{"operatorType": "StringBeginsWith", "key": "eventType", "values": ["order.ref"]}]
    },
    "and-across-filters": {
        "includedEventTypes": ["Order.Created"],
        "advancedFilters": [
            {"operatorType": "StringIn", "key": "data.country", "values": ["fr", "de"]},
            {"operatorType": "NumberGreaterThan", "key": "data.total", "value": 50},
        ],
    },
}

EVENTS = [
    # (subject, type, data)
    (
        "/orders/eu/1.json",
        "Order.Created",
        {"country": "FR", "sku": "BK-1", "qty": 1, "total": 120, "gift": True},
    ),
    ("/orders/us/2.xml", "Order.Paid", {"country": "us", "sku": "TV-9", "qty": 2, "total": 5, "gift": False}),
    ("/Orders/eu/3.JSON", "Order.Refunded", {"country": "de", "sku": "mg-7", "qty": 3, "total": 80}),
    (
        "/orders/asia/4",
        "Order.Created",
        {"country": "jp", "qty": "3", "total": "200", "customer": {"tier": "Gold"}},
    ),
]

EXPECTED = {
    "types": [1, 2, 4],
    "begins": [1, 3],  # case-insensitive by default: /Orders/eu/ matches /orders/eu/
    "ends": [1, 3],
    "case-sensitive": [3],
    "string-in": [1, 3],  # values compared without case
    "string-not-in": [2, 3, 4],
    "string-begins": [1, 3],
    "string-contains": [2],
    "number-in": [1, 3],  # "3" (a string) is not the number 3
    "number-greater": [1],
    "number-less": [2],
    "bool-equals": [1],
    "nested-key": [4],
    "event-type-key": [3],
    "and-across-filters": [1],
}


@pytest.fixture(scope="module")
def hook() -> Iterator[Webhook]:
    webhook = Webhook()
    yield webhook
    webhook.close()


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory, hook: Webhook) -> Iterator[RunningGrid]:
    resources = [
        {"type": "Microsoft.EventGrid/topics", "name": "orders", "keys": [KEY]},
        {
            "type": "Microsoft.EventGrid/topics",
            "name": "ce-orders",
            "keys": [KEY],
            "properties": {"inputSchema": "CloudEventSchemaV1_0"},
        },
        {
            "type": "Microsoft.EventGrid/topics/eventSubscriptions",
            "name": "ce-orders/by-source",
            "properties": {
                "destination": {
                    "endpointType": "WebHook",
                    "properties": {"endpointUrl": f"{hook.url}/ce-source"},
                },
                "filter": {
                    "includedEventTypes": ["shop.order"],
                    "advancedFilters": [
                        {"operatorType": "StringEndsWith", "key": "source", "values": ["/eu"]}
                    ],
                },
            },
        },
    ]
    resources += [
        {
            "type": "Microsoft.EventGrid/topics/eventSubscriptions",
            "name": f"orders/{name}",
            "properties": {
                "destination": {
                    "endpointType": "WebHook",
                    "properties": {"endpointUrl": f"{hook.url}/{name}"},
                },
                "filter": event_filter,
            },
        }
        for name, event_filter in FILTERS.items()
    ]
    g = RunningGrid(
        {"data_dir": str(tmp_path_factory.mktemp("filters")), "time_scale": 0.01, "resources": resources}
    )
    yield g
    g.stop()


def test_each_filter_kind_selects_what_azure_would(grid: RunningGrid, hook: Webhook):
    client = EventGridPublisherClient(f"{grid.url}/topics/orders/api/events", AzureKeyCredential(KEY))
    client.send(
        [
            EventGridEvent(subject=subject, event_type=kind, data=data, data_version="1")
            for subject, kind, data in EVENTS
        ]
    )
    expected_total = sum(len(v) for v in EXPECTED.values())
    hook.wait_for(lambda: len(hook.events()) >= expected_total, what=f"{expected_total} deliveries")
    grid.wait_idle()
    numbers = {e[0]: i + 1 for i, e in enumerate(EVENTS)}
    got = {name: sorted(numbers[e["subject"]] for e in hook.events(f"/{name}")) for name in FILTERS}
    assert got == EXPECTED


def test_cloudevents_keys_source_and_type(grid: RunningGrid, hook: Webhook):
    client = EventGridPublisherClient(f"{grid.url}/topics/ce-orders/api/events", AzureKeyCredential(KEY))
    client.send(
        [
            CloudEvent(source="/shop/eu", type="shop.order", data={"n": 1}),
            CloudEvent(source="/shop/us", type="shop.order", data={"n": 2}),
            CloudEvent(source="/shop/eu", type="shop.refund", data={"n": 3}),
        ]
    )
    hook.wait_for(lambda: hook.events("/ce-source"), what="the CloudEvent from /eu")
    grid.wait_idle()
    assert [e["data"]["n"] for e in hook.events("/ce-source")] == [1]


def event(**data) -> dict:
    return {
        "id": "1",
        "subject": "/s/a.txt",
        "eventType": "T",
        "eventTime": "2026-01-01T00:00:00Z",
        "data": data,
    }


def flt(operator: str, key: str, *values, single: bool = False) -> EventFilter:
    spec = {"operatorType": operator, "key": key}
    spec.update({"value": values[0]} if single else {"values": list(values)})
    return EventFilter.parse({"advancedFilters": [spec]})


def test_a_missing_key_fails_positive_operators_and_satisfies_negative_ones():
    e = event(present="x")
    assert not flt("StringIn", "data.absent", "x").matches(e)
    assert not flt("NumberGreaterThan", "data.absent", 1, single=True).matches(e)
    assert not flt("BoolEquals", "data.absent", True, single=True).matches(e)
    assert flt("StringNotIn", "data.absent", "x").matches(e)
    assert flt("NumberNotIn", "data.absent", 1).matches(e)
    is_null = EventFilter.parse(
        {"advancedFilters": [{"operatorType": "IsNullOrUndefined", "key": "data.absent"}]}
    )
    assert is_null.matches(e)


def test_arrays_are_looked_into_only_when_enabled():
    e = event(tags=["red", "blue"])
    spec = {"advancedFilters": [{"operatorType": "StringIn", "key": "data.tags", "values": ["BLUE"]}]}
    assert not EventFilter.parse(spec).matches(e)
    assert EventFilter.parse({**spec, "enableAdvancedFilteringOnArrays": True}).matches(e)


def test_values_of_one_filter_are_ored_and_filters_are_anded():
    both = EventFilter.parse(
        {
            "advancedFilters": [
                {"operatorType": "NumberIn", "key": "data.n", "values": [1, 2]},
                {"operatorType": "StringContains", "key": "subject", "values": ["zzz", "A.T"]},
            ]
        }
    )
    assert both.matches(event(n=2))
    assert not both.matches(event(n=3))


def test_keys_match_envelope_names_without_case_and_ranges_work():
    assert flt("StringIn", "EventType", "t").matches(event())
    assert flt("NumberInRange", "data.n", [1, 5], [10, 20]).matches(event(n=15))
    assert not flt("NumberInRange", "data.n", [1, 5]).matches(event(n=6))
    assert flt("NumberLessThanOrEquals", "data.n", 6, single=True).matches(event(n=6))
    assert flt("StringNotContains", "data.s", "bad").matches(event(s="good"))


@pytest.mark.parametrize(
    "bad",
    [
        {"advancedFilters": [{"operatorType": "StringLike", "key": "data.a", "values": ["x"]}]},
        {"advancedFilters": [{"operatorType": "NumberIn", "key": "data.a", "values": ["one"]}]},
        {"advancedFilters": [{"operatorType": "BoolEquals", "key": "data.a", "value": "yes"}]},
        {"advancedFilters": [{"operatorType": "StringIn", "values": ["x"]}]},
        {"advancedFilters": [{"operatorType": "StringIn", "key": "data.a", "values": ["x" * 513]}]},
        {"advancedFilters": [{"operatorType": "NumberIn", "key": "data.a", "values": list(range(26))}]},
        {"includedEventTypes": "NotAList"},
    ],
)
def test_filters_azure_refuses_are_refused(bad: dict):
    with pytest.raises(InvalidSubscription):
        EventFilter.parse(bad)


def test_subject_filters_case_rules(tmp_path: Path):
    insensitive = EventFilter.parse({"subjectBeginsWith": "/S/", "subjectEndsWith": ".TXT"})
    sensitive = EventFilter.parse({"subjectBeginsWith": "/S/", "isSubjectCaseSensitive": True})
    assert insensitive.matches(event())
    assert not sensitive.matches(event())

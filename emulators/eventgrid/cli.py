"""Manage event subscriptions of a running stand-in from the shell, through its ARM management API:

    python -m emulators.eventgrid subscribe --url http://127.0.0.1:7080 --topic climatelake \\
        --endpoint https://example.test/hook --types Climatelake.Request.Succeeded --name downstream
    python -m emulators.eventgrid list --url http://127.0.0.1:7080 --topic climatelake
    python -m emulators.eventgrid unsubscribe --url http://127.0.0.1:7080 --topic climatelake \\
        --name downstream

``subscribe`` waits for the validation handshake: it exits 1 with Azure's error when the endpoint fails it.
Advanced filters: ``--advanced-filter OPERATOR KEY [VALUE ...]`` (repeatable), e.g.
``--advanced-filter NumberGreaterThan data.row_count 100``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import requests

from emulators.eventgrid.config import DEFAULT_RESOURCE_GROUP, DEFAULT_SUBSCRIPTION_ID
from emulators.eventgrid.filters import OPERATORS, PRESENCE_OPERATORS
from emulators.eventgrid.schemas import SCHEMAS

API_VERSION = "2022-06-15"
COMMANDS = ("subscribe", "unsubscribe", "list")


def subscriptions_url(args: argparse.Namespace) -> str:
    scope = (
        f"{args.url.rstrip('/')}/subscriptions/{args.subscription_id}/resourceGroups/{args.resource_group}"
        "/providers/Microsoft.EventGrid"
    )
    if args.system_topic:
        return f"{scope}/systemTopics/{args.topic}/eventSubscriptions"
    return f"{scope}/topics/{args.topic}/providers/Microsoft.EventGrid/eventSubscriptions"


def _typed(operator: str, raw: str) -> Any:
    if operator.startswith("Number"):
        number = float(raw)
        return int(number) if number.is_integer() and "." not in raw else number
    if operator == "BoolEquals":
        if raw.lower() not in ("true", "false"):
            raise argparse.ArgumentTypeError(f"BoolEquals takes true or false, not {raw!r}")
        return raw.lower() == "true"
    return raw


def advanced_filter(words: list[str]) -> dict[str, Any]:
    operator, key, *values = words
    if operator not in OPERATORS and operator not in PRESENCE_OPERATORS:
        raise argparse.ArgumentTypeError(f"unknown advanced filter operator {operator!r}")
    result: dict[str, Any] = {"operatorType": operator, "key": key}
    if operator in PRESENCE_OPERATORS:
        return result
    if operator in ("NumberInRange", "NumberNotInRange"):
        bounds = [_typed(operator, v) for v in values]
        result["values"] = [bounds[i : i + 2] for i in range(0, len(bounds), 2)]
    elif OPERATORS[operator][2]:
        result["values"] = [_typed(operator, v) for v in values]
    else:
        result["value"] = _typed(operator, values[0])
    return result


def subscription_body(args: argparse.Namespace) -> dict[str, Any]:
    types = [t for chunk in args.types or [] for t in chunk.split(",") if t]
    destination: dict[str, Any] = {"endpointUrl": args.endpoint}
    if args.max_events_per_batch:
        destination["maxEventsPerBatch"] = args.max_events_per_batch
    properties: dict[str, Any] = {
        "destination": {"endpointType": "WebHook", "properties": destination},
        "filter": {
            "includedEventTypes": types or None,
            "subjectBeginsWith": args.subject_begins_with,
            "subjectEndsWith": args.subject_ends_with,
            "isSubjectCaseSensitive": args.case_sensitive_subject,
            "advancedFilters": [advanced_filter(f) for f in args.advanced_filter or []],
        },
        "retryPolicy": {
            "maxDeliveryAttempts": args.max_delivery_attempts,
            "eventTimeToLiveInMinutes": args.event_ttl,
        },
    }
    if args.schema:
        properties["eventDeliverySchema"] = args.schema
    if args.deadletter_container:
        properties["deadLetterDestination"] = {
            "endpointType": "StorageBlob",
            "properties": {"blobContainerName": args.deadletter_container},
        }
    return {"properties": properties}


def _fail(answer: requests.Response) -> int:
    try:
        error = answer.json()["error"]
        print(f"error: {answer.status_code} {error['code']}: {error['message']}", file=sys.stderr)
    except (ValueError, KeyError, TypeError):
        print(f"error: {answer.status_code} {answer.text}", file=sys.stderr)
    return 1


def _describe(sub: dict[str, Any]) -> str:
    props = sub["properties"]
    types = ",".join(props["filter"].get("includedEventTypes") or ["*"])
    endpoint = props["destination"]["properties"]["endpointBaseUrl"]
    return f"{sub['name']}\t{props['provisioningState']}\t{props['eventDeliverySchema']}\t{types}\t{endpoint}"


def run(args: argparse.Namespace) -> int:
    base = subscriptions_url(args)
    params = {"api-version": API_VERSION}
    if args.command == "subscribe":
        answer = requests.put(f"{base}/{args.name}", params=params, json=subscription_body(args), timeout=120)
        if answer.status_code not in (200, 201):
            return _fail(answer)
        print(json.dumps(answer.json(), indent=2) if args.json else _describe(answer.json()))
        return 0
    if args.command == "unsubscribe":
        answer = requests.delete(f"{base}/{args.name}", params=params, timeout=60)
        if answer.status_code not in (200, 204):
            return _fail(answer)
        print(f"{args.name}\t{'deleted' if answer.status_code == 200 else 'did not exist'}")
        return 0
    answer = requests.get(base, params=params, timeout=60)
    if answer.status_code != 200:
        return _fail(answer)
    subs = answer.json()["value"]
    print(json.dumps(subs, indent=2) if args.json else "\n".join(_describe(s) for s in subs))
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m emulators.eventgrid", description=__doc__.splitlines()[0])
    commands = root.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        cmd = commands.add_parser(name)
        cmd.add_argument("--url", required=True, help="the stand-in, e.g. http://127.0.0.1:7080")
        cmd.add_argument("--topic", required=True)
        cmd.add_argument("--system-topic", action="store_true", help="the topic is a system topic")
        cmd.add_argument("--subscription-id", default=DEFAULT_SUBSCRIPTION_ID)
        cmd.add_argument("--resource-group", default=DEFAULT_RESOURCE_GROUP)
        cmd.add_argument("--json", action="store_true", help="print ARM's JSON")
        if name in ("subscribe", "unsubscribe"):
            cmd.add_argument("--name", required=True)
        if name != "subscribe":
            continue
        cmd.add_argument("--endpoint", required=True, help="the webhook URL")
        cmd.add_argument("--types", nargs="+", help="event types (space or comma separated); default all")
        cmd.add_argument("--subject-begins-with", default="")
        cmd.add_argument("--subject-ends-with", default="")
        cmd.add_argument("--case-sensitive-subject", action="store_true")
        cmd.add_argument("--advanced-filter", nargs="+", action="append", metavar="OPERATOR KEY VALUE")
        cmd.add_argument("--schema", choices=SCHEMAS, help="eventDeliverySchema (default: the topic's input)")
        cmd.add_argument("--max-delivery-attempts", type=int, default=30)
        cmd.add_argument("--event-ttl", type=int, default=1440, help="minutes")
        cmd.add_argument("--deadletter-container")
        cmd.add_argument("--max-events-per-batch", type=int)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return run(args)
    except requests.RequestException as exc:
        print(f"error: cannot reach the stand-in at {args.url}: {exc}", file=sys.stderr)
        return 1

"""``host.json`` settings the stand-in honours, parsed once at start-up."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d+))?$")


def parse_timespan(text: str) -> float | None:
    """``[d.]hh:mm:ss[.fff]`` (.NET TimeSpan, as host.json writes it) → seconds; ``-1`` → None (no limit)."""
    text = str(text).strip()
    if text == "-1":
        return None
    match = _TIMESPAN.match(text)
    if not match:
        raise ValueError(f"not a TimeSpan (hh:mm:ss): {text!r}")
    days, hours, minutes, seconds, fraction = match.groups()
    total = int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + int(seconds)
    return total + (float(f"0.{fraction}") if fraction else 0.0)


@dataclass(frozen=True)
class HostConfig:
    function_timeout: float | None = 300.0  # the Consumption plan's default
    max_dequeue_count: int = 5
    visibility_timeout: float = 0.0
    max_polling_interval: float = 2.0  # Azure's default is 1 min; shorter locally (see LIMITATIONS)
    message_encoding: str = "base64"
    route_prefix: str = "api"

    @classmethod
    def load(cls, app_dir: Path) -> HostConfig:
        path = app_dir / "host.json"
        data = json.loads(path.read_text()) if path.is_file() else {}
        queues = data.get("extensions", {}).get("queues", {})
        http = data.get("extensions", {}).get("http", {})
        timeout = data.get("functionTimeout")
        return cls(
            function_timeout=parse_timespan(timeout) if timeout is not None else cls.function_timeout,
            max_dequeue_count=int(queues.get("maxDequeueCount", cls.max_dequeue_count)),
            visibility_timeout=parse_timespan(queues.get("visibilityTimeout", "00:00:00")) or 0.0,
            max_polling_interval=(
                parse_timespan(queues["maxPollingInterval"]) or cls.max_polling_interval
                if "maxPollingInterval" in queues
                else cls.max_polling_interval
            ),
            message_encoding=str(queues.get("messageEncoding", "base64")).lower(),
            route_prefix=str(http.get("routePrefix", "api")).strip("/"),
        )

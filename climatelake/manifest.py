"""The request manifest: the JSON document that turns an HTTP request (or an upload) into a job run.

Why a versioned JSON Schema: manifests also arrive by direct upload into storage, from clients we do not
control, so the function must judge them by a published contract, not by what the gateway happens to send.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

from jsonschema import Draft202012Validator, FormatChecker

METRICS = ("temp", "wind_speed", "precipitation", "humidity", "description")
#: The longest date range one request may ask for (inclusive days). An assumption; see README.
MAX_RANGE_DAYS = 3660
REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")


class ManifestError(ValueError):
    """A manifest that cannot run; ``reason`` is safe to show to users and to put in events."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@cache
def _validator() -> Draft202012Validator:
    schema = json.loads(resources.files("climatelake").joinpath("schemas/manifest.v1.json").read_text())
    return Draft202012Validator(schema, format_checker=FormatChecker())


def new_request_id(now: dt.datetime | None = None) -> str:
    """A request id that sorts by creation time (UTC, to the millisecond) and cannot collide in practice.

    Time-sortable names let a storage listing find new manifests in order; Azurite has no change feed.
    """
    now = now or dt.datetime.now(dt.UTC)
    return now.strftime("%Y%m%dT%H%M%S") + f"{now.microsecond // 1000:03d}Z-" + secrets.token_hex(6)


@dataclass(frozen=True)
class Manifest:
    request_id: str
    city_ids: tuple[int, ...]
    start_date: dt.date
    end_date: dt.date
    metrics: tuple[str, ...] = METRICS
    granularity: str = "hourly"
    submitted_by: str = ""
    submitted_at: str = field(default="")

    def to_json(self) -> bytes:
        doc = {
            "manifest_version": 1,
            "request_id": self.request_id,
            "city_ids": list(self.city_ids),
            "start_date": self.start_date.isoformat(),
            "end_date": self.end_date.isoformat(),
            "metrics": list(self.metrics),
            "granularity": self.granularity,
        }
        if self.submitted_by:
            doc["submitted_by"] = self.submitted_by
        if self.submitted_at:
            doc["submitted_at"] = self.submitted_at
        return json.dumps(doc, indent=2).encode()

    def job_parameters(self) -> dict[str, str]:
        """The Databricks job parameters (strings, as the Jobs API carries them)."""
        return {
            "request_id": self.request_id,
            "city_ids": ",".join(str(c) for c in self.city_ids),
            "start_date": self.start_date.isoformat(),
            "end_date": self.end_date.isoformat(),
            "metrics": ",".join(self.metrics),
            "granularity": self.granularity,
        }


def request_id_from_blob_name(blob_name: str) -> str:
    stem = blob_name.rsplit("/", 1)[-1]
    return stem[:-5] if stem.endswith(".json") else stem


def parse_manifest(data: bytes, blob_name: str = "") -> Manifest:
    """Parse and validate a manifest; raise :class:`ManifestError` with a user-facing reason."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"manifest is not valid JSON: {exc}") from None
    errors = sorted(_validator().iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(root)"
        raise ManifestError(f"manifest does not match schema v1 at {where}: {first.message}")
    start = dt.date.fromisoformat(doc["start_date"])
    end = dt.date.fromisoformat(doc["end_date"])
    if end < start:
        raise ManifestError("end_date is before start_date")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise ManifestError(f"date range is longer than {MAX_RANGE_DAYS} days")
    request_id = doc.get("request_id") or request_id_from_blob_name(blob_name)
    if not REQUEST_ID_PATTERN.match(request_id):
        raise ManifestError(
            "request_id (or the blob name it defaults to) must match " + REQUEST_ID_PATTERN.pattern
        )
    return Manifest(
        request_id=request_id,
        city_ids=tuple(int(c) for c in doc["city_ids"]),  # JSON Schema counts 7.0 as an integer
        start_date=start,
        end_date=end,
        metrics=tuple(doc.get("metrics") or METRICS),
        granularity=doc.get("granularity", "hourly"),
        submitted_by=doc.get("submitted_by", ""),
        submitted_at=doc.get("submitted_at", ""),
    )

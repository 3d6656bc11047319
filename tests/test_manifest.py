"""The manifest contract (JSON Schema v1) and the request id format."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from climatelake.manifest import Manifest, ManifestError, new_request_id, parse_manifest


def doc(**overrides) -> bytes:
    base = {"manifest_version": 1, "city_ids": [1, 2], "start_date": "2024-01-01", "end_date": "2024-01-31"}
    return json.dumps({**base, **overrides}).encode()


def test_a_valid_manifest_parses_with_defaults():
    manifest = parse_manifest(doc(), "manifests/abc-1.json")
    assert manifest.request_id == "abc-1"  # from the blob name when the document has none
    assert manifest.city_ids == (1, 2)
    assert manifest.metrics == ("temp", "wind_speed", "precipitation", "humidity", "description")
    assert manifest.job_parameters() == {
        "request_id": "abc-1",
        "city_ids": "1,2",
        "start_date": "2024-01-01",
        "end_date": "2024-01-31",
        "metrics": "temp,wind_speed,precipitation,humidity,description",
        "granularity": "hourly",
    }


def test_round_trip_through_json():
    manifest = Manifest("r1", (3,), dt.date(2024, 2, 1), dt.date(2024, 2, 2), ("temp",), submitted_by="k")
    assert parse_manifest(manifest.to_json()) == manifest


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"{", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (doc(city_ids=[]), "city_ids"),
        (doc(city_ids=[0]), "city_ids/0"),
        (doc(city_ids=["1"]), "city_ids/0"),
        (doc(start_date="2024-13-01"), "start_date"),
        (doc(end_date="2023-12-31"), "end_date is before start_date"),
        (doc(start_date="2000-01-01", end_date="2024-01-01"), "longer than"),
        (doc(metrics=["pressure"]), "metrics/0"),
        (doc(manifest_version=2), "manifest_version"),
        (doc(extra=1), "Additional properties"),
        (doc(request_id="../escape"), "request_id"),
    ],
)
def test_invalid_manifests_say_why(data: bytes, reason: str):
    with pytest.raises(ManifestError) as error:
        parse_manifest(data, "x.json")
    assert reason in error.value.reason


def test_request_ids_sort_by_time_and_are_unique():
    earlier = new_request_id(dt.datetime(2026, 1, 1, 0, 0, 0, 1000, tzinfo=dt.UTC))
    later = new_request_id(dt.datetime(2026, 1, 1, 0, 0, 0, 2000, tzinfo=dt.UTC))
    assert earlier < later and earlier.startswith("20260101T000000001Z-")
    assert len({new_request_id() for _ in range(1000)}) == 1000

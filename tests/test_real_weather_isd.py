"""Real NOAA ISD-Lite observations (tests/fixtures/isd_lite, from PyPI diyepw) through the whole path —
raw → bronze → silver → gold → the gateway's hourly and daily answers — against an oracle computed in
plain Python straight from the ISD-Lite files (whitespace-split fields, -9999 skipped), not from the
converter's output: row counts, daily mean/min/max, monthly precipitation totals to 0.01, humidity decimals
unchanged, missing-measure counts.

Real data has gaps (hours with no temperature, stations without hourly rain): exactly what the generator's
data never had, and what made whole rows disappear before (issue 14)."""

from __future__ import annotations

import datetime as dt
import gzip
import math
import statistics
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from climatelake.bootstrap import REGISTRY_BLOB, bootstrap, run_job, upload_weather_files
from climatelake.keys import ApiKeyStore
from climatelake.lake import storage_options
from climatelake.sources import isd_lite, rows_to_csv
from climatelake.storage import blob_service
from emulators.stack import Stack, wait_until
from flask_gateway import create_app

pytestmark = pytest.mark.stack

FIXTURES = Path(__file__).parent / "fixtures" / "isd_lite"
STATIONS = {  # city id → (file, first day, last day): a quarter of each station-year
    101: ("725300-94846-2017.gz", dt.date(2017, 1, 1), dt.date(2017, 3, 31)),
    102: ("725957-24215-2017.gz", dt.date(2017, 6, 1), dt.date(2017, 8, 31)),
    103: ("702910-26412-2019.gz", dt.date(2019, 10, 1), dt.date(2019, 12, 31)),
}
MISSING = -9999


def _humidity(temp: float, dew: float) -> float:
    """RH from T and Td, the Magnus form with Alduchov–Eskridge constants (as the reader documents)."""

    def es(x: float) -> float:
        return 6.1094 * math.exp(17.625 * x / (x + 243.04))

    return min(round(100 * es(dew) / es(temp), 1), 100.0)


def oracle_hours(city_id: int) -> dict[tuple[str, int], dict]:
    """(date, hour) → the measures, straight from the ISD-Lite lines; None where the station had none."""
    name, first, last = STATIONS[city_id]
    hours = {}
    for line in gzip.decompress((FIXTURES / name).read_bytes()).decode().splitlines():
        year, month, day, hour, temp, dew, _slp, _wdir, wind, sky, precip, _p6 = map(int, line.split())
        date = dt.date(year, month, day)
        if not first <= date <= last:
            continue
        t = None if temp == MISSING else temp / 10
        d = None if dew == MISSING else dew / 10
        p = None if precip == MISSING else max(precip, 0) / 10  # trace (-1) → 0.0
        described = (p is not None and p > 0) or sky != MISSING
        row = {
            "temp": t,
            "wind_speed": None if wind == MISSING else wind / 10,
            "precipitation": p,
            "humidity": _humidity(t, d) if t is not None and d is not None else None,
            "described": described,
        }
        if any(v is not None for k, v in row.items() if k != "described") or described:
            hours[(date.isoformat(), hour)] = row
    return hours


def oracle_daily(hours: dict[tuple[str, int], dict]) -> dict[str, dict]:
    days: dict[str, list[dict]] = defaultdict(list)
    for (date, _), row in hours.items():
        days[date].append(row)
    out = {}
    for date, rows in days.items():
        seen = {
            m: [r[m] for r in rows if r[m] is not None]
            for m in ("temp", "wind_speed", "precipitation", "humidity")
        }
        out[date] = {
            "temp_min": min(seen["temp"], default=None),
            "temp_max": max(seen["temp"], default=None),
            "temp_mean": statistics.fmean(seen["temp"]) if seen["temp"] else None,
            "precipitation_sum": sum(seen["precipitation"]) if seen["precipitation"] else None,
            "humidity_mean": statistics.fmean(seen["humidity"]) if seen["humidity"] else None,
            "wind_speed_max": max(seen["wind_speed"], default=None),
            "hours_observed": len(rows),
            **{f"{m}_hours_observed": len(v) for m, v in seen.items()},
            "description_hours_observed": sum(r["described"] for r in rows),
        }
    return out


@dataclass
class RealPipeline:
    stack: Stack
    spark: SparkSession
    client: object
    key: str


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealPipeline]:
    stack = Stack(Path(tmp_path_factory.mktemp("real_isd")), in_memory=True)
    try:
        stack.start(only=("azurite", "sail", "workspace"))
        settings, w = stack.settings(), stack.workspace_client()
        bootstrap(settings, w, [1], dt.date(2024, 1, 1), dt.date(2024, 1, 1))
        files = {}
        for city, (name, first, last) in STATIONS.items():
            rows = isd_lite.convert(FIXTURES / name, city, start=first, end=last)
            files[f"city={city}/noaa-isd_{name.removesuffix('.gz')}.csv"] = rows_to_csv(rows)
        upload_weather_files(settings, files)
        run_job(w, settings.ingest_job_name)
        spark = SparkSession.builder.remote(f"sc://127.0.0.1:{stack.ports['sail']}").create()
        with pytest.MonkeyPatch.context() as patch:
            for name, value in stack.env.items():
                patch.setenv(name, value)
            app = create_app(settings, TESTING=True)
            key, _ = ApiKeyStore(stack.connection_string).create("reader", "real data test")
            yield RealPipeline(stack, spark, app.test_client(), key)
        spark.stop()
    finally:
        stack.stop()


def _get(real: RealPipeline, path: str, city: int) -> list[dict]:
    _, first, last = STATIONS[city]
    answer = real.client.get(
        path,
        query_string={"city_id": city, "start_date": first.isoformat(), "end_date": last.isoformat()},
        headers={"Authorization": f"Bearer {real.key}"},
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()["rows"]


@pytest.mark.parametrize("city", sorted(STATIONS))
def test_silver_keeps_every_observed_hour_with_its_gaps(real: RealPipeline, city: int):
    want = oracle_hours(city)
    got = {
        (r["date"].isoformat(), r["hour"]): r
        for r in real.spark.table("climatelake.silver.weather_hourly").where(f"city_id = {city}").collect()
    }
    assert len(got) == len(want)
    missing_temps = sum(r["temp"] is None for r in want.values())
    assert sum(r["temp"] is None for r in got.values()) == missing_temps
    for key, row in want.items():
        silver = got[key]
        for measure in ("temp", "wind_speed", "precipitation", "humidity"):
            assert silver[measure] == row[measure], (key, measure)  # decimals exactly as computed
            assert (measure in silver["missing_measures"]) == (row[measure] is None), (key, measure)
        assert (silver["description"] is not None) == row["described"], key


def test_real_files_have_gaps_worth_testing():
    """The fixtures are only a test of missing values if they have them."""
    gaps = [r for city in STATIONS for r in oracle_hours(city).values() if None in r.values()]
    assert len(gaps) > 100


@pytest.mark.parametrize("city", sorted(STATIONS))
def test_gold_and_the_gateway_daily_match_the_oracle(real: RealPipeline, city: int):
    want = oracle_daily(oracle_hours(city))
    gold = {
        r["date"].isoformat(): r.asDict()
        for r in real.spark.table("climatelake.gold.weather_daily").where(f"city_id = {city}").collect()
    }
    gateway = {r["date"]: r for r in _get(real, "/v1/weather/daily", city)}
    assert set(gold) == set(gateway) == set(want)
    for date, expected in want.items():
        for column, value in expected.items():
            for source, got in (("gold", gold[date]), ("gateway", gateway[date])):
                if isinstance(value, float):
                    assert got[column] == pytest.approx(value, abs=0.0051), (source, date, column)
                else:
                    assert got[column] == value, (source, date, column)


@pytest.mark.parametrize("city", sorted(STATIONS))
def test_monthly_precipitation_totals_match_to_a_hundredth(real: RealPipeline, city: int):
    want: dict[str, float] = defaultdict(float)
    for (date, _), row in oracle_hours(city).items():
        if row["precipitation"] is not None:
            want[date[:7]] += row["precipitation"]
    got: dict[str, float] = defaultdict(float)
    for r in real.spark.table("climatelake.gold.weather_daily").where(f"city_id = {city}").collect():
        if r["precipitation_sum"] is not None:
            got[r["date"].isoformat()[:7]] += r["precipitation_sum"]
    assert set(got) == set(want)
    for month, total in want.items():
        assert got[month] == pytest.approx(total, abs=0.01), month


def test_gateway_hourly_keeps_humidity_decimals_and_gaps(real: RealPipeline):
    city = 101
    want = oracle_hours(city)
    rows = _get(real, "/v1/weather/hourly", city)
    assert len(rows) == len(want)
    for row in rows:
        date, hour = row["time"][:10], int(row["time"][11:13])
        assert row["humidity"] == want[(date, hour)]["humidity"]
        assert row["temp"] == want[(date, hour)]["temp"]
    assert any(r["humidity"] is not None and r["humidity"] != round(r["humidity"]) for r in rows)


def _cities(real: RealPipeline) -> dict[int, dict]:
    answer = real.client.get("/v1/cities", headers={"Authorization": f"Bearer {real.key}"})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return {c["city_id"]: c for c in answer.get_json()["cities"]}


def test_cities_are_named_from_the_catalog_registry_and_follow_its_file(real: RealPipeline):
    """The registry is a Unity Catalog table (gold.cities, published by the ingest job from the file in
    storage); /v1/cities names real cities from it. A re-run with the same file writes no new version; an
    edited file is published by the next run. Runs last: it edits the module's registry."""
    settings, w = real.stack.settings(), real.stack.workspace_client()
    table = w.tables.get(settings.cities_table_name)
    registry = {r["city_id"]: r for r in real.spark.table(settings.cities_table_name).collect()}
    assert registry[101]["isd_station"] == "725300-94846"
    assert registry[103]["time_zone"] == "America/Anchorage"
    chicago = _cities(real)[101]
    assert (chicago["name"], chicago["country"], chicago["lat"], chicago["lon"]) == (
        "Chicago O'Hare",
        "US",
        41.983,
        -87.917,
    )
    assert "name" not in _cities(real)[1]  # a generated city is not in the registry

    def version() -> int:
        return DeltaTable(table.storage_location, storage_options=storage_options(settings)).version()

    before = version()
    run_job(w, settings.ingest_job_name)
    assert version() == before  # same file, same rows: nothing written

    blob = blob_service(settings).get_blob_client(settings.raw_container, REGISTRY_BLOB)
    edited = blob.download_blob().readall().decode().replace("Chicago O'Hare,", "Chicago O'Hare Intl,")
    blob.upload_blob(edited, overwrite=True)
    run_job(w, settings.ingest_job_name)
    assert version() == before + 1
    wait_until(lambda: _cities(real)[101]["name"] == "Chicago O'Hare Intl", 30, "the edited registry")

"""The weather pipeline jobs (bronze → silver → gold, and request extraction) on a real Sail + workspace
stand-in, checked against an oracle computed independently in plain Python from the very files in the raw
container: dirty rows, 2400-style hours, a later file superseding an earlier one, and files whose header
is not the seed schema."""

from __future__ import annotations

import datetime as dt
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.jobs import RunResultState
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from climatelake import bundle, sample_data
from climatelake.bootstrap import bootstrap, run_job, upload_weather_files
from climatelake.lake import storage_options
from climatelake.settings import Settings
from emulators.stack import Stack, wait_until

pytestmark = pytest.mark.stack

CATALOG = "climatelake"
TABLES = (
    "bronze.ingest_ledger",
    "bronze.weather_hourly_raw",
    "silver.weather_hourly",
    "silver.weather_quarantine",
    "gold.weather_daily",
    "gold.city_coverage",
)


@dataclass
class Pipeline:
    stack: Stack
    settings: Settings
    w: WorkspaceClient
    spark: SparkSession

    def rows(self, table: str, order: str | None = None) -> list[dict]:
        frame = self.spark.table(f"{CATALOG}.{table}")
        return [r.asDict() for r in (frame.orderBy(*order.split(",")) if order else frame).collect()]


def _later_file(rows: list[dict]) -> list[dict]:
    """The same keys with other values: what a corrected re-delivery looks like."""
    return [{**r, "Temp": str(round(float(r["Temp"]) + 1.5, 1)), "Description": "fog"} for r in rows]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    stack = Stack(Path(tmp_path_factory.mktemp("weather_jobs")), in_memory=True)
    try:
        stack.start(only=("azurite", "sail", "workspace"))
        settings, w = stack.settings(), stack.workspace_client()
        bootstrap(settings, w, [1, 2], dt.date(2024, 1, 1), dt.date(2024, 1, 3))
        # Dirty files, the same hours in both hour formats, a file delivered twice, two bad headers.
        files = sample_data.weather_files(
            [11, 12], dt.date(2024, 2, 1), dt.date(2024, 2, 6), 7, 0.15, missing_fraction=0.1
        )
        clean = sample_data.generate_hourly([21], dt.date(2024, 3, 1), dt.date(2024, 3, 2), seed=3)
        files["city=21/hours_2400.csv"] = sample_data.rows_to_csv(
            sample_data.format_row(r, "2400") for r in clean
        )
        files["city=22/hours_0_23.csv"] = sample_data.rows_to_csv(
            {**sample_data.format_row(r), "City_id": "22"} for r in clean
        )
        first = [
            sample_data.format_row(r)
            for r in sample_data.generate_hourly([41], dt.date(2024, 4, 1), dt.date(2024, 4, 1))
        ]
        files["city=41/a_first.csv"] = sample_data.rows_to_csv(first)
        tie = [  # 12 hours of each description: the dominant one is the alphabetically first
            {**r, "Description": ("mist", "clear sky")[r["Hour"] % 2], "Precipitation": 0.0}
            for r in sample_data.generate_hourly([51], dt.date(2024, 5, 1), dt.date(2024, 5, 1))
        ]
        files["city=51/tie.csv"] = sample_data.rows_to_csv(sample_data.format_row(r) for r in tie)
        header = ",".join(sample_data.COLUMNS)
        files["city=61/nasty.csv"] = (  # values that would overflow or break a plain cast
            f"{header}\n"
            "61,2024-01-01,99999999999999999999,1.0,2.0,mist,0.0,90\n"
            "61,2024-01-01,1,1e5,2.0,mist,0.0,99999999999\n"
            "99999999999,2024-02-30,2,abc,-0.0,   ,0.0,50\n"
            "0,2024-01-01,3,1.0,2.0,mist,0.0,50.4\n"
            "61,2024-01-01,300,1.0,2.0,mist,0.0,50.6\n"
            "61,2024-1-1,4,NaN,inf,mist,1e1,50\n"  # forms a cast accepts but the rules do not
            " 61 , 2024-01-02 , 500 , 1.5 ,2.0, Mist , 0.0 , 50 \n"  # spaces around valid values
            "61,0000-01-01,6,1.0,2.0,mist,0.0,50\n"  # a date no Python or pandas date can hold
            "61,2024-01-02,7,1.0,2.0,\t,0.0,50\n"  # trim removes spaces only: a tab is a description
        ).encode()
        files["city=62/gaps.csv"] = (  # real-data gaps: empty measures are missing, not invalid
            f"{header}\n"
            "62,2024-01-05,0,1.5,,mist,,50.8\n"  # no wind, no rain: kept, 2 missing
            "62,2024-01-05,1,,,,,\n"  # no measure at all: rejected
            "62,2024-01-05,2,,3.0,  ,0.2,\n"  # only wind and rain: kept
            "62,2024-01-05,3,2.5,1.0,fog,,abc\n"  # a missing one and a wrong one: rejected (bad_humidity)
            ",2024-01-05,4,2.5,1.0,fog,0.0,40\n"  # no key: rejected
        ).encode()
        files["city=31/extra_column.csv"] = (
            f"{header},Pressure\n31,2024-01-01,0,1.0,2.0,mist,0.0,90,1013\n".encode()
        )
        files["city=32/missing_column.csv"] = (
            ",".join(sample_data.COLUMNS[:-1]) + "\n32,2024-01-01,0,1.0,2.0,mist,0.0\n"
        ).encode()
        upload_weather_files(settings, files)
        raw = BlobServiceClient.from_connection_string(settings.storage_connection_string)
        first_modified = (
            raw.get_blob_client(settings.raw_container, "weather/city=41/a_first.csv").get_blob_properties()
        ).last_modified
        wait_until(  # modification times have 1-second resolution: the re-delivery must be a second later
            lambda: dt.datetime.now(dt.UTC).replace(microsecond=0) > first_modified, 5, "the next second"
        )
        upload_weather_files(settings, {"city=41/b_later.csv": sample_data.rows_to_csv(_later_file(first))})
        run_job(w, settings.ingest_job_name)
        spark = SparkSession.builder.remote(f"sc://127.0.0.1:{stack.ports['sail']}").create()
        yield Pipeline(stack, settings, w, spark)
        spark.stop()
    finally:
        stack.stop()


# --- the oracle: plain Python over the raw files ----------------------------------------------------------

_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def _blank(value: str | None) -> bool:
    return value is None or value.strip(" ") == ""


def _hour(text: str) -> int | None:
    if not re.fullmatch(r"[0-9]+", text):
        return None
    value = int(text)
    if value <= 23:
        return value
    return value // 100 if value % 100 == 0 and value <= 2300 else None


def _date(text: str) -> str | None:
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        return None
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        return None


MEASURES = ("Temp", "Wind_speed", "Description", "Precipitation", "Humidity")


def oracle_reason(raw: dict[str, str]) -> str | None:
    """The documented rules (databricks/src/weather_quality.py), written again independently: a missing
    key is a reason, a missing measure is not; a present, wrong measure is; no measure at all is."""
    reasons: list[str] = []

    def number(field: str, code: str) -> float | None:
        value = raw.get(field)
        if _blank(value):
            return None
        if not _NUMBER.fullmatch(value.strip(" ")):
            reasons.append(f"bad_{code}")
            return None
        return float(value)

    city = raw.get("City_id")
    if _blank(city):
        reasons.append("missing_city_id")
    elif not re.fullmatch(r"[0-9]+", city.strip(" ")) or not 1 <= int(city) <= 2**31 - 1:
        reasons.append("bad_city_id")
    for field, code, parse in (("Date", "date", _date), ("Hour", "hour", _hour)):
        if _blank(raw.get(field)):
            reasons.append(f"missing_{code}")
        elif parse(raw[field].strip(" ")) is None:
            reasons.append(f"bad_{code}")
    temp = number("Temp", "temp")
    if temp is not None and not -90 <= temp <= 60:
        reasons.append("temp_out_of_range")
    wind = number("Wind_speed", "wind_speed")
    if wind is not None and wind < 0:
        reasons.append("wind_speed_negative")
    precipitation = number("Precipitation", "precipitation")
    if precipitation is not None and precipitation < 0:
        reasons.append("precipitation_negative")
    humidity = number("Humidity", "humidity")
    if humidity is not None and not 0 <= humidity <= 100:
        reasons.append("humidity_out_of_range")
    if all(_blank(raw.get(m)) for m in MEASURES):
        reasons.append("no_measures")
    return ";".join(reasons) or None


def oracle_row(raw: dict[str, str | None]) -> dict:
    """A valid raw row as silver holds it: blank measures None and listed in missing_measures."""

    def number(field: str) -> float | None:
        return None if _blank(raw[field]) else float(raw[field])

    return {
        "city_id": int(raw["City_id"]),
        "date": _date(raw["Date"].strip(" ")),
        "hour": _hour(raw["Hour"].strip(" ")),
        "temp": number("Temp"),
        "wind_speed": number("Wind_speed"),
        "description": None if _blank(raw["Description"]) else raw["Description"].strip(" ").lower(),
        "precipitation": number("Precipitation"),
        "humidity": number("Humidity"),  # decimals kept, as they arrived
        "missing_measures": [m.lower() for m in MEASURES if _blank(raw[m])],
    }


@dataclass
class Oracle:
    silver: dict[tuple, dict]
    quarantine: Counter  # (source_file, reason, raw values) → count
    rejected: dict[str, str]  # path → reason
    bronze_rows: int


def compute_oracle(settings: Settings) -> Oracle:
    """Every raw file, oldest first (then by path, then row): valid rows overwrite by key, so the last one
    wins; a row that loses to a later one in the same file set is quarantined as duplicate_superseded."""
    container = BlobServiceClient.from_connection_string(
        settings.storage_connection_string
    ).get_container_client(settings.raw_container)
    blobs = sorted(
        container.list_blobs(name_starts_with="weather/"),
        key=lambda b: (b.last_modified.replace(microsecond=0), b.name),
    )
    winners: dict[tuple, tuple[dict, dict]] = {}
    quarantine: Counter = Counter()
    rejected: dict[str, str] = {}
    bronze_rows = 0
    for blob in blobs:
        header, rows = sample_data.csv_to_text_rows(container.download_blob(blob.name).readall())
        if tuple(header) != sample_data.COLUMNS:
            rejected[blob.name] = ",".join(header)
            continue
        bronze_rows += len(rows)
        for raw in rows:
            raw = {k: (None if v == "" else v) for k, v in raw.items()}
            values = tuple(raw[c] for c in sample_data.COLUMNS)
            reason = oracle_reason(raw)
            if reason:
                quarantine[(blob.name, reason, values)] += 1
                continue
            row = oracle_row(raw)
            key = (row["city_id"], row["date"], row["hour"])
            if key in winners:
                loser_file, loser_values = winners[key][1]["file"], winners[key][1]["values"]
                quarantine[(loser_file, "duplicate_superseded", loser_values)] += 1
            winners[key] = (row, {"file": blob.name, "values": values})
    return Oracle({k: v[0] for k, v in winners.items()}, quarantine, rejected, bronze_rows)


def oracle_daily(silver: dict[tuple, dict]) -> dict[tuple, dict]:
    """Each measure over the hours where it exists; a measure with no reading that day is None."""
    days: dict[tuple, list[dict]] = defaultdict(list)
    for row in silver.values():
        days[(row["city_id"], row["date"])].append(row)
    daily = {}
    for key, rows in days.items():
        seen = {m: [r[m] for r in rows if r[m] is not None] for m in (m.lower() for m in MEASURES)}
        counts = Counter(seen["description"])
        top = max(counts.values(), default=0)
        daily[key] = {
            "temp_min": min(seen["temp"], default=None),
            "temp_max": max(seen["temp"], default=None),
            "temp_mean": statistics.fmean(seen["temp"]) if seen["temp"] else None,
            "precipitation_sum": sum(seen["precipitation"]) if seen["precipitation"] else None,
            "humidity_mean": statistics.fmean(seen["humidity"]) if seen["humidity"] else None,
            "wind_speed_max": max(seen["wind_speed"], default=None),
            "description": min((d for d, n in counts.items() if n == top), default=None),
            "hours_observed": len(rows),
            **{f"{m}_hours_observed": len(values) for m, values in seen.items()},
        }
    return daily


def _normalise(row: dict) -> dict:
    return {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in row.items()}


@pytest.fixture(scope="module")
def oracle(pipeline: Pipeline) -> Oracle:
    return compute_oracle(pipeline.settings)


# --- tests --------------------------------------------------------------------------------------------------


def test_dirty_rows_are_deterministic_and_documented():
    rows = sample_data.generate_hourly([5], dt.date(2024, 1, 1), dt.date(2024, 1, 10), seed=1)
    once = sample_data.dirty_rows(rows, 0.3, seed=9)
    assert once == sample_data.dirty_rows(rows, 0.3, seed=9)
    assert once != sample_data.dirty_rows(rows, 0.3, seed=10)
    assert len(once) > len(rows)  # duplicates were added
    reasons = Counter(oracle_reason(r) for r in once)
    assert {
        "bad_hour",
        "temp_out_of_range",
        "humidity_out_of_range",
        "wind_speed_negative",
        "precipitation_negative",
    } <= set(reasons)
    assert any(r["Description"] != r["Description"].strip() for r in once)  # messy, still valid


def test_silver_matches_the_oracle(pipeline: Pipeline, oracle: Oracle):
    silver = [_normalise(r) for r in pipeline.rows("silver.weather_hourly", "city_id,date,hour")]
    expected = [oracle.silver[k] for k in sorted(oracle.silver)]
    assert len(silver) == len(expected)
    assert silver == expected


def test_every_bronze_row_is_in_silver_or_quarantine(pipeline: Pipeline, oracle: Oracle):
    assert len(pipeline.rows("bronze.weather_hourly_raw")) == oracle.bronze_rows
    quarantine = pipeline.rows("silver.weather_quarantine")
    got = Counter(
        (r["source_file"], r["reason"], tuple(r[c.lower()] for c in sample_data.COLUMNS)) for r in quarantine
    )
    assert got == oracle.quarantine
    assert oracle.bronze_rows == len(oracle.silver) + sum(oracle.quarantine.values())
    reasons = {reason for (_, reason, _) in oracle.quarantine}
    assert {"bad_hour", "duplicate_superseded", "temp_out_of_range"} <= reasons


def test_missing_measures_are_null_not_invalid(pipeline: Pipeline, oracle: Oracle):
    rows = {r["hour"]: r for r in pipeline.rows("silver.weather_hourly") if r["city_id"] == 62}
    assert set(rows) == {0, 2}
    assert (rows[0]["wind_speed"], rows[0]["precipitation"], rows[0]["humidity"]) == (None, None, 50.8)
    assert rows[0]["missing_measures"] == ["wind_speed", "precipitation"]
    assert rows[2]["missing_measures"] == ["temp", "description", "humidity"]
    reasons = {
        r["hour"]: r["reason"]
        for r in pipeline.rows("silver.weather_quarantine")
        if r["file_id"] and "62" in r["source_file"]
    }
    assert reasons == {"1": "no_measures", "3": "bad_humidity", "4": "missing_city_id"}
    partly = [r for r in oracle.silver.values() if r["city_id"] in (11, 12) and r["missing_measures"]]
    assert len(partly) > 10  # the generator's gaps reached silver, rows kept


def test_later_file_wins(pipeline: Pipeline):
    rows = [r for r in pipeline.rows("silver.weather_hourly") if r["city_id"] == 41]
    assert len(rows) == 24 and {r["description"] for r in rows} == {"fog"}


def test_2400_and_0_23_hours_give_the_same_silver_rows(pipeline: Pipeline):
    silver = pipeline.rows("silver.weather_hourly", "city_id,date,hour")
    by_city = {c: [{**r, "city_id": 0} for r in silver if r["city_id"] == c] for c in (21, 22)}
    assert len(by_city[21]) == 48
    assert by_city[21] == by_city[22]


def test_files_with_another_header_are_rejected_not_column_lost(pipeline: Pipeline, oracle: Oracle):
    ledger = {r["path"]: r for r in pipeline.rows("bronze.ingest_ledger")}
    extra, missing = ledger["weather/city=31/extra_column.csv"], ledger["weather/city=32/missing_column.csv"]
    assert extra["status"] == missing["status"] == "rejected"
    assert "extra columns ['Pressure']" in extra["reason"]
    assert "missing columns ['Humidity']" in missing["reason"]
    assert set(oracle.rejected) == {p for p, r in ledger.items() if r["status"] == "rejected"}
    bronze_files = {r["source_file"] for r in pipeline.rows("bronze.weather_hourly_raw")}
    assert not bronze_files & set(oracle.rejected)
    assert not [r for r in pipeline.rows("silver.weather_hourly") if r["city_id"] in (31, 32)]


def test_gold_daily_matches_the_oracle(pipeline: Pipeline, oracle: Oracle):
    expected = oracle_daily(oracle.silver)
    got = {(r["city_id"], r["date"].isoformat()): r for r in pipeline.rows("gold.weather_daily")}
    assert set(got) == set(expected)
    for key, want in expected.items():
        row = got[key]
        for column, value in want.items():
            if isinstance(value, float):
                assert row[column] == pytest.approx(value, abs=0.0051), (key, column)
            else:
                assert row[column] == value, (key, column)


def test_dominant_description_ties_go_to_the_alphabetically_first(pipeline: Pipeline):
    (day,) = [r for r in pipeline.rows("gold.weather_daily") if r["city_id"] == 51]
    assert day["description"] == "clear sky"


def test_city_coverage_matches_the_oracle(pipeline: Pipeline, oracle: Oracle):
    dates: dict[int, list[str]] = defaultdict(list)
    for city, date, _ in oracle.silver:
        dates[city].append(date)
    got = {r["city_id"]: r for r in pipeline.rows("gold.city_coverage")}
    assert set(got) == set(dates)
    for city, days in dates.items():
        first, last = dt.date.fromisoformat(min(days)), dt.date.fromisoformat(max(days))
        span = (last - first).days + 1
        row = got[city]
        assert (row["first_date"], row["last_date"]) == (first, last)
        assert row["days_observed"] == len(set(days))
        assert row["span_days"] == span
        assert row["hours_observed"] == len(days)
        assert row["completeness"] == pytest.approx(len(days) / (span * 24), abs=0.00006)


def _delta_versions(pipeline: Pipeline) -> dict[str, int]:
    """Each table's Delta version, read by the deltalake library from the location Unity Catalog gives."""
    options = storage_options(pipeline.settings)
    return {
        t: DeltaTable(
            pipeline.w.tables.get(f"{CATALOG}.{t}").storage_location, storage_options=options
        ).version()
        for t in (*TABLES, "gold.build_log")
    }


def test_rerunning_ingest_changes_nothing(pipeline: Pipeline):
    before = {t: sorted(map(repr, pipeline.rows(t))) for t in TABLES}
    versions = _delta_versions(pipeline)
    run = run_job(pipeline.w, pipeline.settings.ingest_job_name)
    assert run.state.result_state == RunResultState.SUCCESS
    after = {t: sorted(map(repr, pipeline.rows(t))) for t in TABLES}
    for table in TABLES:
        assert after[table] == before[table], table
    assert _delta_versions(pipeline) == versions  # not even a new version of the same rows
    builds = pipeline.rows("gold.build_log", "built_at")
    silver = DeltaTable(
        pipeline.w.tables.get(f"{CATALOG}.silver.weather_hourly").storage_location,
        storage_options=storage_options(pipeline.settings),
    )
    assert builds[-1]["silver_version"] == silver.version()  # gold was built from the silver it skips on


def _request_rows(pipeline: Pipeline, request_id: str) -> list[dict]:
    return pipeline.rows(f"results.request_{request_id}", "city_id,date,hour")


def test_concurrent_and_repeated_runs_of_one_request_give_one_result(pipeline: Pipeline, oracle: Oracle):
    params = {
        "request_id": "concurrent_1",
        "city_ids": "11,21",
        "start_date": "2024-02-02",
        "end_date": "2024-03-01",
        "metrics": "temp,humidity,description",
    }
    job_id = bundle.job_id_by_name(pipeline.w, pipeline.settings.weather_job_name)
    waiters = [pipeline.w.jobs.run_now(job_id, job_parameters=params) for _ in range(2)]
    runs = [waiter.result(timeout=dt.timedelta(minutes=5)) for waiter in waiters]
    assert [r.state.result_state for r in runs] == [RunResultState.SUCCESS] * 2, [r.state for r in runs]
    expected = [
        {"city_id": c, "date": d, "hour": h, **{m: v[m] for m in ("temp", "humidity", "description")}}
        for (c, d, h), v in sorted(oracle.silver.items())
        if c in (11, 21) and "2024-02-02" <= d <= "2024-03-01"
    ]
    assert [_normalise(r) for r in _request_rows(pipeline, "concurrent_1")] == expected
    run_job(pipeline.w, pipeline.settings.weather_job_name, **params)
    assert [_normalise(r) for r in _request_rows(pipeline, "concurrent_1")] == expected


def test_new_data_rebuilds_gold_from_the_new_silver(pipeline: Pipeline):
    """Runs last (it adds a file): new rows reach silver, and gold is rebuilt from the new silver version."""
    builds_before = len(pipeline.rows("gold.build_log"))
    hours = sample_data.generate_hourly([71], dt.date(2024, 6, 1), dt.date(2024, 6, 2))
    upload_weather_files(
        pipeline.settings, {"city=71/new.csv": sample_data.rows_to_csv(map(sample_data.format_row, hours))}
    )
    run = run_job(pipeline.w, pipeline.settings.ingest_job_name)
    assert run.state.result_state == RunResultState.SUCCESS
    daily = [r for r in pipeline.rows("gold.weather_daily", "date") if r["city_id"] == 71]
    assert [(str(r["date"]), r["hours_observed"]) for r in daily] == [("2024-06-01", 24), ("2024-06-02", 24)]
    builds = pipeline.rows("gold.build_log", "built_at")
    assert len(builds) == builds_before + 1
    assert builds[-1]["silver_version"] == _delta_versions(pipeline)["silver.weather_hourly"]
    assert builds[-1]["run_id"] == str(run.run_id)

"""Deterministic, realistic-looking hourly weather for sample data and test oracles.

The pipelines need input that looks like real weather (seasons, day/night, rain that lasts a few hours,
snow only when it is cold) so that aggregates and quality checks behave as they would on real feeds, and
the tests need that input to be exactly reproducible so that expected results can be computed from it.
This module provides both using only the standard library.

Determinism
-----------
Every value for a city at a given hour depends only on ``(seed, city_id, that date)``: not on which other
cities are generated, nor on the start or end of the requested range. Generating 2024-01-01..2024-01-31
gives, for 2024-01-10, exactly the rows that generating 2024-01-10..2024-01-10 gives. This is achieved by:

* drawing all random numbers for a day from an RNG seeded by ``(seed, city_id, ordinal day)``
  (string seeds, which :class:`random.Random` hashes with SHA-512, so ``PYTHONHASHSEED`` does not matter);
* making the smooth temperature and wind noise *value noise*: random anchors at fixed times (every 6 hours
  and every 3 days), cosine-interpolated, so any hour needs only its two neighbouring anchors;
* making the weather-state Markov chain one with *finite memory* (see :func:`_city_rows`): its state at any
  hour is a function of the last ``_CLOUD_MAX + _RAIN_MAX`` hours of draws only, so running it from an
  empty state ``_LOOKBACK_DAYS`` days before the range yields exactly what an infinitely early start would.

The climate of a city (mean temperature, seasonal and diurnal amplitudes, wetness, windiness) depends on
``city_id`` only, so a seed changes the weather but not the kind of place a city is.
"""

from __future__ import annotations

import csv
import datetime
import io
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass

COLUMNS: tuple[str, ...] = (
    "City_id",
    "Date",
    "Hour",
    "Temp",
    "Wind_speed",
    "Description",
    "Precipitation",
    "Humidity",
)
"""The seed schema, in column order. Downstream schemas and CSV headers are checked against this."""

DESCRIPTIONS: tuple[str, ...] = (
    "clear sky",
    "few clouds",
    "overcast clouds",
    "mist",
    "light rain",
    "moderate rain",
    "heavy rain",
    "thunderstorm",
    "light snow",
    "snow",
)
"""The fixed vocabulary of ``Description``; kept small so that categorical checks are meaningful."""

PRECIPITATION_DESCRIPTIONS: frozenset[str] = frozenset(
    {"light rain", "moderate rain", "heavy rain", "thunderstorm", "light snow", "snow"}
)
"""Descriptions used exactly when ``Precipitation > 0`` (the others always have ``Precipitation == 0``)."""

# Column -> parser, for reading CSV back with proper types.
_PARSERS = {
    "City_id": int,
    "Date": str,
    "Hour": int,
    "Temp": float,
    "Wind_speed": float,
    "Description": str,
    "Precipitation": float,
    "Humidity": float,
}

# Weather-state chain parameters. Spell lengths are bounded, which is what gives the chain finite memory.
_CLOUD_MIN, _CLOUD_MAX = 3, 18  # hours a cloud spell lasts
_RAIN_MIN, _RAIN_MAX = 2, 12  # hours a rain/snow event lasts
_SMOOTH_HOURS = 3  # window of the moving averages that damp the diurnal cycle and cool the air in rain
_LOOKBACK_DAYS = 2
assert _LOOKBACK_DAYS * 24 >= _CLOUD_MAX + _RAIN_MAX + _SMOOTH_HOURS, "look-back too short for exactness"

_FAST_NOISE_HOURS = 6  # spacing of the short-term temperature/wind noise anchors (4 per day)
_SYNOPTIC_HOURS = 72  # spacing of the weather-system temperature anchors
_REF_JAN15 = datetime.date(2000, 1, 15).toordinal()  # coldest day of the seasonal cycle
_TROPICAL_YEAR = 365.2425
_THUNDER_MIN_TEMP = 16.0  # convective events give thunderstorms only in warm air
_MIST_HUMIDITY, _MIST_MAX_WIND = 95, 3.0


@dataclass(frozen=True, slots=True)
class _Climate:
    """Per-city constants; derived from the city id so that a city keeps its character across seeds."""

    mean_temp: float  # annual mean, deg C
    seasonal_amp: float  # half the July-January difference, deg C
    diurnal_amp: float  # half the typical clear-sky day/night range, deg C
    synoptic_amp: float  # scale of multi-day weather-system anomalies, deg C
    wetness: float  # 0..1, scales how often and how hard it rains
    windiness: float  # typical wind speed, m/s
    base_humidity: float  # typical relative humidity, percent


@dataclass(frozen=True, slots=True)
class _DayDraws:
    """All random numbers for one (seed, city, day), drawn in a fixed order so the sequence is stable."""

    temp_anchors: tuple[float, ...]  # 4 standard normals at 00, 06, 12, 18
    wind_anchors: tuple[float, ...]  # 4 standard normals at 00, 06, 12, 18
    hours: tuple[tuple[float, ...], ...]  # 24 tuples, fields as unpacked in _city_rows


def _climate(city_id: int) -> _Climate:
    rng = random.Random(f"climatelake-climate:{city_id}")
    wetness = rng.uniform(0.3, 1.0)
    return _Climate(
        mean_temp=rng.uniform(-2.0, 20.0),
        # At least 5 deg C so July is clearly warmer than January whatever the noise does.
        seasonal_amp=rng.uniform(5.0, 13.0),
        diurnal_amp=rng.uniform(3.0, 7.0),
        synoptic_amp=rng.uniform(1.5, 3.5),
        wetness=wetness,
        windiness=rng.uniform(2.0, 6.0),
        base_humidity=50.0 + 25.0 * wetness,
    )


def _day_draws(seed: int, city_id: int, ordinal: int) -> _DayDraws:
    rng = random.Random(f"climatelake-day:{seed}:{city_id}:{ordinal}")
    rnd, gauss = rng.random, rng.gauss
    temp_anchors = tuple(gauss(0.0, 1.0) for _ in range(4))
    wind_anchors = tuple(gauss(0.0, 1.0) for _ in range(4))
    hours = tuple(
        (
            rnd(),  # cloud spell starts?
            rnd(),  # cloud spell length
            rnd(),  # cloud spell overcast?
            rnd(),  # rain event starts?
            rnd(),  # rain event length
            gauss(0.0, 1.0),  # rain event intensity (log scale)
            rnd(),  # rain event convective?
            rnd(),  # hour-to-hour variation of the amount
            gauss(0.0, 1.0),  # humidity jitter
            gauss(0.0, 1.0),  # wind jitter / gust
        )
        for _ in range(24)
    )
    return _DayDraws(temp_anchors, wind_anchors, hours)


def _diurnal(hour: int) -> float:
    """-1 at 05:00, +1 at 15:00: a fast morning rise (10 h) and a slow evening fall (14 h), as observed."""
    if 5 <= hour <= 15:
        return -math.cos(math.pi * (hour - 5) / 10.0)
    return math.cos(math.pi * ((hour - 15) % 24) / 14.0)


def _interp(v0: float, v1: float, frac: float) -> float:
    """Cosine interpolation: smooth (no kinks at anchors) and cheap."""
    w = (1.0 - math.cos(math.pi * frac)) * 0.5
    return v0 + (v1 - v0) * w


def _validated_city_ids(city_ids: Iterable[int]) -> list[int]:
    ids = list(city_ids)
    for cid in ids:
        # bool is an int subclass, but True is not a city.
        if isinstance(cid, bool) or not isinstance(cid, int) or cid <= 0:
            raise ValueError(f"city ids must be positive ints, got {cid!r}")
    return sorted(set(ids))


def generate_hourly(
    city_ids: Iterable[int], start: datetime.date, end: datetime.date, seed: int = 0
) -> list[dict]:
    """Hourly weather rows (dicts keyed by :data:`COLUMNS`, in that order) for each city and day.

    ``end`` is inclusive. Rows are ordered by city id (ascending, duplicates dropped), date, hour, so the
    output is canonical whatever order the ids come in. Each city's rows depend only on
    ``(seed, city_id, date)`` (see the module docstring), which lets tests regenerate any slice as an
    oracle.

    Raises ``ValueError`` if ``end < start`` or a city id is not a positive int.
    """
    for name, value in (("start", start), ("end", end)):
        if not isinstance(value, datetime.date):
            raise TypeError(f"{name} must be a datetime.date, got {type(value).__name__}")
    if isinstance(start, datetime.datetime):
        start = start.date()
    if isinstance(end, datetime.datetime):
        end = end.date()
    if end < start:
        raise ValueError(f"end ({end.isoformat()}) is before start ({start.isoformat()})")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int, got {seed!r}")
    rows: list[dict] = []
    for city_id in _validated_city_ids(city_ids):
        rows.extend(_city_rows(city_id, start, end, seed))
    return rows


def _city_rows(city_id: int, start: datetime.date, end: datetime.date, seed: int) -> list[dict]:
    """Generate one city's rows.

    Weather state is a Markov chain on ``(cloud_left, rain_left)``, the hours left in the current cloud
    spell and rain event (plus the attributes of those spells). Each hour a new spell starts with some
    probability (rain far more likely under cloud) and replaces the current one only if it lasts at least
    as long, so ``x_h = max(x_{h-1} - 1, new_length)``. Because lengths are bounded, anything older than
    ``_CLOUD_MAX + _RAIN_MAX`` hours has been forgotten exactly: starting the chain empty
    ``_LOOKBACK_DAYS`` days before ``start`` gives the same states as any earlier start.
    """
    clim = _climate(city_id)
    first = start.toordinal() - _LOOKBACK_DAYS
    first_emitted = start.toordinal()
    last = end.toordinal()
    # +1 day: the last hours of `end` interpolate towards the next day's first noise anchor.
    days = {o: _day_draws(seed, city_id, o) for o in range(first, last + 2)}
    synoptic: dict[int, float] = {}

    def synoptic_anchor(k: int) -> float:
        value = synoptic.get(k)
        if value is None:
            value = random.Random(f"climatelake-synoptic:{seed}:{city_id}:{k}").gauss(0.0, 1.0)
            synoptic[k] = value
        return value

    anchors_per_day = 24 // _FAST_NOISE_HOURS

    def fast_noise(g: int, field: str) -> float:
        a, rem = divmod(g, _FAST_NOISE_HOURS)
        d0, s0 = divmod(a, anchors_per_day)
        d1, s1 = divmod(a + 1, anchors_per_day)
        v0 = getattr(days[d0], field)[s0]
        v1 = getattr(days[d1], field)[s1]
        return _interp(v0, v1, rem / _FAST_NOISE_HOURS)

    p_cloud = 0.04 + 0.05 * clim.wetness
    p_rain_cloudy = 0.035 * clim.wetness
    p_rain_clear = 0.003 * clim.wetness
    intensity_scale = 0.6 + 0.8 * clim.wetness

    cloud_left = 0
    overcast = False
    rain_left = 0
    intensity = 0.0
    convective = False
    cloud_hist = [0.0] * _SMOOTH_HOURS  # ring buffers for the moving averages
    rain_hist = [0.0] * _SMOOTH_HOURS
    rows: list[dict] = []

    for ordinal in range(first, last + 1):
        draws = days[ordinal]
        emit = ordinal >= first_emitted
        iso = datetime.date.fromordinal(ordinal).isoformat()
        for hour in range(24):
            (u_cs, u_cl, u_co, u_rs, u_rl, g_int, u_conv, u_amt, g_hum, g_wind) = draws.hours[hour]
            # --- weather-state chain (finite memory; see docstring) ---
            cloud_left = cloud_left - 1 if cloud_left > 0 else 0
            if u_cs < p_cloud:
                length = _CLOUD_MIN + int(u_cl * (_CLOUD_MAX - _CLOUD_MIN + 1))
                if length >= cloud_left:
                    cloud_left, overcast = length, u_co < 0.55
            rain_left = rain_left - 1 if rain_left > 0 else 0
            # Rain start depends on the cloud spell only (not on rain itself), keeping the memory finite.
            if u_rs < (p_rain_cloudy if cloud_left > 0 else p_rain_clear):
                length = _RAIN_MIN + int(u_rl * (_RAIN_MAX - _RAIN_MIN + 1))
                if length >= rain_left:
                    rain_left = length
                    intensity = math.exp(-0.9 + 0.9 * g_int) * intensity_scale
                    convective = u_conv < 0.3
            raining = rain_left > 0
            slot = hour % _SMOOTH_HOURS
            cloud_hist[slot] = 1.0 if (cloud_left > 0 or raining) else 0.0
            rain_hist[slot] = 1.0 if raining else 0.0
            if not emit:
                continue
            cloud_ma = sum(cloud_hist) / _SMOOTH_HOURS
            rain_ma = sum(rain_hist) / _SMOOTH_HOURS

            # --- temperature: season + day/night + weather systems + short-term noise ---
            g = ordinal * 24 + hour
            season = -math.cos(2.0 * math.pi * (g / 24.0 - _REF_JAN15) / _TROPICAL_YEAR)  # -1 mid-Jan
            diurnal = _diurnal(hour)
            k, rem = divmod(g, _SYNOPTIC_HOURS)
            syn = _interp(synoptic_anchor(k), synoptic_anchor(k + 1), rem / _SYNOPTIC_HOURS)
            # Cloud damps the day/night range; summer days swing a bit more than winter days.
            temp_noise = fast_noise(g, "temp_anchors")
            day_range = clim.diurnal_amp * (1.0 + 0.2 * season) * (1.0 - 0.45 * cloud_ma)
            temp = (
                clim.mean_temp
                + clim.seasonal_amp * season
                + day_range * diurnal
                + clim.synoptic_amp * syn
                + 0.8 * temp_noise
                - 1.5 * rain_ma  # evaporative cooling under rain
            )
            temp_r = round(temp, 1) + 0.0  # + 0.0 turns -0.0 into 0.0

            # --- precipitation and description ---
            thunder = raining and convective and temp_r >= _THUNDER_MIN_TEMP
            if raining:
                amount = intensity * (0.5 + u_amt) * (2.5 if thunder else 1.0)
                precip = max(0.1, round(amount, 1))
                if temp_r <= 0.0:
                    description = "light snow" if precip < 1.0 else "snow"
                elif thunder:
                    description = "thunderstorm"
                elif precip < 1.0:
                    description = "light rain"
                elif precip < 4.0:
                    description = "moderate rain"
                else:
                    description = "heavy rain"
            else:
                precip = 0.0
                if cloud_left == 0:
                    description = "clear sky"
                else:
                    description = "overcast clouds" if overcast else "few clouds"

            # --- humidity: higher at night, under cloud and in rain ---
            humidity = (
                clim.base_humidity
                - 14.0 * diurnal * (1.0 - 0.4 * cloud_ma)
                + 8.0 * cloud_ma
                + 22.0 * rain_ma
                - 2.5 * temp_noise  # air warmer than usual for the hour is drier
                + 2.0 * g_hum
            )
            humidity_i = min(100.0, max(5.0, round(humidity, 1)))  # stations report tenths of a percent

            # --- wind: afternoon maximum, gustier in rain and much gustier in thunderstorms ---
            gust_scale = 0.4 + (1.2 if raining else 0.0) + (2.5 if thunder else 0.0)
            wind = (
                clim.windiness * (1.0 + 0.2 * diurnal)
                + 0.4 * clim.windiness * fast_noise(g, "wind_anchors")
                + 1.5 * rain_ma
                + (3.0 if thunder else 0.0)
                + gust_scale * (abs(g_wind) if raining else g_wind)
            )
            wind_r = max(0.0, round(wind, 1)) + 0.0

            if not raining and humidity_i >= _MIST_HUMIDITY and wind_r < _MIST_MAX_WIND:
                description = "mist"

            rows.append(
                {
                    "City_id": city_id,
                    "Date": iso,
                    "Hour": hour,
                    "Temp": temp_r,
                    "Wind_speed": wind_r,
                    "Description": description,
                    "Precipitation": precip,
                    "Humidity": humidity_i,
                }
            )
    return rows


def rows_to_csv(rows: Iterable[dict]) -> bytes:
    """Serialise rows as the seed CSV: UTF-8, header exactly :data:`COLUMNS`, ``,`` and ``\\n``.

    Extra keys are an error rather than silently dropped, so a schema drift shows up where it starts.
    """
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n", extrasaction="raise")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def csv_to_rows(data: bytes) -> list[dict]:
    """Parse CSV produced by :func:`rows_to_csv` back into typed rows, e.g. to compare against outputs.

    Raises ``ValueError`` if the header is not exactly :data:`COLUMNS`.
    """
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    header = next(reader, None)
    if header is None or tuple(header) != COLUMNS:
        raise ValueError(f"CSV header must be {list(COLUMNS)}, got {header!r}")
    rows: list[dict] = []
    for line_no, record in enumerate(reader, start=2):
        if not record:
            continue
        if len(record) != len(COLUMNS):
            raise ValueError(f"line {line_no}: expected {len(COLUMNS)} fields, got {len(record)}")
        rows.append({col: _PARSERS[col](value) for col, value in zip(COLUMNS, record, strict=True)})
    return rows


# --- raw files with optional dirty rows (the data generator CLI and the pipeline tests) -------------------

DIRTY_KINDS: tuple[str, ...] = (
    "bad_hour",
    "temp_out_of_range",
    "humidity_out_of_range",
    "negative_wind",
    "negative_precipitation",
    "missing_field",
    "duplicate",
    "messy_description",
)
"""What :func:`dirty_rows` can do to a row, one kind per chosen row (see its docstring)."""

HOUR_FORMATS: tuple[str, ...] = ("0-23", "2400")


def format_row(row: dict, hour_format: str = "0-23") -> dict[str, str]:
    """A generated row as the strings a file holds; ``2400`` writes hour h as ``h * 100`` (0, 100 … 2300)."""
    if hour_format not in HOUR_FORMATS:
        raise ValueError(f"hour_format must be one of {HOUR_FORMATS}, got {hour_format!r}")
    out = {col: str(row[col]) for col in COLUMNS}
    if hour_format == "2400":
        out["Hour"] = str(int(row["Hour"]) * 100)
    return out


def dirty_rows(
    rows: Iterable[dict], fraction: float, seed: int = 0, hour_format: str = "0-23"
) -> list[dict[str, str]]:
    """Rows as file strings (:func:`format_row`), with about ``fraction`` of them made dirty.

    Deterministic: one RNG per city, ``random.Random(f"climatelake-dirty:{seed}:{city_id}")``, walks that
    city's rows in order and for each draws ``u = rng.random()``; when ``u < fraction`` it draws
    ``kind = rng.choice(DIRTY_KINDS)`` and then at most one more number, as follows:

    * ``bad_hour``: Hour becomes ``"24"`` (``"2400"`` in the 2400 format) — not an hour of the day;
    * ``temp_out_of_range``: Temp becomes ``"75.0"`` if ``rng.random() < 0.5`` else ``"-95.0"``;
    * ``humidity_out_of_range``: Humidity becomes ``"101"`` if ``rng.random() < 0.5`` else ``"-3"``;
    * ``negative_wind``: Wind_speed becomes ``"-1.5"``;
    * ``negative_precipitation``: Precipitation becomes ``"-0.2"``;
    * ``missing_field``: the field ``COLUMNS[rng.randrange(8)]`` becomes ``""`` — a missing key field makes
      the row invalid; a missing measure does not (silver keeps the row, that measure NULL);
    * ``duplicate``: the row is written twice, identical, one after the other;
    * ``messy_description``: Description becomes ``"  " + description.upper() + " "`` — still valid once
      trimmed and lower-cased, so it tests normalisation rather than rejection.

    A fraction of 0 returns the clean rows, formatted.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction!r}")
    out: list[dict[str, str]] = []
    rngs: dict[str, random.Random] = {}
    for row in rows:
        text = format_row(row, hour_format)
        if fraction == 0.0:
            out.append(text)
            continue
        city = text["City_id"]
        rng = rngs.setdefault(city, random.Random(f"climatelake-dirty:{seed}:{city}"))
        if rng.random() >= fraction:
            out.append(text)
            continue
        kind = rng.choice(DIRTY_KINDS)
        if kind == "bad_hour":
            text["Hour"] = "2400" if hour_format == "2400" else "24"
        elif kind == "temp_out_of_range":
            text["Temp"] = "75.0" if rng.random() < 0.5 else "-95.0"
        elif kind == "humidity_out_of_range":
            text["Humidity"] = "101" if rng.random() < 0.5 else "-3"
        elif kind == "negative_wind":
            text["Wind_speed"] = "-1.5"
        elif kind == "negative_precipitation":
            text["Precipitation"] = "-0.2"
        elif kind == "missing_field":
            text[COLUMNS[rng.randrange(len(COLUMNS))]] = ""
        elif kind == "duplicate":
            out.append(dict(text))
        else:  # messy_description
            text["Description"] = "  " + text["Description"].upper() + " "
        out.append(text)
    return out


MISSING_WEIGHTS: dict[str, float] = {
    "Precipitation": 0.40,
    "Wind_speed": 0.25,
    "Description": 0.20,
    "Humidity": 0.10,
    "Temp": 0.05,
}
"""Which measure a partly-missing row lacks, by weight: rain gauges and present-weather reports are the
readings real hourly observations most often lack, temperature the least (in the NOAA ISD-Lite files of
``tests/fixtures/isd_lite`` precipitation is the most often empty field by far). An assumption, stated."""


def missing_measures(rows: list[dict[str, str]], fraction: float, seed: int = 0) -> list[dict[str, str]]:
    """``rows`` (file strings) with about ``fraction`` of them missing exactly one measure (an empty field),
    the measure drawn by :data:`MISSING_WEIGHTS`. Such a row is still valid: silver keeps it with that
    measure NULL and lists it in ``missing_measures``.

    Deterministic and independent of :func:`dirty_rows`' draws: one RNG per city,
    ``random.Random(f"climatelake-missing:{seed}:{city_id}")``, walks that city's rows in order, drawing
    ``u = rng.random()`` per row and, when ``u < fraction``, ``rng.choices(measures, weights)`` once.
    A fraction of 0 returns the rows unchanged.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction!r}")
    if fraction == 0.0:
        return rows
    measures, weights = list(MISSING_WEIGHTS), list(MISSING_WEIGHTS.values())
    rngs: dict[str, random.Random] = {}
    out: list[dict[str, str]] = []
    for row in rows:
        city = row["City_id"]
        rng = rngs.setdefault(city, random.Random(f"climatelake-missing:{seed}:{city}"))
        if rng.random() < fraction:
            row = {**row, rng.choices(measures, weights)[0]: ""}
        out.append(row)
    return out


def weather_files(
    city_ids: Iterable[int],
    start: datetime.date,
    end: datetime.date,
    seed: int = 0,
    dirty_fraction: float = 0.0,
    hour_format: str = "0-23",
    cities_per_file: int = 1,
    missing_fraction: float = 0.0,
) -> dict[str, bytes]:
    """Raw CSV files (name → bytes) in the seed schema: ``city=<first id>/<start>_<end>.csv``, each with
    ``cities_per_file`` cities, optionally dirtied by :func:`dirty_rows` and given gaps by
    :func:`missing_measures`. Same arguments, same bytes."""
    ids = _validated_city_ids(city_ids)
    files: dict[str, bytes] = {}
    for i in range(0, len(ids), cities_per_file):
        group = ids[i : i + cities_per_file]
        rows = dirty_rows(generate_hourly(group, start, end, seed), dirty_fraction, seed, hour_format)
        rows = missing_measures(rows, missing_fraction, seed)
        files[f"city={group[0]}/{start.isoformat()}_{end.isoformat()}.csv"] = rows_to_csv(rows)
    return files


def csv_to_text_rows(data: bytes) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of a CSV as strings, without any checking: what a raw-file oracle starts from."""
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    header = next(reader, [])
    return header, [dict(zip(header, record, strict=False)) for record in reader if record]

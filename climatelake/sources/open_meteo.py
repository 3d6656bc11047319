"""Open-Meteo historical weather (archive API) hourly JSON answers → seed raw rows.

The answer (https://open-meteo.com/en/docs/historical-weather-api; endpoint
``https://archive-api.open-meteo.com/v1/archive``) is one JSON object with ``latitude``, ``longitude``,
``utc_offset_seconds``, ``timezone``, ``hourly_units`` (variable → unit) and ``hourly`` (``time`` plus one
array per variable, ``null`` where there is no value). A failed request answers
``{"error": true, "reason": "…"}`` (HTTP 400).

Mapping (assumptions named):

* Times: ``hourly.time`` is local time of ``timezone`` at **one fixed offset for the whole answer**,
  ``utc_offset_seconds`` (Open-Meteo applies no DST changes inside a series: open-meteo/open-meteo#1255,
  #488), so UTC = local − ``utc_offset_seconds``. ``timeformat=unixtime`` answers (integer seconds, already
  UTC) are accepted too. A time that is not on a UTC hour (e.g. a +05:30 zone) is an error: request
  ``timezone=GMT``, as ``climatelake data fetch`` does.
* Units come from ``hourly_units`` and are converted to the seed units: temperature ``°C``/``°F`` → °C;
  wind ``km/h``/``m/s``/``mp/h``/``kn`` → m/s (two decimals, so km/h tenths are not lost); precipitation
  ``mm``/``inch`` → mm; humidity ``%``; weather code ``wmo code``. Any other unit is an error.
* ``Description`` from the WMO weather code (:data:`WMO_DESCRIPTIONS`, the codes Open-Meteo documents),
  in the generator's vocabulary; an unknown code is an error. ``null`` → empty field, for every measure.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path

from climatelake.sample_data import COLUMNS
from climatelake.sources import SourceFormatError, fmt, raw_file_name, rows_to_csv, write_atomic

SOURCE = "open-meteo"
VARIABLES: tuple[str, ...] = (
    "temperature_2m",
    "relative_humidity_2m",
    "precipitation",
    "wind_speed_10m",
    "weather_code",
)

WMO_DESCRIPTIONS: dict[int, str] = {
    0: "clear sky",
    1: "few clouds",  # mainly clear
    2: "few clouds",  # partly cloudy
    3: "overcast clouds",
    45: "mist",  # fog
    48: "mist",  # depositing rime fog
    **{code: "light rain" for code in (51, 53, 55, 56, 57)},  # drizzle, freezing drizzle
    61: "light rain",
    63: "moderate rain",
    65: "heavy rain",
    66: "light rain",  # light freezing rain
    67: "heavy rain",  # heavy freezing rain
    71: "light snow",
    73: "snow",
    75: "snow",
    77: "light snow",  # snow grains
    80: "light rain",  # rain showers
    81: "moderate rain",
    82: "heavy rain",
    85: "light snow",  # snow showers
    86: "snow",
    95: "thunderstorm",
    96: "thunderstorm",  # with slight hail
    99: "thunderstorm",  # with heavy hail
}
"""WMO weather interpretation code (as Open-Meteo documents it) → Description."""

# variable -> unit -> (converter to the seed unit, decimals kept)
_UNITS: dict[str, dict[str, tuple[Callable[[float], float], int]]] = {
    "temperature_2m": {"°C": (lambda v: v, 1), "°F": (lambda v: (v - 32.0) * 5.0 / 9.0, 2)},
    "relative_humidity_2m": {"%": (lambda v: v, 1)},
    "precipitation": {"mm": (lambda v: v, 2), "inch": (lambda v: v * 25.4, 2)},
    "wind_speed_10m": {
        "m/s": (lambda v: v, 2),
        "km/h": (lambda v: v / 3.6, 2),
        "mp/h": (lambda v: v * 0.44704, 2),
        "kn": (lambda v: v * 1852.0 / 3600.0, 2),
    },
}
_COLUMN_OF = {
    "temperature_2m": "Temp",
    "relative_humidity_2m": "Humidity",
    "precipitation": "Precipitation",
    "wind_speed_10m": "Wind_speed",
}


def _line_of(text: str, needle: str, after: int = 0) -> int | None:
    """1-based line of the first ``needle`` at or after character ``after``; ``None`` if absent."""
    at = text.find(needle, after)
    return None if at < 0 else text.count("\n", 0, at) + 1


def parse(
    data: bytes | str,
    city_id: int,
    source: str,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> list[dict[str, str]]:
    """Seed raw rows (strings; empty = missing) from one Open-Meteo answer; UTC dates within
    ``start``..``end`` (inclusive, ``None`` = unbounded). ``source`` names the answer in errors.

    Raises :class:`SourceFormatError` (file and line) for invalid JSON, an ``error`` answer, a missing
    ``hourly`` array, an unknown unit, arrays of unequal length, a bad time or an unknown weather code."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    try:
        answer = json.loads(text)
    except json.JSONDecodeError as error:
        raise SourceFormatError(source, error.lineno, f"not JSON ({error.msg})") from None
    if not isinstance(answer, dict):
        raise SourceFormatError(source, 1, "not an Open-Meteo answer (not a JSON object)")
    if answer.get("error"):
        reason = answer.get("reason", "no reason given")
        raise SourceFormatError(source, _line_of(text, '"error"'), f"Open-Meteo answered an error: {reason}")
    hourly, units = answer.get("hourly"), answer.get("hourly_units")
    if not isinstance(hourly, dict) or not isinstance(units, dict) or "time" not in hourly:
        raise SourceFormatError(
            source, None, "not an Open-Meteo hourly answer (no hourly.time / hourly_units)"
        )
    offset = answer.get("utc_offset_seconds", 0)
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise SourceFormatError(
            source, _line_of(text, '"utc_offset_seconds"'), f"bad utc_offset_seconds {offset!r}"
        )
    units_at = text.find('"hourly_units"')
    match = re.search(r'"hourly"\s*:', text)
    hourly_at = match.start() if match else 0
    times = hourly["time"]
    converters: dict[str, tuple[Callable[[float], float], int]] = {}
    for var in VARIABLES:
        if var not in hourly:
            continue
        unit = units.get(var)
        line = _line_of(text, f'"{var}"', max(units_at, 0))
        if var == "weather_code":
            if unit != "wmo code":
                raise SourceFormatError(
                    source, line, f"unknown unit {unit!r} for weather_code (expected 'wmo code')"
                )
        elif unit not in _UNITS[var]:
            known = ", ".join(_UNITS[var])
            raise SourceFormatError(source, line, f"unknown unit {unit!r} for {var} (known: {known})")
        else:
            converters[var] = _UNITS[var][unit]
        if not isinstance(hourly[var], list) or len(hourly[var]) != len(times):
            raise SourceFormatError(
                source,
                _line_of(text, f'"{var}"', max(hourly_at, 0)),
                f"hourly.{var} is not as long as hourly.time",
            )
    rows: list[dict[str, str]] = []
    for i, stamp in enumerate(times):
        utc = _utc(stamp, offset, source, _line_of(text, json.dumps(stamp), max(hourly_at, 0)))
        if (start is not None and utc.date() < start) or (end is not None and utc.date() > end):
            continue
        row = {"City_id": str(city_id), "Date": utc.date().isoformat(), "Hour": str(utc.hour)}
        for var, column in _COLUMN_OF.items():
            value = hourly[var][i] if var in hourly else None
            convert, digits = converters.get(var, (lambda v: v, 1))
            row[column] = "" if value is None else fmt(convert(float(value)), digits)
        code = hourly["weather_code"][i] if "weather_code" in hourly else None
        if code is None:
            row["Description"] = ""
        elif code in WMO_DESCRIPTIONS:
            row["Description"] = WMO_DESCRIPTIONS[code]
        else:
            raise SourceFormatError(
                source, None, f"unknown WMO weather code {code!r} at hourly.time {stamp!r}"
            )
        rows.append({col: row[col] for col in COLUMNS})
    return rows


def _utc(stamp: object, offset: int, source: str, line: int | None) -> dt.datetime:
    """A ``hourly.time`` entry as a naive UTC datetime on the hour."""
    if isinstance(stamp, int) and not isinstance(stamp, bool):
        utc = dt.datetime.fromtimestamp(stamp, dt.UTC).replace(tzinfo=None)
    elif isinstance(stamp, str):
        try:
            utc = dt.datetime.fromisoformat(stamp) - dt.timedelta(seconds=offset)
        except ValueError:
            raise SourceFormatError(source, line, f"bad hourly.time {stamp!r}") from None
    else:
        raise SourceFormatError(source, line, f"bad hourly.time {stamp!r}")
    if utc.minute or utc.second:
        raise SourceFormatError(
            source,
            line,
            f"hourly.time {stamp!r} is not on a UTC hour (offset {offset} s); request timezone=GMT",
        )
    return utc


def convert(
    path: str | Path,
    city_id: int,
    out_dir: str | Path | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> list[dict[str, str]]:
    """Read one saved Open-Meteo answer; with ``out_dir`` also write
    ``<out_dir>/city=<city_id>/open-meteo_<file stem>.csv`` atomically (nothing on error)."""
    path = Path(path)
    rows = parse(path.read_bytes(), city_id, str(path), start, end)
    if out_dir is not None:
        write_atomic(Path(out_dir) / raw_file_name(city_id, SOURCE, path.stem), rows_to_csv(rows))
    return rows

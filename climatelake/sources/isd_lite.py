"""NOAA ISD-Lite station-year files → seed raw rows.

Format (NOAA NCEI, "Integrated Surface Data - Lite, Format Documentation", June 20 2006, and the
"ISD-Lite Technical Document", https://www.ncei.noaa.gov/pub/data/noaa/isd-lite/isd-lite-format.pdf and
…/isd-lite-technical-document.txt): one file per station and year (``<USAF>-<WBAN>-<year>.gz``), one
fixed-width line per hour, twelve space-padded integer fields::

    year month day hour(UTC)  air temp (°C ×10)  dew point (°C ×10)  sea-level pressure (hPa ×10)
    wind direction (°)  wind speed (m/s ×10)  sky condition total coverage code
    1-hour precipitation (mm ×10; -1 = trace)  6-hour precipitation (mm ×10; -1 = trace)

Missing is ``-9999`` in every field. Times are UTC, the observation nearest the top of the hour.

Mapping to the seed schema (every rule here is an assumption a user may want to know):

* ``Date``/``Hour``: the record's UTC date and hour (climatelake is UTC throughout).
* ``Temp``: air temperature / 10, °C, one decimal.
* ``Wind_speed``: wind speed / 10, m/s (the seed unit, see sample_data), one decimal.
* ``Precipitation``: the 1-hour accumulation / 10, mm. Trace (-1) becomes ``0.0``: a trace is by
  definition below the smallest measurable amount (0.1 mm here), so it adds nothing to a total. The 6-hour
  field is not used (it overlaps the hourly one and would double count).
* ``Humidity``: not in ISD-Lite; relative humidity from temperature T and dew point Td (°C) with the Magnus
  formula and the Alduchov & Eskridge (1996) constants, ``RH = 100 · es(Td) / es(T)``,
  ``es(x) = 6.1094 · exp(17.625 · x / (x + 243.04))``, rounded to one decimal and capped at 100.0 (a dew
  point a tenth above the temperature is instrument noise, not supersaturation). Empty if T or Td is
  missing.
* ``Description``: from precipitation when the hour had measurable precipitation (> 0 mm): rain when
  T > 0 °C, snow at T ≤ 0 °C (rain if T is missing); intensity by the usual hourly-rate
  classes, rain light < 2.5 mm, moderate < 7.6 mm, heavy ≥ 7.6 mm; snow light < 1.0 mm water equivalent,
  else snow. Otherwise from the sky coverage code (:data:`SKY_DESCRIPTIONS`). Empty if neither is known.
  The words are the generator's vocabulary (sample_data.DESCRIPTIONS), so categorical checks still apply.
* Wind direction, sea-level pressure, the 6-hour precipitation are dropped (not in the seed schema).
"""

from __future__ import annotations

import datetime as dt
import gzip
import math
import zlib
from dataclasses import dataclass
from pathlib import Path

from climatelake.sources import SourceFormatError, fmt, raw_file_name, rows_to_csv, write_atomic

SOURCE = "noaa-isd"
MISSING = -9999
TRACE = -1
_FIELDS = 12

SKY_DESCRIPTIONS: dict[int, str] = {
    0: "clear sky",  # none, SKC or CLR
    **{code: "few clouds" for code in (1, 2, 3, 4)},  # 1–4 oktas (FEW, SCT)
    **{code: "overcast clouds" for code in (5, 6, 7, 8)},  # 5–8 oktas (BKN, OVC)
    9: "mist",  # sky obscured / cloud amount cannot be estimated (mostly fog)
    10: "mist",  # partial obscuration
    **{code: "few clouds" for code in (11, 12, 13)},  # thin / - / dark scattered
    **{code: "overcast clouds" for code in (14, 15, 16, 17, 18, 19)},  # thin / - / dark broken, overcast
}
"""ISD-Lite sky condition total coverage code → Description (codes 0–19 of the format document)."""


@dataclass(frozen=True)
class Record:
    """One ISD-Lite line, values already unscaled; ``None`` where the file says -9999."""

    time: dt.datetime  # UTC, naive
    temp: float | None
    dew_point: float | None
    wind_speed: float | None
    sky: int | None
    precip_1h: float | None  # mm, trace already 0.0


def relative_humidity(temp: float | None, dew_point: float | None) -> float | None:
    """Relative humidity (%) from temperature and dew point (°C): Magnus, Alduchov–Eskridge constants;
    one decimal, capped at 100.0; ``None`` if either input is missing."""
    if temp is None or dew_point is None:
        return None

    def es(x: float) -> float:
        return 6.1094 * math.exp(17.625 * x / (x + 243.04))

    return min(100.0, round(100.0 * es(dew_point) / es(temp), 1))


def description(temp: float | None, precip_1h: float | None, sky: int | None) -> str:
    """The Description of an hour (rules in the module docstring); ``""`` when nothing says."""
    if precip_1h is not None and precip_1h > 0:
        if temp is not None and temp <= 0.0:
            return "light snow" if precip_1h < 1.0 else "snow"
        if precip_1h < 2.5:
            return "light rain"
        return "moderate rain" if precip_1h < 7.6 else "heavy rain"
    if sky is None:
        return ""
    return SKY_DESCRIPTIONS[sky]


def _open_text(data: bytes, source: str) -> list[str]:
    """The file's lines; gzip is recognised by its magic bytes. A truncated or corrupt gzip raises
    :class:`SourceFormatError` naming the first line that could not be read."""
    if data[:2] == b"\x1f\x8b":
        decomp = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            text = decomp.decompress(data)
        except zlib.error as error:
            raise SourceFormatError(source, None, f"not a readable gzip file ({error})") from None
        if not decomp.eof:
            lines = text.split(b"\n")
            raise SourceFormatError(
                source, len(lines), "truncated gzip file: it ends inside this line (download again)"
            )
        # gzip.decompress handles concatenated members; decompressobj stops after the first one.
        if decomp.unused_data:
            try:
                text = gzip.decompress(data)
            except (OSError, EOFError) as error:
                raise SourceFormatError(source, None, f"corrupt gzip file ({error})") from None
        data = text
    try:
        return data.decode("ascii").splitlines()
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise SourceFormatError(source, line, "not ISD-Lite (non-ASCII bytes)") from None


def _value(raw: int, scale: float) -> float | None:
    return None if raw == MISSING else raw / scale


def parse(data: bytes, source: str) -> list[Record]:
    """All records of an ISD-Lite file given as bytes (gzip or plain). ``source`` names it in errors.

    Raises :class:`SourceFormatError` (file and line) for a truncated gzip, a line that is not twelve
    integers, an impossible date/hour or an unknown sky code, or a file with no records at all."""
    records: list[Record] = []
    for line_no, line in enumerate(_open_text(data, source), start=1):
        if not line.strip():
            continue
        parts = line.split()
        try:
            values = [int(p) for p in parts]
        except ValueError:
            values = []
        if len(values) != _FIELDS:
            shown = line if len(line) <= 70 else line[:67] + "..."
            raise SourceFormatError(source, line_no, f"not an ISD-Lite record: {shown!r}")
        year, month, day, hour, temp, dew, _slp, _wdir, wind, sky, p1, _p6 = values
        try:
            time = dt.datetime(year, month, day, hour)
        except ValueError as error:
            raise SourceFormatError(source, line_no, f"not an ISD-Lite time: {error}") from None
        if sky != MISSING and sky not in SKY_DESCRIPTIONS:
            raise SourceFormatError(source, line_no, f"unknown sky coverage code {sky}")
        if (wind != MISSING and wind < 0) or (p1 < TRACE and p1 != MISSING):
            raise SourceFormatError(source, line_no, "negative wind speed or precipitation")
        records.append(
            Record(
                time=time,
                temp=_value(temp, 10),
                dew_point=_value(dew, 10),
                wind_speed=_value(wind, 10),
                sky=None if sky == MISSING else sky,
                precip_1h=0.0 if p1 == TRACE else _value(p1, 10),
            )
        )
    if not records:
        raise SourceFormatError(source, None, "no ISD-Lite records (empty file)")
    return records


def to_rows(
    records: list[Record], city_id: int, start: dt.date | None = None, end: dt.date | None = None
) -> list[dict[str, str]]:
    """Seed raw rows (all strings, in :data:`climatelake.sample_data.COLUMNS` order) for the records whose
    UTC date is within ``start``..``end`` (inclusive; ``None`` = unbounded)."""
    rows: list[dict[str, str]] = []
    for r in records:
        day = r.time.date()
        if (start is not None and day < start) or (end is not None and day > end):
            continue
        rows.append(
            {
                "City_id": str(city_id),
                "Date": day.isoformat(),
                "Hour": str(r.time.hour),
                "Temp": fmt(r.temp),
                "Wind_speed": fmt(r.wind_speed),
                "Description": description(r.temp, r.precip_1h, r.sky),
                "Precipitation": fmt(r.precip_1h),
                "Humidity": fmt(relative_humidity(r.temp, r.dew_point)),
            }
        )
    return rows


def convert(
    path: str | Path,
    city_id: int,
    out_dir: str | Path | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> list[dict[str, str]]:
    """Read one ISD-Lite file and return its seed raw rows (strings, empty = missing).

    With ``out_dir``, also write them as ``<out_dir>/city=<city_id>/noaa-isd_<file stem>.csv`` (atomically:
    temp file + rename; nothing is written if the file is bad). This is the entry point for end-to-end
    tests: upload the written file (or :func:`climatelake.sources.rows_to_csv` of the rows) under
    ``raw/weather/``."""
    path = Path(path)
    rows = to_rows(parse(path.read_bytes(), str(path)), city_id, start, end)
    if out_dir is not None:
        stem = path.name.removesuffix(".gz")
        write_atomic(Path(out_dir) / raw_file_name(city_id, SOURCE, stem), rows_to_csv(rows))
    return rows

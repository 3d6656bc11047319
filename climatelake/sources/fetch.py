"""``climatelake data fetch``: download real observations for a registered city and turn them into seed raw
files (``city=<id>/<source>_<label>.csv``), ready for ``raw/weather/``.

Where from (both overridable, so a mirror or a test server can stand in):

* ``noaa-isd``: ``$CLIMATELAKE_ISD_LITE_URL/<year>/<USAF>-<WBAN>-<year>.gz`` for every year of the range
  (default ``https://www.ncei.noaa.gov/pub/data/noaa/isd-lite``), the city's ``isd_station`` from
  ``climatelake/cities.csv``;
* ``open-meteo``: ``$CLIMATELAKE_OPEN_METEO_URL`` (default the historical archive API,
  ``https://archive-api.open-meteo.com/v1/archive``) with the city's lat/lon, the range, the five hourly
  variables and ``timezone=GMT`` (the reader converts any other offset to UTC anyway).

A plain HTTP client (urllib), one attempt per file with a 60 s timeout. Offline or refused → one
:class:`FetchError` line naming the URL; a bad answer → the readers' :class:`SourceFormatError`. Nothing is
returned, written or uploaded unless every file of the range converted.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import urllib.error
import urllib.parse
import urllib.request

from climatelake import cities
from climatelake.sources import isd_lite, open_meteo, raw_file_name, rows_to_csv

ISD_LITE_URL = "https://www.ncei.noaa.gov/pub/data/noaa/isd-lite"
OPEN_METEO_URL = "https://archive-api.open-meteo.com/v1/archive"
HOURLY = "temperature_2m,relative_humidity_2m,precipitation,wind_speed_10m,weather_code"
SOURCES = ("noaa-isd", "open-meteo")


class FetchError(RuntimeError):
    """A download that could not be made (offline, refused, HTTP error): the message is one line."""


def _download(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=60) as answer:  # noqa: S310 (https or a configured mirror)
            return answer.read()
    except urllib.error.HTTPError as error:  # Open-Meteo answers 400 {"error": true, "reason": "…"}
        reason = _reason(error.read())
        raise FetchError(f"{url} answered HTTP {error.code}{f': {reason}' if reason else ''}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise FetchError(f"cannot reach {url} ({reason}); are you offline?") from None


def _reason(body: bytes) -> str:
    try:
        return str(json.loads(body).get("reason", ""))[:300]
    except (ValueError, AttributeError):
        return ""


def fetch(source: str, city_id: int, start: dt.date, end: dt.date) -> dict[str, bytes]:
    """Raw files (name → seed CSV bytes) of one city's observations from ``start`` to ``end`` (UTC days)."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; choose from {', '.join(SOURCES)}")
    if end < start:
        raise ValueError("--end is before --start")
    city = cities.get(city_id)
    if source == "noaa-isd":
        if not city.isd_station:
            raise ValueError(f"city {city_id} ({city.name}) has no NOAA ISD station in the registry")
        base = os.environ.get("CLIMATELAKE_ISD_LITE_URL", ISD_LITE_URL).rstrip("/")
        files = {}
        for year in range(start.year, end.year + 1):
            name = f"{city.isd_station}-{year}.gz"
            url = f"{base}/{year}/{name}"
            records = isd_lite.parse(_download(url), url)
            rows = isd_lite.to_rows(records, city_id, start, end)
            files[raw_file_name(city_id, isd_lite.SOURCE, name.removesuffix(".gz"))] = rows_to_csv(rows)
        return files
    query = urllib.parse.urlencode(
        {
            "latitude": city.lat,
            "longitude": city.lon,
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
            "hourly": HOURLY,
            "timezone": "GMT",
        }
    )
    url = f"{os.environ.get('CLIMATELAKE_OPEN_METEO_URL', OPEN_METEO_URL)}?{query}"
    rows = open_meteo.parse(_download(url), city_id, url, start, end)
    label = f"{start.isoformat()}_{end.isoformat()}"
    return {raw_file_name(city_id, open_meteo.SOURCE, label): rows_to_csv(rows)}

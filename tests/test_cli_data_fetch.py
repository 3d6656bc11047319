"""``climatelake data fetch`` against a real local HTTP server serving the recorded files (never the
network), and against a closed port (offline): the written raw files equal the readers' conversion of the
same bytes; a refusal or a bad answer is one line on stderr, exit 2, nothing written."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from climatelake import cli
from climatelake.sources import isd_lite, open_meteo, rows_to_csv
from emulators.stack import free_port

FIXTURES = Path(__file__).parent / "fixtures"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # keep stderr for the CLI under test
        pass


@pytest.fixture()
def mirror(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A plain HTTP file server over a folder laid out like NOAA's isd-lite tree."""
    root = tmp_path / "mirror"
    (root / "2017").mkdir(parents=True)
    shutil.copy(FIXTURES / "isd_lite" / "725300-94846-2017.gz", root / "2017")
    shutil.copy(FIXTURES / "open_meteo" / "berlin-2024-01-01_2024-01-02.json", root / "archive")
    shutil.copy(FIXTURES / "open_meteo" / "error-answer.json", root / "error")
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


def test_isd_lite_fetch_writes_the_converted_rows(mirror, tmp_path, monkeypatch, capsys):
    url, _ = mirror
    monkeypatch.setenv("CLIMATELAKE_ISD_LITE_URL", url)
    out = tmp_path / "raw"
    argv = ["data", "fetch", "--source", "noaa-isd", "--city", "101", "--start", "2017-02-01"]
    assert cli.main([*argv, "--end", "2017-02-03", "--out", str(out)]) == 0
    (written,) = out.rglob("*.csv")
    assert written.relative_to(out).as_posix() == "city=101/noaa-isd_725300-94846-2017.csv"
    import datetime as dt

    expected = isd_lite.convert(
        FIXTURES / "isd_lite" / "725300-94846-2017.gz",
        101,
        start=dt.date(2017, 2, 1),
        end=dt.date(2017, 2, 3),
    )
    assert written.read_bytes() == rows_to_csv(expected)
    assert 60 <= len(expected) <= 72


def test_open_meteo_fetch_and_its_error_answer(mirror, tmp_path, monkeypatch, capsys):
    url, _ = mirror
    out = tmp_path / "raw"
    argv = ["data", "fetch", "--source", "open-meteo", "--city", "108", "--start", "2024-01-01"]
    monkeypatch.setenv("CLIMATELAKE_OPEN_METEO_URL", f"{url}/archive")
    assert cli.main([*argv, "--end", "2024-01-02", "--out", str(out)]) == 0
    (written,) = out.rglob("*.csv")
    fixture = (FIXTURES / "open_meteo" / "berlin-2024-01-01_2024-01-02.json").read_bytes()
    import datetime as dt

    rows = open_meteo.parse(fixture, 108, "fixture", dt.date(2024, 1, 1), dt.date(2024, 1, 2))
    assert written.read_bytes() == rows_to_csv(rows) and rows
    monkeypatch.setenv("CLIMATELAKE_OPEN_METEO_URL", f"{url}/error")
    capsys.readouterr()
    again = tmp_path / "again"
    assert cli.main([*argv, "--end", "2024-01-02", "--out", str(again)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("climatelake: error:") and err.count("\n") == 1
    assert not again.exists()


def test_offline_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CLIMATELAKE_ISD_LITE_URL", f"http://127.0.0.1:{free_port()}")
    out = tmp_path / "raw"
    code = cli.main(
        ["data", "fetch", "--source", "noaa-isd", "--city", "101", "--start", "2017-01-01"]
        + ["--end", "2017-01-02", "--out", str(out)]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "cannot reach" in err and "offline" in err
    assert not out.exists()


def test_a_city_without_a_station_is_a_clear_error(tmp_path, capsys):
    code = cli.main(
        ["data", "fetch", "--source", "noaa-isd", "--city", "108", "--start", "2017-01-01"]
        + ["--end", "2017-01-02", "--out", str(tmp_path / "x")]
    )
    assert code == 2 and "has no NOAA ISD station" in capsys.readouterr().err

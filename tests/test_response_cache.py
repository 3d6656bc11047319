"""The gateway's response cache and its HTTP semantics (ETag/304, gzip negotiation), on a bare Flask app."""

from __future__ import annotations

import gzip

import pytest
from flask import Flask

from flask_gateway.response_cache import ResponseCache, accepts_gzip, cached_response


@pytest.fixture()
def app() -> Flask:
    app = Flask("cache-test")
    app.config["WEATHER_RESPONSE_CACHE_MB"] = 1
    app.builds = []  # type: ignore[attr-defined]

    @app.get("/data/<int:version>")
    def data(version: int):
        def build() -> tuple[bytes, str]:
            app.builds.append(version)  # type: ignore[attr-defined]
            return (b'{"v":%d,"pad":"' % version) + b"x" * 5000 + b'"}', "application/json"

        return cached_response(("data", version), build)

    return app


def test_second_call_is_served_from_cache_and_a_new_version_rebuilds(app):
    client = app.test_client()
    first, again, newer = client.get("/data/1"), client.get("/data/1"), client.get("/data/2")
    assert first.data == again.data and newer.get_json()["v"] == 2
    assert app.builds == [1, 2]


def test_etag_answers_304_to_a_matching_if_none_match(app):
    client = app.test_client()
    first = client.get("/data/1")
    assert first.headers["ETag"].startswith('W/"') and first.headers["Cache-Control"] == "private, no-cache"
    unchanged = client.get("/data/1", headers={"If-None-Match": first.headers["ETag"]})
    assert unchanged.status_code == 304 and unchanged.data == b""
    other = client.get("/data/2", headers={"If-None-Match": first.headers["ETag"]})
    assert other.status_code == 200 and other.headers["ETag"] != first.headers["ETag"]


def test_gzip_only_when_accepted_and_same_content(app):
    client = app.test_client()
    plain = client.get("/data/1")
    zipped = client.get("/data/1", headers={"Accept-Encoding": "br, gzip;q=0.8"})
    refused = client.get("/data/1", headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "Content-Encoding" not in plain.headers and "Content-Encoding" not in refused.headers
    assert zipped.headers["Content-Encoding"] == "gzip" and zipped.headers["Vary"] == "Accept-Encoding"
    assert gzip.decompress(zipped.data) == plain.data and len(zipped.data) < len(plain.data) / 10


@pytest.mark.parametrize(
    "header, allowed",
    [
        ("gzip", True),
        ("deflate, gzip;q=0.5", True),
        ("*", True),
        ("gzip;q=0", False),
        ("", False),
        ("br", False),
        ("*;q=0, gzip", True),
        ("gzip;q=bad", False),
    ],
)
def test_accept_encoding_parsing(header, allowed):
    assert accepts_gzip(header) is allowed


def test_cache_is_bounded_by_bytes_oldest_out_first():
    cache = ResponseCache(max_bytes=250)
    for key in range(5):
        cache.entry(key, lambda key=key: (bytes([key]) * 100, "application/octet-stream"))
    assert len(cache) == 2  # 100 bytes each: only the two newest fit
    calls = []
    cache.entry(4, lambda: calls.append(4) or (b"", ""))
    cache.entry(0, lambda: calls.append(0) or (b"\0" * 100, ""))
    assert calls == [0]
    too_big = cache.entry("big", lambda: (b"x" * 1000, "text/plain"))
    assert too_big.body == b"x" * 1000 and len(cache) <= 2  # served, not kept

"""Encoded answers of the read-only weather queries, kept per process until their table version changes.

Why: a city-year of hourly rows is ≈1 MB of JSON. Filtering and encoding it costs milliseconds, but many
callers ask the same few ranges (dashboards, the current year) and the data only changes when the Delta
table gets a new version. So the encoded body — and its gzip form, made on first demand — is kept under a
key of (path, normalised query, table version); a new version makes new keys and the old entries age out
of the LRU. The store is bounded by bytes (``WEATHER_RESPONSE_CACHE_MB``, default 64 per process; 0 turns
it off).

HTTP semantics that come with it:
- a weak ``ETag`` (a hash of the body; weak because the gzip and plain forms share it) and
  ``If-None-Match`` → ``304 Not Modified``;
- ``Content-Encoding: gzip`` when the caller's ``Accept-Encoding`` allows it, with
  ``Vary: Accept-Encoding``; small bodies are sent as they are;
- ``Cache-Control: private, no-cache``: a client may keep the answer but must revalidate it, because a new
  table version can change it at any time.
Authentication, authorisation, rate limits and the audit record run before and after as for any call:
only the encoding work is skipped.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from flask import Response, current_app, request

#: bodies below this size are not worth compressing
MIN_GZIP_BYTES = 1024
#: zlib level: 6 (the default) compresses a city-year ≈9× in ≈10 ms, once per cache entry
GZIP_LEVEL = 6


@dataclass
class Entry:
    body: bytes
    mimetype: str
    etag: str
    _gzipped: bytes | None = field(default=None, repr=False)

    def gzipped(self) -> bytes:
        if self._gzipped is None:  # a race makes it twice at worst: same bytes
            self._gzipped = gzip.compress(self.body, GZIP_LEVEL, mtime=0)
        return self._gzipped

    @property
    def size(self) -> int:
        return len(self.body) + len(self._gzipped or b"")


class ResponseCache:
    """An LRU of :class:`Entry` bounded by the bytes it holds (bodies and their gzip forms)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, Entry] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def entry(self, key: Hashable, build: Callable[[], tuple[bytes, str]]) -> Entry:
        """The cached entry for ``key``, or a new one from ``build()`` → (body, mimetype)."""
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                return found
        body, mimetype = build()
        made = Entry(body, mimetype, hashlib.blake2b(body, digest_size=12).hexdigest())
        if len(body) <= self.max_bytes:
            with self._lock:
                old = self._entries.pop(key, None)
                self._bytes -= old.size if old else 0
                self._entries[key] = made
                self._bytes += made.size
                self._evict()
        return made

    def account(self, added: int) -> None:
        """Count bytes an entry grew by (its gzip form) and evict what no longer fits."""
        with self._lock:
            self._bytes += added
            self._evict()

    def _evict(self) -> None:
        while self._bytes > self.max_bytes and self._entries:
            _, oldest = self._entries.popitem(last=False)
            self._bytes -= oldest.size

    def __len__(self) -> int:
        return len(self._entries)


def _cache() -> ResponseCache:
    extensions = current_app.extensions
    if "response_cache" not in extensions:
        megabytes = float(current_app.config.get("WEATHER_RESPONSE_CACHE_MB", 64))
        extensions["response_cache"] = ResponseCache(int(megabytes * 1024 * 1024))
    return extensions["response_cache"]


def accepts_gzip(header: str) -> bool:
    """Whether an ``Accept-Encoding`` value allows gzip (``gzip``, ``gzip;q=0.5``, ``*``; not ``q=0``)."""
    allowed = {}
    for part in header.split(","):
        name, _, params = part.strip().partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        if name:
            allowed[name.strip().lower()] = quality
    return allowed.get("gzip", allowed.get("*", 0.0)) > 0


def cached_response(key: Hashable, build: Callable[[], tuple[bytes, str]]) -> Response:
    """Answer from the cache (building on a miss), honouring If-None-Match and Accept-Encoding."""
    cache = _cache()
    entry = cache.entry(key, build) if cache.max_bytes > 0 else Entry(*build(), etag="")
    headers = {"Vary": "Accept-Encoding", "Cache-Control": "private, no-cache"}
    if entry.etag:
        headers["ETag"] = f'W/"{entry.etag}"'
        if request.if_none_match.contains_weak(entry.etag):
            return Response(status=304, headers=headers)
    body = entry.body
    if len(body) >= MIN_GZIP_BYTES and accepts_gzip(request.headers.get("Accept-Encoding", "")):
        had = entry._gzipped is not None
        body = entry.gzipped()
        if not had and entry.etag:
            cache.account(len(body))
        headers["Content-Encoding"] = "gzip"
    return Response(body, mimetype=entry.mimetype, headers=headers)

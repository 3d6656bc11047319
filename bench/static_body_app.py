"""A bare WSGI app for bench/gateway_latency.py's (c) baseline: the gateway's own answer bytes, served as they
are, with no framework, auth or audit — what moving those bytes through gunicorn costs on this machine.

The bodies come from files named by ``STATIC_BODY_PLAIN`` and ``STATIC_BODY_GZIP``.
"""

from __future__ import annotations

import os
from pathlib import Path

PLAIN = Path(os.environ["STATIC_BODY_PLAIN"]).read_bytes()
GZIPPED = Path(os.environ["STATIC_BODY_GZIP"]).read_bytes()


def app(environ, start_response):
    gzip = "gzip" in environ.get("HTTP_ACCEPT_ENCODING", "")
    body = GZIPPED if gzip else PLAIN
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    if gzip:
        headers.append(("Content-Encoding", "gzip"))
    start_response("200 OK", headers)
    return [body]

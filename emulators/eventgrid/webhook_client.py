"""A small keep-alive HTTP client for webhook delivery: one connection per worker thread and endpoint.

Why not ``requests``: delivery is the stand-in's hot path (one POST per event by default) and requests'
per-call overhead is several times that of ``http.client`` on a reused connection; at a few thousand
events a second on two cores that difference decides whether delivery keeps up.
"""

from __future__ import annotations

import http.client
import socket
import threading
from urllib.parse import urlsplit

#: Errors that, on a reused keep-alive connection, usually mean the server closed it while idle.
_RETRYABLE_ON_REUSE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class WebhookClient:
    def __init__(self, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._local = threading.local()
        self._all: set[http.client.HTTPConnection] = set()
        self._lock = threading.Lock()

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str]:
        """(status, reason) or (None, outcome) when no answer came: TimedOut, ResolutionError, SocketError."""
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        for attempt in range(2):
            conn, reused = self._connection(parts.scheme, parts.netloc)
            try:
                conn.request("POST", target, body=body, headers=headers)
                answer = conn.getresponse()
                answer.read()
                if answer.will_close:
                    self._drop(parts.scheme, parts.netloc)
                return answer.status, answer.reason
            except _RETRYABLE_ON_REUSE:
                self._drop(parts.scheme, parts.netloc)
                if reused and attempt == 0:
                    continue  # the server closed an idle keep-alive connection: reconnect once
                return None, "SocketError"
            except TimeoutError:
                self._drop(parts.scheme, parts.netloc)
                return None, "TimedOut"
            except socket.gaierror:
                self._drop(parts.scheme, parts.netloc)
                return None, "ResolutionError"
            except (OSError, http.client.HTTPException):
                self._drop(parts.scheme, parts.netloc)
                return None, "SocketError"
        return None, "SocketError"

    def _connection(self, scheme: str, netloc: str) -> tuple[http.client.HTTPConnection, bool]:
        cache: dict[tuple[str, str], http.client.HTTPConnection] = self._local.__dict__.setdefault(
            "cache", {}
        )
        conn = cache.get((scheme, netloc))
        if conn is not None:
            return conn, True
        kind = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
        conn = kind(netloc, timeout=self.timeout)
        cache[(scheme, netloc)] = conn
        with self._lock:
            self._all.add(conn)
        return conn, False

    def _drop(self, scheme: str, netloc: str) -> None:
        conn = self._local.__dict__.get("cache", {}).pop((scheme, netloc), None)
        if conn is not None:
            conn.close()
            with self._lock:
                self._all.discard(conn)

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()

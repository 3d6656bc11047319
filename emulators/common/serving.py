"""Run a WSGI app on a threaded local server, in the foreground or in a background thread."""

from __future__ import annotations

import logging
import threading

from werkzeug.serving import BaseWSGIServer, make_server


def serve_in_thread(app, host: str = "127.0.0.1", port: int = 0) -> tuple[BaseWSGIServer, threading.Thread]:
    quiet_werkzeug()
    server = make_server(host, port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name=f"wsgi-{server.server_port}", daemon=True)
    thread.start()
    return server, thread


def quiet_werkzeug() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

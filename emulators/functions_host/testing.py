"""Test helper (the product never imports it): a host serving an app folder in this process on a free port."""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping
from pathlib import Path

from werkzeug.serving import make_server

from emulators.common.serving import quiet_werkzeug
from emulators.functions_host.server import create_app


class RunningHost:
    def __init__(
        self,
        app_dir: Path,
        function_keys: list[str] | None = None,
        master_key: str = "",
        settings: Mapping[str, str] | None = None,
    ) -> None:
        quiet_werkzeug()
        self.app = create_app(Path(app_dir), function_keys or [], master_key, settings)
        #: the imported function_app module (tests read what their functions recorded)
        self.module = sys.modules["function_app"]
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"functions-host-{self.server.server_port}",
            daemon=True,
        )
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    @property
    def host(self):
        return self.app.extensions["functions_host"]

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)
        self.server.server_close()
        self.host.stop()

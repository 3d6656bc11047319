"""``make run``'s command, end to end: ``python -m emulators.stack up --demo`` on free ports and a fresh state
folder prints every part of the demo, serves, and stops every process on Ctrl-C (SIGINT)."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from emulators.common.serving import serve_in_thread
from emulators.stack import DEFAULT_PORTS, ROOT, free_port

pytestmark = pytest.mark.stack
READY = "Serving; Ctrl-C stops everything."


def descendants(pid: int) -> set[int]:
    """Every living process below ``pid`` (the stack starts its parts in process groups of their own)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pids: set[int]) -> set[int]:
    living = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            living.add(pid)
    return living


def lineage_receiver():
    """A stand-in for a lineage tool (Marquez-style ``POST /api/v1/lineage``) and the events it got."""
    from flask import Flask, request

    app, received = Flask("lineage-receiver"), []

    @app.post("/api/v1/lineage")
    def lineage():
        received.append(request.get_json())
        return "", 201

    server, _ = serve_in_thread(app)
    return f"http://127.0.0.1:{server.server_port}", received, server


def test_make_run_demo_serves_then_stops_cleanly_on_ctrl_c(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "DATABRICKS_", "CLIMATELAKE_"))}
    env.update({f"CLIMATELAKE_{part.upper()}_PORT": str(free_port()) for part in DEFAULT_PORTS})
    env["CLIMATELAKE_STATE_DIR"] = str(tmp_path / "stack")
    lineage_url, lineage_events, lineage_server = lineage_receiver()
    env["CLIMATELAKE_OPENLINEAGE_URL"] = lineage_url
    process = subprocess.Popen(
        [sys.executable, "-m", "emulators.stack", "up", "--demo", "--cities", "2", "--end", "2024-01-31"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    output: list[str] = []
    parts: set[int] = set()
    try:
        deadline = time.monotonic() + 300
        while READY not in "".join(output):
            assert process.poll() is None, "".join(output)
            assert time.monotonic() < deadline, "".join(output)
            try:
                output.append(lines.get(timeout=1))
            except queue.Empty:
                pass
        text = "".join(output)
        assert "the subscriber received Climatelake.Request.Succeeded" in text
        assert "lineage: dinner.full_menu ← menu.app, menu.dessert, menu.main" in text
        masked = [line for line in output if "GET /v1/employees as a reader" in line]
        assert len(masked) == 2 and all("***-***-" in line and "***@" in line for line in masked)
        console = f"http://127.0.0.1:{env['CLIMATELAKE_GATEWAY_PORT']}/console/"
        assert f"Console:  {console}" in text and requests.get(console, timeout=10).status_code == 200
        profile = json.loads((tmp_path / "stack" / "demo-recipient.share").read_text())
        assert profile["shareCredentialsVersion"] == 1 and profile["bearerToken"]
        assert f":{env['CLIMATELAKE_WORKSPACE_PORT']}/api/2.0/delta-sharing/" in profile["endpoint"]
        ingest = [e for e in lineage_events if e["job"]["name"].startswith("climatelake_weather_ingest")]
        assert {e["eventType"] for e in ingest} >= {"START", "COMPLETE"}, lineage_events[:3]
        parts = descendants(process.pid)
        assert len(parts) >= 6  # Azurite, Sail, workspace, Event Grid, Functions host, gunicorn (+ workers)
    finally:
        os.killpg(process.pid, signal.SIGINT)
        code = process.wait(timeout=90)
        lineage_server.shutdown()
    assert code == 0, "".join(output)
    assert alive(parts) == set(), "a part of the stack outlived Ctrl-C"

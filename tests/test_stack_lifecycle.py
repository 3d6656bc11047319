"""The launcher leaves no process behind, and says clearly when a port is taken."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from emulators.stack import Stack, StackError

pytestmark = pytest.mark.stack


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pgid:
                    members.append(int(entry.name))
            except ProcessLookupError:
                pass
    return members


def test_stop_leaves_no_process_running(tmp_path: Path):
    stack = Stack(tmp_path, in_memory=True).start(only=("azurite", "sail", "workspace", "eventgrid"))
    groups = [p.pid for p in stack.processes.values()]
    assert all(_group_members(g) for g in groups)
    stack.stop()
    assert [g for g in groups if _group_members(g)] == []


def test_a_taken_port_is_reported_by_name(tmp_path: Path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        stack = Stack(tmp_path, in_memory=True, ports={"workspace": port})
        with pytest.raises(StackError, match=f"workspace={port}"):
            stack.start()
    assert stack.processes == {}

"""Resident memory of the local stack's processes, read from Linux's /proc (no psutil in the project).

Each part of :class:`emulators.stack.Stack` runs in its own session and process group, so a part's memory
is the sum over its group: gunicorn's master and workers, the workspace and the job processes it forks.
RSS counts shared pages once per process, so a group's sum overstates what forked workers really use; it
is the figure ``ps`` and ``top`` show, and it grows when any of them leaks, which is what is watched here.
"""

from __future__ import annotations

import os
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")


def _group_of(stat: str) -> int:
    # /proc/<pid>/stat: "pid (comm) state ppid pgrp ..."; comm may hold spaces or parentheses
    return int(stat.rsplit(")", 1)[1].split()[2])


def group_rss_mb(pgid: int) -> float:
    """MiB resident in every process of process group ``pgid`` (0.0 when none is left)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if _group_of((entry / "stat").read_text()) != pgid:
                continue
            total += int((entry / "statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue  # it exited while being read
    return total * PAGE / 2**20


def stack_rss_mb(stack) -> dict[str, float]:
    """MiB resident per running part of ``stack`` (an :class:`emulators.stack.Stack`), by part name."""
    return {name: round(group_rss_mb(process.pid), 1) for name, process in stack.processes.items()}

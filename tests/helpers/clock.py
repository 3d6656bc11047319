"""Waiting for wall-clock time itself, for the few tests whose condition is time passing."""

from __future__ import annotations

import time


def idle_past(seconds: float) -> None:
    """Let ``seconds`` of wall-clock time pass with no call to any part. Idleness past a timeout is the
    condition under test there (nothing reports it), so this waits for a deadline rather than an event."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(left, 0.25))

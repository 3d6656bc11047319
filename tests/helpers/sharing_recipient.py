"""A Delta Sharing recipient: the real ``delta-sharing`` client, run in its own virtual environment.

Why a separate process: delta-sharing 1.4.2 caps pyarrow at 23.0.1 while the project pins 26, so the
tests and the benchmark run this script with ``.local/venv-sharing/bin/python``. It reads a JSON request on
stdin — ``{"profile": {...}, "steps": [{"do": "tables"} | {"do": "load", "table": "share.schema.table",
"version": n?, "limit": n?}]}`` — and prints one JSON line: a result per step, or the error it met (class,
HTTP status, message), so a refusal is an answer, not a crash.
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _plain(value: Any) -> Any:
    """A pandas/numpy value as plain JSON (dates and times in ISO 8601, NaN/NaT/NA as null)."""
    import pandas as pd

    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return value


def _step(profile: str, step: dict[str, Any]) -> dict[str, Any]:
    import delta_sharing

    if step["do"] == "tables":
        client = delta_sharing.SharingClient(profile)
        return {"tables": sorted(f"{t.share}.{t.schema}.{t.name}" for t in client.list_all_tables())}
    started = time.perf_counter()
    frame = delta_sharing.load_as_pandas(
        f"{profile}#{step['table']}", version=step.get("version"), limit=step.get("limit")
    )
    seconds = time.perf_counter() - started
    answer: dict[str, Any] = {"columns": list(frame.columns), "row_count": len(frame), "seconds": seconds}
    if step.get("rows", True):
        answer["rows"] = [[_plain(v) for v in row] for row in frame.itertuples(index=False, name=None)]
    return answer


def main() -> None:
    request = json.loads(sys.stdin.read())
    results = []
    with tempfile.TemporaryDirectory() as folder:
        profile = Path(folder) / "profile.share"
        profile.write_text(json.dumps(request["profile"]))
        for step in request["steps"]:
            try:
                results.append(_step(str(profile), step))
            except Exception as exc:  # the step's refusal is its answer
                response = getattr(exc, "response", None)
                results.append(
                    {
                        "error": type(exc).__name__,
                        "status": getattr(response, "status_code", None),
                        "message": str(exc)[:2000],
                    }
                )
    print(json.dumps({"results": results}))


if __name__ == "__main__":
    main()

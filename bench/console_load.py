"""Web console load (issue 17): a city-year (8,760 hours × 4 measures) charted, beside a bare page.

In Debian's headless Chromium driven by Playwright for Python (the launch of tests/test_console.py), against
the real local stack (gateway under gunicorn, Azurite, Sail, the stand-ins), in one run:

- console: ``/console/#request/<id>`` of a finished request for one city × 2023, opened signed in (the key
  put in sessionStorage before the page loads, as a signed-in tab has it): the page, its modules, uPlot, the
  status, the rows as JSON pages from ``/v1/requests/<id>/results``, one uPlot chart per measure, the table.
- bare: a blank page under the same gateway origin and CSP that loads the gateway's own uPlot files and draws
  the same four charts (same size) from the same arrays, fetched as one static JSON of columns — the cost of
  drawing the data alone. The page, its script and the JSON are answered by Playwright's router (so they cost
  the gateway nothing; uPlot comes from the gateway).

Each run opens a fresh browser context (a cold cache), alternating console and bare. Figures, from the
page's own clock (``performance``): first contentful paint; charts drawn (every chart's uPlot draw hook has
fired, seen by a requestAnimationFrame poll, so ±1 frame); data arrived (responseEnd of the last result
page / the JSON); drawn − arrived. Target: the console's chart drawn ≤ 1 s after the data arrives.

Run: ``.venv/bin/python bench/console_load.py [--runs 5]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from playwright.sync_api import Route, sync_playwright  # noqa: E402

from emulators.stack import Stack  # noqa: E402
from flask_gateway.console import CONSOLE_CSP  # noqa: E402
from tests.test_console import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

YEAR = dt.date(2023, 1, 1), dt.date(2023, 12, 31)
METRICS = ["temp", "precipitation", "humidity", "wind_speed"]
VIEWPORT = {"width": 1100, "height": 900}
BARE_HTML = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>bare uPlot</title>
<link rel="stylesheet" href="vendor/uplot/uPlot.min.css">
<script src="vendor/uplot/uPlot.iife.min.js" defer></script>
<script src="bench-bare.js" defer></script></head><body><h1>bare</h1><div id="charts"></div></body></html>"""
# Four charts of 520 × 260 px, as the console draws them at this viewport (two columns)
BARE_JS = """
fetch("bench-data.json").then((r) => r.json()).then((data) => {
  for (const metric of data.metrics) {
    const host = document.createElement("figure");
    document.getElementById("charts").append(host);
    new uPlot({width: 520, height: 260, scales: {x: {time: true}},
      series: [{}, {label: metric, stroke: "#0072B2", width: 1.5}],
      hooks: {draw: [() => { host.dataset.drawn = "true"; }]}}, [data.x, data[metric]], host);
  }
  document.body.dataset.state = "ready";
});
"""
DRAWN = {
    "console": """() => { const f = [...document.querySelectorAll('#charts figure.chart')];
      return document.querySelector('#result[data-state=ready]') && f.length
        && f.every((x) => x.dataset.drawn) && performance.now(); }""",
    "bare": """() => { const f = [...document.querySelectorAll('#charts figure')];
      return document.body.dataset.state === 'ready' && f.length === 4 && f.every((x) => x.dataset.drawn)
        && performance.now(); }""",
}
TIMINGS = """(pattern) => ({
  fcp: performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null,
  data: Math.max(...performance.getEntriesByType('resource').filter((e) => e.name.includes(pattern))
    .map((e) => e.responseEnd)),
})"""


def finished_request(gateway: str, key: str) -> str:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    body = {"city_ids": [1], "start_date": str(YEAR[0]), "end_date": str(YEAR[1]), "metrics": METRICS}
    answer = session.post(f"{gateway}/v1/requests", json=body, timeout=60)
    answer.raise_for_status()
    request_id = answer.json()["request_id"]
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        status = session.get(f"{gateway}/v1/requests/{request_id}", timeout=60).json()["status"]
        if status in ("succeeded", "failed"):
            assert status == "succeeded", status
            return request_id
        time.sleep(0.5)  # polling the API, as a client does; not a test
    raise SystemExit(f"request {request_id} did not finish in 300 s")


def columns(gateway: str, key: str, request_id: str) -> dict:
    """The result as uPlot's arrays: x (epoch seconds) and one array per measure."""
    rows = requests.get(
        f"{gateway}/v1/requests/{request_id}/results",
        params={"limit": 50000},
        headers={"Authorization": f"Bearer {key}"},
        timeout=120,
    ).json()["rows"]
    xs = [
        dt.datetime.fromisoformat(r["date"]).replace(hour=r["hour"], tzinfo=dt.UTC).timestamp() for r in rows
    ]
    return {"metrics": METRICS, "x": xs, **{m: [r[m] for r in rows] for m in METRICS}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    logging.getLogger("databricks.sdk").setLevel(logging.ERROR)  # the stand-in has no host metadata
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(Path(tmp), in_memory=True)
        try:
            stack.start()
            started = time.perf_counter()
            stack.bootstrap([1], *YEAR)
            gateway, key = stack.url("gateway"), stack.api_key
            request_id = finished_request(gateway, key)
            data = columns(gateway, key, request_id)
            points = len(data["x"])
            print(f"1 city × 2023 loaded and requested in {time.perf_counter() - started:.0f} s")
            results = measure(gateway, key, request_id, data, args.runs)
        finally:
            stack.stop()
    report(results, points, args.runs)
    return 0


def measure(gateway: str, key: str, request_id: str, data: dict, runs: int) -> dict[str, list[dict]]:
    body = json.dumps(data)
    served = {
        "bench-bare.html": ("text/html", BARE_HTML),
        "bench-bare.js": ("text/javascript", BARE_JS),
        "bench-data.json": ("application/json", body),
    }

    def bare_files(route: Route) -> None:
        kind, text = served[route.request.url.rsplit("/", 1)[1]]
        route.fulfill(
            status=200, content_type=kind, body=text, headers={"Content-Security-Policy": CONSOLE_CSP}
        )

    results: dict[str, list[dict]] = {"console": [], "bare": []}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            for run in range(runs + 1):  # the first round warms the server's caches and is not counted
                for kind in ("console", "bare"):
                    context = browser.new_context(base_url=gateway, viewport=VIEWPORT)
                    context.set_default_timeout(60_000)
                    if kind == "console":
                        context.add_init_script(
                            f"sessionStorage.setItem('climatelake.key', {json.dumps(key)})"
                        )
                        url, pattern = f"/console/#request/{request_id}", "/results"
                    else:
                        context.route("**/console/bench-*", bare_files)
                        url, pattern = "/console/bench-bare.html", "bench-data.json"
                    page = context.new_page()
                    page.goto(url)
                    drawn = page.wait_for_function(DRAWN[kind], polling="raf", timeout=60_000).json_value()
                    timing = page.evaluate(TIMINGS, pattern)
                    if kind == "console":
                        held = page.get_attribute("figure[data-metric=temp]", "data-points")
                        assert held == str(len(data["x"])), held
                    context.close()
                    if run:
                        results[kind].append({**timing, "drawn": drawn, "after_data": drawn - timing["data"]})
        finally:
            browser.close()
    return results


def report(results: dict[str, list[dict]], points: int, runs: int) -> None:
    def med(kind: str, field: str) -> float:
        return statistics.median(r[field] for r in results[kind])

    def span(kind: str, field: str) -> str:
        values = [r[field] for r in results[kind]]
        return f"{med(kind, field):7.0f} ({min(values):.0f}–{max(values):.0f})"

    print(
        f"\n{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, {platform.node()}; "
        f"{points:,} points × {len(METRICS)} series, {runs} runs each (median, range; ms from navigation)"
    )
    print(f"{'':12} {'first paint':>22} {'data arrived':>22} {'charts drawn':>22} {'drawn − arrived':>22}")
    for kind in ("console", "bare"):
        cells = [span(kind, f) for f in ("fcp", "data", "drawn", "after_data")]
        print(f"{kind:12} " + " ".join(f"{c:>22}" for c in cells))
    ratios = [med("console", f) / med("bare", f) for f in ("fcp", "data", "drawn", "after_data")]
    print(f"{'ratio':12} " + " ".join(f"{r:>22.2f}" for r in ratios))
    verdict = "met" if med("console", "after_data") <= 1000 else "NOT met"
    print(f"target (console's charts drawn ≤ 1 s after the data arrives): {verdict}")


if __name__ == "__main__":
    raise SystemExit(main())

"""The web console in a real browser against the real local stack (issue 17): Debian's headless Chromium
driven by Playwright for Python (its own browser download cannot work here and is never run).

Sign in, ask, watch the request succeed live (unchanged polls answered 304 with the status's ETag), the
chart holding the right number of points, a CSV and a Parquet download identical to the API's bytes, field
errors beside the fields (the page's schema checks and the API's problem+json), a failed request's reason,
paging, sign-out, a phone-sized screen, axe-core's WCAG 2.1 A/AA rules on every view; on every page the
console's CSP, no console error and no request to another origin. A failing test leaves a screenshot in
.local/screenshots/ (git-ignored); the main test always saves console.png there (the README's picture,
docs/console.png, is one of those)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests
from playwright.sync_api import Browser, Page, sync_playwright

from flask_gateway.console import CONSOLE_CSP

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / ".local" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 30_000
TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium package, installed on first use (root, as on CI; about a minute)."""
    if CHROMIUM.exists():
        return CHROMIUM
    if not shutil.which("apt-get"):
        pytest.fail(f"{CHROMIUM} is missing and there is no apt-get to install Debian's chromium package")
    started = time.perf_counter()
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}  # the host's proxy settings, if any, too
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            pytest.fail(
                f"`{' '.join(command)}` failed ({done.returncode}), so the browser tests cannot run:\n"
                f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
            )
    if not CHROMIUM.exists():
        pytest.fail(f"apt-get installed chromium but {CHROMIUM} is not there")
    print(f"installed Debian's chromium in {time.perf_counter() - started:.0f} s")
    return CHROMIUM


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Console:
    page: Page
    origin: str
    errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    api_calls: list[str] = field(default_factory=list)

    def open(self, fragment: str = "") -> None:
        self.page.goto(f"/console/{fragment}")
        self.page.wait_for_selector("#view-sign-in:not([hidden]), #nav:not([hidden])")

    def sign_in(self, key: str, fragment: str = "") -> None:
        """With the keyboard, as a person would: type the key, press Enter."""
        self.open(fragment)
        self.page.fill("#api-key", key)
        self.page.press("#api-key", "Enter")
        self.page.wait_for_selector("#nav:not([hidden])")

    def unexpected_errors(self, *allowed_statuses: int) -> list[str]:
        allowed = [f"status of {status} " for status in allowed_statuses]
        return [e for e in self.errors if not any(a in e for a in allowed)]


@pytest.fixture()
def console(browser: Browser, local_stack, request) -> Iterator[Console]:
    context = browser.new_context(
        base_url=local_stack.gateway_url, viewport={"width": 1100, "height": 900}, accept_downloads=True
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    found = Console(page, local_stack.gateway_url)
    page.on("console", lambda m: found.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: found.errors.append(f"uncaught: {error}"))

    def on_request(r) -> None:
        if urlparse(r.url).scheme in ("http", "https", "ws", "wss") and not r.url.startswith(
            found.origin + "/"
        ):
            found.foreign.append(r.url)
        if "/v1/" in r.url:
            found.api_calls.append(f"{r.method} {urlparse(r.url).path}")

    page.on("request", on_request)
    failed_before = request.session.testsfailed
    yield found
    if request.session.testsfailed > failed_before:  # this test's call failed: keep what the page showed
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{request.node.name}.png"), full_page=True)
    context.close()


def api(local_stack, path: str, **kwargs) -> requests.Response:
    return local_stack.gateway.get(f"{local_stack.gateway_url}{path}", timeout=30, **kwargs)


def charts_drawn(page: Page) -> None:
    """Wait until uPlot has drawn every chart of the result. A function, not an expression: Playwright
    evaluates an expression string with eval, which the page's CSP (no 'unsafe-eval') refuses."""
    page.wait_for_function("() => !document.querySelector('#charts figure.chart:not([data-drawn])')")


@pytest.fixture(scope="module")
def city_month(local_stack) -> str:
    """A request for three cities' January, submitted through the API and finished."""
    answer = local_stack.gateway.post(
        f"{local_stack.gateway_url}/v1/requests",
        json={"city_ids": [1, 2, 3], "start_date": "2024-01-01", "end_date": "2024-01-31"},
        timeout=30,
    )
    assert answer.status_code == 202, answer.text
    request_id = answer.json()["request_id"]
    event = local_stack.wait_for_request_event(request_id)
    assert event["eventType"] == "Climatelake.Request.Succeeded", event
    return request_id


def test_a_visitor_without_a_key_gets_the_sign_in_form_and_no_data(console: Console, local_stack):
    page = requests.get(f"{local_stack.gateway_url}/console/", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Security-Policy"] == CONSOLE_CSP
    assert "frame-ancestors 'none'" in CONSOLE_CSP and "unsafe-inline" not in CONSOLE_CSP
    script = requests.get(f"{local_stack.gateway_url}/console/assets/app.js", timeout=10)
    assert script.headers["Content-Security-Policy"] == CONSOLE_CSP

    console.open("#request/anything")
    assert console.page.is_visible("#view-sign-in") and not console.page.is_visible("#nav")
    for view in ("#view-ask", "#view-requests", "#view-request"):
        assert console.page.is_hidden(view)
    assert console.api_calls == []  # nothing asked of the API without a key

    console.page.fill("#api-key", "clk_notakey_000000000000")
    console.page.click("#sign-in-form button[type=submit]")
    error = console.page.wait_for_selector("#api-key-error:not([hidden])")
    assert error.text_content() == "The API key is not valid."  # the API's problem detail, verbatim
    assert console.page.get_attribute("#api-key", "aria-invalid") == "true"
    assert console.page.evaluate("sessionStorage.length") == 0
    assert console.page.is_hidden("#nav")
    assert console.unexpected_errors(401) == [] and console.foreign == []


def test_ask_watch_and_see_a_request_live(console: Console, local_stack):
    page = console.page
    console.sign_in(local_stack.stack.api_key)
    page.wait_for_selector("#city-2")
    page.check("#city-2")  # city 1 is ticked already
    page.fill("#start_date", "2024-01-01")
    page.fill("#end_date", "2024-01-07")
    for metric in ("precipitation", "wind_speed"):
        page.uncheck(f"#metrics-{metric}")
    page.evaluate(  # every status the page shows, in order
        """() => { window.seen = []; const view = document.querySelector('#view-request');
          new MutationObserver(() => { const s = view.dataset.status;
            if (s && s !== window.seen.at(-1)) window.seen.push(s); })
          .observe(view, {attributes: true, attributeFilter: ['data-status']});
        }"""
    )
    page.click("#ask-submit")
    page.wait_for_selector("#view-request[data-status=succeeded]", timeout=120_000)
    request_id = page.text_content("#request-id")
    assert page.evaluate("location.hash") == f"#request/{request_id}"
    seen = page.evaluate("window.seen")
    order = ["accepted", "manifest_written", "job_started", "succeeded"]
    assert seen[0] != "succeeded" and seen[-1] == "succeeded", seen  # shown before it finished: live
    assert [order.index(s) for s in seen] == sorted(order.index(s) for s in seen)

    record = api(local_stack, f"/v1/requests/{request_id}").json()
    steps = page.query_selector_all("#timeline li")
    assert [s.get_attribute("data-step") for s in steps] == order
    assert all("done" in s.get_attribute("class") for s in steps)
    times = [s.query_selector(".step-at").text_content() for s in steps]
    assert all(TIME.match(t) for t in times), times
    assert times == [e["at"][:19].replace("T", " ") for e in record["timeline"]]

    page.wait_for_selector("#result[data-state=ready]")
    rows = api(local_stack, f"/v1/requests/{request_id}/results", params={"limit": 50000}).json()
    assert rows["row_count"] == 2 * 7 * 24 and page.get_attribute("#result", "data-rows") == "336"
    charts = page.query_selector_all("#charts figure.chart")
    assert [c.get_attribute("data-metric") for c in charts] == ["temp", "humidity"]
    for chart in charts:
        page.wait_for_selector(f"figure[data-metric={chart.get_attribute('data-metric')}][data-drawn]")
        # uPlot's own data: one x per hour of the week, one line per city
        assert chart.get_attribute("data-points") == str(7 * 24)
        assert chart.get_attribute("data-series") == "2"
        assert chart.query_selector("canvas").bounding_box()["width"] > 300
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)  # the page down to the charts: the README's picture
    bottom = page.query_selector("#charts").bounding_box()
    clip = {"x": 0, "y": 0, "width": 1100, "height": bottom["y"] + bottom["height"] + 16}
    page.screenshot(path=str(SCREENSHOTS / "console.png"), full_page=True, clip=clip)

    assert page.text_content("#rows-caption") == "Rows 1–50 of 336"
    page.click("#rows-next")
    assert page.text_content("#rows-caption") == "Rows 51–100 of 336"
    first = [td.text_content() for td in page.query_selector_all("#rows-table tbody tr:first-child td")]
    expected = rows["rows"][50]
    columns = ("city_id", "date", "hour", "temp", "humidity")
    assert first == [v if isinstance(v := expected[c], str) else f"{v:g}" for c in columns]

    for fmt in ("csv", "parquet"):
        with page.expect_download() as download:
            page.click(f"#result .downloads button[data-format={fmt}]")
        assert download.value.suggested_filename == f"{request_id}.{fmt}"
        saved = Path(download.value.path()).read_bytes()
        assert saved == api(local_stack, f"/v1/requests/{request_id}/results", params={"format": fmt}).content
    page.locator("#download-status").filter(has_text=f"Saved {request_id}.parquet").wait_for()

    page.click("#nav a[data-view=requests]")
    listed = page.wait_for_selector(f"#requests-table tr[data-request-id='{request_id}']")
    assert listed.get_attribute("data-status") == "succeeded"

    page.click("#sign-out")
    page.wait_for_selector("#view-sign-in:not([hidden])")
    assert page.evaluate("sessionStorage.length") == 0 and page.is_hidden("#nav")
    calls = len(console.api_calls)
    page.reload()
    page.wait_for_selector("#view-sign-in:not([hidden])")
    assert len(console.api_calls) == calls  # signed out for good: a reload asks the API nothing
    assert console.unexpected_errors() == [] and console.foreign == []


def test_bad_fields_are_shown_beside_them_by_the_page_and_by_the_api(console: Console, local_stack):
    page = console.page
    console.sign_in(local_stack.stack.api_key)
    page.wait_for_selector("#city-1")
    body = {"city_ids": [1], "start_date": "2024-02-30", "end_date": "2024-03-01"}
    page.fill("#start_date", body["start_date"])
    page.fill("#end_date", body["end_date"])
    posts = len(console.api_calls)
    page.click("#ask-submit")
    error = page.wait_for_selector("#start_date-error:not([hidden])")
    assert console.api_calls[posts:] == []  # the page's own check, from the request body's JSON Schema
    assert page.get_attribute("#start_date", "aria-invalid") == "true"
    assert page.evaluate("document.activeElement.id") == "start_date"
    assert page.is_hidden("#end_date-error") and page.is_hidden("#ask-error")
    problem = local_stack.gateway.post(f"{local_stack.gateway_url}/v1/requests", json=body, timeout=30).json()
    assert problem["invalid_fields"] == ["start_date"]
    assert f"start_date: {error.text_content()}" == problem["detail"]  # the page says what the API says

    page.uncheck("#city-1")
    page.fill("#start_date", "2024-01-01")
    page.click("#ask-submit")
    error = page.wait_for_selector("#city_ids-error:not([hidden])")
    assert error.text_content() == "[] should be non-empty" and page.is_hidden("#start_date-error")

    page.check("#city-1")
    page.fill("#start_date", "2024-01-20")
    page.fill("#end_date", "2024-01-10")
    with page.expect_response(
        lambda r: r.url.endswith("/v1/requests") and r.request.method == "POST"
    ) as sent:
        page.click("#ask-submit")
    assert sent.value.status == 400  # not in the schema: the API judges it, and its answer names the field
    error = page.wait_for_selector("#end_date-error:not([hidden])")
    assert error.text_content() == sent.value.json()["detail"] == "end_date is before start_date"
    assert page.is_visible("#view-ask") and page.is_hidden("#ask-error")
    assert console.unexpected_errors(400) == [] and console.foreign == []


def test_a_failed_request_shows_why(console: Console, local_stack):
    request_id = f"console-failed-{dt.datetime.now(dt.UTC):%H%M%S%f}"
    manifest = {"manifest_version": 1, "city_ids": [1], "start_date": "2024-01-10", "end_date": "2024-01-01"}
    put = local_stack.gateway.put(
        f"{local_stack.gateway_url}/v1/manifests/{request_id}.json", data=json.dumps(manifest), timeout=30
    )
    assert put.status_code == 201, put.text
    event = local_stack.wait_for_request_event(request_id)
    assert event["eventType"] == "Climatelake.Request.Failed", event
    reason = api(local_stack, f"/v1/requests/{request_id}").json()["reason"]

    console.sign_in(local_stack.stack.api_key, f"#request/{request_id}")
    console.page.wait_for_selector("#view-request[data-status=failed]")
    assert console.page.text_content("#request-failure") == f"Why it failed: {reason}"
    assert "end_date is before start_date" in reason
    last = console.page.query_selector("#timeline li:last-child")
    assert last.get_attribute("data-step") == "failed" and "failed" in last.get_attribute("class")
    assert console.page.is_hidden("#result")
    assert console.unexpected_errors() == [] and console.foreign == []


def test_polling_revalidates_with_the_status_etag(console: Console, local_stack):
    """While a request does not move, the page's polls send the status's ETag back and get bodiless 304s;
    when it moves, the next poll gets the new status and the timeline shows it."""
    from climatelake.status import RequestStatusStore

    store = RequestStatusStore(local_stack.stack.connection_string)
    request_id = f"console-etag-{dt.datetime.now(dt.UTC):%H%M%S%f}"
    store.create(request_id, "manifest_written")
    statuses: list[int] = []
    console.page.on(
        "response",
        lambda r: statuses.append(r.status) if r.url.endswith(f"/v1/requests/{request_id}") else None,
    )
    with console.page.expect_response(lambda r: r.url.endswith(request_id) and r.status == 304):
        console.sign_in(local_stack.stack.api_key, f"#request/{request_id}")
    assert statuses[0] == 200 and 304 in statuses
    assert console.page.get_attribute("#view-request", "data-status") == "manifest_written"
    store.advance(request_id, "job_started", run_id=1)
    console.page.wait_for_selector("#view-request[data-status=job_started]")
    assert console.unexpected_errors() == [] and console.foreign == []


def test_my_requests_page_through_the_api(console: Console, local_stack):
    for day in range(1, 12):  # more than a page (10) of requests; they need not finish to be listed
        answer = local_stack.gateway.post(
            f"{local_stack.gateway_url}/v1/requests",
            json={"city_ids": [3], "start_date": f"2024-01-{day:02d}", "end_date": f"2024-01-{day:02d}"},
            timeout=30,
        )
        assert answer.status_code == 202, answer.text
    newest = api(local_stack, "/v1/requests", params={"limit": 20}).json()["requests"]
    console.sign_in(local_stack.stack.api_key, "#requests")
    page = console.page
    page.wait_for_selector("#requests-table tbody tr")

    def ids() -> list[str]:
        return [
            r.get_attribute("data-request-id") for r in page.query_selector_all("#requests-table tbody tr")
        ]

    assert ids() == [r["request_id"] for r in newest[:10]]
    assert page.is_disabled("#requests-newer") and page.is_enabled("#requests-older")
    page.click("#requests-older")
    page.wait_for_selector(f"#requests-table tr[data-request-id='{newest[10]['request_id']}']")
    assert ids() == [r["request_id"] for r in newest[10:20]]
    page.click("#requests-newer")
    page.wait_for_selector(f"#requests-table tr[data-request-id='{newest[0]['request_id']}']")
    page.click(f"#requests-table tr[data-request-id='{newest[0]['request_id']}'] a")
    page.wait_for_selector("#view-request:not([hidden])")
    assert page.text_content("#request-id") == newest[0]["request_id"]
    assert console.unexpected_errors() == [] and console.foreign == []


def test_readable_on_a_phone(console: Console, local_stack, city_month: str):
    page = console.page
    page.set_viewport_size({"width": 390, "height": 844})
    console.open()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"  # keyboard users skip the header
    wide = "document.documentElement.scrollWidth <= innerWidth"
    assert page.evaluate(wide)
    console.sign_in(local_stack.stack.api_key, f"#request/{city_month}")
    page.wait_for_selector("#result[data-state=ready]")
    page.wait_for_selector("figure[data-metric=temp][data-drawn]")
    temp = page.query_selector("figure[data-metric=temp]")
    assert temp.get_attribute("data-points") == str(31 * 24) and temp.get_attribute("data-series") == "3"
    assert temp.bounding_box()["width"] <= 390
    assert page.evaluate(wide), (
        "the result view scrolls sideways on a phone"
    )  # the table scrolls inside its box
    page.click("#nav a[data-view=ask]")
    page.wait_for_selector("#city-list input")
    assert page.evaluate(wide)
    assert console.unexpected_errors() == [] and console.foreign == []


def test_a_daily_result_charts_each_aggregate_per_city(console: Console, local_stack):
    answer = local_stack.gateway.post(
        f"{local_stack.gateway_url}/v1/requests",
        json={
            "city_ids": [1, 2],
            "start_date": "2024-01-01",
            "end_date": "2024-01-10",
            "granularity": "daily",
        },
        timeout=30,
    )
    assert answer.status_code == 202, answer.text
    request_id = answer.json()["request_id"]
    console.sign_in(local_stack.stack.api_key, f"#request/{request_id}")
    console.page.wait_for_selector("#result[data-state=ready]", timeout=120_000)
    charts_drawn(console.page)
    charts = {
        c.get_attribute("data-metric"): (c.get_attribute("data-points"), c.get_attribute("data-series"))
        for c in console.page.query_selector_all("#charts figure.chart[data-drawn]")
    }
    # a point per day; temperature has min, mean and max for each of the two cities
    assert charts == {
        "temp": ("10", "6"),
        "precipitation": ("10", "2"),
        "humidity": ("10", "2"),
        "wind_speed": ("10", "2"),
    }
    assert console.page.text_content("#rows-caption") == "Rows 1–20 of 20"
    assert console.unexpected_errors() == [] and console.foreign == []


AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"


def axe_violations(page: Page) -> list[str]:
    """axe-core's WCAG 2.x A/AA rules on what the page shows now. Evaluated through the DevTools protocol,
    which the page's CSP does not govern (a script tag would rightly be refused)."""
    assert AXE.is_file(), "node_modules/axe-core is missing: run `make install` (npm install)"
    tags = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
    result = page.evaluate(
        f"{AXE.read_text()}\n;axe.run(document, {{runOnly: {{type: 'tag', values: {tags}}}}})"
    )
    assert len(result["passes"]) >= 10, result["passes"]  # the rules did run on this page
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
    ]


def test_every_view_passes_axe_wcag_aa_checks(console: Console, local_stack, city_month: str):
    page = console.page
    console.open()
    assert axe_violations(page) == []
    page.fill("#api-key", "clk_notakey_000000000000")
    page.press("#api-key", "Enter")
    page.wait_for_selector("#api-key-error:not([hidden])")
    assert axe_violations(page) == []  # with the field's error shown
    console.sign_in(local_stack.stack.api_key)
    page.wait_for_selector("#city-1")
    page.fill("#start_date", "2024-13-01")
    page.click("#ask-submit")
    page.wait_for_selector("#start_date-error:not([hidden])")
    assert axe_violations(page) == []
    page.click("#nav a[data-view=requests]")
    page.wait_for_selector("#requests-table tbody tr")
    assert axe_violations(page) == []
    page.goto(f"/console/#request/{city_month}")
    page.wait_for_selector("#result[data-state=ready]")
    charts_drawn(page)
    assert axe_violations(page) == []
    assert console.unexpected_errors(401) == [] and console.foreign == []

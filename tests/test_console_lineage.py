"""The console's lineage and employees views in real headless Chromium against the real local stack (issue
17), with the browser, page and screenshot-on-failure fixtures of tests/test_console.py.

Lineage: a request's graph holds exactly the nodes its /lineage answer names (manifest → job run → result
table → event), and a table's graph exactly the tables /v1/tables/<name>/lineage names, its columns listed;
a node leads to that table's own lineage. Employees: a reader sees the API's masks, marked as masked, and a
pii_reader sees the decrypted values. Both views pass axe-core's WCAG 2.1 A/AA rules."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from climatelake.keys import ApiKeyStore
from tests import test_console as shared
from tests.test_console import Console, axe_violations

# the browser, the page and its screenshot on failure: test_console's fixtures, found here by name
chromium, browser, console = shared.chromium, shared.browser, shared.console

pytestmark = pytest.mark.stack


def get(local_stack, path: str, key: str | None = None, **params) -> dict:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    answer = local_stack.gateway.get(
        f"{local_stack.gateway_url}{path}", params=params, headers=headers, timeout=60
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.fixture(scope="module")
def finished(local_stack) -> str:
    answer = local_stack.gateway.post(
        f"{local_stack.gateway_url}/v1/requests",
        json={"city_ids": [1, 3], "start_date": "2024-01-08", "end_date": "2024-01-09"},
        timeout=30,
    )
    assert answer.status_code == 202, answer.text
    request_id = answer.json()["request_id"]
    assert local_stack.wait_for_request_event(request_id)["eventType"] == "Climatelake.Request.Succeeded"
    return request_id


def graph_nodes(console: Console, host: str) -> dict[str, str]:
    """The graph's nodes as drawn: data-node → the node's full text (its SVG title)."""
    return {
        node.get_attribute("data-node"): node.query_selector("title").text_content()
        for node in console.page.query_selector_all(f"{host} svg [data-node]")
    }


def test_the_lineage_graphs_have_the_nodes_the_api_returns(console: Console, local_stack, finished: str):
    page = console.page
    lineage = get(local_stack, f"/v1/requests/{finished}/lineage")
    console.sign_in(local_stack.stack.api_key, f"#request/{finished}")
    page.wait_for_selector("#lineage[data-state=ready]", timeout=120_000)
    nodes = graph_nodes(console, "#request-graph")
    assert list(nodes) == ["manifest", "job_run", "result", "event"]  # the chain, in order
    assert lineage["manifest"]["blob"] in nodes["manifest"]
    assert f"Job run {lineage['job_run']['run_id']}" in nodes["job_run"]
    table = lineage["result"]["table"]
    assert table.split(".", 1)[1] in nodes["result"]
    assert f"Delta version {lineage['result']['delta_version']}" in nodes["result"]
    assert lineage["event"]["type"].rsplit(".", 1)[1] in nodes["event"]
    edges = [e.get_attribute("data-edge") for e in page.query_selector_all("#request-graph [data-edge]")]
    assert edges == ["manifest job_run", "job_run result", "result event"]
    assert page.get_attribute("#request-graph", "data-layout") == "horizontal"
    page.wait_for_selector("#result[data-state=ready]")
    assert axe_violations(page) == []

    page.click("#request-graph a[data-node=result]")  # the result table's node leads to its lineage
    page.wait_for_selector("#view-table[data-state=ready]")
    assert page.text_content("#table-name") == table
    answer = get(local_stack, f"/v1/tables/{table}/lineage")
    drawn = graph_nodes(console, "#table-graph")
    expected = {f"table:{t['table']}" for t in answer["upstreams"] + answer["downstreams"]} | {
        f"table:{table}"
    }
    assert set(drawn) == expected and len(expected) > 1
    assert page.get_attribute(f"#table-graph [data-node='table:{table}']", "class") == "node table current"
    rows = page.query_selector_all("#columns-table tbody tr")
    assert [r.get_attribute("data-column") for r in rows] == [c["name"] for c in answer["columns"]]
    assert axe_violations(page) == []

    upstream = answer["upstreams"][0]["table"]
    page.click(f"#table-graph a[data-node='table:{upstream}']")
    page.wait_for_selector(
        f"#view-table[data-state=ready] #table-graph [data-node='table:{upstream}'].current"
    )
    assert f"table:{table}" in graph_nodes(console, "#table-graph")  # seen from upstream: downstream of it
    assert page.evaluate("location.hash") == f"#table/{upstream}"

    page.set_viewport_size({"width": 390, "height": 844})  # a phone: the layers go top to bottom
    page.goto(f"/console/#request/{finished}")
    page.wait_for_selector("#lineage[data-state=ready]")
    assert page.get_attribute("#request-graph", "data-layout") == "vertical"
    assert page.evaluate("() => document.documentElement.scrollWidth <= innerWidth")
    assert console.unexpected_errors() == [] and console.foreign == []


@pytest.fixture(scope="module")
def role_keys(local_stack) -> Iterator[dict[str, str]]:
    """Sample employees loaded (encrypted, through the product's job), and a key per role to look."""
    from emulators.demo import employees_demo

    employees_demo(local_stack.stack, count=30)
    store = ApiKeyStore(local_stack.stack.connection_string)
    made = {role: store.create(role, f"console {role}") for role in ("reader", "pii_reader")}
    yield {role: key for role, (key, _) in made.items()}
    for _, record in made.values():
        store.revoke(record.key_id)


def employee_cells(console: Console) -> list[dict[str, tuple[str, bool]]]:
    """Each row: column header → (cell text without the screen-reader words, marked masked)."""
    heads = [th.text_content() for th in console.page.query_selector_all("#employees-table thead th")]
    rows = []
    for tr in console.page.query_selector_all("#employees-table tbody tr"):
        cells = tr.query_selector_all("td")
        rows.append(
            {
                head: (
                    cell.text_content().removesuffix(" (masked)"),
                    cell.get_attribute("data-masked") == "true",
                )
                for head, cell in zip(heads, cells, strict=True)
            }
        )
    return rows


def test_a_reader_sees_masks_and_a_pii_reader_sees_values(console: Console, local_stack, role_keys):
    page = console.page
    seen = {}
    for role in ("reader", "pii_reader"):
        answer = get(local_stack, "/v1/employees", role_keys[role], limit=25)
        console.sign_in(role_keys[role], "#employees")
        page.wait_for_selector("#view-employees[data-state=ready]")
        rows = employee_cells(console)
        assert len(rows) == len(answer["employees"]) == 25
        for row, sent in zip(rows, answer["employees"], strict=True):
            assert row["Id"] == (str(sent["employee_id"]), False)
            assert row["Email"][0] == sent["email"] and row["Phone"][0] == sent["phone"]
            masked = role == "reader"
            assert (row["Email"][1], row["Phone"][1], row["Salary"][1]) == (masked, masked, masked)
            if masked:
                assert row["Salary"][0] == "withheld" and sent["salary"] is None
            else:
                assert float(row["Salary"][0].replace(",", "")) == sent["salary"]
        seen[role] = rows
        assert axe_violations(page) == []
        page.click("#sign-out")
        page.wait_for_selector("#view-sign-in:not([hidden])")
    reader, pii_reader = seen["reader"], seen["pii_reader"]
    for masked, clear in zip(reader, pii_reader, strict=True):
        assert "***@" in masked["Email"][0] and "***" not in clear["Email"][0]
        assert masked["Email"][0].split("@")[1] == clear["Email"][0].split("@")[1]
        assert masked["Phone"][0][-4:] == "".join(c for c in clear["Phone"][0] if c.isdigit())[-4:]
        assert masked["Name"] == clear["Name"] and masked["Salary band"] == clear["Salary band"]
    assert console.unexpected_errors() == [] and console.foreign == []


def test_employees_page_through_the_api(console: Console, local_stack, role_keys):
    """30 employees, pages of 25: older shows the API's second page, newer the first again."""
    key = role_keys["reader"]
    first = get(local_stack, "/v1/employees", key, limit=25)
    second = get(local_stack, "/v1/employees", key, limit=25, cursor=first["next_cursor"])
    page = console.page
    console.sign_in(key, "#employees")
    page.wait_for_selector("#view-employees[data-state=ready]")

    def ids() -> list[str]:
        rows = page.query_selector_all("#employees-table tbody tr")
        return [r.get_attribute("data-employee-id") for r in rows]

    assert ids() == [str(e["employee_id"]) for e in first["employees"]]
    assert page.is_disabled("#employees-prev") and page.is_enabled("#employees-next")
    page.click("#employees-next")
    page.wait_for_selector(f"#employees-table tr[data-employee-id='{second['employees'][0]['employee_id']}']")
    assert ids() == [str(e["employee_id"]) for e in second["employees"]]
    assert page.is_enabled("#employees-prev") and page.is_disabled("#employees-next") == (
        second.get("next_cursor") is None
    )
    page.click("#employees-prev")
    page.wait_for_selector(f"#employees-table tr[data-employee-id='{first['employees'][0]['employee_id']}']")
    assert ids() == [str(e["employee_id"]) for e in first["employees"]]
    assert console.unexpected_errors() == [] and console.foreign == []

"""Unity Catalog 2.1 of the workspace stand-in: every answer validated against the open Unity Catalog spec
(../shared/specs/unitycatalog-api.yaml, with openapi-core), and the real clients unchanged: databricks-sdk,
unitycatalog-client (async) and polars' ``pl.Catalog`` reading a Delta table through vended credentials."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
import requests
import yaml
from databricks.sdk.errors import (
    BadRequest,
    DatabricksError,
    InvalidParameterValue,
    NotFound,
    ResourceConflict,
    ResourceDoesNotExist,
)
from databricks.sdk.service import catalog as uc
from openapi_core import Config, OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound

from emulators.stack import Stack
from emulators.workspace.server import storage_options
from emulators.workspace.testing import PRINCIPAL, TOKEN, InProcessWorkspace

SPEC = Path(__file__).resolve().parents[2] / "shared" / "specs" / "unitycatalog-api.yaml"
if not SPEC.exists():  # CI lays shared/ beside the clone
    SPEC = Path("/work/shared/specs/unitycatalog-api.yaml")
LAKE = "abfss://lake@devstoreaccount1.dfs.core.windows.net"
DEV_CONNECTION = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;"
)


def _str_keys(value):
    if isinstance(value, dict):
        return {str(k): _str_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_str_keys(v) for v in value]
    return value


class SpecCheckedSession(requests.Session):
    """A requests session that validates every 2xx answer of a Unity Catalog operation against the spec."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.headers["Authorization"] = f"Bearer {TOKEN}"
        self.base = f"{base_url}/api/2.1/unity-catalog"
        spec = _str_keys(yaml.safe_load(SPEC.read_text()))
        spec["servers"] = [{"url": self.base}]
        # the spec itself has a flaw (a string default for a boolean), so only answers are validated
        self.api = OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))
        self.checked: set[str] = set()

    def call(self, method: str, path: str, expect: int = 200, **kwargs) -> dict:
        answer = self.request(method, self.base + path, timeout=10, **kwargs)
        assert answer.status_code == expect, f"{method} {path}: {answer.status_code} {answer.text}"
        if answer.ok:
            try:
                self.api.validate_response(
                    RequestsOpenAPIRequest(answer.request), RequestsOpenAPIResponse(answer)
                )
                self.checked.add(f"{method} {answer.request.path_url.split('?')[0]}")
            except (PathNotFound, OperationNotFound):
                pass  # a Databricks-only operation (e.g. PATCH tables): not in the open spec
        else:
            body = answer.json()
            assert set(body) == {"error_code", "message", "details"}, body
        return answer.json() if answer.content else {}


@pytest.fixture()
def workspace(tmp_path: Path) -> Iterator[InProcessWorkspace]:
    ws = InProcessWorkspace(tmp_path / "ws", storage_connection_string=DEV_CONNECTION).start()
    admin = ws.client()  # external data access: off by default, as on Databricks (tests/test_metastore.py)
    admin.metastores.update(admin.metastores.current().metastore_id, external_access_enabled=True)
    yield ws
    ws.stop()


@pytest.fixture()
def api(workspace: InProcessWorkspace) -> Iterator[SpecCheckedSession]:
    session = SpecCheckedSession(workspace.url)
    yield session
    session.close()


def _column(name: str, type_name: str, type_text: str, position: int, **extra) -> dict:
    return {"name": name, "type_name": type_name, "type_text": type_text, "position": position, **extra}


def _lake_location(workspace: InProcessWorkspace) -> None:
    """An external location over the lake container: path credentials are vended only inside one."""
    w = workspace.client()
    connector = "/subscriptions/0/resourceGroups/local/providers/Microsoft.Databricks/accessConnectors/local"
    w.storage_credentials.create(
        "lake_cred", azure_managed_identity=uc.AzureManagedIdentityRequest(access_connector_id=connector)
    )
    w.external_locations.create("lake", f"{LAKE}/", "lake_cred")


def test_every_operation_answers_as_the_spec_says(api: SpecCheckedSession, workspace: InProcessWorkspace):
    c = f"c_{uuid.uuid4().hex[:8]}"
    _lake_location(workspace)
    api.call("POST", "/catalogs", json={"name": c, "comment": "kept", "properties": {"k": "v"}})
    api.call("GET", f"/catalogs/{c}")
    api.call("GET", "/catalogs", params={"max_results": 5})
    api.call("PATCH", f"/catalogs/{c}", json={"comment": "changed"})
    api.call("POST", "/schemas", json={"name": "s", "catalog_name": c})
    api.call("GET", "/schemas", params={"catalog_name": c})
    api.call("GET", f"/schemas/{c}.s")
    api.call("PATCH", f"/schemas/{c}.s", json={"properties": {"p": "1"}})
    table = api.call(
        "POST",
        "/tables",
        json={
            "catalog_name": c,
            "schema_name": "s",
            "name": "orders",
            "table_type": "EXTERNAL",
            "data_source_format": "DELTA",
            "storage_location": f"{LAKE}/orders",
            "columns": [
                _column("id", "LONG", "bigint", 0),
                _column("day", "DATE", "date", 1, partition_index=0),
                _column("amount", "DECIMAL", "decimal(10,2)", 2, type_precision=10, type_scale=2),
            ],
        },
    )
    assert [col["type_json"] for col in table["columns"]][0] == (
        '{"name": "id", "type": "long", "nullable": true, "metadata": {}}'
    )
    assert table["columns"][1]["partition_index"] == 0 and table["columns"][2]["nullable"] is True
    api.call("GET", f"/tables/{c}.s.orders")
    api.call("GET", "/tables", params={"catalog_name": c, "schema_name": "s", "max_results": 10})
    staged = api.call("POST", "/staging-tables", json={"catalog_name": c, "schema_name": "s", "name": "m"})
    managed = api.call(
        "POST",
        "/tables",
        json={
            "catalog_name": c,
            "schema_name": "s",
            "name": "m",
            "table_type": "MANAGED",
            "data_source_format": "DELTA",
            "storage_location": staged["staging_location"],
            "columns": [_column("x", "INT", "int", 0)],
        },
    )
    assert managed["table_id"] == staged["id"]
    assert "/__unitystorage/catalogs/" in managed["storage_location"]
    assert "/tables/" in managed["storage_location"]
    ref = {"table_id": managed["table_id"], "table_uri": managed["storage_location"]}
    api.call("GET", "/delta/preview/commits", json={**ref, "start_version": 0})
    api.call(
        "POST",
        "/delta/preview/commits",
        json={**ref, "commit_info": _commit(1, "00000000000000000001.a.json")},
    )
    credentials = api.call("POST", "/temporary-table-credentials", json={**ref, "operation": "READ"})
    assert credentials["azure_user_delegation_sas"]["sas_token"] and credentials["url"] == ref["table_uri"]
    api.call("POST", "/temporary-path-credentials", json={"url": f"{LAKE}/orders", "operation": "PATH_READ"})
    volume = api.call(
        "POST",
        "/volumes",
        json={"catalog_name": c, "schema_name": "s", "name": "files", "volume_type": "MANAGED"},
    )
    api.call("GET", f"/volumes/{c}.s.files")
    api.call("GET", "/volumes", params={"catalog_name": c, "schema_name": "s"})
    api.call("PATCH", f"/volumes/{c}.s.files", json={"comment": "raw files"})
    api.call(
        "POST",
        "/temporary-volume-credentials",
        json={"volume_id": volume["volume_id"], "operation": "READ_VOLUME"},
    )
    api.call("POST", "/functions", json={"function_info": _function(c, "s", "plus_one")})
    api.call("GET", f"/functions/{c}.s.plus_one")
    api.call("GET", "/functions", params={"catalog_name": c, "schema_name": "s"})
    api.call("DELETE", f"/functions/{c}.s.plus_one")
    api.call("DELETE", f"/volumes/{c}.s.files")
    api.call("DELETE", f"/tables/{c}.s.orders")
    api.call("DELETE", f"/schemas/{c}.s", params={"force": "true"})
    api.call("DELETE", f"/catalogs/{c}")
    assert len(api.checked) >= 25  # every call above was one the spec describes, and matched it


def _commit(version: int, file_name: str) -> dict:
    return {
        "version": version,
        "timestamp": 1700000000000 + version,
        "file_name": file_name,
        "file_size": 100,
        "file_modification_timestamp": 1700000000000 + version,
    }


def _function(catalog: str, schema: str, name: str) -> dict:
    return {
        "name": name,
        "catalog_name": catalog,
        "schema_name": schema,
        "input_params": {
            "parameters": [
                {
                    "name": "x",
                    "type_text": "int",
                    "type_json": '{"name":"x","type":"integer","nullable":true,"metadata":{}}',
                    "type_name": "INT",
                    "position": 0,
                }
            ]
        },
        "data_type": "INT",
        "full_data_type": "INT",
        "routine_body": "SQL",
        "routine_definition": "x + 1",
        "parameter_style": "S",
        "is_deterministic": True,
        "sql_data_access": "NO_SQL",
        "is_null_call": False,
        "security_type": "DEFINER",
        "specific_name": name,
    }


def test_names_are_validated_case_insensitive_and_stored_lower_case(api: SpecCheckedSession):
    for bad in ("a.b", "a b", "a/b", "tab\tname", "x" * 256, ""):
        error = api.call("POST", "/catalogs", expect=400, json={"name": bad})
        assert error["error_code"] == "INVALID_PARAMETER_VALUE"
    name = f"MiXeD_{uuid.uuid4().hex[:6]}"
    assert api.call("POST", "/catalogs", json={"name": name})["name"] == name.lower()
    assert api.call("GET", f"/catalogs/{name.upper()}")["name"] == name.lower()
    assert api.call("POST", "/catalogs", expect=400, json={"name": name.upper()})["error_code"] == (
        "CATALOG_ALREADY_EXISTS"
    )
    assert api.call("GET", "/schemas/nope.nope", expect=404)["error_code"] == "SCHEMA_DOES_NOT_EXIST"


def test_managed_table_commits_follow_the_catalog_managed_protocol(api: SpecCheckedSession):
    c = f"c_{uuid.uuid4().hex[:8]}"
    api.call("POST", "/catalogs", json={"name": c})
    api.call("POST", "/schemas", json={"name": "s", "catalog_name": c})
    first = api.call("POST", "/staging-tables", json={"catalog_name": c, "schema_name": "s", "name": "t"})
    again = api.call("POST", "/staging-tables", json={"catalog_name": c, "schema_name": "s", "name": "t"})
    assert again == first  # asked twice before the table exists (Sail does): the same staging table
    table = api.call(
        "POST",
        "/tables",
        json={
            "catalog_name": c,
            "schema_name": "s",
            "name": "t",
            "table_type": "MANAGED",
            "data_source_format": "DELTA",
            "storage_location": first["staging_location"],
            "columns": [],
        },
    )
    ref = {"table_id": table["table_id"], "table_uri": table["storage_location"]}
    assert api.call("GET", "/delta/preview/commits", json={**ref, "start_version": 0}) == {
        "commits": [],
        "latest_table_version": 0,
    }
    one = _commit(1, "00000000000000000001.uuid-1.json")
    api.call("POST", "/delta/preview/commits", json={**ref, "commit_info": one})
    api.call("POST", "/delta/preview/commits", json={**ref, "commit_info": one})  # a replay: no-op
    other = {**one, "file_name": "00000000000000000001.uuid-other.json"}
    assert api.call("POST", "/delta/preview/commits", expect=409, json={**ref, "commit_info": other})
    gap = _commit(3, "00000000000000000003.uuid-3.json")
    assert api.call("POST", "/delta/preview/commits", expect=400, json={**ref, "commit_info": gap})
    two = _commit(2, "00000000000000000002.uuid-2.json")
    api.call(
        "POST",
        "/delta/preview/commits",
        json={
            **ref,
            "commit_info": two,
            "metadata": {
                "description": "evolved",
                "schema": {"columns": [_column("y", "STRING", "string", 0)]},
            },
        },
    )
    listed = api.call("GET", "/delta/preview/commits", json={**ref, "start_version": 1})
    assert [x["version"] for x in listed["commits"]] == [1, 2] and listed["latest_table_version"] == 2
    ranged = api.call("GET", "/delta/preview/commits", json={**ref, "start_version": 2, "end_version": 2})
    assert [x["version"] for x in ranged["commits"]] == [2]
    api.call("POST", "/delta/preview/commits", json={**ref, "latest_backfilled_version": 1})
    listed = api.call("GET", "/delta/preview/commits", json={**ref, "start_version": 0})
    assert [x["version"] for x in listed["commits"]] == [2] and listed["latest_table_version"] == 2
    too_far = {**ref, "latest_backfilled_version": 5}
    assert api.call("POST", "/delta/preview/commits", expect=400, json=too_far)
    moved = {**ref, "table_uri": f"{LAKE}/elsewhere", "start_version": 0}
    assert api.call("GET", "/delta/preview/commits", expect=400, json=moved)
    unknown = {"table_id": str(uuid.uuid4()), "table_uri": ref["table_uri"], "start_version": 0}
    assert api.call("GET", "/delta/preview/commits", expect=404, json=unknown)
    evolved = api.call("GET", f"/tables/{c}.s.t")
    assert evolved["comment"] == "evolved" and [col["name"] for col in evolved["columns"]] == ["y"]
    no_staging = {"catalog_name": c, "schema_name": "s", "name": "u", "table_type": "MANAGED"}
    api.call(
        "POST", "/tables", expect=404, json={**no_staging, "storage_location": f"{LAKE}/x", "columns": []}
    )


def test_sdk_updates_renames_and_paging(workspace: InProcessWorkspace):
    w = workspace.client()
    c = f"c_{uuid.uuid4().hex[:8]}"
    w.catalogs.create(name=c)
    w.schemas.create(name="raw", catalog_name=c)
    for i in range(7):
        w.api_client.do(
            "POST",
            "/api/2.1/unity-catalog/tables",
            body={
                "catalog_name": c,
                "schema_name": "raw",
                "name": f"t{i}",
                "table_type": "EXTERNAL",
                "storage_location": f"{LAKE}/t{i}",
                "columns": [_column("id", "LONG", "bigint", 0)],
            },
        )
    assert [t.name for t in w.tables.list(catalog_name=c, schema_name="raw", max_results=3)] == [
        f"t{i}" for i in range(7)
    ]
    page = w.api_client.do(
        "GET",
        "/api/2.1/unity-catalog/tables",
        query={"catalog_name": c, "schema_name": "raw", "max_results": 3},
    )
    w.schemas.create(name="other", catalog_name=c)
    with pytest.raises(InvalidParameterValue):  # a token is bound to the listing it came from
        w.api_client.do(
            "GET",
            "/api/2.1/unity-catalog/tables",
            query={"catalog_name": c, "schema_name": "other", "page_token": page["next_page_token"]},
        )
    assert w.catalogs.update(c, comment="weather").comment == "weather"
    w.tables.update(f"{c}.raw.t0", owner="bob@example.com")
    assert w.tables.get(f"{c}.raw.t0").owner == "bob@example.com"
    renamed = w.schemas.update(f"{c}.raw", new_name="bronze")
    assert renamed.full_name == f"{c}.bronze"
    assert w.tables.get(f"{c}.bronze.t3").full_name == f"{c}.bronze.t3"
    with pytest.raises(NotFound):
        w.tables.get(f"{c}.raw.t3")
    w.catalogs.update(c, new_name=f"{c}_v2")
    assert w.tables.get(f"{c}_v2.bronze.t3").catalog_name == f"{c}_v2"
    volume = w.volumes.create(
        catalog_name=f"{c}_v2", schema_name="bronze", name="landing", volume_type=uc.VolumeType.MANAGED
    )
    assert volume.owner == PRINCIPAL and volume.storage_location.endswith(f"/volumes/{volume.volume_id}")
    assert [v.name for v in w.volumes.list(catalog_name=f"{c}_v2", schema_name="bronze")] == ["landing"]
    assert w.volumes.update(f"{c}_v2.bronze.landing", new_name="inbox").name == "inbox"
    with pytest.raises(BadRequest, match="already exists"):  # 400 VOLUME_ALREADY_EXISTS, as Databricks
        w.volumes.create(
            catalog_name=f"{c}_v2", schema_name="bronze", name="inbox", volume_type=uc.VolumeType.MANAGED
        )
    with pytest.raises(InvalidParameterValue):  # an EXTERNAL volume needs a location
        w.volumes.create(
            catalog_name=f"{c}_v2", schema_name="bronze", name="ext", volume_type=uc.VolumeType.EXTERNAL
        )
    w.volumes.delete(f"{c}_v2.bronze.inbox")
    with pytest.raises(NotFound):
        w.volumes.read(f"{c}_v2.bronze.inbox")
    w.catalogs.delete(f"{c}_v2", force=True)
    assert not [x for x in w.catalogs.list() if x.name.startswith(c)]


def _raised(call, *args, **kwargs) -> DatabricksError:
    """The databricks-sdk error ``call(*args, **kwargs)`` raises."""
    with pytest.raises(DatabricksError) as raised:
        call(*args, **kwargs)
    return raised.value


def test_duplicates_and_missing_answer_as_databricks(workspace: InProcessWorkspace):
    """A duplicate is 400 ``<KIND>_ALREADY_EXISTS`` (databricks-sdk's BadRequest, never ResourceConflict), as
    a Databricks workspace answers it, to every client but Sail (409, which its ``IF NOT EXISTS`` needs); a
    missing securable is 404 ``<KIND>_DOES_NOT_EXIST``; a missing job 400 "Job … does not exist." (the SDK's
    ResourceDoesNotExist)."""
    w = workspace.client()
    c = f"c_{uuid.uuid4().hex[:8]}"
    w.catalogs.create(name=c)
    w.schemas.create(name="raw", catalog_name=c)
    w.schemas.create(name="other", catalog_name=c)
    table = {
        "catalog_name": c,
        "schema_name": "raw",
        "name": "t",
        "table_type": "EXTERNAL",
        "data_source_format": "DELTA",
        "storage_location": f"{LAKE}/dup-t",
        "columns": [_column("id", "LONG", "bigint", 0)],
    }
    w.api_client.do("POST", "/api/2.1/unity-catalog/tables", body=table)
    volume = {"catalog_name": c, "schema_name": "raw", "name": "v", "volume_type": "MANAGED"}
    w.api_client.do("POST", "/api/2.1/unity-catalog/volumes", body=volume)
    w.volumes.create(catalog_name=c, schema_name="raw", name="v2", volume_type=uc.VolumeType.MANAGED)
    function = {"function_info": _function(c, "raw", "f")}
    w.api_client.do("POST", "/api/2.1/unity-catalog/functions", body=function)

    creates = {
        "CATALOG": ("/catalogs", {"name": c.upper()}),
        "SCHEMA": ("/schemas", {"name": "RAW", "catalog_name": c}),
        "TABLE": ("/tables", table),
        "VOLUME": ("/volumes", volume),
        "FUNCTION": ("/functions", function),
    }
    for kind, (path, request) in creates.items():
        error = _raised(w.api_client.do, "POST", f"/api/2.1/unity-catalog{path}", body=request)
        assert isinstance(error, BadRequest) and not isinstance(error, ResourceConflict), (kind, error)
        assert error.error_code == f"{kind}_ALREADY_EXISTS" and "already exists" in str(error), kind
        for agent, status in (("Sail/0.7.2", 409), ("curl/8.5.0", 400), ("sail-like/1.0", 400)):
            answer = requests.post(
                f"{workspace.uc_url}{path}",
                json=request,
                headers={"Authorization": f"Bearer {TOKEN}", "User-Agent": agent},
                timeout=10,
            )
            assert answer.status_code == status, (kind, agent, answer.text)
            assert answer.json()["error_code"] == f"{kind}_ALREADY_EXISTS"
    assert w.catalogs.update(c, new_name=c).name == c  # the same name is no rename
    for error in (
        _raised(w.schemas.update, f"{c}.other", new_name="raw"),
        _raised(w.volumes.update, f"{c}.raw.v2", new_name="v"),
    ):
        assert isinstance(error, BadRequest) and error.error_code.endswith("_ALREADY_EXISTS"), error

    missing = {
        "CATALOG_DOES_NOT_EXIST": lambda: w.catalogs.get("nope"),
        "SCHEMA_DOES_NOT_EXIST": lambda: w.schemas.get(f"{c}.nope"),
        "TABLE_DOES_NOT_EXIST": lambda: w.tables.get(f"{c}.raw.nope"),
        "VOLUME_DOES_NOT_EXIST": lambda: w.volumes.read(f"{c}.raw.nope"),
        "FUNCTION_DOES_NOT_EXIST": lambda: w.functions.get(f"{c}.raw.nope"),
    }
    for code, call in missing.items():
        error = _raised(call)
        assert isinstance(error, NotFound) and error.error_code == code, (code, error)
    in_missing_schema = {**table, "schema_name": "nope"}
    error = _raised(w.api_client.do, "POST", "/api/2.1/unity-catalog/tables", body=in_missing_schema)
    assert isinstance(error, NotFound) and error.error_code == "SCHEMA_DOES_NOT_EXIST"
    error = _raised(w.schemas.create, name="s", catalog_name="nope")
    assert isinstance(error, NotFound) and error.error_code == "CATALOG_DOES_NOT_EXIST"

    with pytest.raises(ResourceDoesNotExist, match="Job 987654 does not exist"):
        w.jobs.get(987654)
    with pytest.raises(InvalidParameterValue, match="Job 987654 does not exist"):
        w.jobs.delete(987654)


def test_unitycatalog_client_lists_and_gets(workspace: InProcessWorkspace):
    from unitycatalog.client import ApiClient, CatalogsApi, Configuration, SchemasApi, TablesApi

    w = workspace.client()
    c = f"c_{uuid.uuid4().hex[:8]}"
    w.catalogs.create(name=c, comment="for the oss client")
    w.schemas.create(name="s", catalog_name=c)
    w.api_client.do(
        "POST",
        "/api/2.1/unity-catalog/tables",
        body={
            "catalog_name": c,
            "schema_name": "s",
            "name": "t",
            "table_type": "EXTERNAL",
            "data_source_format": "DELTA",
            "storage_location": f"{LAKE}/t",
            "columns": [_column("id", "LONG", "bigint", 0)],
        },
    )

    async def read():
        conf = Configuration(host=workspace.uc_url)
        async with ApiClient(conf, header_name="Authorization", header_value=f"Bearer {TOKEN}") as client:
            catalogs = await CatalogsApi(client).list_catalogs()
            catalog = await CatalogsApi(client).get_catalog(c)
            schemas = await SchemasApi(client).list_schemas(catalog_name=c)
            tables = await TablesApi(client).list_tables(catalog_name=c, schema_name="s", max_results=10)
            table = await TablesApi(client).get_table(f"{c}.s.t")
            return catalogs, catalog, schemas, tables, table

    catalogs, catalog, schemas, tables, table = asyncio.run(read())
    assert c in [x.name for x in catalogs.catalogs]
    assert catalog.comment == "for the oss client" and catalog.owner == PRINCIPAL
    assert [s.full_name for s in schemas.schemas] == [f"{c}.s"]
    assert [t.name for t in tables.tables] == ["t"]
    assert table.table_type.value == "EXTERNAL" and table.columns[0].type_name.value == "LONG"


def test_polars_catalog_lists_and_scans_a_delta_table_with_vended_credentials(tmp_path: Path, azurite: Stack):
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = f"lake{uuid.uuid4().hex[:8]}"
    service.create_container(container)
    location = f"abfss://{container}@devstoreaccount1.dfs.core.windows.net/ext/readings"
    frame = pl.DataFrame({"id": [1, 2, 3], "city": ["Oslo", "Lima", "Pune"]})
    frame.write_delta(location, storage_options=storage_options(azurite.connection_string))
    ws = InProcessWorkspace(tmp_path / "ws", storage_connection_string=azurite.connection_string).start()
    try:
        w = ws.client()
        c = f"c_{uuid.uuid4().hex[:8]}"
        w.catalogs.create(name=c)
        w.schemas.create(name="s", catalog_name=c)
        w.api_client.do(
            "POST",
            "/api/2.1/unity-catalog/tables",
            body={
                "catalog_name": c,
                "schema_name": "s",
                "name": "readings",
                "table_type": "EXTERNAL",
                "data_source_format": "DELTA",
                "storage_location": location,
                "columns": [],  # filled from the Delta log
            },
        )
        catalog = pl.Catalog(ws.url, bearer_token=TOKEN, require_https=False)
        assert c in [x.name for x in catalog.list_catalogs()]
        assert [n.name for n in catalog.list_namespaces(c)] == ["s"]
        assert [t.name for t in catalog.list_tables(c, "s")] == ["readings"]
        info = catalog.get_table_info(c, "s", "readings")
        assert [col.name for col in info.columns] == ["id", "city"]
        # no account key here: only the endpoint of the emulator; the SAS comes from the catalog
        endpoint = {
            "azure_storage_endpoint": f"{azurite.url('blob')}/devstoreaccount1",
            "azure_allow_http": "true",
        }
        scanned = catalog.scan_table(c, "s", "readings", storage_options=endpoint).collect().sort("id")
        assert scanned.equals(frame)
    finally:
        ws.stop()


def test_sdk_temporary_credentials_use_the_2_0_paths(workspace: InProcessWorkspace):
    """databricks-sdk asks for temporary credentials under /api/2.0 (the open spec has them under 2.1)."""
    from databricks.sdk.service.catalog import PathOperation, TableOperation

    w = workspace.client()
    _lake_location(workspace)
    c = f"c_{uuid.uuid4().hex[:8]}"
    w.catalogs.create(name=c)
    w.schemas.create(name="s", catalog_name=c)
    table = workspace.register_external_table(
        f"{c}.s.t", f"{LAKE}/t", columns=[_column("id", "LONG", "bigint", 0)]
    )
    vended = w.temporary_table_credentials.generate_temporary_table_credentials(
        table_id=table["table_id"], operation=TableOperation.READ
    )
    assert vended.azure_user_delegation_sas.sas_token and vended.url == f"{LAKE}/t"
    path = w.temporary_path_credentials.generate_temporary_path_credentials(
        url=f"{LAKE}/raw", operation=PathOperation.PATH_READ_WRITE
    )
    assert "sp=" in path.azure_user_delegation_sas.sas_token

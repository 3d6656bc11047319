"""Bronze's raw listing (issue 18): through the storage API, it opens no file, takes the files Spark's
``binaryFile`` listing took (so an existing ledger still matches), pages, and a file overwritten at the same
path is ingested again. Real Azurite + workspace stand-in (its temporary path credentials) + Sail.

Opening no file is checked with the Archive tier: Azure (and Azurite) refuse to read an archived blob's
content (409 ``BlobArchived``) but list it with its properties, so a listing that reads contents fails —
as Spark's ``binaryFile`` listing on Sail does here, which the test checks too, so the probe is not idle."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from climatelake import bundle, sample_data
from climatelake.bootstrap import blob_service, prepare_storage, run_job, upload_city_registry
from climatelake.settings import AZURITE_ACCOUNT
from emulators.stack import Stack

SRC = Path(__file__).resolve().parents[1] / "databricks" / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

import bronze_weather  # noqa: E402

pytestmark = pytest.mark.stack

#: names below the root: the ``*.csv`` ones not hidden are listed, the rest are not
LISTED = ["city=1/2024-07-01_2024-07-01.csv", "city=2/a.csv", "city=2/b.csv", "city=3/c.csv", "city=4/d.csv"]
SKIPPED = ["city=1/_hidden.csv", "city=1/.dot.csv", "city=1/X.CSV", "city=1/a.csv.tmp", "city=2/_SUCCESS"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(tmp_path_factory.mktemp("bronze-listing"), in_memory=True)
    try:
        stack.start(only=("azurite", "sail", "workspace"))
        settings = stack.settings()
        prepare_storage(settings)
        # the deploy's access part: the raw container is an external location (path credentials are vended
        # only inside one), with the catalog, schemas and grants the bundle declares
        overrides = {"storage_account": settings.storage_account, "catalog": settings.catalog}
        bundle.ensure_access(stack.workspace_client(), "local", overrides)
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def spark(stack: Stack) -> Iterator[SparkSession]:
    session = SparkSession.builder.remote(f"sc://127.0.0.1:{stack.ports['sail']}").create()
    try:
        yield session
    finally:
        session.stop()


def _upload(stack: Stack, folder: str, names: list[str]) -> None:
    container = blob_service(stack.settings()).get_container_client("raw")
    for i, name in enumerate(names):
        container.upload_blob(f"{folder}/{name}", b"City_id\n" + b"1\n" * (i + 1), overwrite=True)


def _root(stack: Stack, folder: str) -> str:
    return f"abfss://raw@{stack.settings().storage_account}.dfs.core.windows.net/{folder}"


def _list(stack: Stack, folder: str, page_size: int = 5000) -> list:
    root = _root(stack, folder)
    sas = bronze_weather.read_sas(root, stack.workspace_client())
    return bronze_weather.list_files(root, sas, f"{stack.url('blob')}/{AZURITE_ACCOUNT}", page_size)


def _binary_file_listing(spark: SparkSession, root: str) -> list:
    """The listing bronze had before (Spark's binaryFile source, metadata columns only)."""
    listing = spark.read.format("binaryFile").option("pathGlobFilter", "*.csv").load(root)
    return listing.select("path", "length", "modificationTime").collect()


def test_listing_opens_no_file(stack: Stack, spark: SparkSession):
    _upload(stack, "archived", LISTED + SKIPPED)
    container = blob_service(stack.settings()).get_container_client("raw")
    for name in LISTED + SKIPPED:
        container.get_blob_client(f"archived/{name}").set_standard_blob_tier("Archive")
    with pytest.raises(Exception, match="BlobArchived"):  # a listing that reads contents fails here
        _binary_file_listing(spark, _root(stack, "archived"))

    files = _list(stack, "archived", page_size=2)  # three pages of blobs

    assert sorted(f["path"] for f in files) == sorted(f"archived/{n}" for n in LISTED)
    for f in files:
        properties = container.get_blob_client(f["path"]).get_blob_properties()
        assert f["length"] == properties.size
        assert int(f["modificationTime"].timestamp()) == int(properties.last_modified.timestamp())
    assert files == sorted(files, key=lambda f: (f["modificationTime"], f["path"]))


def test_listing_takes_what_binary_file_took(stack: Stack, spark: SparkSession):
    """Same paths, lengths and modification times, so the same file ids: a ledger the binaryFile listing
    wrote still knows every file, and nothing is ingested twice after the change."""
    _upload(stack, "plain", LISTED + SKIPPED)
    before = _binary_file_listing(spark, _root(stack, "plain"))
    after = _list(stack, "plain")
    assert sorted(map(bronze_weather.file_id, after)) == sorted(map(bronze_weather.file_id, before))
    assert len(after) == len(LISTED)


def test_a_file_overwritten_at_the_same_path_is_ingested_again(stack: Stack, spark: SparkSession):
    settings, w = stack.settings(), stack.workspace_client()
    bundle.deploy(w, "local", {"storage_account": settings.storage_account, "catalog": settings.catalog})
    upload_city_registry(settings)
    container = blob_service(settings).get_container_client("raw")
    day = dt.date(2024, 7, 1)
    ((name, first),) = sample_data.weather_files([7], day, day, seed=1).items()
    rows = [{**sample_data.format_row(r), "Temp": "-9.5"} for r in sample_data.generate_hourly([7], day, day)]
    second = sample_data.rows_to_csv(rows)
    assert len(second) != len(first)  # a new version: another length (and a later modification time)

    for data in (first, second, None):  # the third run finds nothing new
        if data is not None:
            container.upload_blob(f"weather/{name}", data, overwrite=True)
        run_job(w, settings.ingest_job_name)

    ledger = spark.table(f"{settings.catalog}.bronze.ingest_ledger").where(f"path = 'weather/{name}'")
    assert sorted(r["length"] for r in ledger.collect()) == sorted([len(first), len(second)])
    assert {r["status"] for r in ledger.collect()} == {"ingested"}
    bronze = spark.table(f"{settings.catalog}.bronze.weather_hourly_raw")
    bronze = bronze.where(f"source_file = 'weather/{name}'")
    assert bronze.select("file_id").distinct().count() == 2
    silver = spark.table(f"{settings.catalog}.silver.weather_hourly").where("city_id = 7")
    assert {r["temp"] for r in silver.collect()} == {-9.5}  # the later version won

"""The city registry as a catalog table: ``gold.cities`` (city_id, name, country, lat, lon, time_zone,
isd_station), from the registry file (bundle variable ``registry_file``:
``raw/reference/cities.csv``).

Why a table: the registry is data users query beside the weather (which city is id 101, where is it,
which NOAA station feeds it), so it belongs in Unity Catalog with the rest — governed, shared, with
lineage from its file — and ``/v1/cities`` reads it from there. Why in gold: gold is what the serving
side reads. The file is uploaded by ``climatelake bootstrap`` from the packaged ``climatelake/cities.csv``;
users edit the file in storage (add a city, correct a station) and the next ingest run publishes it.

The gold task calls :func:`refresh` on every run. It writes a new table version only when the file's
rows differ from the table's, so a re-run changes nothing; with no registry file it leaves the table as it
is (a deployment without a registry simply has no names).
"""

from __future__ import annotations

from lakehouse import table_exists, write_table
from pyspark.sql import SparkSession

SCHEMA = (
    "city_id int, name string, country string, lat double, lon double, time_zone string, isd_station string"
)


def refresh(spark: SparkSession, catalog: str, registry_file: str, lake_root: str) -> str:
    """Publish the registry file as ``<catalog>.gold.cities`` if it changed; returns what was done.

    A missing file: Databricks raises ``[PATH_NOT_FOUND]``; Sail 0.7 reads it as zero rows (measured).
    Both, and an empty file, mean "no registry": the table is left as it is."""
    name = f"{catalog}.gold.cities"
    try:
        # Read once to the driver: a registry is a few hundred rows at most.
        rows = spark.read.option("header", True).option("mode", "FAILFAST").schema(SCHEMA).csv(registry_file)
        wanted = sorted(tuple(r) for r in rows.collect())
    except Exception as error:  # AnalysisException, or its Spark Connect twin
        if "PATH_NOT_FOUND" not in str(error):
            raise
        wanted = []
    if not wanted:
        return f"cities: no registry rows at {registry_file}; gold.cities left as it is"
    ids = [r[0] for r in wanted]
    if None in ids or len(set(ids)) != len(ids):
        raise SystemExit(f"cities: {registry_file} needs one row per city_id, each with an id")
    if table_exists(spark, name) and sorted(tuple(r) for r in spark.table(name).collect()) == wanted:
        return f"cities: gold.cities already holds the {len(wanted)} registry rows; nothing written"
    write_table(spark.createDataFrame(wanted, SCHEMA), name, f"{lake_root}/gold/cities")
    return f"cities: gold.cities written with {len(wanted)} cities"

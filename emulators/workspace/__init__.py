"""Databricks workspace stand-in: the subset of the Databricks REST API that climatelake uses.

Served (see README "What the workspace stand-in serves"):
- ``GET /.well-known/databricks-config`` (answers 404, as databricks-sdk tolerates)
- Unity Catalog 2.1: catalogs, schemas, tables (incl. ``staging-tables``) — create/get/list/delete
- Jobs 2.2: create, get, list, reset, delete, run-now (``idempotency_token``), runs/get, runs/list,
  runs/cancel; runs execute the job's ``spark_python_task`` files against Sail in worker processes and fire
  ``webhook_notifications`` to configured notification destinations.

LIMITATIONS (walking skeleton): managed tables' catalog-managed commits (``delta/preview/commits``), SQL
statements, secrets, volumes, functions, lineage and sharing are not served yet; unknown endpoints answer
501 with the operation's path.
"""

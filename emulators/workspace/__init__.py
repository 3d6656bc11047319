"""Databricks workspace stand-in: the subset of the Databricks REST API that climatelake and its engines use.

Files: ``catalog.py`` (with ``catalog_records.py``, ``catalog_volumes.py``, ``catalog_commits.py``,
``catalog_external.py``), ``notification_destinations.py``, ``workspace_files.py``,
``managed_ddl.py`` (SQL ``CREATE TABLE`` of plain managed tables), ``jobs.py``, ``statements.py``,
``secrets.py``, ``lineage.py``, ``governance.py``, ``principals.py`` (users, groups, service principals,
tokens), ``privileges.py`` (Unity Catalog grants and decisions), ``access.py`` (enforcement), ``audit.py``,
``grants_sql.py`` (GRANT, REVOKE, SHOW GRANTS, OWNER TO, COMMENT ON, DESCRIBE TABLE in SQL),
``information_schema.py`` (privileges, tables, columns views), ``statement_access.py`` (checks of SQL
statements, ``system.access.audit`` in SQL),
``sql_functions.py`` (``secret()`` and AES functions for the engine),
``sharing.py`` / ``sharing_sql.py`` / ``sharing_delta.py`` (models: state and behaviour, no HTTP),
``credentials.py`` (SAS vending), ``runner.py`` (job runs in worker processes), ``connect_proxy.py`` (each
task's Spark Connect channel, read for job lineage and checked for the run's principal), ``run_identity.py``
(a job's ``run_as``: run tokens and plan checks), ``openlineage.py`` (OpenLineage events), ``faults.py``
(injected 429/503), ``routes/`` (one module per API family), ``errors.py`` (every error body made in one
place), ``server.py`` (auth, wiring; ``python -m emulators.workspace``), ``testing.py`` (in-process, for
tests).

Served (see README "What the workspace stand-in serves"):
- ``GET /.well-known/databricks-config`` (answers 404, as databricks-sdk tolerates).
- Unity Catalog 2.1, answers validated against the open spec (../shared/specs/unitycatalog-api.yaml):
  catalogs, schemas (create/get/list/update incl. ``new_name``/delete ``force``), tables (create/get/list/
  delete; update ``owner``), staging-tables, volumes (create/get/list/update/delete), functions
  (create/get/list/delete), ``temporary-table|volume|path-credentials`` (a SAS for Azurite), and
  ``delta/preview/commits`` (GET/POST): the catalog is the source of truth of MANAGED tables' versions.
  ``max_results``/``page_token`` on every list (keyset tokens bound to their listing). Storage credentials
  (``azure_managed_identity``, an Access Connector) and external locations (the credential must exist; no
  two locations overlap) in ``catalog_external.py``; a catalog's ``storage_root`` is its managed location.
- Principals and grants (issue 16, first step): SCIM 2.0 ``Users``, ``Groups`` (members, nested groups),
  ``ServicePrincipals`` (create/get/list/patch/put/delete, ``filter`` of one ``eq|ne|co|sw`` expression,
  ``startIndex``/``count``) and ``Me``; tokens: ``token/create|list|delete`` for the caller,
  ``token-management/on-behalf-of/tokens`` for service principals (admins), ``/api/2.0/local/tokens`` for
  any principal (the control plane's sign-in). ``permissions/{type}/{name}`` GET/PATCH,
  ``effective-permissions/{type}/{name}`` (``inherited_from_type``/``_name``) and their one-page
  ``privilege-assignments`` / ``effective-privilege-assignments`` forms for metastore, catalog,
  schema, table, volume, function, share, recipient (``privileges.py``: inheritance, ownership, MANAGE,
  metastore admins, transitive groups). Enforced on Unity Catalog REST gets, lists (filtered), creates,
  updates, deletes and temporary table/volume credentials (403 ``PERMISSION_DENIED``); every decision and
  change is an audit row in ``system.access.audit``'s columns (``GET /api/2.0/local/audit``).
- The same privileges in SQL statements (issue 16, second step): ``GRANT``/``REVOKE``, ``SHOW GRANTS
  [principal] ON …``, ``ALTER … [SET] OWNER TO``, ``<catalog>.information_schema.catalog_privileges``/
  ``schema_privileges``/``table_privileges`` and ``catalogs``/``schemata``/``tables``/``columns``
  (``grants_sql.py``, ``information_schema.py``); a statement of a principal that is not a metastore admin
  is checked before it runs — each table it reads needs ``SELECT``, each it writes ``MODIFY``, with the path
  (``USE CATALOG``, ``USE SCHEMA``), CREATE TABLE/SCHEMA their privilege, DROP ownership or ``MANAGE`` —
  refused as ``[INSUFFICIENT_PERMISSIONS] … SQLSTATE: 42501`` (``statement_access.py``);
  ``system.access.audit`` is a SQL table for metastore admins; ``COMMENT ON CATALOG|SCHEMA|TABLE|COLUMN``
  and ``ALTER COLUMN … COMMENT`` set the records' comments (``tables/get``, information_schema,
  ``DESCRIBE TABLE``).
- Job runs as their job's principal (issue 16, ``run_identity.py``): ``run_as`` ``user_name`` /
  ``service_principal_name`` in job settings (workspace admins any principal, others only themselves;
  unknown → 400 ``INVALID_PARAMETER_VALUE``), ``run_as_user_name`` in jobs/get (the creator without it);
  each task run gets a token of that principal in ``DATABRICKS_TOKEN`` (revoked when the task ends), so its
  REST calls are checked as it; its Spark session's ``ExecutePlan`` requests are checked on the task's
  Spark Connect proxy before they reach Sail (``SELECT`` read, ``MODIFY`` written, ``CREATE TABLE`` for a
  new table, with the path; by name or by path — a path at or under a table's location is the table,
  ``table_paths.py``, and a masked table's path is refused to everyone, ``[UNAUTHORIZED_ACCESS]``; audited
  with ``job_id``/``run_id``), a refusal failing the task with pyspark's
  ``AnalysisException`` ``[INSUFFICIENT_PERMISSIONS] … SQLSTATE: 42501`` (the run FAILED with it).
- Notification destinations 2.0 (``notification_destinations.py``): generic webhooks (and e-mail, kept
  only); a job's ``webhook_notifications`` naming one by id post to its URL.
- Workspace files 2.0 (``workspace_files.py``): mkdirs, import, export, get-status, list, delete — where a
  bundle deploy puts its files and wheels; a task's ``python_file`` and parameters naming them are read
  from there, as from the ``/Workspace`` mount of a cluster.
- Jobs 2.2 (and 2.1 paths): create, get, list, reset, update, delete, run-now (``idempotency_token``),
  runs/submit, runs/get, runs/list, runs/cancel, runs/delete (finished runs only), runs/get-output (by a
  task's own run id, as Databricks; a multi-task run answers 400); a missing run is 400
  ``INVALID_PARAMETER_VALUE`` "Run <id> does not exist." (databricks-sdk's ResourceDoesNotExist);
  ``run_as``, ``spark_python_task`` and
  ``python_wheel_task`` run in worker processes against Sail (Python files forked from a warm
  interpreter, ``warm_python.py``), ``depends_on``, queueing at
  ``max_concurrent_runs``, ``timeout_seconds``, ``webhook_notifications``.
- SQL statements 2.0: execute (named parameters, ``catalog``/``schema``, ``wait_timeout``,
  ``on_wait_timeout``, INLINE JSON_ARRAY), get, cancel, result chunk 0 — executed on Sail over Spark Connect;
  a plain managed ``CREATE TABLE … (columns)`` is made by the stand-in as plain Delta (``managed_ddl.py``).
- Secrets 2.0: scopes create/list/delete; put/get/list/delete, AES-GCM encrypted at rest; scope ACLs
  (``secret_acls.py``: READ < WRITE < MANAGE, checked for non-admins, every call audited without values).
- Lineage (``lineage.py``, ``routes/lineage.py``): every SQL statement that SUCCEEDS and writes from a query
  (CTAS, INSERT … SELECT, MERGE, CREATE VIEW, UPDATE … FROM) is parsed with sqlglot; ``*`` and unqualified
  columns resolve with the catalog's columns and the statement's ``catalog``/``schema``. Stored in SQLite
  with statement id, time and principal. Served as ``GET /api/2.0/lineage-tracking/table-lineage``
  (``upstreams``/``downstreams``, ``tableInfo``, ``queryInfos``/``jobInfos`` with ``include_entity_lineage``)
  and ``…/column-lineage`` (``upstream_cols``/``downstream_cols``), and as ``system.access.table_lineage`` /
  ``column_lineage`` through SQL statements. Job runs: each task talks to the engine through its own Spark
  Connect proxy, whose plans give the tables read and written, recorded with ``jobInfos`` after the task.
  Optionally (``WorkspaceConfig.openlineage``) OpenLineage run events for runs and statements.
- Delta Sharing (``sharing*.py``, ``routes/sharing.py``, ``routes/delta_sharing.py``; docs/delta-sharing.md):
  shares and recipients through SQL statements and ``/api/2.1/unity-catalog/shares|recipients``, activation
  profiles, and the open protocol under ``/api/2.0/delta-sharing/metastores/<id>/`` (parquet format, SAS
  file URLs, ``version``/``timestamp``); a table with ``pii``-tagged columns only when each is also tagged
  ``pii_protection = 'encrypted'``.
- Governance (``governance.py``), through SQL statements only: ``ALTER TABLE … [ALTER|CHANGE [COLUMN] c]
  SET TAGS ('k' = 'v', …)`` / ``UNSET TAGS ('k', …)``, validated against the catalog (unknown table or
  column → ``TABLE_OR_VIEW_NOT_FOUND`` / ``UNRESOLVED_COLUMN``), served as
  ``<catalog>.information_schema.column_tags`` and ``…table_tags``; ``CREATE [OR REPLACE] FUNCTION … RETURNS
  <type> RETURN <expr>`` and ``DROP FUNCTION`` kept in the catalog's functions; ``ALTER COLUMN c SET MASK f
  [USING COLUMNS (…)]`` / ``DROP MASK``, shown as the column's ``mask`` in table info and applied to every
  statement's reads for the caller (groups from ``WorkspaceConfig.groups``). Stored in SQLite.
- ``/api/2.0/local/…``: the test control plane (ping, faults, SQL start delay); the product never calls it.

LIMITATIONS:
- A duplicate catalog, schema, table, volume or function answers 400 ``<KIND>_ALREADY_EXISTS`` as
  Databricks (SDK: BadRequest) — except to Sail (``User-Agent: Sail/…``), which gets 409: Sail 0.7.2's
  ``CREATE SCHEMA/TABLE IF NOT EXISTS`` treats only a 409 as "exists" (``errors.already_exists``).
- MANAGED Delta tables are plain Delta (readable by delta-rs/polars) unless created with
  ``delta.feature.catalogManaged``, as on Databricks; Sail is answered such tables without ``table_id``
  (``routes/unity_catalog._table_view``). Tables Sail itself creates through its catalog (``saveAsTable``,
  CTAS, ``CREATE TABLE`` straight on Sail) are catalog-managed anyway (Sail 0.7.2 insists on it), which
  delta-rs cannot read.
- A second ``staging-tables`` request for the same name before the table exists returns the same staging
  table (open-source Unity Catalog answers 409, which breaks Sail 0.7.2's ``saveAsTable``).
- Vended credentials are a service SAS for the whole container (Azurite has no user delegation keys for
  shared-key accounts, nor directory-scoped SAS); the field is still ``azure_user_delegation_sas``.
- Table update changes ``owner``/``comment`` only; functions cannot be updated; no models,
  ``/credentials``; one metastore (``metastore.py``: get, summary, current assignment, update of
  ``external_access_enabled`` — off by default, so no temporary path credential is vended until a metastore
  admin turns it on, as on Databricks); storage credentials are not checked against Azure
  (limits in ``catalog_external.py``). Delta Sharing: limits in
  docs/delta-sharing.md (parquet responses only, tables only, token recipients only).
- Lineage: from SQL statements and job runs (table level for DataFrame writes; column level for SQL
  writes); limits of the proxy in ``connect_proxy.py``; path-based SQL reads/writes (``delta.`…```) and
  statements sqlglot cannot parse give none (a job's query of a table's files by path reads the table); a
  column sqlglot cannot trace keeps its table lineage only;
  one hop per answer, as Databricks; no paging. The
  ``system.access`` tables accept one query reading only those two tables in the SQL sqlglot's executor runs
  (SELECT, WHERE, GROUP BY, ORDER BY, LIMIT, joins between the two; no parameters); ``entity_type`` is
  ``JOB`` for job lineage, else null with ``statement_id`` set; ``account_id`` and paths are null.
- Governance: tags only on tables and columns (no catalog/schema/volume tags, no ``SET TAG ON`` syntax, no
  tag policies), not in table info (Databricks has no field there either) and no entity-tag-assignments
  REST API. The tags views accept one query reading only ``column_tags``/``table_tags`` in the SQL sqlglot's
  executor runs, no parameters. Masks: a statement reading a masked table is rewritten with sqlglot (each
  FROM/JOIN reference of it becomes ``(SELECT c1, <mask>(c2) AS c2, … FROM t) AS t``), so only queries, CTAS
  and INSERT … SELECT are masked; MERGE … USING, UPDATE … FROM, CREATE VIEW and any other reading of a
  masked table are refused (never run unmasked); the WHERE of an UPDATE/DELETE of a masked table sees raw
  values; a reference qualified with more than its alias (``hr.emp.email``) fails; the reading of a view
  defined before the mask is not masked. The mask body runs on Sail: ``is_account_group_member`` /
  ``is_member`` and ``current_user()`` are decided for the caller first and CASE/IF branches not taken are
  removed, so non-members never reach, e.g., a decrypt function the engine lacks. ``secret()`` and
  ``aes_decrypt``/``try_aes_decrypt``/``aes_encrypt`` (``sql_functions.py``) work in any statement: the
  secret's value is spliced as a literal into the SQL sent to Sail and the AES functions are Python UDFs
  registered per engine session; ``secret()`` needs string literals (not other constant expressions);
  results redact the value (values under 4 characters are not), engine errors quoting it are replaced; a
  view calling them is refused (its text would keep the value); AES errors keep Spark's classes, not its
  exact wording. SQL functions are stored and used as masks, not callable in queries. Membership is the
  directory's (``principals.py``: the configured groups and SCIM groups, transitive).
- Privileges: the principals of ``WorkspaceConfig.tokens`` are metastore
  admins unless ``metastore_admins`` names others (the local stack names only the operator: the product's
  service principals hold the bundle's grants), and metastore admins pass every check (data reads too,
  unlike Databricks). Not enforced yet: path credentials; of a job run's Spark session ``ExecutePlan`` and
  ``AnalyzePlan`` are checked (a path at or under a table's location as the table), paths that reach no
  table are not (raw files: no external-location ``READ FILES``; limits in ``run_identity.py``); of Delta
  Sharing only adding and removing
  tables is checked (``Access.update_share``: the share's owner or MANAGE, and the owner's SELECT on a
  table added), not the other share and recipient calls; ``EXTERNAL_USE_SCHEMA`` is not asked for credentials;
  metastore admins' allowed metadata reads and statements are not logged. Grants to a principal deleted
  later stay (shown by name). SQL: statements are checked from what sqlglot reads in their text, not from
  the engine's plan (a non-admin's statement sqlglot cannot read is refused); SQL functions, shares
  (but ``ALTER SHARE … ADD|REMOVE``), ``SHOW TABLES``/``SCHEMAS`` and other commands are not checked (tags
  need ``APPLY TAG``, masks owner); the ``system.access`` lineage tables are not filtered; grants keep no
  grantor (information_schema's ``grantor`` is the object's owner); audit rows of statements have no source
  address or user agent.
- SQL: only INLINE + JSON_ARRAY (others 501); statements live in memory (lost on restart, newest 1,000
  kept); a command (INSERT, CREATE …) with parameters fails because Sail 0.7.2 binds parameters in
  queries only; commands answer no rows (no ``num_affected_rows``); cancelling stops waiting and discards
  the result, the engine may finish the work; ``warehouse_id`` is required but not checked.
- Secrets: ``secret()`` in a SQL statement is not checked against the scope's ACLs; ``scopes/list`` lists
  every scope to everyone (as Databricks does); Azure Key Vault-backed scopes are kept (with their
  ``keyvault_metadata``) but reach no vault: they list no secrets, and writes answer 400 BAD_REQUEST as
  Databricks does.
- Jobs: only ``spark_python_task`` and ``python_wheel_task`` (pure-Python wheels, put on ``sys.path``) run;
  no clusters, retries, schedules or repair; a worker process killed by a signal ends the run
  INTERNAL_ERROR; a run active when the stand-in stopped ends INTERNAL_ERROR on restart.
"""

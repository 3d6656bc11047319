"""The ``climatelake`` command: operate a deployment (local or cloud) through the official SDKs.

    climatelake keys create --role submitter --name "Ada's laptop"   # prints the key once
    climatelake keys list | climatelake keys revoke <key id>
    climatelake deploy [--target local]          # the bundle's jobs + the catalog's schemas
    climatelake deploy --target azure [--plan] [--azd-env FILE]   # after azd provision: UC set-up + bundle
    climatelake data generate --cities 3 --start 2024-01-01 --end 2024-03-31 [--dirty-fraction 0.05]
                              [--missing-fraction 0.05]
                              [--hour-format 2400] [--cities-per-file 10] [--upload | --out DIR]
    climatelake data fetch --source noaa-isd|open-meteo --city 101 --start 2017-01-01 --end 2017-03-31
                           [--upload | --out DIR]   # real observations, seed schema, UTC
    climatelake ingest                           # run the ingest job and wait
    climatelake sql run sql/lineage_demo.sql     # statement by statement through the SQL statements API
    climatelake events subscribe --name NAME --endpoint URL [--types T …]   # | unsubscribe | list
    climatelake pii rotate [--new-key]           # re-encrypt silver.employees to the current key version

Configuration is the environment (README, "Configuration"). Errors are one line on stderr, exit code 2.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="climatelake", description="Operate a climatelake deployment.")
    sub = parser.add_subparsers(dest="command", required=True)

    keys = sub.add_parser("keys", help="gateway API keys").add_subparsers(dest="action", required=True)
    create = keys.add_parser("create", help="create a key and print it (the only time it is shown)")
    create.add_argument("--role", required=True, choices=("reader", "submitter", "pii_reader", "admin"))
    create.add_argument("--name", default="", help="who or what holds it")
    keys.add_parser("list", help="list keys (ids, roles, names; never secrets)")
    revoke = keys.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")

    deploy = sub.add_parser("deploy", help="deploy the Asset Bundle's jobs through databricks-sdk")
    deploy.add_argument(
        "--target", default="local", help="a bundle target (local), or azure: UC set-up, then the bundle"
    )
    deploy.add_argument("--plan", action="store_true", help="azure: print every call, make none")
    deploy.add_argument("--azd-env", type=Path, help="azure: azd's outputs (default: azd env get-values)")
    deploy.add_argument("--bundle-target", default="dev", help="azure: the bundle target (databricks.yml)")
    deploy.add_argument(
        "--update-webhook", action="store_true", help="azure: write the job-events webhook's URL again"
    )

    data = sub.add_parser("data", help="sample data").add_subparsers(dest="action", required=True)
    generate = data.add_parser("generate", help="generate realistic hourly weather files")
    generate.add_argument("--cities", type=int, default=3)
    generate.add_argument("--start", type=_date, default=dt.date(2024, 1, 1))
    generate.add_argument("--end", type=_date, default=dt.date(2024, 3, 31))
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument(
        "--dirty-fraction", type=float, default=0.0, help="share of rows made dirty (sample_data.dirty_rows)"
    )
    generate.add_argument(
        "--missing-fraction",
        type=float,
        default=0.0,
        help="share of rows missing one measure, still valid (sample_data.missing_measures)",
    )
    generate.add_argument("--hour-format", choices=("0-23", "2400"), default="0-23")
    generate.add_argument("--cities-per-file", type=int, default=1)
    where = generate.add_mutually_exclusive_group(required=True)
    where.add_argument("--upload", action="store_true", help="into the raw container")
    where.add_argument("--out", type=Path, help="into a local folder")

    fetch = data.add_parser("fetch", help="download real observations of a registered city (seed schema)")
    fetch.add_argument("--source", required=True, choices=("noaa-isd", "open-meteo"))
    fetch.add_argument("--city", type=int, required=True, help="a city id of climatelake/cities.csv")
    fetch.add_argument("--start", type=_date, required=True)
    fetch.add_argument("--end", type=_date, required=True)
    where = fetch.add_mutually_exclusive_group(required=True)
    where.add_argument("--upload", action="store_true", help="into the raw container")
    where.add_argument("--out", type=Path, help="into a local folder")

    sub.add_parser("ingest", help="run the ingest job (raw files → silver.weather_hourly) and wait")

    sql = sub.add_parser("sql", help="SQL through the SQL statements API").add_subparsers(
        dest="action", required=True
    )
    sql_run = sql.add_parser("run", help="run a .sql file statement by statement (${catalog} substituted)")
    sql_run.add_argument("file", type=Path)
    sql_run.add_argument("--warehouse-id", help="default: CLIMATELAKE_SQL_WAREHOUSE_ID")

    pii_ = sub.add_parser("pii", help="PII keys").add_subparsers(dest="action", required=True)
    rotate = pii_.add_parser(
        "rotate", help="re-encrypt the employee table to the current key version (one commit; idempotent)"
    )
    rotate.add_argument(
        "--new-key", action="store_true", help="first store a new key version, make it current"
    )

    events = sub.add_parser("events", help="Event Grid subscriptions to climatelake's events (through ARM)")
    actions = events.add_subparsers(dest="action", required=True)
    subscribe = actions.add_parser("subscribe", help="subscribe a webhook (it must answer the handshake)")
    subscribe.add_argument("--name", required=True)
    subscribe.add_argument("--endpoint", required=True)
    subscribe.add_argument("--types", nargs="*", help="e.g. Climatelake.Request.Succeeded; default all")
    subscribe.add_argument("--subject-begins-with", default="")
    unsubscribe = actions.add_parser("unsubscribe")
    unsubscribe.add_argument("--name", required=True)
    actions.add_parser("list")
    return parser


def _data(args: argparse.Namespace) -> None:
    """``data generate`` (the same bytes for the same arguments: sample_data.weather_files) or ``data fetch``
    (real observations: climatelake.sources.fetch); both write or upload seed raw files."""
    from climatelake import bootstrap, sample_data

    if args.action == "fetch":
        from climatelake.sources.fetch import fetch

        files = fetch(args.source, args.city, args.start, args.end)
    else:
        if args.cities < 1 or args.cities_per_file < 1:
            raise ValueError("--cities and --cities-per-file must be at least 1")
        files = sample_data.weather_files(
            range(1, args.cities + 1),
            args.start,
            args.end,
            seed=args.seed,
            dirty_fraction=args.dirty_fraction,
            missing_fraction=args.missing_fraction,
            hour_format=args.hour_format,
            cities_per_file=args.cities_per_file,
        )
    if args.upload:
        from climatelake.settings import Settings

        settings = Settings.from_env()
        for name in bootstrap.upload_weather_files(settings, files):
            print(f"{settings.raw_container}/{name}")
        return
    for name, data in files.items():
        path = args.out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        print(path)


def run(args: argparse.Namespace) -> None:
    from climatelake.settings import Settings

    if args.command == "data":  # --out needs no deployment; --upload reads the settings itself
        _data(args)
        return
    if args.command == "deploy" and args.target == "azure":  # configured by azd's outputs
        from climatelake import cloud_deploy

        cloud_deploy.run(args)
        return
    if args.command == "deploy" and args.plan:
        raise ValueError("--plan is for --target azure")
    settings = Settings.from_env()
    if args.command == "keys":
        from climatelake.keys import ApiKeyStore

        store = ApiKeyStore(settings.storage_connection_string, settings.keys_table)
        store.ensure_table()
        if args.action == "create":
            key, record = store.create(args.role, args.name)
            print(key)
            print(
                f"key id {record.key_id}, role {record.role}: store the key now; it cannot be shown again.",
                file=sys.stderr,
            )
        elif args.action == "list":
            for record in store.list():
                state = "revoked" if record.revoked else "active"
                print(f"{record.key_id}  {record.role:<10}  {state:<7}  {record.created_at}  {record.name}")
        elif not store.revoke(args.key_id):
            raise LookupError(f"no key with id {args.key_id}")
        return
    if args.command == "events":
        _events(args)
        return
    from climatelake.databricks_auth import workspace_client

    w = workspace_client()
    if args.command == "pii":
        _rotate(w, args)
        return
    if args.command == "sql":
        from climatelake.sql_runner import run_sql_file

        for result in run_sql_file(
            w,
            args.file,
            catalog=settings.catalog,
            warehouse_id=args.warehouse_id or settings.sql_warehouse_id,
        ):
            first_line = result.statement.text.splitlines()[0][:80]
            print(f"{result.statement_id}: {first_line} … {len(result.rows)} rows")
        return
    if args.command == "deploy":
        from climatelake import bundle

        for name, job_id in bundle.deploy(
            w, args.target, {"storage_account": settings.storage_account, "catalog": settings.catalog}
        ).items():
            print(f"{name}: job {job_id}")
    elif args.command == "ingest":
        from climatelake.bootstrap import run_job

        run = run_job(w, settings.ingest_job_name)
        print(f"run {run.run_id}: {run.state.result_state.value}")


def _rotate(w, args: argparse.Namespace) -> None:
    """``pii rotate``: optionally a new key version (in the configured key store), then the rotation job.
    Keys are never printed: only version numbers and secret names."""
    from climatelake import pii
    from climatelake.bootstrap import run_job

    provider = pii.provider_from_env(workspace=w)
    if args.new_key:
        if not isinstance(provider, pii.NamedSecretKeys):
            raise ValueError("--new-key needs a secret store (workspace or keyvault), not a key file")
        version = provider.add_version()
        print(f"new key version {version} ({pii.key_secret_name(version)}) is current")
    run = run_job(w, "climatelake_employees_rotate")
    print(
        f"run {run.run_id}: {run.state.result_state.value}; "
        f"rows now use key version {provider.current_version()}"
    )


def _events(args: argparse.Namespace) -> None:
    import os

    from climatelake import event_subscriptions as subs

    topic = subs.TopicRef(
        management_url=os.environ.get("CLIMATELAKE_ARM_URL", "https://management.azure.com"),
        subscription_id=os.environ.get(
            "CLIMATELAKE_AZURE_SUBSCRIPTION_ID", "00000000-0000-0000-0000-000000000000"
        ),
        resource_group=os.environ.get("CLIMATELAKE_RESOURCE_GROUP", "local"),
        topic=os.environ.get("CLIMATELAKE_EVENTGRID_TOPIC_NAME", "climatelake"),
        token=os.environ.get("CLIMATELAKE_ARM_TOKEN", ""),
    )
    if args.action == "subscribe":
        subs.subscribe(topic, args.name, args.endpoint, args.types, args.subject_begins_with)
        print(f"subscribed {args.name} → {args.endpoint}")
    elif args.action == "unsubscribe":
        subs.unsubscribe(topic, args.name)
        print(f"unsubscribed {args.name}")
    else:
        for item in subs.list_subscriptions(topic):
            properties = item.get("properties", {})
            endpoint = properties.get("destination", {}).get("properties", {}).get("endpointBaseUrl", "")
            print(f"{item.get('name')}  {properties.get('provisioningState', '')}  {endpoint}")


def main(argv: list[str] | None = None) -> int:
    import logging

    # databricks-sdk warns when a workspace has no host metadata endpoint; the CLI speaks for itself.
    logging.getLogger("databricks.sdk").setLevel(logging.ERROR)
    args = _parser().parse_args(argv)
    try:
        run(args)
    except Exception as error:  # a CLI message, never a stack trace
        print(f"climatelake: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

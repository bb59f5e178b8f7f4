"""The ``cpo`` command: serve the platform, migrate the database, create the first admin and API tokens."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import getpass
import logging
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cpo
from cpo.accounts.roles import ROLES
from cpo.errors import DomainError, InvalidInput
from cpo.logs import configure_logging
from cpo.settings import Settings, load_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from cpo.tenants.models import Tenant

SITE_HELP = "a site manager's site, by id or name (repeat for several)"


def _database_url(settings: Settings) -> str:
    from cpo.runtime import resolve_database_url

    return resolve_database_url(settings)


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from cpo.db.migrate import upgrade

    host = args.host or settings.server.host
    port = args.port if args.port is not None else settings.server.port
    workers = args.workers or settings.server.workers
    url = _database_url(settings)
    upgrade(url)
    # Workers read their settings from the environment: hand them the resolved database and address.
    os.environ["CPO_DATABASE_URL"] = url
    os.environ["CPO_DATABASE_MIGRATE"] = "false"  # done above, once for all workers
    os.environ["CPO_HOST"], os.environ["CPO_PORT"] = host, str(port)
    shown = load_settings()
    database = "configured PostgreSQL" if settings.database.url else f"embedded PostgreSQL in {settings.data_dir}"
    mtls = (
        f"  OCPP mTLS: wss://{host}:{settings.tls.client_port}/ocpp/{{station identity}}\n"
        if settings.tls.client_port
        else ""
    )
    print(
        f"CPO platform {cpo.__version__} on {host}:{port} ({workers} worker(s), {database})\n"
        f"  UI:        {shown.base_url}/ui/\n"
        f"  API docs:  {shown.base_url}/api/docs\n"
        f"  OCPP:      {shown.ocpp_url}{{station identity}}\n"
        f"{mtls}"
        f"  Health:    {shown.base_url}/healthz  {shown.base_url}/readyz  {shown.base_url}/metrics",
        flush=True,
    )
    simulator = None
    if args.demo:
        # The demo's stations run beside the server, as a separate process that connects like real ones.
        simulator = subprocess.Popen(  # noqa: S603 - our own command
            [sys.executable, "-m", "cpo.cli", "simulate", "--demo", "--count", str(args.demo_stations),
             "--url", f"ws://127.0.0.1:{port}/ocpp/"],
        )  # fmt: skip
        print(f"  Demo:      {args.demo_stations} simulated stations at {shown.base_url}/ui/stations", flush=True)
    ping = settings.ocpp.ping_seconds or None
    uvicorn_options: dict[str, Any] = dict(
        factory=True,
        host=host,
        port=port,
        workers=workers,
        # uvloop, httptools and the sans-I/O websockets protocol: about 20 KiB per connected station.
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",
        # OCPP security profile 2 forbids compression; it would also cost ~50 KiB per connection.
        ws_per_message_deflate=False,
        ws_max_size=4 * settings.ocpp.max_frame_bytes,
        # Dead connections: a station that does not answer a websocket ping in time is dropped.
        ws_ping_interval=ping,
        ws_ping_timeout=ping,
        backlog=4096,
        timeout_keep_alive=30,
        # Open connections get this long after SIGTERM, then the worker stops anyway: shutdown always ends.
        timeout_graceful_shutdown=15,
        log_config=None,
        access_log=False,
        server_header=False,
        # Forwarded headers are read by the app itself, from the configured proxies only (cpo.network): the
        # server must not rewrite the client's address or scheme from whatever a client sends.
        proxy_headers=False,
        # Security profile 2: TLS on the main port (Python's default context: TLS 1.2 at least).
        ssl_certfile=settings.tls.cert_file,
        ssl_keyfile=settings.tls.key_file,
    )
    # The server handles SIGTERM/SIGINT itself, then raises them again once it has stopped cleanly: end with 0 then.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _stopped)
    try:
        uvicorn.run("cpo.app:app_from_environment", **uvicorn_options)
    finally:
        if simulator is not None:
            simulator.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                simulator.wait(10)
    return 0


def _stopped(signum: int, frame: object) -> None:
    raise SystemExit(0)


def cmd_db(settings: Settings, args: argparse.Namespace) -> int:
    from cpo.db.migrate import current_revisions, head_revisions, upgrade

    url = _database_url(settings)
    if args.action == "upgrade":
        upgrade(url)
        print("database at head:", ", ".join(sorted(head_revisions())))
        return 0

    async def current() -> set[str]:
        from cpo.db.engine import make_engine

        async_engine = make_engine(url, pool_size=1)
        try:
            async with async_engine.connect() as connection:
                return await connection.run_sync(current_revisions)
        finally:
            await async_engine.dispose()

    revisions = asyncio.run(current())
    heads = head_revisions()
    print("current:", ", ".join(sorted(revisions)) or "(empty database)")
    print("head:   ", ", ".join(sorted(heads)))
    return 0 if revisions == heads else 3


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if env := os.environ.get("CPO_ADMIN_PASSWORD"):
        return env
    first = getpass.getpass("Password (at least 10 characters): ")
    if first != getpass.getpass("Repeat password: "):
        raise SystemExit("passwords differ")
    return first


def _in_tenant(settings: Settings, slug: str | None, use: Callable[[AsyncSession, Tenant], Awaitable[str]]) -> str:
    """Run ``use`` in one transaction on the migrated database, within the named (or default) tenant."""
    from cpo.audit.capture import act_as
    from cpo.db.engine import make_engine, make_sessionmaker
    from cpo.db.migrate import upgrade
    from cpo.tenants.service import ensure_tenant, find_tenant_by_slug_or_name

    url = _database_url(settings)
    upgrade(url)

    async def run() -> str:
        engine = make_engine(url, pool_size=1)
        try:
            async with make_sessionmaker(engine)() as session, session.begin():
                act_as(session, "cli")
                tenant = await (
                    find_tenant_by_slug_or_name(session, slug)
                    if slug
                    else ensure_tenant(session, settings.default_tenant)
                )
                return await use(session, tenant)
        finally:
            await engine.dispose()

    return asyncio.run(run())


async def _sites_named(session: AsyncSession, tenant: Tenant, keys: list[str] | None) -> list[uuid.UUID] | None:
    """``--site`` values (an id, or a name in any case) as the tenant's site ids; the service checks the role."""
    from sqlalchemy import func, select

    from cpo.sites.models import Site

    if not keys:
        return None
    found: list[uuid.UUID] = []
    for key in keys:
        try:
            condition = Site.id == uuid.UUID(key)
        except ValueError:
            condition = func.lower(Site.name) == key.strip().lower()
        ids = list((await session.execute(select(Site.id).where(Site.tenant_id == tenant.id, condition))).scalars())
        if len(ids) != 1:
            problem = "no such site" if not ids else "several sites have this name: give the id"
            raise InvalidInput("site", f"{key}: {problem} in tenant {tenant.slug}")
        found.append(ids[0])
    return found


def cmd_admin(settings: Settings, args: argparse.Namespace) -> int:
    from cpo.accounts.service import count_accounts, create_account

    password = _password(args)

    async def create(session: AsyncSession, tenant: Tenant) -> str:
        name = args.name or args.email
        role = args.role or ("tenant_admin" if await count_accounts(session) else "platform_admin")
        sites = await _sites_named(session, tenant, args.site)
        account = await create_account(session, tenant.id, args.email, name, password, role, args.language, sites)
        return f"created {account.role} {account.email} in tenant {tenant.slug}"

    print(_in_tenant(settings, args.tenant, create))
    return 0


def cmd_tokens(settings: Settings, args: argparse.Namespace) -> int:
    from cpo.accounts.service import create_api_token

    async def create(session: AsyncSession, tenant: Tenant) -> str:
        sites = await _sites_named(session, tenant, args.site)
        token, _ = await create_api_token(session, tenant.id, args.role, args.name, site_ids=sites)
        return token

    print(_in_tenant(settings, args.tenant, create))
    return 0


def cmd_ocpi_invite(settings: Settings, args: argparse.Namespace) -> int:
    """A roaming partner to be: prints our versions URL and a fresh Token A for them to register with."""
    from cpo.roaming import service as roaming
    from cpo.roaming.sealing import sealer_for

    parties = [found for text in args.party or [] for found in roaming.parties_from_text(text)]

    async def invite(session: AsyncSession, tenant: Tenant) -> str:
        partner, token = await roaming.invite(session, tenant.id, args.name, sealer_for(settings), parties)
        return f"versions URL: {settings.base_url}/ocpi/versions\nToken A: {token}\npartner: {partner.id}"

    print(_in_tenant(settings, args.tenant, invite))
    return 0


def _print_report(created: list[str], refused: list[tuple[int, str]], extra: str = "") -> int:
    print(f"created or updated: {len(created)}{extra}")
    for line, reason in refused:
        print(f"refused line {line}: {reason}", file=sys.stderr)
    return 0 if not refused else 4


def cmd_people_import(settings: Settings, args: argparse.Namespace) -> int:
    from cpo.people.imports import import_people

    text = Path(args.file).read_text(encoding="utf-8-sig")
    result: list[Any] = []

    async def load(session: AsyncSession, tenant: Tenant) -> str:
        result.append(await import_people(session, tenant.id, text, args.dry_run))
        return tenant.slug

    _in_tenant(settings, args.tenant, load)
    report = result[0]
    print("dry run: nothing was changed; this is what the import would do" if report.dry_run else "imported")
    print(f"new people: {len(report.created)}")
    for user_name in report.created:
        print(f"  + {user_name}")
    print(f"changed: {len(report.updated)}")
    for user_name, fields in report.updated:
        print(f"  ~ {user_name}: {', '.join(fields)}")
    print(f"unchanged: {len(report.unchanged)}")
    for group in report.groups_created:
        print(f"new group: {group}")
    for line, reason in report.refused:
        print(f"refused line {line}: {reason}", file=sys.stderr)
    return 0 if not report.refused else 4


def cmd_badges_import(settings: Settings, args: argparse.Namespace) -> int:
    from cpo.access.badges import import_badges

    text = Path(args.file).read_text(encoding="utf-8-sig")
    result: list[Any] = []

    async def load(session: AsyncSession, tenant: Tenant) -> str:
        report = await import_badges(session, tenant.id, text)
        result.append(report)
        return tenant.slug

    _in_tenant(settings, args.tenant, load)
    report = result[0]
    people = f", {len(report.people_created)} new holder(s)" if report.people_created else ""
    return _print_report(report.created + report.updated, report.refused, f" ({len(report.created)} new{people})")


def cmd_stations_import(settings: Settings, args: argparse.Namespace) -> int:
    from cpo.sites.imports import import_stations

    text = Path(args.file).read_text(encoding="utf-8-sig")
    result: list[Any] = []

    async def load(session: AsyncSession, tenant: Tenant) -> str:
        result.append(await import_stations(session, tenant.id, text))
        return tenant.slug

    _in_tenant(settings, args.tenant, load)
    report = result[0]
    for name in report.sites_created:
        print(f"new site {name!r}: complete its address, coordinates and time zone in the UI")
    return _print_report(report.created, report.refused)


def cmd_simulate(settings: Settings, args: argparse.Namespace) -> int:
    from ocpp_gateway.simulator.station import Faults, StationPlan, run_stations

    plans: list[StationPlan] = []
    if args.demo:
        from cpo.demo import DEMO_BADGES, prepare_demo

        demo: list[Any] = []

        async def setup(session: AsyncSession, tenant: Tenant) -> str:
            demo.extend(await prepare_demo(session, tenant.id, args.count))
            return tenant.slug

        _in_tenant(settings, args.tenant, setup)
        plans = [
            StationPlan(s.identity, s.password, s.version, badge=DEMO_BADGES[i % len(DEMO_BADGES)], seed=i)
            for i, s in enumerate(demo)
        ]
    elif args.stations_file:
        with open(args.stations_file, encoding="utf-8-sig") as handle:
            for i, row in enumerate(csv.DictReader(handle)):
                version = row.get("version") or (
                    "1.6" if args.version == "1.6" or (args.version == "mixed" and i % 2 == 0) else "2.0.1"
                )
                plans.append(
                    StationPlan(row["id"], row["password"], version, badge=row.get("badge") or args.badge, seed=i)
                )
    else:
        raise InvalidInput("stations", "give --demo or --stations-file FILE (columns id, password[, version, badge])")
    for i, plan in enumerate(plans):
        plan.meter_seconds = args.meter_seconds
        plan.faults = Faults(
            offline_every_seconds=args.offline_every,
            faulted=i < args.faulted,
            ignore_profiles=args.faulted <= i < args.faulted + args.ignore_profiles,
        )
    url = args.url or settings.ocpp_url
    logging.getLogger("ocpp").setLevel(logging.WARNING)  # the library logs every frame at INFO
    print(f"simulating {len(plans)} station(s) against {url}", flush=True)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        if args.duration:
            loop.call_later(args.duration, stop.set)
        await run_stations(plans, url, stop)

    asyncio.run(run())
    return 0


def cmd_tariffs_price(settings: Settings, args: argparse.Namespace) -> int:
    """Price OCPI periods (or a CDR) under an OCPI tariff; print the OCPI totals as JSON."""
    from cpo.tariffs.calculator import CalculatorError, calculate
    from cpo.tariffs.ocpi import ENCODER

    def read(path: str | None, what: str) -> bytes | None:
        if path is None:
            return None
        try:
            return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
        except OSError as error:
            raise CalculatorError(f"{what}: cannot read {path} ({error.strerror})") from None

    try:
        out = calculate(read(args.tariff, "tariff"), read(args.periods, "periods"), read(args.cdr, "cdr"), args.tz)
    except CalculatorError as error:
        print(f"cpo tariffs price: {error}", file=sys.stderr)
        return 2
    sys.stdout.write(ENCODER.encode(out).decode() + "\n")
    return 0 if out.get("cdr_agrees", True) else 5


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="cpo",
        description="Charge point management platform. Settings come from CPO_* environment variables; "
        "without CPO_DATABASE_URL an embedded PostgreSQL runs under CPO_DATA_DIR (default ./var).",
    )
    main.add_argument("--version", action="version", version=f"cpo {cpo.__version__}")
    commands = main.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve HTTP, the admin UI, the API and OCPP websockets on one port")
    serve.add_argument("--host", help="address to bind (CPO_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (CPO_PORT, default 8080)")
    serve.add_argument("--workers", type=int, help="worker processes (CPO_WORKERS, default 1)")
    serve.add_argument("--demo", action="store_true", help="also run a demo site with simulated stations and badges")
    serve.add_argument("--demo-stations", type=int, default=10, help="how many demo stations (default 10)")
    serve.set_defaults(run=cmd_serve)

    db = commands.add_parser("db", help="database schema migrations")
    db.add_argument("action", choices=["upgrade", "current"], help="upgrade to head, or show the revision")
    db.set_defaults(run=cmd_db)

    admin = commands.add_parser("admin", help="administrator accounts")
    admin_commands = admin.add_subparsers(dest="admin_command", required=True, metavar="ACTION")
    create_user = admin_commands.add_parser("create-user", help="create a UI account (the first admin)")
    create_user.add_argument("--email", required=True)
    create_user.add_argument("--name")
    create_user.add_argument(
        "--role",
        choices=ROLES,
        help="default: platform_admin for the very first account, tenant_admin after that",
    )
    create_user.add_argument("--site", action="append", help=SITE_HELP)
    create_user.add_argument("--tenant", help="tenant slug or name (default: the default tenant)")
    create_user.add_argument("--language", default="en", choices=["en", "nl"])
    create_user.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input (else CPO_ADMIN_PASSWORD or a prompt)",
    )
    create_user.set_defaults(run=cmd_admin)

    tokens = commands.add_parser("tokens", help="API tokens")
    token_commands = tokens.add_subparsers(dest="tokens_command", required=True, metavar="ACTION")
    create_token = token_commands.add_parser("create", help="print a new API token on standard output")
    create_token.add_argument("--role", required=True, choices=ROLES, help="employees sign in; they get no token")
    create_token.add_argument("--site", action="append", help=SITE_HELP)
    create_token.add_argument("--tenant", help="tenant slug or name (default: the default tenant)")
    create_token.add_argument("--name", default="cli")
    create_token.set_defaults(run=cmd_tokens)

    people = commands.add_parser("people", help="people (employees, visitors, externals)")
    people_commands = people.add_subparsers(dest="people_command", required=True, metavar="ACTION")
    people_import = people_commands.add_parser(
        "import",
        help="load people from CSV: name, email or user_name[, kind, language, status, department, cost_centre, external_id]",
    )
    people_import.add_argument("file")
    people_import.add_argument("--dry-run", action="store_true", help="report what would change, change nothing")
    people_import.add_argument("--tenant", help="tenant slug or name (default: the default tenant)")
    people_import.set_defaults(run=cmd_people_import)
    badges = commands.add_parser("badges", help="badges (RFID cards and other tokens)")
    badge_commands = badges.add_subparsers(dest="badges_command", required=True, metavar="ACTION")
    badge_import = badge_commands.add_parser(
        "import",
        help="load badges from CSV: uid[, token_type, status, user_email, user_name, kind, department, cost_centre, group_uid, label]",
    )
    badge_import.add_argument("file")
    badge_import.add_argument("--tenant", help="tenant slug or name (default: the default tenant)")
    badge_import.set_defaults(run=cmd_badges_import)

    stations = commands.add_parser("stations", help="charging stations")
    station_commands = stations.add_subparsers(dest="stations_command", required=True, metavar="ACTION")
    station_import = station_commands.add_parser(
        "import", help="register stations from CSV (columns id, password, site[, evses, connector_type, max_power_kw])"
    )
    station_import.add_argument("file")
    station_import.add_argument("--tenant", help="tenant slug or name (default: the default tenant)")
    station_import.set_defaults(run=cmd_stations_import)

    ocpi = commands.add_parser("ocpi", help="OCPI roaming partners")
    ocpi_commands = ocpi.add_subparsers(dest="ocpi_command", required=True, metavar="ACTION")
    invite = ocpi_commands.add_parser(
        "invite", help="print our versions URL and a new Token A for a partner to register with (shown once)"
    )
    invite.add_argument("--name", required=True, help="the partner's name, e.g. the eMSP's brand")
    invite.add_argument(
        "--party",
        action="append",
        help="a party it may register and act for, e.g. NL*TNM (repeat for a hub); none: its first registration "
        "fixes them",
    )
    invite.add_argument("--tenant", help="tenant slug or name (default: the default tenant)")
    invite.set_defaults(run=cmd_ocpi_invite)

    tariffs = commands.add_parser("tariffs", help="tariffs and prices")
    tariff_commands = tariffs.add_subparsers(dest="tariffs_command", required=True, metavar="ACTION")
    price = tariff_commands.add_parser(
        "price", help="price OCPI charging periods (or a CDR) under an OCPI 2.2.1 tariff; print the OCPI totals",
        description="Prints total_cost, total_energy_cost, total_time_cost, total_parking_cost and total_fixed_cost "
        "({excl_vat, incl_vat}) as JSON. With --cdr, also the CDR's own total_cost and whether it agrees to the "
        "cent (exit 5 when it does not). Without a CDR, the last period lasts as long as the time it reports.",
    )  # fmt: skip
    price.add_argument("--tariff", help="an OCPI 2.2.1 Tariff (JSON file, - for stdin); default: the CDR's first")
    source = price.add_mutually_exclusive_group(required=True)
    source.add_argument("--periods", help="a JSON list of OCPI ChargingPeriods")
    source.add_argument("--cdr", help="a whole OCPI CDR: its periods, end time and (without --tariff) tariff")
    price.add_argument("--tz", default="UTC", help="the location's IANA time zone for restrictions (default UTC)")
    price.set_defaults(run=cmd_tariffs_price)

    simulate = commands.add_parser("simulate", help="run virtual OCPP 1.6 / 2.0.1 stations with EVs")
    simulate.add_argument("--demo", action="store_true", help="set up the demo site, stations and badges, and run them")
    simulate.add_argument("--stations-file", help="CSV with columns id, password[, version, badge]")
    simulate.add_argument("--count", type=int, default=10, help="demo stations (default 10)")
    simulate.add_argument("--version", choices=["1.6", "2.0.1", "mixed"], default="mixed")
    simulate.add_argument("--badge", default="DEMO0001", help="the badge EVs present when the file names none")
    simulate.add_argument("--url", help="OCPP base URL (default: this node's, e.g. ws://localhost:8080/ocpp/)")
    simulate.add_argument("--tenant", help="tenant for --demo (default: the default tenant)")
    simulate.add_argument("--meter-seconds", type=float, default=10.0, help="seconds between meter values")
    simulate.add_argument("--offline-every", type=float, help="fault: drop the connection every N seconds")
    simulate.add_argument("--faulted", type=int, default=0, help="fault: this many stations report Faulted")
    simulate.add_argument("--ignore-profiles", type=int, default=0, help="fault: this many stations ignore profiles")
    simulate.add_argument("--duration", type=float, help="stop after N seconds (default: until interrupted)")
    simulate.set_defaults(run=cmd_simulate)
    return main


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = load_settings()
        configure_logging(settings.log_level, settings.log_json)
        code: int = args.run(settings, args)
    except DomainError as error:
        print(f"cpo: {error}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())

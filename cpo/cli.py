"""The ``cpo`` command: serve the platform, migrate the database, create the first admin and API tokens."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

import cpo
from cpo.errors import DomainError
from cpo.logs import configure_logging
from cpo.settings import Settings, load_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from cpo.tenants.models import Tenant


def _database_url(settings: Settings) -> str:
    from cpo.runtime import resolve_database_url

    return resolve_database_url(settings)


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from granian import Granian
    from granian.constants import Interfaces

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
    print(
        f"CPO platform {cpo.__version__} on {host}:{port} ({workers} worker(s), {database})\n"
        f"  UI:        {shown.base_url}/ui/\n"
        f"  API docs:  {shown.base_url}/api/docs\n"
        f"  OCPP:      {shown.ocpp_url}{{station identity}}\n"
        f"  Health:    {shown.base_url}/healthz  {shown.base_url}/readyz  {shown.base_url}/metrics",
        flush=True,
    )
    server = Granian(
        "cpo.app:app_from_environment",
        factory=True,
        interface=Interfaces.ASGI,
        address=host,
        port=port,
        workers=workers,
        websockets=True,
        log_access=False,
        respawn_failed_workers=True,
    )
    server.serve()
    return 0


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
    from cpo.db.engine import make_engine, make_sessionmaker
    from cpo.db.migrate import upgrade
    from cpo.tenants.service import ensure_tenant, find_tenant_by_slug_or_name

    url = _database_url(settings)
    upgrade(url)

    async def run() -> str:
        engine = make_engine(url, pool_size=1)
        try:
            async with make_sessionmaker(engine)() as session, session.begin():
                tenant = await (
                    find_tenant_by_slug_or_name(session, slug)
                    if slug
                    else ensure_tenant(session, settings.default_tenant)
                )
                return await use(session, tenant)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def cmd_admin(settings: Settings, args: argparse.Namespace) -> int:
    from cpo.accounts.service import count_accounts, create_account

    password = _password(args)

    async def create(session: AsyncSession, tenant: Tenant) -> str:
        name = args.name or args.email
        role = args.role or ("tenant_admin" if await count_accounts(session) else "platform_admin")
        account = await create_account(session, tenant.id, args.email, name, password, role, args.language)
        return f"created {account.role} {account.email} in tenant {tenant.slug}"

    print(_in_tenant(settings, args.tenant, create))
    return 0


def cmd_tokens(settings: Settings, args: argparse.Namespace) -> int:
    from cpo.accounts.service import create_api_token

    async def create(session: AsyncSession, tenant: Tenant) -> str:
        token, _ = await create_api_token(session, tenant.id, args.role, args.name)
        return token

    print(_in_tenant(settings, args.tenant, create))
    return 0


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
        choices=["platform_admin", "tenant_admin", "read_only"],
        help="default: platform_admin for the very first account, tenant_admin after that",
    )
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
    create_token.add_argument("--role", required=True, choices=["platform_admin", "tenant_admin", "read_only"])
    create_token.add_argument("--tenant", help="tenant slug or name (default: the default tenant)")
    create_token.add_argument("--name", default="cli")
    create_token.set_defaults(run=cmd_tokens)
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

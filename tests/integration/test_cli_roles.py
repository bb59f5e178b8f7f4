"""Every role from the command line: ``cpo tokens create`` and ``cpo admin create-user``, a site manager's sites."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo.accounts.models import Account
from cpo.accounts.roles import ROLES
from cpo.accounts.service import resolve_api_token
from cpo.cli import main
from cpo.sites.models import Site
from cpo.tenants.service import ensure_tenant

HEAD_OFFICE = "Head office"


async def cpo(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """The command run in this process (its own event loop in a thread); exit code, stdout, stderr."""
    code = await asyncio.to_thread(main, list(argv))
    captured = capsys.readouterr()
    return code, captured.out.strip(), captured.err.strip()


@pytest.fixture
async def site_id(
    db_url: str, sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> uuid.UUID:
    monkeypatch.setenv("CPO_DATABASE_URL", db_url)
    monkeypatch.setenv("CPO_LOG_JSON", "false")
    monkeypatch.setenv("CPO_ADMIN_PASSWORD", "a long passphrase")
    async with sessions() as session, session.begin():
        tenant = await ensure_tenant(session, "default")
        site = Site(
            id=uuid.uuid4(), tenant_id=tenant.id, name=HEAD_OFFICE, address="-", city="Gent", country="BEL",
            latitude=0, longitude=0, time_zone="Europe/Brussels", opening_times={"twentyfourseven": True},
        )  # fmt: skip
        session.add(site)
    return site.id


async def test_tokens_create_takes_every_role_an_api_token_may_have(
    site_id: uuid.UUID, sessions: async_sessionmaker[AsyncSession], capsys: pytest.CaptureFixture[str]
) -> None:
    for role in ROLES:
        sites = ["--site", HEAD_OFFICE] if role == "site_manager" else []
        code, out, err = await cpo(capsys, "tokens", "create", "--role", role, *sites)
        if role == "employee":
            # as in the API: an employee signs in to the UI, a token would act for no one person
            assert code == 2 and "employees sign in" in err
            continue
        assert code == 0, err
        async with sessions() as session, session.begin():
            principal = await resolve_api_token(session, out)
        assert principal.role == role
        assert principal.site_ids == (frozenset({site_id}) if role == "site_manager" else None)


async def test_a_site_managers_token_names_its_sites_by_id_or_name_and_needs_one(
    site_id: uuid.UUID, sessions: async_sessionmaker[AsyncSession], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = await cpo(capsys, "tokens", "create", "--role", "site_manager", "--site", str(site_id))
    assert code == 0, err
    async with sessions() as session, session.begin():
        assert (await resolve_api_token(session, out)).site_ids == frozenset({site_id})
    code, _, err = await cpo(capsys, "tokens", "create", "--role", "site_manager")
    assert code == 2 and "site" in err
    code, _, err = await cpo(capsys, "tokens", "create", "--role", "site_manager", "--site", "Nowhere")
    assert code == 2 and "Nowhere" in err
    code, _, err = await cpo(capsys, "tokens", "create", "--role", "read_only", "--site", HEAD_OFFICE)
    assert code == 2 and "only a site manager" in err


async def test_create_user_takes_every_role(
    site_id: uuid.UUID, sessions: async_sessionmaker[AsyncSession], capsys: pytest.CaptureFixture[str]
) -> None:
    for role in ROLES:
        sites = ["--site", HEAD_OFFICE] if role == "site_manager" else []
        email = f"{role.replace('_', '-')}@example.com"
        code, out, err = await cpo(capsys, "admin", "create-user", "--email", email, "--role", role, *sites)
        assert code == 0, err
        assert f"created {role} {email}" in out
        async with sessions() as session, session.begin():
            account = (await session.execute(select(Account).where(Account.email == email))).scalar_one()
        assert account.role == role
        assert account.site_ids == ([site_id] if role == "site_manager" else None)

"""The TOTP second factor: secrets sealed at rest, each code good once, secrets from before sealing still work."""

from __future__ import annotations

import asyncio
import re
import time
import uuid

import pyotp
import pytest
from alembic import command
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo.accounts import second_factor
from cpo.accounts.models import Account, LoginSession
from cpo.accounts.second_factor import seal_clear_secrets
from cpo.accounts.service import start_login_session
from cpo.app import create_app
from cpo.db.engine import make_engine
from cpo.db.migrate import alembic_config, upgrade
from cpo.errors import InvalidInput
from cpo.roaming.sealing import Sealer, sealer_for
from cpo.settings import Settings
from cpo.tenants.service import ensure_tenant
from tests.conftest import ADMIN_PASSWORD, create_database
from tests.integration.test_ui import csrf_of, login_csrf, sign_in

Client = AsyncTestClient[Litestar]
Sessions = async_sessionmaker[AsyncSession]


async def _stored(sessions: Sessions, email: str) -> Account:
    async with sessions() as session:
        return (await session.execute(select(Account).where(Account.email == email))).scalar_one()


async def _set_secret(sessions: Sessions, email: str, stored: str) -> None:
    async with sessions() as session, session.begin():
        account = (await session.execute(select(Account).where(Account.email == email))).scalar_one()
        account.totp_secret = stored


async def _code_step(client: Client, email: str, code: str) -> int:
    """Sign in with the password, then this code: the HTTP status of the code step."""
    await client.post("/ui/login", data={"email": email, "password": ADMIN_PASSWORD, "next": "/ui/sites",
                                         "csrf": await login_csrf(client)})  # fmt: skip
    form = await client.get("/ui/login/code?next=/ui/sites")
    answer = await client.post("/ui/login/code", data={"csrf": csrf_of(form.text), "code": code, "next": "/ui/sites"})
    if answer.status_code == 200:
        await client.post("/ui/logout", data={"csrf": csrf_of((await client.get("/ui/sites")).text)})
    return answer.status_code


async def test_a_second_factor_secret_is_stored_sealed_never_in_clear(
    client: Client, ui_admin: str, sessions: Sessions, settings: Settings
) -> None:
    csrf = await sign_in(client, ui_admin)
    page = await client.get("/ui/account/second-factor")
    shown = re.search(r'id="totp-secret">([A-Z2-7]+)<', page.text)
    assert shown is not None
    secret, sealer = shown[1], sealer_for(settings)
    pending = (await _stored(sessions, ui_admin)).totp_pending
    assert pending is not None and secret not in pending and sealer.open(pending) == secret
    again = await client.get("/ui/account/second-factor")
    assert f'id="totp-secret">{secret}<' in again.text, "the same pending secret is shown until confirmed"

    on = await client.post("/ui/account/second-factor",
                           data={"csrf": csrf, "action": "on", "code": pyotp.TOTP(secret).now()})  # fmt: skip
    assert on.status_code == 200 and 'id="second-factor-state"' in on.text
    account = await _stored(sessions, ui_admin)
    assert account.totp_pending is None and account.totp_secret is not None
    assert secret not in account.totp_secret and sealer.open(account.totp_secret) == secret
    async with sessions() as session:
        dumped = await session.scalar(
            text("SELECT count(*) FROM accounts a WHERE a::text LIKE :s"), {"s": f"%{secret}%"}
        )
        logged = await session.scalar(
            text("SELECT count(*) FROM audit_log a WHERE a::text LIKE :s"), {"s": f"%{secret}%"}
        )
    assert dumped == 0 and logged == 0


async def test_a_code_signs_in_once_and_is_refused_the_second_time_within_its_window(
    client: Client, ui_admin: str, sessions: Sessions, settings: Settings
) -> None:
    secret = pyotp.random_base32()
    await _set_secret(sessions, ui_admin, sealer_for(settings).seal(secret))
    totp = pyotp.TOTP(secret)
    now = time.time()
    code = totp.at(now)
    assert await _code_step(client, ui_admin, code) == 200
    assert await _code_step(client, ui_admin, code) == 401, "a code already used is refused"
    earlier = totp.at(now - totp.interval)
    assert earlier != code and await _code_step(client, ui_admin, earlier) == 401, "so is an older one"
    assert await _code_step(client, ui_admin, totp.at(now + totp.interval)) == 200, "the next one works"


async def test_of_two_sign_ins_racing_with_one_code_the_second_waits_and_is_refused(
    ui_admin: str, sessions: Sessions, settings: Settings, client: Client
) -> None:
    sealer, secret = sealer_for(settings), pyotp.random_base32()
    await _set_secret(sessions, ui_admin, sealer.seal(secret))
    code = pyotp.TOTP(secret).now()
    logins = []
    async with sessions() as session, session.begin():
        account = (await session.execute(select(Account).where(Account.email == ui_admin))).scalar_one()
        for _ in range(2):
            logins.append((await start_login_session(session, account, 1))[1].id)

    async def sign_in_with_code(session: AsyncSession, login_id: uuid.UUID) -> None:
        login = await session.get(LoginSession, login_id)
        account = (await session.execute(select(Account).where(Account.email == ui_admin))).scalar_one()
        assert login is not None
        await second_factor.complete_sign_in(session, login, account, code, sealer)

    async with sessions() as first, sessions() as second:
        await first.begin()
        await sign_in_with_code(first, logins[0])  # not committed yet
        await second.begin()
        racing = asyncio.create_task(sign_in_with_code(second, logins[1]))
        await asyncio.sleep(0.5)
        assert not racing.done(), "the second waits for the first to finish"
        await first.commit()
        with pytest.raises(InvalidInput):
            await racing
        await second.rollback()
    async with sessions() as session:
        due = [(await session.get(LoginSession, login_id)).second_factor_due for login_id in logins]  # type: ignore[union-attr]
    assert due == [False, True]


async def test_a_secret_stored_in_clear_before_sealing_still_signs_in_and_is_sealed_then(
    client: Client, ui_admin: str, sessions: Sessions, settings: Settings
) -> None:
    secret = pyotp.random_base32()
    await _set_secret(sessions, ui_admin, secret)
    assert await _code_step(client, ui_admin, pyotp.TOTP(secret).now()) == 200
    stored = (await _stored(sessions, ui_admin)).totp_secret
    assert stored is not None and stored != secret and sealer_for(settings).open(stored) == secret


async def test_a_node_start_seals_the_secrets_stored_in_clear(
    sessions: Sessions, settings: Settings, ui_admin: str, client: Client
) -> None:
    clear, pending = pyotp.random_base32(), pyotp.random_base32()
    async with sessions() as session, session.begin():
        account = (await session.execute(select(Account).where(Account.email == ui_admin))).scalar_one()
        account.totp_secret, account.totp_pending = clear, pending
    # a second node starting on the same database
    async with AsyncTestClient(app=create_app(settings)) as started:
        assert (await started.get("/healthz")).status_code == 200
    account = await _stored(sessions, ui_admin)
    sealer = sealer_for(settings)
    assert account.totp_secret != clear and sealer.open(account.totp_secret or "") == clear
    assert account.totp_pending != pending and sealer.open(account.totp_pending or "") == pending
    async with sessions() as session, session.begin():
        assert await seal_clear_secrets(session, sealer) == 0, "nothing left to seal"


async def test_migration_0016_makes_room_for_sealed_secrets_and_a_downgrade_opens_them(pg_server: str) -> None:
    url = await create_database(pg_server, f"totp_migration_{time.monotonic_ns()}")

    async def run(statement: str, **values: object) -> object:
        # an engine per step: the schema changes in between (cached statement plans would go stale)
        engine = make_engine(url, pool_size=1)
        try:
            async with engine.begin() as connection:
                result = await connection.execute(text(statement), values)
                return result.scalar() if result.returns_rows else None
        finally:
            await engine.dispose()

    await asyncio.to_thread(command.downgrade, alembic_config(url), "0015")
    secret, sealer = pyotp.random_base32(), Sealer(b"a key for this test")
    engine = make_engine(url, pool_size=1)
    try:
        async with async_sessionmaker(engine)() as session, session.begin():
            await ensure_tenant(session, "default")
    finally:
        await engine.dispose()
    await run(
        "INSERT INTO accounts (id, tenant_id, email, name, password_hash, role, language, active, totp_secret)"
        " SELECT gen_random_uuid(), id, 'old@example.com', 'Old', 'x', 'tenant_admin', 'en', true, :s"
        " FROM tenants LIMIT 1", s=secret
    )  # fmt: skip
    await asyncio.to_thread(upgrade, url)
    assert await run("SELECT totp_secret FROM accounts") == secret, "left for the first node start to seal"
    engine = make_engine(url, pool_size=1)
    try:
        async with async_sessionmaker(engine)() as session, session.begin():
            assert await seal_clear_secrets(session, sealer) == 1
    finally:
        await engine.dispose()
    sealed = await run("SELECT totp_secret FROM accounts")
    assert isinstance(sealed, str) and len(sealed) > 64 and sealer.open(sealed) == secret
    with pytest.raises(RuntimeError, match="needs the secret key"):
        await asyncio.to_thread(command.downgrade, alembic_config(url), "0015")
    await asyncio.to_thread(command.downgrade, alembic_config(url, sealer), "0015")
    assert await run("SELECT totp_secret FROM accounts") == secret

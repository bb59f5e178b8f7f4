"""Accounts, API tokens and login sessions."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.accounts.models import Account, ApiToken, LoginSession
from cpo.accounts.roles import ROLES, Principal, Role
from cpo.db.base import utcnow
from cpo.db.queries import flush_or_conflict, get_scoped
from cpo.errors import Forbidden, InvalidInput, Unauthenticated
from cpo.people.models import Person
from cpo.secrets import (
    hash_login_password,
    hash_login_password_async,
    hash_token,
    login_hash_outdated,
    new_secret,
    verify_login_password_async,
)
from cpo.sites.models import Site

TOKEN_PREFIX = "cpo_"  # noqa: S105 - a marker that makes leaked tokens easy to scan for, not a secret
LANGUAGES = ("en", "nl")
# Checked against when the e-mail is unknown, so a wrong e-mail costs as long as a wrong password.
_DUMMY_HASH = hash_login_password("not a real password")


def _check_role(role: str) -> Role:
    if role not in ROLES:
        raise InvalidInput("role", f"must be one of {', '.join(ROLES)}")
    return role  # type: ignore[return-value]


async def create_account(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    email: str,
    name: str,
    password: str,
    role: str,
    language: str = "en",
    site_ids: list[uuid.UUID] | None = None,
    person_id: uuid.UUID | None = None,
) -> Account:
    """A UI account. A site manager's needs their sites; an employee's may name the person it belongs to."""
    email = email.strip().lower()
    if "@" not in email or len(email) > 254:
        raise InvalidInput("email", "not an e-mail address")
    if len(password) < 10:
        raise InvalidInput("password", "at least 10 characters")
    if language not in LANGUAGES:
        raise InvalidInput("language", f"must be one of {', '.join(LANGUAGES)}")
    role = _check_role(role)
    if role == "site_manager":
        site_ids = await _sites_of_tenant(session, tenant_id, site_ids)
    elif site_ids:
        raise InvalidInput("site_ids", "only a site manager's account is limited to sites")
    if person_id is not None:
        person = await session.get(Person, person_id)
        if person is None or person.tenant_id != tenant_id:
            raise InvalidInput("person_id", "no such person in this tenant")
    account = Account(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        email=email,
        name=name or email,
        password_hash=await hash_login_password_async(password),
        role=role,
        language=language,
        active=True,
        site_ids=site_ids,
        person_id=person_id,
    )
    session.add(account)
    await flush_or_conflict(session, {"uq_accounts_email": ("email", "an account with this e-mail exists")})
    return account


async def list_accounts(session: AsyncSession, tenant_id: uuid.UUID) -> list[Account]:
    query = select(Account).where(Account.tenant_id == tenant_id).order_by(Account.name, Account.email)
    return list((await session.execute(query)).scalars())


async def set_account_active(
    session: AsyncSession, tenant_id: uuid.UUID, account_id: uuid.UUID, active: bool, by: Principal
) -> Account:
    """Turn an account off or on. Turning off signs it out everywhere at once; nobody turns off themselves."""
    account = await get_scoped(session, Account, tenant_id, account_id, "account")
    if not active and by.actor == f"account:{account.id}":
        raise InvalidInput("account", "you cannot turn off your own account")
    if account.role == "platform_admin" and not by.is_platform_admin:
        raise Forbidden("only a platform administrator may change a platform administrator's account")
    account.active = active
    if not active:
        await session.execute(delete(LoginSession).where(LoginSession.account_id == account.id))
    await session.flush()
    return account


async def change_password(
    session: AsyncSession, account: Account, current: str, new: str, keep_login: uuid.UUID | None = None
) -> None:
    """A new password, given the current one; every signed-in browser of the account but ``keep_login`` is
    signed out."""
    if not await verify_login_password_async(current, account.password_hash):
        raise InvalidInput("current_password", "is not the current password")
    if len(new) < 10:
        raise InvalidInput("new_password", "at least 10 characters")
    account.password_hash = await hash_login_password_async(new)
    await session.execute(
        delete(LoginSession).where(LoginSession.account_id == account.id, LoginSession.id != keep_login)
    )
    await session.flush()


async def count_accounts(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Account)) or 0)


async def authenticate(session: AsyncSession, email: str, password: str) -> Account:
    account = (
        await session.execute(select(Account).where(Account.email == email.strip().lower()))
    ).scalar_one_or_none()
    stored = account.password_hash if account else _DUMMY_HASH
    if not await verify_login_password_async(password, stored) or account is None or not account.active:
        raise Unauthenticated("wrong e-mail or password")
    if login_hash_outdated(account.password_hash):
        account.password_hash = await hash_login_password_async(password)
    return account


async def _sites_of_tenant(
    session: AsyncSession, tenant_id: uuid.UUID, site_ids: list[uuid.UUID] | None
) -> list[uuid.UUID]:
    if not site_ids:
        raise InvalidInput("site_ids", "a site manager needs the sites they manage")
    found = set(
        (await session.execute(select(Site.id).where(Site.tenant_id == tenant_id, Site.id.in_(site_ids)))).scalars()
    )
    if missing := set(site_ids) - found:
        raise InvalidInput("site_ids", f"not sites of this tenant: {', '.join(sorted(map(str, missing)))}")
    return sorted(found)


def principal_of(account: Account) -> Principal:
    sites = frozenset(account.site_ids or ()) if account.role == "site_manager" else None
    return Principal(account.tenant_id, _check_role(account.role), f"account:{account.id}", sites, account.person_id)


async def start_login_session(session: AsyncSession, account: Account, hours: int) -> tuple[str, LoginSession]:
    """A new login session; returns the cookie secret (only its hash is stored).

    With a second factor set up, the session waits for its code (``second_factor_due``).
    """
    secret = new_secret()
    now = utcnow()
    login = LoginSession(
        id=uuid.uuid4(),
        tenant_id=account.tenant_id,
        account_id=account.id,
        secret_hash=hash_token(secret),
        csrf_token=new_secret(24),
        second_factor_due=account.totp_secret is not None,
        created_at=now,
        expires_at=now + timedelta(hours=hours),
    )
    session.add(login)
    # Housekeeping on the way: expired sessions of anyone go.
    await session.execute(delete(LoginSession).where(LoginSession.expires_at < now))
    await session.flush()
    return secret, login


async def resolve_login_session(
    session: AsyncSession, secret: str, awaiting_code: bool = False
) -> tuple[LoginSession, Account]:
    """The signed-in account; with ``awaiting_code``, the one whose sign-in still waits for its TOTP code."""
    row = (
        await session.execute(
            select(LoginSession, Account)
            .join(Account, Account.id == LoginSession.account_id)
            .where(LoginSession.secret_hash == hash_token(secret), LoginSession.expires_at > utcnow())
        )
    ).one_or_none()
    if row is None or not row[1].active or row[0].second_factor_due != awaiting_code:
        raise Unauthenticated("not signed in")
    return row[0], row[1]


async def end_login_session(session: AsyncSession, secret: str) -> None:
    await session.execute(delete(LoginSession).where(LoginSession.secret_hash == hash_token(secret)))


async def create_api_token(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    role: str,
    name: str = "api",
    expires_at: datetime | None = None,
    site_ids: list[uuid.UUID] | None = None,
) -> tuple[str, ApiToken]:
    """A new bearer token; returns it in clear (the only time) with its stored record."""
    if role == "site_manager":
        site_ids = await _sites_of_tenant(session, tenant_id, site_ids)
    elif site_ids:
        raise InvalidInput("site_ids", "only a site manager's token is limited to sites")
    if role == "employee":
        raise InvalidInput("role", "employees sign in to the UI; an API token acts for no one person")
    if expires_at is not None and (expires_at.tzinfo is None or expires_at <= utcnow()):
        raise InvalidInput("expires_at", "must be a future time with a time zone (UTC: ending in Z)")
    token = TOKEN_PREFIX + new_secret()
    record = ApiToken(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        name=name[:100] or "api",
        role=_check_role(role),
        token_hash=hash_token(token),
        prefix=token[: len(TOKEN_PREFIX) + 6],
        expires_at=expires_at,
        site_ids=site_ids,
    )
    session.add(record)
    await session.flush()
    return token, record


async def resolve_api_token(session: AsyncSession, token: str) -> Principal:
    record = (
        await session.execute(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    ).scalar_one_or_none()
    now = utcnow()
    if record is None or record.revoked_at is not None or (record.expires_at and record.expires_at <= now):
        raise Unauthenticated("unknown, revoked or expired API token")
    # Written at most once a minute per token: reads stay cheap.
    if record.last_used_at is None or now - record.last_used_at > timedelta(minutes=1):
        record.last_used_at = now
    sites = frozenset(record.site_ids or ()) if record.role == "site_manager" else None
    return Principal(record.tenant_id, _check_role(record.role), f"token:{record.id}", sites)


async def list_api_tokens(session: AsyncSession, tenant_id: uuid.UUID) -> list[ApiToken]:
    query = select(ApiToken).where(ApiToken.tenant_id == tenant_id).order_by(ApiToken.created_at)
    return list((await session.execute(query)).scalars())


async def revoke_api_token(session: AsyncSession, tenant_id: uuid.UUID, token_id: uuid.UUID) -> None:
    record = await get_scoped(session, ApiToken, tenant_id, token_id, "API token")
    if record.revoked_at is None:
        record.revoked_at = utcnow()

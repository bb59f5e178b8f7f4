"""TOTP second factor (RFC 6238): set up with a confirming code, asked for after the password.

Secrets are sealed at rest like the platform's other secrets: a copy of the database alone does not give
anyone the codes. Each code is good once (RFC 6238 §5.2): the account keeps the time step of the last code
it accepted, and a code of that step or an earlier one is refused, even within its 30 s.
"""

from __future__ import annotations

import hmac
import re
import time
from typing import Protocol

import pyotp
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from cpo.accounts.models import Account, LoginSession
from cpo.errors import InvalidInput

ISSUER = "CPO platform"
CLEAR_SECRET = re.compile(r"[A-Z2-7]+=*")
_CLEAR_IN_SQL = "^[A-Z2-7]+=*$"
"""A base32 secret as stored before secrets were sealed (a sealed one is URL-safe base64 with lower case)."""
DRIFT_STEPS = 1
"""One step either side (±30 s) for clocks that drift a little."""


class SecretSealer(Protocol):
    def seal(self, text: str) -> str: ...

    def open(self, sealed: str) -> str: ...


def _opened(stored: str, sealer: SecretSealer) -> str:
    # A secret from before 0016 that the migration could not seal (it had no key) still works as it is.
    return stored if CLEAR_SECRET.fullmatch(stored) else sealer.open(stored)


def matching_step(secret: str, code: str, now: float) -> int | None:
    """The time step whose code this is, within the allowed drift; None when it is no current code."""
    code = code.strip().replace(" ", "")
    totp = pyotp.TOTP(secret)
    if len(code) != totp.digits or not code.isdigit():
        return None
    current = int(now // totp.interval)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


async def _use_code(
    session: AsyncSession, account: Account, stored: str | None, code: str, sealer: SecretSealer
) -> bool:
    """True, once, for a current code of this secret: the step it belongs to is then spent."""
    if stored is None:
        return False
    step = matching_step(_opened(stored, sealer), code, time.time())
    if step is None:
        return False
    # One statement decides: of two sign-ins racing with one code, the second finds the step spent.
    spent = await session.execute(
        update(Account)
        .where(Account.id == account.id, or_(Account.totp_last_step.is_(None), Account.totp_last_step < step))
        .values(totp_last_step=step)
        .returning(Account.id)
        .execution_options(synchronize_session=False)
    )
    if spent.first() is None:
        return False
    set_committed_value(account, "totp_last_step", step)
    return True


def begin_setup(account: Account, sealer: SecretSealer) -> tuple[str, str]:
    """A new secret to set up, kept (sealed) pending until a code from it confirms it: the secret to show
    and its provisioning URI."""
    if account.totp_pending is None:
        secret = pyotp.random_base32()
        account.totp_pending = sealer.seal(secret)
    else:
        secret = _opened(account.totp_pending, sealer)
    return secret, pyotp.TOTP(secret).provisioning_uri(name=account.email, issuer_name=ISSUER)


async def confirm_setup(session: AsyncSession, account: Account, code: str, sealer: SecretSealer) -> None:
    if not await _use_code(session, account, account.totp_pending, code, sealer):
        raise InvalidInput("code", "this code does not match; check the time on your phone and try again")
    assert account.totp_pending is not None
    account.totp_secret, account.totp_pending = sealer.seal(_opened(account.totp_pending, sealer)), None


async def turn_off(session: AsyncSession, account: Account, code: str, sealer: SecretSealer) -> None:
    if not await _use_code(session, account, account.totp_secret, code, sealer):
        raise InvalidInput("code", "give a current code to turn the second factor off")
    account.totp_secret = None


async def complete_sign_in(
    session: AsyncSession, login: LoginSession, account: Account, code: str, sealer: SecretSealer
) -> None:
    """The second step of a sign-in: the session becomes usable only with a valid, unused code."""
    if not await _use_code(session, account, account.totp_secret, code, sealer):
        raise InvalidInput("code", "wrong code")
    if account.totp_secret is not None and CLEAR_SECRET.fullmatch(account.totp_secret):
        account.totp_secret = sealer.seal(account.totp_secret)
    login.second_factor_due = False
    await session.flush()


async def seal_clear_secrets(session: AsyncSession, sealer: SecretSealer) -> int:
    """Seal the secrets stored in clear before they were sealed (up to migration 0016); how many accounts.
    Run at every start: nothing to do once done. Two nodes starting at once seal each account once."""
    clear = (await session.execute(
        select(Account.id, Account.totp_secret, Account.totp_pending)
        .where(or_(Account.totp_secret.op("~")(_CLEAR_IN_SQL), Account.totp_pending.op("~")(_CLEAR_IN_SQL)))
    )).all()  # fmt: skip
    sealed = 0
    for account_id, secret, pending in clear:
        done = await session.execute(
            update(Account)
            .where(Account.id == account_id, Account.totp_secret.is_not_distinct_from(secret),
                   Account.totp_pending.is_not_distinct_from(pending))
            .values(totp_secret=_sealed(secret, sealer), totp_pending=_sealed(pending, sealer))
            .returning(Account.id)
            .execution_options(synchronize_session=False)
        )  # fmt: skip
        sealed += len(done.all())
    return sealed


def _sealed(value: str | None, sealer: SecretSealer) -> str | None:
    return sealer.seal(value) if value is not None and CLEAR_SECRET.fullmatch(value) else value

"""TOTP second factor (RFC 6238): set up with a confirming code, asked for after the password."""

from __future__ import annotations

import pyotp
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.accounts.models import Account, LoginSession
from cpo.errors import InvalidInput

ISSUER = "CPO platform"


def _valid(secret: str, code: str) -> bool:
    # One step either side (±30 s) for clocks that drift a little.
    return pyotp.TOTP(secret).verify(code.strip().replace(" ", ""), valid_window=1)


def begin_setup(account: Account) -> str:
    """A new secret to set up, kept pending until a code from it confirms it; the provisioning URI."""
    if account.totp_pending is None:
        account.totp_pending = pyotp.random_base32()
    return pyotp.TOTP(account.totp_pending).provisioning_uri(name=account.email, issuer_name=ISSUER)


def confirm_setup(account: Account, code: str) -> None:
    if account.totp_pending is None or not _valid(account.totp_pending, code):
        raise InvalidInput("code", "this code does not match; check the time on your phone and try again")
    account.totp_secret, account.totp_pending = account.totp_pending, None


def turn_off(account: Account, code: str) -> None:
    if account.totp_secret is None or not _valid(account.totp_secret, code):
        raise InvalidInput("code", "give a current code to turn the second factor off")
    account.totp_secret = None


async def complete_sign_in(session: AsyncSession, login: LoginSession, account: Account, code: str) -> None:
    """The second step of a sign-in: the session becomes usable only with a valid code."""
    if account.totp_secret is None or not _valid(account.totp_secret, code):
        raise InvalidInput("code", "wrong code")
    login.second_factor_due = False
    await session.flush()

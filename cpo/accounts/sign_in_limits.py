"""Failed sign-ins per account: too many, from whatever addresses, and the account must wait.

The per-address throttle (``cpo.web.ui.throttle``) stops one client guessing many passwords; this stops many
clients (or one client behind many addresses) guessing one account's password. It lives in the database so
that it holds across nodes. It also lets a stranger lock an account for the window by failing on purpose: the
window is short and the limit is per account, so that costs them one request a minute or so per account.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.accounts.models import SignInFailure
from cpo.db.base import utcnow
from cpo.secrets import hash_token

LIMIT = 10
WINDOW = timedelta(minutes=15)


def account_key(email: str) -> str:
    return hash_token(email.strip().lower())


async def account_blocked_for(session: AsyncSession, email: str) -> float:
    """Seconds until this account may be tried again; 0 when it may be tried now."""
    now = utcnow()
    recent = (
        await session.execute(
            select(SignInFailure.failed_at)
            .where(SignInFailure.account_key == account_key(email), SignInFailure.failed_at > now - WINDOW)
            .order_by(SignInFailure.failed_at.desc())
            .limit(LIMIT)
        )
    ).scalars()
    times = list(recent)
    if len(times) < LIMIT:
        return 0.0
    # Sliding window: free again once the oldest of the last LIMIT failures leaves it.
    return max(0.0, (times[-1] + WINDOW - now).total_seconds())


async def record_sign_in_failure(session: AsyncSession, email: str) -> None:
    session.add(SignInFailure(account_key=account_key(email), failed_at=utcnow()))
    # Old failures count for nothing: drop them as we go (indexed on failed_at), so the table stays small.
    await session.execute(delete(SignInFailure).where(SignInFailure.failed_at <= utcnow() - WINDOW))
    await session.flush()


async def forget_sign_in_failures(session: AsyncSession, email: str) -> None:
    """A complete sign-in (password and, when set up, the code) wipes the account's slate."""
    await session.execute(delete(SignInFailure).where(SignInFailure.account_key == account_key(email)))

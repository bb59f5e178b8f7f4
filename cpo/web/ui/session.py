"""Who is using the UI: the login-session cookie, the language, and the CSRF check on every POST."""

from __future__ import annotations

import hmac
import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.accounts.models import Account
from cpo.accounts.roles import Principal
from cpo.accounts.service import principal_of, resolve_login_session
from cpo.audit.capture import act_as
from cpo.errors import DomainError, Forbidden, Unauthenticated
from cpo.sites.scope import limit_to_sites
from cpo.web.deps import runtime_of
from cpo.web.ui.i18n import pick_language

SESSION_COOKIE = "cpo_session"
LANGUAGE_COOKIE = "cpo_lang"
LOGIN_CSRF_COOKIE = "cpo_login_csrf"


class SignInRequired(DomainError):
    """The UI answers this with a redirect to the login page."""


@dataclass(frozen=True, slots=True)
class UiUser:
    account_id: str
    name: str
    role: str
    principal: Principal
    csrf_token: str
    lang: str
    login_id: uuid.UUID

    def require(self, permission: str, db: AsyncSession | None = None) -> None:
        """May this user do it? With ``db``, the changes that session makes are audited as theirs."""
        self.principal.require(permission)
        if db is not None:
            act_as(db, self.principal.actor)

    def context(self, **values: Any) -> dict[str, Any]:
        """Template context every page gets."""
        return {"user": self, "lang": self.lang, "csrf": self.csrf_token, **values}


def language_of(request: Request[Any, Any, Any], account: Account | None = None) -> str:
    cookie = request.cookies.get(LANGUAGE_COOKIE)
    if cookie is None and account is not None:
        cookie = account.language
    return pick_language(cookie, request.headers.get("accept-language"))


async def provide_ui_db(state: State, user: UiUser) -> AsyncGenerator[AsyncSession, None]:
    """A signed-in page's session: a site manager's sees only their sites; changes are audited as the user's."""
    async with runtime_of(state).sessions() as session:
        limit_to_sites(session, user.principal.site_ids)
        act_as(session, user.principal.actor)
        yield session


def ui_user_needing(permission: str) -> Provide:
    """The signed-in user, who must hold ``permission`` to see the pages behind it."""

    async def provide(request: Request[Any, Any, Any], state: State) -> UiUser:
        user = await provide_ui_user(request, state)
        user.principal.require(permission)
        return user

    return Provide(provide)


async def provide_ui_user(request: Request[Any, Any, Any], state: State) -> UiUser:
    secret = request.cookies.get(SESSION_COOKIE)
    if not secret:
        raise SignInRequired("not signed in")
    sessions = runtime_of(state).sessions
    async with sessions() as session, session.begin():
        try:
            login, account = await resolve_login_session(session, secret)
        except Unauthenticated:
            raise SignInRequired("session ended") from None
    user = UiUser(
        account_id=str(account.id),
        name=account.name,
        role=account.role,
        principal=principal_of(account),
        csrf_token=login.csrf_token,
        lang=language_of(request, account),
        login_id=login.id,
    )
    if request.method == "POST":
        form = await request.form()
        sent = form.get("csrf")
        if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), login.csrf_token.encode()):
            raise Forbidden("the form is stale or forged (CSRF check failed); reload the page")
    return user

"""The signed-in person's own account: the TOTP second factor."""

from __future__ import annotations

import io
from typing import Any

import qrcode
import qrcode.image.svg
from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.accounts import second_factor
from cpo.accounts import service as accounts
from cpo.accounts.models import Account
from cpo.audit.capture import act_as
from cpo.errors import InvalidInput, NotFound
from cpo.web.ui.session import UiUser


def _qr_svg(text: str) -> str:
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    out = io.BytesIO()
    image.save(out)
    return out.getvalue().decode()


async def _account(db: AsyncSession, user: UiUser) -> Account:
    account = await db.get(Account, user.principal.actor.removeprefix("account:"))
    if account is None:
        raise NotFound("account", user.account_id)
    return account


class AccountPages(Controller):
    path = "/account"

    @get("/second-factor")
    async def second_factor_page(self, db: AsyncSession, user: UiUser, state: State, changed: bool = False) -> Template:
        return await self._page(db, user, state, password_changed=changed)

    async def _page(self, db: AsyncSession, user: UiUser, state: State, status: int = 200, **extra: Any) -> Template:
        async with db.begin():
            account = await _account(db, user)
            context: dict[str, Any] = {"enabled": account.totp_secret is not None}
            if account.totp_secret is None:
                secret, uri = second_factor.begin_setup(account, state.sealer)
                context |= {"secret": secret, "qr": _qr_svg(uri), "uri": uri}
        return Template("account/second_factor.html", context=user.context(**context, **extra), status_code=status)

    @post("/password")
    async def change_password(
        self, request: Request[Any, Any, Any], db: AsyncSession, user: UiUser, state: State
    ) -> Template | Redirect:
        """A new password; the account's other signed-in browsers are signed out."""
        form = await request.form()
        act_as(db, user.principal.actor)
        try:
            async with db.begin():
                account = await _account(db, user)
                await accounts.change_password(
                    db, account, str(form.get("current_password", "")), str(form.get("new_password", "")),
                    keep_login=user.login_id,
                )  # fmt: skip
        except InvalidInput as invalid:
            return await self._page(db, user, state, 400, password_error=str(invalid))
        return Redirect("/ui/account/second-factor?changed=true")

    @post("/second-factor")
    async def confirm(
        self, request: Request[Any, Any, Any], db: AsyncSession, user: UiUser, state: State
    ) -> Template | Redirect:
        form = await request.form()
        action, code = str(form.get("action", "on")), str(form.get("code", ""))
        async with db.begin():
            account = await _account(db, user)
            try:
                if action == "off":
                    await second_factor.turn_off(db, account, code, state.sealer)
                else:
                    await second_factor.confirm_setup(db, account, code, state.sealer)
            except InvalidInput:
                context: dict[str, Any] = {"enabled": account.totp_secret is not None, "error": "account.code_wrong"}
                if account.totp_secret is None and account.totp_pending:
                    secret, uri = second_factor.begin_setup(account, state.sealer)
                    context |= {"secret": secret, "qr": _qr_svg(uri), "uri": uri}
                return Template("account/second_factor.html", context=user.context(**context), status_code=400)
        return Redirect("/ui/account/second-factor")

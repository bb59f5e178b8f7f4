"""The tenant's settings in the UI: its options, the accounts that sign in, and the API tokens of integrations."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.accounts import service as accounts
from cpo.accounts.roles import ROLES
from cpo.accounts.schemas import TenantSettingsIn
from cpo.errors import Conflict, InvalidInput
from cpo.people import service as people
from cpo.sites import service as sites
from cpo.tenants import service as tenants
from cpo.web.ui.forms import FormErrors, errors_of, form_values, parse_form
from cpo.web.ui.i18n import translate
from cpo.web.ui.session import UiUser, provide_ui_db, ui_user_needing

SWITCHES = ("one_session_per_badge", "auto_register_stations")
RETENTION = ("meter_sample_retention_days", "event_retention_days")


def _roles_for(user: UiUser) -> list[str]:
    """The roles this user may hand out: nobody creates a platform administrator but one."""
    return [r for r in ROLES if r != "platform_admin" or user.principal.is_platform_admin]


def _uuids(values: list[str], field: str) -> list[uuid.UUID]:
    try:
        return [uuid.UUID(v) for v in values]
    except ValueError:
        raise InvalidInput(field, "not an identifier") from None


def _role_and_sites(user: UiUser, values: dict[str, Any]) -> tuple[str, list[uuid.UUID] | None]:
    """The role a form gives (one the user may give) and the sites it is limited to."""
    role = values.get("role", "")
    if role not in _roles_for(user):
        raise InvalidInput("role", "not a role you may give")
    return role, _uuids(values.get("site_ids", []), "site_ids") or None


def _expiry(text: str | None) -> datetime | None:
    """An expiry date from a date field: the end of that day, UTC."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(f"{text}T23:59:59+00:00")
    except ValueError:
        raise InvalidInput("expires_at", "a date as YYYY-MM-DD") from None


def _minor(amount: str, lang: str) -> int | None:
    """An amount typed in the form (``50``, ``50.00``, ``50,00``) in minor units; empty: None; anything else is
    refused in the reader's language (not in cents, which the form does not show)."""
    text = amount.strip().replace(",", ".")
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal(-1)
    if not value.is_finite() or value != value.quantize(Decimal("0.01")) or not 1 <= value <= 1000:
        raise InvalidInput("payment_hold_minor", translate(lang, "settings.payment_hold_invalid"))
    return int(value * 100)


class SettingsPages(Controller):
    path = "/settings"
    dependencies = {"user": ui_user_needing("tenant.write"), "db": Provide(provide_ui_db)}

    async def _page(self, db: AsyncSession, user: UiUser, status: int = 200, **extra: Any) -> Template:
        tenant_id = user.principal.tenant_id
        async with db.begin():
            all_sites = await sites.list_sites(db, tenant_id)
            everyone = await people.list_people(db, tenant_id)
            context = {
                "tenant": await tenants.get_tenant(db, tenant_id),
                "accounts": await accounts.list_accounts(db, tenant_id),
                "tokens": await accounts.list_api_tokens(db, tenant_id),
                "sites": all_sites,
                "people": everyone,
                "site_names": {s.id: s.name for s in all_sites},
                "person_names": {p.id: p.name for p in everyone},
                "roles": _roles_for(user),
                "errors": {},
                "values": {},
                "section": "settings",
            }
        return Template("settings.html", context=user.context(**(context | extra)), status_code=status)

    @get("/")
    async def settings(self, db: AsyncSession, user: UiUser) -> Template:
        return await self._page(db, user)

    @post("/tenant")
    async def save_tenant(self, request: Request[Any, Any, Any], db: AsyncSession, user: UiUser) -> Template | Redirect:
        """Every field is set from the form: an empty retention keeps raw data for good."""
        user.require("tenant.write", db)
        values = form_values(await request.form())
        try:
            fields = {k: v for k, v in values.items() if k in SWITCHES + RETENTION + ("operator_details",)}
            fields["payment_hold_minor"] = _minor(values.get("payment_hold", ""), user.lang)
            data = parse_form(fields, TenantSettingsIn, checkboxes=SWITCHES)
            async with db.begin():
                tenant = await tenants.get_tenant(db, user.principal.tenant_id)
                for name in SWITCHES + RETENTION + ("operator_details", "payment_hold_minor"):
                    setattr(tenant, name, getattr(data, name))
                tenants.check_auto_registration(tenant)
        except FormErrors as invalid:
            return await self._page(db, user, 400, errors={"tenant": invalid.errors}, tenant_form=values)
        except InvalidInput as invalid:
            if invalid.field == "auto_register_stations":  # the enrolment card below makes the secret
                invalid = InvalidInput(invalid.field, translate(user.lang, "settings.enrolment_first"))
            return await self._page(db, user, 400, errors={"tenant": errors_of(invalid)}, tenant_form=values)
        return Redirect("/ui/settings")

    @post("/enrolment-secret")
    async def new_enrolment_secret(self, db: AsyncSession, user: UiUser) -> Template:
        """A new enrolment secret for stations to register with, shown on the page this once."""
        user.require("tenant.write", db)
        async with db.begin():
            secret = await tenants.new_enrolment_secret(db, user.principal.tenant_id)
        return await self._page(db, user, 201, new_enrolment_secret=secret)

    @post("/enrolment-secret/remove")
    async def drop_enrolment_secret(self, db: AsyncSession, user: UiUser) -> Redirect:
        user.require("tenant.write", db)
        async with db.begin():
            await tenants.drop_enrolment_secret(db, user.principal.tenant_id)
        return Redirect("/ui/settings#enrolment")

    @post("/accounts")
    async def create_account(
        self, request: Request[Any, Any, Any], db: AsyncSession, user: UiUser
    ) -> Template | Redirect:
        user.require("tenant.write", db)
        values = form_values(await request.form(), lists=("site_ids",))
        try:
            role, site_ids = _role_and_sites(user, values)
            person_id = _uuids([values["person_id"]], "person_id")[0] if values.get("person_id") else None
            async with db.begin():
                await accounts.create_account(
                    db, user.principal.tenant_id, values.get("email", ""), values.get("name", ""),
                    values.get("password", ""), role, values.get("language", "nl"), site_ids, person_id,
                )  # fmt: skip
        except (InvalidInput, Conflict) as invalid:
            errors = {"account": errors_of(invalid)}
            values.pop("password", None)
            return await self._page(db, user, 400, errors=errors, values=values)
        return Redirect("/ui/settings#accounts")

    @post("/accounts/{account_id:uuid}/active")
    async def switch_account(
        self, request: Request[Any, Any, Any], db: AsyncSession, user: UiUser, account_id: uuid.UUID
    ) -> Redirect:
        user.require("tenant.write", db)
        active = (await request.form()).get("action") == "activate"
        async with db.begin():
            await accounts.set_account_active(db, user.principal.tenant_id, account_id, active, user.principal)
        return Redirect("/ui/settings#accounts")

    @post("/tokens")
    async def create_token(self, request: Request[Any, Any, Any], db: AsyncSession, user: UiUser) -> Template:
        """A new API token, shown on the page this once."""
        user.require("tokens.write", db)
        values = form_values(await request.form(), lists=("site_ids",))
        try:
            role, site_ids = _role_and_sites(user, values)
            async with db.begin():
                secret, record = await accounts.create_api_token(
                    db, user.principal.tenant_id, role, values.get("name", "api"), _expiry(values.get("expires_at")),
                    site_ids,
                )  # fmt: skip
        except InvalidInput as invalid:
            errors = {"token": errors_of(invalid)}
            return await self._page(db, user, 400, errors=errors, values=values)
        return await self._page(db, user, 201, new_token=secret, new_token_name=record.name)

    @post("/tokens/{token_id:uuid}/revoke")
    async def revoke_token(self, db: AsyncSession, user: UiUser, token_id: uuid.UUID) -> Redirect:
        user.require("tokens.write", db)
        async with db.begin():
            await accounts.revoke_api_token(db, user.principal.tenant_id, token_id)
        return Redirect("/ui/settings#tokens")

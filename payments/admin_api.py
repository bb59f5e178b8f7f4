"""A tenant's own Stripe account (``/api/v1/payment-account``): with one, its drivers pay that account; without,
the platform's (``CPO_STRIPE_*``). The secret key and webhook secret are kept encrypted and never shown again."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Router, delete, get, put
from litestar.datastructures import State
from litestar.di import Provide
from litestar.status_codes import HTTP_204_NO_CONTENT
from msgspec import Meta, Struct
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.accounts.roles import Principal
from cpo.adhoc.models import OPEN, AdHocPayment
from cpo.errors import Conflict, InvalidInput
from cpo.tenants.models import Tenant
from cpo.web.deps import guarded, provide_principal, provide_scoped_db
from cpo.web.problems import API_EXCEPTION_HANDLERS


class AccountIn(Struct, forbid_unknown_fields=True):
    secret_key: Annotated[str, Meta(pattern=r"^(sk|rk)_(test|live)_[A-Za-z0-9]+$", max_length=255)]
    publishable_key: Annotated[str, Meta(pattern=r"^pk_(test|live)_[A-Za-z0-9]+$", max_length=255)]
    webhook_secret: Annotated[str, Meta(pattern=r"^whsec_[A-Za-z0-9_]+$", max_length=255)]


class AccountOut(Struct):
    own_account: bool
    """False: the platform's account takes this tenant's payments."""
    publishable_key: str | None
    mode: str | None
    """test or live."""
    webhook_url: str
    """Where to point the account's webhooks (Stripe dashboard, Developers, Webhooks)."""


def _out(tenant: Tenant, state: State) -> AccountOut:
    own = bool(tenant.stripe_secret_sealed)
    key = tenant.stripe_publishable_key if own else None
    return AccountOut(own, key, key.split("_")[1] if key else None,
                      f"{state.settings.base_url}/payments/stripe/webhook/{tenant.id}")  # fmt: skip


class PaymentAccountController(Controller):
    path = "/payment-account"
    tags = ["payments"]
    dependencies = {"principal": guarded("tenant")}

    async def _tenant(self, db: AsyncSession, principal: Principal, lock: bool = False) -> Tenant:
        tenant = await db.get(Tenant, principal.tenant_id, with_for_update=lock)
        assert tenant is not None
        return tenant

    async def _leave_account(self, db: AsyncSession, tenant: Tenant) -> None:
        """The current own account may be left only when none of its payments is still open: they are settled,
        released and refunded with its keys."""
        if not tenant.stripe_secret_sealed:
            return
        still_open = await db.scalar(
            select(func.count()).select_from(AdHocPayment)
            .where(AdHocPayment.tenant_id == tenant.id, AdHocPayment.own_account, AdHocPayment.status.in_(OPEN))
        )  # fmt: skip
        if still_open:
            raise Conflict(f"{still_open} card payment(s) on the current account are still open; "
                           "they finish on it first (try again once they are settled)")  # fmt: skip

    @get("/")
    async def show(self, db: AsyncSession, principal: Principal, state: State) -> AccountOut:
        async with db.begin():
            return _out(await self._tenant(db, principal), state)

    @put("/")
    async def set_account(self, db: AsyncSession, principal: Principal, state: State, data: AccountIn) -> AccountOut:
        """Use the tenant's own account from now on (new payments; open ones finish on the account they began)."""
        if data.secret_key.split("_")[1] != data.publishable_key.split("_")[1]:
            raise InvalidInput("publishable_key", "the secret and publishable keys are of different modes (test/live)")
        async with db.begin():
            tenant = await self._tenant(db, principal, lock=True)
            if not tenant.stripe_secret_sealed or state.sealer.open(tenant.stripe_secret_sealed) != data.secret_key:
                await self._leave_account(db, tenant)
            tenant.stripe_secret_sealed = state.sealer.seal(data.secret_key)
            tenant.stripe_publishable_key = data.publishable_key
            tenant.stripe_webhook_secret_sealed = state.sealer.seal(data.webhook_secret)
            return _out(tenant, state)

    @delete("/", status_code=HTTP_204_NO_CONTENT)
    async def clear(self, db: AsyncSession, principal: Principal) -> None:
        async with db.begin():
            tenant = await self._tenant(db, principal, lock=True)
            await self._leave_account(db, tenant)
            tenant.stripe_secret_sealed = tenant.stripe_publishable_key = tenant.stripe_webhook_secret_sealed = None


def payment_account_router() -> Router:
    return Router(
        path="/api/v1", route_handlers=[PaymentAccountController],
        dependencies={"principal": Provide(provide_principal), "db": Provide(provide_scoped_db)},
        exception_handlers=API_EXCEPTION_HANDLERS, security=[{"BearerToken": []}],
    )  # fmt: skip

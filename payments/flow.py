"""The ad-hoc payment flow: the card processor, the station and the rules in ``cpo.adhoc``, put together.

Each step reads the payment under a row lock, decides with the rules, talks to the processor or the station
outside any transaction, and records the outcome; each may run again (a webhook, a page poll, the sweeper)
without doing anything twice: the processor sees the same idempotency key (``auth:``, ``capture:``,
``cancel:``, ``refund:`` + payment id) and the rules ignore a step already taken.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.adhoc import service as adhoc
from cpo.adhoc.models import OPEN, AdHocPayment
from cpo.adhoc.processor import CardProcessor, CardRefused, Hold, ProcessorUnavailable
from cpo.charging.commands import ChargerCommands, Command
from cpo.charging.models import ChargingSession
from cpo.db.base import utcnow
from cpo.outbox.service import emit
from cpo.roaming.sealing import Sealer
from cpo.settings import PaymentSettings
from cpo.sites.models import Evse
from cpo.tariffs import service as tariffs
from cpo.tariffs.models import Cdr
from cpo.tenants.models import Tenant

log = logging.getLogger("cpo.payments")
SETTLED = "payment.settled"
"""Taken or released: the receipt can go out."""


class PaymentsUnavailable(Exception):
    """Card payment is not set up, or the processor cannot be reached: said on the pay page."""


@dataclass(frozen=True, slots=True)
class Begun:
    payment_id: uuid.UUID
    view_token: str
    client_secret: str
    amount_minor: int
    currency: str
    publishable_key: str | None


class Payments:
    def __init__(
        self, sessions: Callable[[], Any], processor: CardProcessor | None, commands: ChargerCommands,
        settings: PaymentSettings, sealer: Sealer | None = None,
        own_processor: Callable[[str], CardProcessor] | None = None,
    ) -> None:  # fmt: skip
        """``processor``: the platform's account (None: none); ``own_processor`` makes one for a tenant that
        has its own account (from its secret key, kept sealed with ``sealer``)."""
        self.sessions, self.processor, self.commands, self.settings = sessions, processor, commands, settings
        self.sealer, self.own_processor = sealer, own_processor
        self._own: dict[tuple[uuid.UUID, str], CardProcessor] = {}

    async def processor_for(self, tenant_id: uuid.UUID, own: bool | None = None) -> CardProcessor:
        """The tenant's own account (``own`` True, or None and it has one), else the platform's;
        PaymentsUnavailable when there is none."""
        async with self.sessions() as db:
            sealed = await db.scalar(select(Tenant.stripe_secret_sealed).where(Tenant.id == tenant_id))
        if own and not sealed:
            raise PaymentsUnavailable("the tenant's own card payment account was removed")
        if own is not False and sealed and self.sealer is not None and self.own_processor is not None:
            key = (tenant_id, sealed)
            if key not in self._own:
                self._own = {k: v for k, v in self._own.items() if k[0] != tenant_id}
                self._own[key] = self.own_processor(self.sealer.open(sealed))
            return self._own[key]
        if self.processor is None:
            raise PaymentsUnavailable("card payment is not set up")
        return self.processor

    async def publishable_key_for(self, tenant_id: uuid.UUID) -> str | None:
        """What the driver's browser uses with Stripe.js: the tenant's own account's, else the platform's."""
        async with self.sessions() as db:
            tenant: Tenant | None = await db.get(Tenant, tenant_id)
        if tenant is not None and tenant.stripe_secret_sealed and tenant.stripe_publishable_key:
            return str(tenant.stripe_publishable_key)
        return self.settings.stripe_publishable_key if self.processor is not None else None

    async def begin(self, public_id: str, locale: str, email: str | None) -> Begun:
        """Open a payment at this EVSE and put a hold on the card the driver is about to give."""
        async with self.sessions() as db:
            tenant_id = (await adhoc.place_of(db, public_id)).evse.tenant_id
        processor = await self.processor_for(tenant_id)
        async with self.sessions() as db, db.begin():
            # the account read above is still the tenant's (a change to it waits for this payment, then sees it)
            sealed = await db.scalar(
                select(Tenant.stripe_secret_sealed).where(Tenant.id == tenant_id).with_for_update(read=True)
            )
            if processor is not self._own.get((tenant_id, sealed or ""), self.processor):
                raise PaymentsUnavailable("the operator's card payment account changed; please try again")
            place = await adhoc.place_of(db, public_id)
            payment, view = await adhoc.open_payment(db, place, self.settings.hold_minor, locale, email)
            payment.own_account = processor is not self.processor
            payment_id, amount, currency = payment.id, payment.hold_minor, payment.currency
        try:
            hold = await processor.hold(amount, currency, f"auth:{payment_id}",
                                        {"payment": str(payment_id), "evse": place.evse.evse_id or ""})  # fmt: skip
        except (CardRefused, ProcessorUnavailable) as error:
            async with self.sessions() as db, db.begin():
                if (found := await adhoc.by_id(db, payment_id)) is not None:
                    adhoc.released(found, "card payment could not be started")
            raise PaymentsUnavailable(str(error)) from None
        async with self.sessions() as db, db.begin():
            found = await adhoc.by_id(db, payment_id)
            assert found is not None
            await adhoc.set_intent(db, found, hold.intent_id)
        return Begun(payment_id, view, hold.client_secret or "", amount, currency,
                     await self.publishable_key_for(tenant_id))  # fmt: skip

    async def refresh(self, payment_id: uuid.UUID) -> None:
        """Ask the processor how the hold stands, and move on from there (a page poll, a missed webhook)."""
        async with self.sessions() as db:
            payment = await adhoc.by_id(db, payment_id, lock=False)
        if payment is None or payment.intent_id is None or payment.status != "created":
            return
        try:
            hold = await (await self.processor_for(payment.tenant_id, payment.own_account)).get(payment.intent_id)
        except (CardRefused, ProcessorUnavailable, PaymentsUnavailable):
            return
        await self.on_hold(hold)

    async def on_hold(self, hold: Hold) -> None:
        """The processor's word on a hold (a webhook or a look): record it; start the station once it holds."""
        async with self.sessions() as db, db.begin():
            payment = await adhoc.by_intent(db, hold.intent_id)
            if payment is None:
                return
            moved = False
            if hold.status == "requires_capture":
                moved = adhoc.hold_on_card(payment)
            elif hold.status == "canceled":
                adhoc.released(payment, "the hold was released")
            elif hold.status == "succeeded":
                adhoc.taken(payment, hold.captured)
            elif hold.error and hold.status in ("requires_payment_method", "canceled"):
                adhoc.refused(payment, hold.error)
            payment_id = payment.id
        if moved:
            await self.start(payment_id)

    async def refused(self, intent_id: str, why: str) -> None:
        async with self.sessions() as db, db.begin():
            if (payment := await adhoc.by_intent(db, intent_id)) is not None:
                adhoc.refused(payment, why)

    async def start(self, payment_id: uuid.UUID) -> None:
        """The hold is on the card: ask the station to start with the payment's token."""
        async with self.sessions() as db:
            payment = await adhoc.by_id(db, payment_id, lock=False)
            if payment is None or payment.status != "authorized":
                return
            evse = await db.get(Evse, payment.evse_id)
            assert evse is not None
            station_id, id_tag, number = payment.station_id, payment.id_tag, evse.ocpp_evse_id
        result = await self.commands.send(
            station_id, Command("remote_start", {"id_tag": id_tag, "evse": number, "connector": number}),
            requested_by=f"payment:{payment_id}",
        )  # fmt: skip
        if result.accepted:
            async with self.sessions() as db, db.begin():
                if (payment := await adhoc.by_id(db, payment_id)) is not None:
                    adhoc.start_requested(payment)
            return
        why = (
            "the station did not answer" if result.status in ("timeout", "offline") else "the station refused to start"
        )
        await self.release(payment_id, why)

    async def release(self, payment_id: uuid.UUID, why: str) -> None:
        """Give the whole hold back (nothing delivered, or the start failed)."""
        async with self.sessions() as db:
            payment = await adhoc.by_id(db, payment_id, lock=False)
        if payment is None or payment.status not in OPEN:
            return
        if payment.intent_id is not None:
            try:
                await (await self.processor_for(payment.tenant_id, payment.own_account)).cancel(
                    payment.intent_id, f"cancel:{payment_id}"
                )
            except CardRefused as error:  # already released, or taken: ask how it stands
                log.info("cancel refused", extra={"payment": str(payment_id), "error": str(error)})
                hold = await (await self.processor_for(payment.tenant_id, payment.own_account)).get(payment.intent_id)
                if hold.status != "canceled":
                    await self.on_hold(hold)
                    return
        async with self.sessions() as db, db.begin():
            if (payment := await adhoc.by_id(db, payment_id)) is not None and payment.status in OPEN:
                adhoc.released(payment, why)
                await emit(db, SETTLED, {"id": str(payment_id)}, payment.tenant_id)

    async def settle(self, session_id: uuid.UUID) -> None:
        """The paid session's CDR is issued: take its total from the hold, or release the hold if nothing
        was delivered."""
        async with self.sessions() as db, db.begin():
            cdr = await tariffs.live_cdr(db, session_id)
            payment = await adhoc.session_ended(db, session_id, cdr.total_incl if cdr is not None else None)
            if payment is None or payment.status != "ended":
                return
            payment_id, intent_id, amount = payment.id, payment.intent_id, payment.final_minor or 0
            tenant_id, own = payment.tenant_id, payment.own_account
        if amount <= 0 or intent_id is None:
            await self.release(payment_id, "nothing was delivered")
            return
        hold = await (await self.processor_for(tenant_id, own)).capture(intent_id, amount, f"capture:{payment_id}")
        async with self.sessions() as db, db.begin():
            if (found := await adhoc.by_id(db, payment_id)) is not None and found.status in OPEN:
                adhoc.taken(found, amount if hold.status == "succeeded" else 0)
                await emit(db, SETTLED, {"id": str(payment_id)}, found.tenant_id)

    async def stop(self, payment_id: uuid.UUID, why: str | None = None) -> bool:
        """Ask the station to end the paid session (the driver's stop button, or the hold nearly spent)."""
        async with self.sessions() as db, db.begin():
            payment = await adhoc.by_id(db, payment_id)
            if payment is None or payment.status != "charging" or payment.session_id is None:
                return False
            charging = await db.get(ChargingSession, payment.session_id)
            if charging is None or charging.status != "active":
                return False
            if why:
                payment.message = why
            station_id, transaction = charging.station_id, charging.transaction_id
        result = await self.commands.send(station_id, Command("remote_stop", {"transaction_id": transaction}),
                                          requested_by=f"payment:{payment_id}")  # fmt: skip
        return result.accepted

    async def running_cost(self, db: AsyncSession, payment: AdHocPayment) -> tuple[Decimal, Decimal] | None:
        """(kWh, cost incl. VAT) of the paid session so far."""
        if payment.session_id is None:
            return None
        charging = await db.get(ChargingSession, payment.session_id)
        if charging is None:
            return None
        _tariff, _version, pricing, _note = await tariffs.price(db, charging)
        energy = (charging.energy_wh or Decimal(0)) / 1000
        return energy, (pricing.total.incl_vat or pricing.total.excl_vat) if pricing is not None else Decimal(0)

    async def sweep(self) -> None:
        """What no event says: a car never plugged in, a session about to spend more than the hold, a
        settlement that failed earlier, a page left before paying."""
        now = utcnow()
        plug_in = timedelta(seconds=self.settings.plug_in_seconds)
        expiring = now + timedelta(seconds=self.settings.expiry_margin_seconds)
        async with self.sessions() as db:
            rows = (await db.execute(select(AdHocPayment).where(AdHocPayment.status.in_(OPEN)))).scalars().all()
            to_release: list[tuple[uuid.UUID, str]] = []
            to_stop: list[tuple[uuid.UUID, str]] = []
            to_settle: list[uuid.UUID] = []
            to_refresh: list[uuid.UUID] = []
            for payment in rows:
                if payment.status in ("authorized", "starting") and payment.session_id is None and \
                        (payment.start_requested_at or payment.authorized_at or now) < now - plug_in:  # fmt: skip
                    to_release.append((payment.id, "no car was plugged in"))
                elif payment.status == "charging":
                    cost = await self.running_cost(db, payment)
                    limit = payment.hold_minor - self.settings.stop_margin_minor
                    if cost is not None and adhoc.minor_units(cost[1]) >= limit:
                        to_stop.append((payment.id, "stopped: the cost reached the amount held on the card"))
                    elif payment.hold_expires_at is not None and payment.hold_expires_at < expiring:
                        to_stop.append((payment.id, "stopped: the hold on the card was about to expire"))
                elif payment.status == "ended" and payment.session_id is not None:
                    to_settle.append(payment.session_id)
                elif payment.status == "created":
                    if payment.created_at < now - timedelta(hours=1):
                        to_release.append((payment.id, "the payment was not finished"))
                    else:
                        to_refresh.append(payment.id)
        for payment_id, why in to_release:
            await self.release(payment_id, why)
        for payment_id, why in to_stop:
            await self.stop(payment_id, why)
        for session_id in to_settle:
            await self.settle(session_id)
        for payment_id in to_refresh:
            await self.refresh(payment_id)

    async def refund(self, tenant_id: uuid.UUID, payment_id: uuid.UUID, amount: int) -> None:
        """Give back ``amount`` minor units of what was taken (all or part). The key names the refund by what
        was refunded before it, so a retried request refunds once and a second refund is a new one."""
        async with self.sessions() as db, db.begin():
            payment = await adhoc.tenant_payment(db, tenant_id, payment_id)
            adhoc.refundable(payment, amount)
            intent_id, key = payment.intent_id, f"refund:{payment.id}:{payment.refunded_minor}:{amount}"
            own = payment.own_account
        assert intent_id is not None
        await (await self.processor_for(tenant_id, own)).refund(intent_id, amount, key)
        async with self.sessions() as db, db.begin():
            adhoc.refund_recorded(await adhoc.tenant_payment(db, tenant_id, payment_id), amount)

    async def on_cdr(self, cdr_id: uuid.UUID) -> None:
        async with self.sessions() as db:
            session_id = await db.scalar(select(Cdr.session_id).where(Cdr.id == cdr_id, Cdr.credit.is_(False)))
        if session_id is not None:
            await self.settle(session_id)


SWEEP_LOCK = 0x43504F2D5041  # "CPO-PA": one sweeper at a time across nodes


async def run_sweeper(payments: Payments, every: float) -> None:
    """``Payments.sweep`` every ``every`` seconds, on one node at a time (a session advisory lock)."""
    while True:
        await asyncio.sleep(every)
        try:
            async with payments.sessions() as db:
                if await db.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": SWEEP_LOCK}):
                    try:
                        await payments.sweep()
                    finally:
                        await db.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": SWEEP_LOCK})
                await db.commit()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("payment sweep failed")

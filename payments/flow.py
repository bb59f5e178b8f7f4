"""The ad-hoc payment flow: the card processor, the station and the rules in ``cpo.adhoc``, put together.

Each step reads the payment under a row lock, decides with the rules, talks to the processor or the station
outside any transaction, and records the outcome; each may run again (a webhook, a page poll, the sweeper)
without doing anything twice: the processor sees the same idempotency key (``auth:``, ``capture:``,
``cancel:``, ``refund:`` + payment id) and the rules ignore a step already taken.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.adhoc import service as adhoc
from cpo.adhoc.models import AdHocPayment, AdHocRefund
from cpo.adhoc.processor import CardProcessor, CardRefused, Hold, ProcessorUnavailable
from cpo.charging.commands import ChargerCommands, Command
from cpo.charging.models import ChargingSession
from cpo.db.base import utcnow
from cpo.errors import Conflict, NotFound
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


class TooManyStarts(Exception):
    """Too many new card payments from one address or at one EVSE lately: each opens a hold at the
    processor, so a script must not be able to open them without end."""


class StartThrottle:
    """New payments per client address, in a sliding window (per node: memory only)."""

    def __init__(self, limit: int, window_seconds: float) -> None:
        self.limit, self.window = limit, window_seconds
        self._seen: dict[str, deque[float]] = {}

    def allow(self, address: str) -> bool:
        """Count one attempt from ``address``; False when it is over the limit (the attempt is not counted)."""
        now = time.monotonic()
        seen = self._seen.setdefault(address, deque())
        while seen and seen[0] <= now - self.window:
            seen.popleft()
        if len(seen) >= self.limit:
            return False
        if len(self._seen) > 100_000:  # bounded memory under a spray of addresses
            self._seen = {address: seen}
        seen.append(now)
        return True


@dataclass(frozen=True, slots=True)
class Begun:
    payment_id: uuid.UUID
    view_token: str
    client_secret: str
    amount_minor: int
    currency: str
    publishable_key: str | None
    reused: bool = False
    """The browser's own open payment at this EVSE, given again (no new hold was made)."""


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
        self.throttle = StartThrottle(settings.starts_per_address, settings.starts_window_seconds)

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

    async def offer_for(self, tenant_id: uuid.UUID) -> tuple[str | None, int]:
        """What the pay page offers at this tenant's chargers, from one read: the publishable key the driver's
        browser uses with Stripe.js (the tenant's own account's, else the platform's; None: card payment is
        not set up) and the amount held, in minor units."""
        async with self.sessions() as db:
            tenant: Tenant | None = await db.get(Tenant, tenant_id)
        hold = int((tenant.payment_hold_minor if tenant is not None else None) or self.settings.hold_minor)
        if tenant is not None and tenant.stripe_secret_sealed and tenant.stripe_publishable_key:
            return str(tenant.stripe_publishable_key), hold
        return (self.settings.stripe_publishable_key if self.processor is not None else None), hold

    async def hold_for(self, tenant_id: uuid.UUID) -> int:
        return (await self.offer_for(tenant_id))[1]

    async def publishable_key_for(self, tenant_id: uuid.UUID) -> str | None:
        return (await self.offer_for(tenant_id))[0]

    async def begin(self, public_id: str, locale: str, email: str | None, address: str | None = None,
                    mine: str | None = None) -> Begun:  # fmt: skip
        """Open a payment at this EVSE and put a hold on the card the driver is about to give. ``mine``: the
        link token of a payment this browser opened before; while it is still unpaid at this EVSE it is given
        again instead of a new one (a reload, a second tap). TooManyStarts past the limits per ``address``
        and per EVSE."""
        if address is not None and not self.throttle.allow(address):
            raise TooManyStarts("address")
        async with self.sessions() as db:
            place = await adhoc.place_of(db, public_id)
            open_one = await adhoc.by_view_token_or_none(db, mine) if mine else None
            busy = await adhoc.why_unavailable(db, place) if open_one is not None else None
        evse = place.evse
        tenant_id = evse.tenant_id
        if open_one is not None and mine and open_one.evse_id == evse.id:
            if busy is not None:  # taken or gone meanwhile: the card it would hold could start nothing
                raise Conflict(busy, "evse")
            again = await self._again(open_one, mine, locale, email)
            if again is not None:
                return again
        processor = await self.processor_for(tenant_id)
        async with self.sessions() as db, db.begin():
            # the account read above is still the tenant's (a change to it waits for this payment, then sees it)
            sealed, own_hold = (await db.execute(
                select(Tenant.stripe_secret_sealed, Tenant.payment_hold_minor).where(Tenant.id == tenant_id)
                .with_for_update(read=True))).one()  # fmt: skip
            if processor is not self._own.get((tenant_id, sealed or ""), self.processor):
                raise PaymentsUnavailable("the operator's card payment account changed; please try again")
            place = await adhoc.place_of(db, public_id)
            since = utcnow() - timedelta(seconds=self.settings.starts_window_seconds)
            recent = await db.scalar(select(func.count()).select_from(AdHocPayment).where(
                AdHocPayment.evse_id == place.evse.id, AdHocPayment.created_at > since))  # fmt: skip
            if (recent or 0) >= self.settings.starts_per_evse:
                raise TooManyStarts("evse")
            try:  # no price, no paid start: there would be nothing to take and no limit to stop at
                await tariffs.driver_prices(db, tenant_id, place.evse.id, "ad_hoc")
            except NotFound:
                raise Conflict("no_price", "evse") from None
            payment, view = await adhoc.open_payment(db, place, own_hold or self.settings.hold_minor, locale, email)
            payment.own_account = processor is not self.processor
            payment_id, amount, currency = payment.id, payment.hold_minor, payment.currency
        try:
            hold = await processor.hold(amount, currency, f"auth:{payment_id}",
                                        {"payment": str(payment_id), "evse": place.evse.evse_id or ""})  # fmt: skip
        except (CardRefused, ProcessorUnavailable) as error:
            async with self.sessions() as db, db.begin():
                if (found := await adhoc.by_id(db, payment_id)) is not None:
                    adhoc.failed(found, "card payment could not be started")
            raise PaymentsUnavailable(str(error)) from None
        async with self.sessions() as db, db.begin():
            found = await adhoc.by_id(db, payment_id)
            assert found is not None
            await adhoc.set_intent(db, found, hold.intent_id)
        return Begun(payment_id, view, hold.client_secret or "", amount, currency,
                     await self.publishable_key_for(tenant_id))  # fmt: skip

    async def _again(self, payment: AdHocPayment, view: str, locale: str, email: str | None) -> Begun | None:
        """The browser's open payment, if the card can still be given for it: the same hold, the same secret."""
        if payment.status != "created" or payment.intent_id is None:
            return None
        try:
            hold = await (await self._processor_of(payment)).get(payment.intent_id)
        except (CardRefused, ProcessorUnavailable, PaymentsUnavailable):
            return None  # a new payment then (or the processor's trouble, said when it is tried)
        if hold.status not in ("requires_payment_method", "requires_confirmation", "requires_action") or \
                not hold.client_secret:  # fmt: skip
            return None
        async with self.sessions() as db, db.begin():
            found = await adhoc.by_id(db, payment.id)
            if found is None or found.status != "created":
                return None
            found.locale = adhoc.pay_locale(locale)
            found.email = email or found.email
        return Begun(payment.id, view, hold.client_secret, payment.hold_minor, payment.currency,
                     await self.publishable_key_for(payment.tenant_id), reused=True)  # fmt: skip

    async def _processor_of(self, payment: AdHocPayment) -> CardProcessor:
        return await self.processor_for(payment.tenant_id, payment.own_account)

    async def refresh(self, payment_id: uuid.UUID) -> None:
        """Ask the processor how the hold stands, and move on from there (a page poll, a missed webhook)."""
        async with self.sessions() as db:
            payment = await adhoc.by_id(db, payment_id, lock=False)
        if payment is None or payment.intent_id is None or payment.status != "created":
            return
        try:
            hold = await (await self._processor_of(payment)).get(payment.intent_id)
        except (CardRefused, ProcessorUnavailable, PaymentsUnavailable):
            return
        await self.on_hold(hold)

    async def on_event(self, intent_id: str, account: uuid.UUID | None) -> None:
        """A processor event about a hold, from the platform's account (``account`` None) or a tenant's own.
        It is only a cue: the hold is looked up again on the account its payment was made on, and an event
        from any other account changes nothing."""
        async with self.sessions() as db:
            payment = await adhoc.by_intent(db, intent_id, lock=False)
        if payment is None or payment.own_account != (account is not None):
            return
        if account is not None and payment.tenant_id != account:
            log.warning("event for another tenant's payment ignored", extra={"tenant": str(account)})
            return
        try:
            hold = await (await self._processor_of(payment)).get(intent_id)
        except CardRefused:
            return  # not a hold on this account
        await self.on_hold(hold)

    async def on_hold(self, hold: Hold) -> None:
        """The processor's word on a hold (looked up by us): record it; start the station once it holds;
        release a hold that turns up on a payment already closed; stop a session whose hold is gone."""
        start = cancel = stop = False
        async with self.sessions() as db, db.begin():
            payment = await adhoc.by_intent(db, hold.intent_id)
            if payment is None:
                return
            settled = False
            if hold.status == "requires_capture":
                if hold.amount != payment.hold_minor or hold.currency.upper() != payment.currency:
                    log.error("hold differs from the payment", extra={"payment": str(payment.id)})
                    adhoc.releasing(payment, "the amount held differs from what was asked")
                    cancel = True
                elif payment.status in ("cancelled", "failed"):
                    cancel = adhoc.hold_on_closed(payment)
                else:
                    start = adhoc.hold_on_card(payment)
            elif hold.status == "canceled":
                stop = payment.status == "charging"
                why = "the hold on the card was released during the session" if stop else "the hold was released"
                if payment.status == "ended":
                    why = "the hold on the card ended before the amount was taken"
                settled = adhoc.released(payment, why)
            elif hold.status == "succeeded":  # amount_received; if not reported, what we asked to capture
                settled = adhoc.taken(payment, hold.captured or payment.final_minor or 0)
            elif hold.status == "requires_payment_method" and hold.error:
                adhoc.refused(payment, hold.error)
            if settled:
                await emit(db, SETTLED, {"id": str(payment.id)}, payment.tenant_id)
            payment_id, session_id = payment.id, payment.session_id
        if start:
            await self.start(payment_id)
        if cancel:
            await self._cancel(payment_id)
        if stop and session_id is not None:
            await self._stop_session(session_id, payment_id)

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

    async def release(self, payment_id: uuid.UUID, why: str, only: tuple[str, ...] = ("created", "authorized",
                      "starting")) -> None:  # fmt: skip
        """Give the whole hold back (nothing delivered, the start failed, no car came): only from the states in
        ``only``, and never once a session runs on it. The payment is closed first (its token starts nothing
        from then on), then the processor releases the hold."""
        async with self.sessions() as db, db.begin():
            payment = await adhoc.by_id(db, payment_id)
            if payment is None or payment.status not in only:
                return
            if payment.status != "ended" and payment.session_id is not None:
                return  # a session began meanwhile: it is paid for, not released
            adhoc.releasing(payment, why)
        await self._cancel(payment_id)

    async def _cancel(self, payment_id: uuid.UUID) -> None:
        """Release a closed payment's hold at the processor, and record that it is released (retried by the
        sweeper until the processor has answered)."""
        async with self.sessions() as db:
            payment = await adhoc.by_id(db, payment_id, lock=False)
        if payment is None or payment.status != "cancelled" or payment.settled_at is not None:
            return
        if payment.intent_id is not None:
            processor = await self._processor_of(payment)
            try:
                await processor.cancel(payment.intent_id, f"cancel:{payment_id}")
            except CardRefused as error:  # already released, or taken: ask how it stands
                log.info("cancel refused", extra={"payment": str(payment_id), "error": str(error)})
                hold = await processor.get(payment.intent_id)
                if hold.status in ("succeeded", "canceled"):
                    await self.on_hold(hold)
                return
        async with self.sessions() as db, db.begin():
            if (payment := await adhoc.by_id(db, payment_id)) is not None and adhoc.released(payment):
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
            await self.release(payment_id, "nothing was delivered", only=("ended",))
            return
        processor = await self.processor_for(tenant_id, own)
        try:
            hold = await processor.capture(intent_id, amount, f"capture:{payment_id}")
        except CardRefused as error:  # taken already, or the hold is gone: ask how it stands
            log.warning("capture refused", extra={"payment": str(payment_id), "error": str(error)})
            hold = await processor.get(intent_id)
            if hold.status == "requires_capture":  # refused for good (e.g. below the processor's minimum)
                await self.release(payment_id, f"the amount could not be taken: {error}"[:255], only=("ended",))
                return
        if hold.status in ("succeeded", "canceled"):
            await self.on_hold(hold)

    async def stop(self, payment_id: uuid.UUID, why: str | None = None) -> bool:
        """Ask the station to end the paid session (the driver's stop button, or the hold nearly spent)."""
        async with self.sessions() as db, db.begin():
            payment = await adhoc.by_id(db, payment_id)
            if payment is None or payment.status != "charging" or payment.session_id is None:
                return False
            if why:
                payment.message = why
            session_id = payment.session_id
        return await self._stop_session(session_id, payment_id)

    async def _stop_session(self, session_id: uuid.UUID, payment_id: uuid.UUID) -> bool:
        async with self.sessions() as db:
            charging = await db.get(ChargingSession, session_id)
            if charging is None or charging.status != "active":
                return False
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
        settlement or release or refund that failed earlier, a page left before paying, a start lost to a
        restart. One payment's trouble never holds up the others."""
        now = utcnow()
        plug_in = timedelta(seconds=self.settings.plug_in_seconds)
        expiring = now + timedelta(seconds=self.settings.expiry_margin_seconds)
        steps: list[tuple[str, Callable[[], Awaitable[Any]]]] = []
        async with self.sessions() as db:
            rows = (await db.execute(select(AdHocPayment).where(AdHocPayment.settled_at.is_(None)))).scalars().all()
            for payment in rows:
                try:
                    async with db.begin_nested():  # a failed query spoils only this payment's savepoint
                        steps += await self._due(db, payment, now, plug_in, expiring)
                except Exception:
                    log.exception("payment sweep failed on a payment", extra={"payment": str(payment.id)})
            # a session still running on a hold that is gone (released by the processor): stopped until it ends
            running = (await db.execute(select(AdHocPayment.id, ChargingSession.id).join(
                ChargingSession, ChargingSession.id == AdHocPayment.session_id).where(
                AdHocPayment.status == "cancelled", ChargingSession.status == "active"))).all()  # fmt: skip
            steps += [("stop", partial(self._stop_session, sid, pid)) for pid, sid in running]
            pending = (await db.execute(select(AdHocRefund.id).where(AdHocRefund.status == "pending",
                                                                      AdHocRefund.created_at < now - REFUND_RETRY))).scalars().all()  # fmt: skip
            steps += [("refund", partial(self._send_refund, rid)) for rid in pending]
        for name, step in steps:
            try:
                await step()
            except Exception:
                log.exception("payment sweep step failed", extra={"step": name})

    async def _due(self, db: AsyncSession, payment: AdHocPayment, now: datetime, plug_in: timedelta,
                   expiring: datetime) -> list[tuple[str, Callable[[], Awaitable[Any]]]]:  # fmt: skip
        """What the sweeper owes one unsettled payment now. Each step acts only from the state seen here."""
        pid, status = payment.id, payment.status
        if status in ("authorized", "starting") and payment.session_id is None and \
                (payment.start_requested_at or payment.authorized_at or now) < now - plug_in:  # fmt: skip
            return [("release", partial(self.release, pid, "no car was plugged in", (status,)))]
        if status == "authorized" and (payment.authorized_at or now) < now - START_RETRY:
            return [("start", partial(self.start, pid))]  # its start was lost (a restart)
        if status == "charging":
            cost = await self.running_cost(db, payment)
            if cost is not None and adhoc.minor_units(cost[1]) >= payment.hold_minor - self.settings.stop_margin_minor:
                return [("stop", partial(self.stop, pid, "stopped: the cost reached the amount held on the card"))]
            if payment.hold_expires_at is not None and payment.hold_expires_at < expiring:
                return [("stop", partial(self.stop, pid, "stopped: the hold on the card was about to expire"))]
        elif status == "ended" and payment.session_id is not None:
            return [("settle", partial(self.settle, payment.session_id))]
        elif status == "cancelled":
            return [("release", partial(self._cancel, pid))]
        elif status == "created":
            if payment.created_at < now - timedelta(hours=1):
                return [("release", partial(self.release, pid, "the payment was not finished", ("created",)))]
            return [("refresh", partial(self.refresh, pid))]
        return []

    async def refund(self, tenant_id: uuid.UUID, payment_id: uuid.UUID, amount: int, request_id: uuid.UUID,
                     requested_by: str | None = None) -> str:  # fmt: skip
        """Give back ``amount`` minor units of what was taken (all or part), once per ``request_id`` (a form
        sent twice refunds once). Returns the refund's status: done, failed or pending (the processor did not
        answer; retried by the sweeper under the same key)."""
        async with self.sessions() as db, db.begin():
            refund = await adhoc.request_refund(db, tenant_id, payment_id, amount, request_id, requested_by)
            status = refund.status
        if status != "pending":
            return status
        return await self._send_refund(request_id)

    async def _send_refund(self, refund_id: uuid.UUID) -> str:
        async with self.sessions() as db:
            refund = await db.get(AdHocRefund, refund_id)
            payment = await adhoc.by_id(db, refund.payment_id, lock=False) if refund is not None else None
        if refund is None or payment is None or refund.status != "pending" or payment.intent_id is None:
            return refund.status if refund is not None else "failed"
        processor = await self._processor_of(payment)
        try:
            ref = await processor.refund(payment.intent_id, refund.amount_minor, f"refund:{payment.id}:{refund.id}")
        except CardRefused as error:
            async with self.sessions() as db, db.begin():
                await adhoc.refund_failed(db, refund_id, str(error))
            raise
        async with self.sessions() as db, db.begin():
            await adhoc.refund_done(db, refund_id, ref)
        return "done"

    async def on_refunds(self, intent_id: str, account: uuid.UUID | None, amount_refunded: int) -> None:
        """The processor's total of what was refunded on a payment (its dashboard's refunds included)."""
        async with self.sessions() as db, db.begin():
            payment = await adhoc.by_intent(db, intent_id)
            if payment is None or payment.own_account != (account is not None):
                return
            if account is None or payment.tenant_id == account:
                adhoc.refunds_reported(payment, amount_refunded)

    async def on_cdr(self, cdr_id: uuid.UUID) -> None:
        async with self.sessions() as db:
            session_id = await db.scalar(select(Cdr.session_id).where(Cdr.id == cdr_id, Cdr.credit.is_(False)))
        if session_id is not None:
            await self.settle(session_id)


START_RETRY = timedelta(minutes=2)
"""An authorized payment whose start was not asked for by then lost it (a restart): asked again."""
REFUND_RETRY = timedelta(minutes=1)


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

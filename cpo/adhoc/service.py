"""Ad-hoc card payments: the rules, whatever the card processor (the ``payments`` transport calls it).

The flow: the driver opens the pay page of an EVSE and a payment is opened (``created``) with a hold; once
the processor says the hold is on the card (``authorized``) the station is asked to start with the payment's
own token (``starting``); the station's start with that token is accepted and linked (``charging``); when the
session's CDR is issued its total is taken from the hold (``captured``), or the hold released when nothing
was delivered or the start failed (``cancelled``). A refused card ends in ``failed``. Every step is
idempotent: webhooks and retries may repeat any of them, in any order.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.adhoc.models import OPEN, AdHocPayment, AdHocRefund
from cpo.charging.models import ChargingSession, ConnectorState, StationPresence
from cpo.db.base import utcnow
from cpo.errors import Conflict, InvalidInput, NotFound
from cpo.secrets import hash_token
from cpo.sites.models import Evse, Site, Station

HOLD_LIFETIME = timedelta(days=7)
"""Stripe drops an uncaptured online card hold 7 days after it was made."""
FREE_STATUSES = ("Available", "Preparing")
"""What a connector may report for a paid start: free, or a car just plugged in."""
BUSY = ("authorized", "starting", "charging")
TAG_PREFIX = "PAY"
PAY_LOCALES = ("nl", "fr", "en")


@dataclass(frozen=True, slots=True)
class Place:
    evse: Evse
    station: Station
    site: Site


def minor_units(amount: Decimal) -> int:
    """An amount in minor units (cents), half up."""
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


async def place_of(session: AsyncSession, public_id: str) -> Place:
    """The public EVSE a QR code names (its eMI3 EVSE ID, with or without the '*'), else NotFound. Never
    one at an employee's home: its page would show the home's address (OCPI does not publish it either)."""
    wanted = public_id.strip().upper().replace("*", "")
    row = (await session.execute(
        select(Evse, Station, Site).join(Station, Station.id == Evse.station_id).join(Site, Site.id == Station.site_id)
        .where(func.replace(func.upper(Evse.evse_id), "*", "") == wanted, Evse.public, Site.home_person_id.is_(None))
        .order_by((func.upper(Evse.evse_id) == public_id.strip().upper()).desc(), Evse.id)
    )).first()  # fmt: skip
    if row is None:
        raise NotFound("EVSE", public_id)
    return Place(*row)


async def why_unavailable(session: AsyncSession, place: Place) -> str | None:
    """Why a paid start cannot happen now (said before anything is paid), or None."""
    online = await session.scalar(select(StationPresence.online).where(StationPresence.station_id == place.station.id))
    if not online:
        return "offline"
    states = (await session.execute(select(ConnectorState.status).where(
        ConnectorState.station_id == place.station.id, ConnectorState.ocpp_evse_id == place.evse.ocpp_evse_id,
        ConnectorState.ocpp_connector_id > 0))).scalars().all()  # fmt: skip
    if any(status not in FREE_STATUSES for status in states):
        faulty = any(status in ("Faulted", "Unavailable") for status in states)
        return "out_of_order" if faulty else "occupied"
    running = await session.scalar(select(func.count()).select_from(ChargingSession).where(
        ChargingSession.station_id == place.station.id, ChargingSession.ocpp_evse_id == place.evse.ocpp_evse_id,
        ChargingSession.status == "active"))  # fmt: skip
    paid = await session.scalar(select(func.count()).select_from(AdHocPayment).where(
        AdHocPayment.evse_id == place.evse.id, AdHocPayment.status.in_(BUSY)))  # fmt: skip
    return "occupied" if running or paid else None


async def open_payment(
    session: AsyncSession, place: Place, hold_minor: int, locale: str, email: str | None
) -> tuple[AdHocPayment, str]:
    """A payment for a paid start at this EVSE, before the card is asked for. Returns it and the driver's
    secret link token (shown once). Conflict when the EVSE cannot start now."""
    if (why := await why_unavailable(session, place)) is not None:
        raise Conflict(why, "evse")
    view = secrets.token_urlsafe(24)
    payment = AdHocPayment(
        id=uuid.uuid4(), tenant_id=place.evse.tenant_id, evse_id=place.evse.id, station_id=place.station.id,
        status="created", currency=place.site.currency, hold_minor=hold_minor, view_token_hash=hash_token(view),
        id_tag=TAG_PREFIX + secrets.token_hex(8).upper()[:17], locale=pay_locale(locale),
        email=email or None, captured_minor=0, refunded_minor=0,
    )  # fmt: skip
    session.add(payment)
    await session.flush()
    return payment, view


def pay_locale(locale: str) -> str:
    """The language the driver's pages, receipt and e-mail are in: Dutch, French or English."""
    return locale if locale in PAY_LOCALES else "en"


async def set_intent(session: AsyncSession, payment: AdHocPayment, intent_id: str) -> None:
    payment.intent_id = intent_id
    payment.hold_expires_at = payment.created_at + HOLD_LIFETIME if payment.created_at else utcnow() + HOLD_LIFETIME
    await session.flush()


async def by_view_token(session: AsyncSession, token: str, lock: bool = False) -> AdHocPayment:
    found = await by_view_token_or_none(session, token, lock)
    if found is None:
        raise NotFound("payment", "link")
    return found


async def by_view_token_or_none(session: AsyncSession, token: str, lock: bool = False) -> AdHocPayment | None:
    query = select(AdHocPayment).where(AdHocPayment.view_token_hash == hash_token(token))
    return (await session.execute(query.with_for_update() if lock else query)).scalar_one_or_none()


async def by_intent(session: AsyncSession, intent_id: str, lock: bool = True) -> AdHocPayment | None:
    query = select(AdHocPayment).where(AdHocPayment.intent_id == intent_id)
    return (await session.execute(query.with_for_update() if lock else query)).scalar_one_or_none()


async def by_id(session: AsyncSession, payment_id: uuid.UUID, lock: bool = True) -> AdHocPayment | None:
    query = select(AdHocPayment).where(AdHocPayment.id == payment_id)
    return (await session.execute(query.with_for_update() if lock else query)).scalar_one_or_none()


def hold_on_card(payment: AdHocPayment, at: datetime | None = None) -> bool:
    """The processor says the hold is on the card: ``created`` becomes ``authorized``. True when this call
    moved it (the caller then asks the station to start, once)."""
    if payment.status != "created":
        return False
    payment.status, payment.authorized_at, payment.message = "authorized", at or utcnow(), None
    return True


def start_requested(payment: AdHocPayment) -> None:
    if payment.status == "authorized":
        payment.status, payment.start_requested_at = "starting", utcnow()


def refused(payment: AdHocPayment, why: str) -> None:
    """The card was refused. The driver may give another one on the same page, so the payment stays open
    (and is released after an hour if none is given)."""
    if payment.status == "created":
        payment.message = why[:255]


def failed(payment: AdHocPayment, why: str) -> None:
    """No hold could be made at all: nothing is held, nothing will be taken."""
    if payment.status == "created":
        payment.status, payment.message, payment.settled_at = "failed", why[:255], utcnow()


def releasing(payment: AdHocPayment, why: str) -> None:
    """The hold is to be released: from now on the payment's token starts nothing. ``settled_at`` stays
    empty until the processor has confirmed the release (see ``released``)."""
    if payment.status in OPEN:
        payment.status, payment.message, payment.settled_at = "cancelled", why[:255], None


def hold_on_closed(payment: AdHocPayment) -> bool:
    """A hold turned up on a payment already given up (the card confirmed after it was closed): it is to be
    released. True (the caller releases it)."""
    payment.status, payment.settled_at = "cancelled", None
    return True


def released(payment: AdHocPayment, why: str | None = None) -> bool:
    """The processor released the hold: nothing is taken. True when this settled the payment."""
    if payment.status in OPEN:
        payment.status, payment.message = "cancelled", (why or payment.message or "")[:255] or None
    if payment.status == "cancelled" and payment.settled_at is None:
        payment.settled_at = utcnow()
        return True
    return False


def taken(payment: AdHocPayment, amount: int) -> bool:
    """The processor took ``amount`` minor units from the hold. True when this settled the payment."""
    if payment.status in OPEN or (payment.status == "cancelled" and payment.settled_at is None):
        payment.status, payment.captured_minor, payment.settled_at = "captured", amount, utcnow()
        return True
    return False


async def authorization_for(
    session: AsyncSession, station: Station, id_tag: str, evse_number: int | None,
    current_session: uuid.UUID | None = None,
) -> AdHocPayment | None:  # fmt: skip
    """The paid start a station reports with a payment's token: only at the EVSE it was paid for, only while
    it is authorized or starting, and once it charges only for its own session (``current_session``, the
    transaction the token is shown in): one payment pays for one session."""
    if not id_tag.upper().startswith(TAG_PREFIX):
        return None
    # locked until the session is recorded: a release waits, then sees the session and keeps the hold
    payment = (await session.execute(select(AdHocPayment).where(
        AdHocPayment.id_tag == id_tag.upper(), AdHocPayment.station_id == station.id,
        AdHocPayment.status.in_(("authorized", "starting", "charging"))).with_for_update())).scalar_one_or_none()  # fmt: skip
    if payment is None:
        return None
    if payment.session_id is not None and payment.session_id != current_session:
        return None
    if evse_number is not None:
        evse = await session.get(Evse, payment.evse_id)
        if evse is None or evse.ocpp_evse_id != evse_number:
            return None
    return payment


async def session_started(session: AsyncSession, payment_id: uuid.UUID, charging: ChargingSession) -> None:
    payment = await by_id(session, payment_id)
    if payment is not None and payment.status in ("authorized", "starting") and payment.session_id is None:
        payment.status, payment.session_id = "charging", charging.id


async def session_ended(
    session: AsyncSession, session_id: uuid.UUID, total_incl_vat: Decimal | None
) -> AdHocPayment | None:
    """The paid session ended with this total (its CDR): what to take is set. None if no payment."""
    payment = (await session.execute(select(AdHocPayment).where(AdHocPayment.session_id == session_id)
                                     .with_for_update())).scalar_one_or_none()  # fmt: skip
    if payment is None or payment.status != "charging":
        return payment  # the amount to take is set once: a retried capture asks for the same amount
    amount = minor_units(total_incl_vat) if total_incl_vat is not None else 0
    payment.status, payment.final_minor, payment.ended_at = "ended", min(amount, payment.hold_minor), utcnow()
    if amount > payment.hold_minor:
        payment.message = f"the session cost {amount} but only {payment.hold_minor} was held"
    return payment


def refundable(payment: AdHocPayment, amount: int, pending: int = 0) -> None:
    """May ``amount`` minor units be given back, with ``pending`` on its way back already? InvalidInput
    otherwise (more than taken, or nothing)."""
    left = payment.captured_minor - payment.refunded_minor - pending
    if payment.status != "captured" or left <= 0:
        raise InvalidInput("amount", "nothing taken from this card is left to refund")
    if not 0 < amount <= left:
        raise InvalidInput("amount", f"between 0.01 and {left / 100:.2f}")


async def request_refund(
    session: AsyncSession, tenant_id: uuid.UUID, payment_id: uuid.UUID, amount: int, request_id: uuid.UUID,
    requested_by: str | None,
) -> AdHocRefund:  # fmt: skip
    """A refund asked for once under ``request_id``: the same request again gives the same refund back."""
    payment = await tenant_payment(session, tenant_id, payment_id)  # locked: one request at a time
    existing = await session.get(AdHocRefund, request_id)
    if existing is not None:
        if existing.payment_id != payment.id or existing.tenant_id != tenant_id:
            raise Conflict("this refund request belongs to another payment", "request_id")
        return existing
    pending = await session.scalar(select(func.coalesce(func.sum(AdHocRefund.amount_minor), 0)).where(
        AdHocRefund.payment_id == payment.id, AdHocRefund.status == "pending"))  # fmt: skip
    refundable(payment, amount, int(pending or 0))
    refund = AdHocRefund(id=request_id, tenant_id=tenant_id, payment_id=payment.id, amount_minor=amount,
                         status="pending", requested_by=requested_by)  # fmt: skip
    session.add(refund)
    await session.flush()
    return refund


async def refund_done(session: AsyncSession, refund_id: uuid.UUID, processor_ref: str | None) -> None:
    refund = await session.get(AdHocRefund, refund_id, with_for_update=True)
    if refund is None or refund.status != "pending":
        return
    payment = await by_id(session, refund.payment_id)
    assert payment is not None
    refund.status, refund.processor_ref = "done", processor_ref
    await session.flush()
    done = await session.scalar(select(func.coalesce(func.sum(AdHocRefund.amount_minor), 0)).where(
        AdHocRefund.payment_id == payment.id, AdHocRefund.status == "done"))  # fmt: skip
    # the processor's own total may have come first (a webhook): the larger of the two, never both added
    payment.refunded_minor = min(payment.captured_minor, max(payment.refunded_minor, int(done or 0)))


async def refund_failed(session: AsyncSession, refund_id: uuid.UUID, why: str) -> None:
    refund = await session.get(AdHocRefund, refund_id, with_for_update=True)
    if refund is not None and refund.status == "pending":
        refund.status, refund.message = "failed", why[:255]


def refunds_reported(payment: AdHocPayment, amount_refunded: int) -> None:
    """The processor's own total of what was refunded (refunds made in its dashboard included). Events
    come in any order: an older, smaller total never lowers the figure."""
    payment.refunded_minor = max(payment.refunded_minor, min(amount_refunded, payment.captured_minor))


@dataclass(frozen=True, slots=True)
class DayReport:
    """One day's card payments, and what needs a look."""

    day: date
    payments: list[AdHocPayment]
    captured_minor: int
    refunded_minor: int
    held_minor: int
    """Still held on cards (open payments)."""
    flags: list[tuple[AdHocPayment, str]]


async def day_report(session: AsyncSession, tenant_id: uuid.UUID, day: date, time_zone: str = "UTC") -> DayReport:
    """The payments opened on ``day`` (in the tenant's time zone), with totals and flags: a session that
    ended without its amount taken, an amount taken that is not its CDR's total, a hold still on a card long
    after its session, a payment whose session is gone."""
    zone = ZoneInfo(time_zone)
    start = datetime.combine(day, time.min, zone)
    rows = list((await session.execute(select(AdHocPayment).where(
        AdHocPayment.tenant_id == tenant_id, AdHocPayment.created_at >= start,
        AdHocPayment.created_at < start + timedelta(days=1)).order_by(AdHocPayment.created_at))).scalars())  # fmt: skip
    flags: list[tuple[AdHocPayment, str]] = []
    now = utcnow()
    for payment in rows:
        if payment.status == "ended" and payment.ended_at and payment.ended_at < now - timedelta(minutes=15):
            flags.append((payment, "session ended, amount not taken"))
        if payment.status == "cancelled" and payment.final_minor and payment.session_id is not None:
            flags.append((payment, f"session cost not taken: {payment.message or 'the hold was released'}"))
        taken_wrong = payment.final_minor is not None and payment.captured_minor != payment.final_minor
        if payment.status == "captured" and taken_wrong:
            flags.append((payment, "amount taken differs from the session's cost"))
        if payment.status in ("authorized", "starting") and (payment.authorized_at or now) < now - timedelta(hours=1):
            flags.append((payment, "held on the card for over an hour without a session"))
        if (
            payment.status == "cancelled"
            and payment.settled_at is None
            and payment.updated_at < now - timedelta(minutes=15)
        ):
            flags.append((payment, "release of the hold not yet confirmed by the processor"))
        if payment.status == "charging" and payment.session_id is not None:
            charging = await session.get(ChargingSession, payment.session_id)
            if charging is None or charging.status != "active":
                flags.append((payment, "session no longer running, payment still open"))
    open_statuses = ("authorized", "starting", "charging", "ended")
    return DayReport(
        day, rows, sum(p.captured_minor for p in rows), sum(p.refunded_minor for p in rows),
        sum(p.hold_minor for p in rows if p.status in open_statuses or (p.status == "cancelled" and p.settled_at
            is None and p.intent_id is not None)), flags,
    )  # fmt: skip


async def tenant_payment(session: AsyncSession, tenant_id: uuid.UUID, payment_id: uuid.UUID) -> AdHocPayment:
    found = (await session.execute(select(AdHocPayment).where(
        AdHocPayment.tenant_id == tenant_id, AdHocPayment.id == payment_id).with_for_update())).scalar_one_or_none()  # fmt: skip
    if found is None:
        raise NotFound("payment", payment_id)
    return found

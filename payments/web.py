"""The driver's side of an ad-hoc payment (no account): start a paid session at an EVSE, follow it, stop it;
and the processor's webhooks.

Routes:
- ``POST /pay/{evse_id}/start``: open a payment and a hold; answers the browser's client secret and the
  driver's own link (``/pay/p/{token}``), the only key to the payment's pages.
- ``GET /pay/p/{token}/status``: where the payment and its session stand (kWh, cost so far, amounts).
- ``POST /pay/p/{token}/stop``: the driver's stop button.
- ``POST /payments/stripe/webhook``: signed events, each handled once, in any order.
"""

from __future__ import annotations

import logging
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.datastructures import Cookie, State
from litestar.di import Provide
from msgspec import Meta, Struct
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.adhoc import service as adhoc
from cpo.adhoc.models import AdHocPayment, ProcessorEvent
from cpo.adhoc.processor import ProcessorUnavailable
from cpo.charging.models import ChargingSession
from cpo.errors import Conflict, NotFound
from cpo.network import client_address
from cpo.sites.models import Evse
from cpo.tenants.models import Tenant
from cpo.web.problems import API_EXCEPTION_HANDLERS, problem
from cpo.web.ui.i18n import translate
from payments.flow import Payments, PaymentsUnavailable, TooManyStarts
from payments.stripe_processor import verify_webhook
from payments.wording import message_text

log = logging.getLogger("cpo.payments")
HOLD_EVENTS = ("payment_intent.amount_capturable_updated", "payment_intent.succeeded", "payment_intent.canceled",
               "payment_intent.payment_failed", "payment_intent.requires_action")  # fmt: skip


class StartIn(Struct, forbid_unknown_fields=True):
    locale: Annotated[str, Meta(pattern="^(nl|fr|en)$")] = "en"
    email: Annotated[str, Meta(max_length=255, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] | None = None
    """Only to send the receipt; never required."""


class StatusOut(Struct):
    status: str
    message: str | None
    currency: str
    hold: str
    captured: str
    refunded: str
    final: str | None
    energy_kwh: str | None
    cost_so_far: str | None
    started_at: str | None
    stopped_at: str | None
    evse_id: str | None
    note: str | None = None
    """``message`` in the driver's words (``?lang=``), for the page."""


def _money(minor: int | None) -> str | None:
    return None if minor is None else f"{minor / 100:.2f}"


def provide_payments(state: State) -> Payments:
    found: Payments = state.payments
    return found


MINE = "pay_ref"
"""The cookie that carries the link token of the payment this browser opened last (path /pay/, HttpOnly, an
hour): pressing the button again, or reloading, gives back that payment instead of a new hold."""
REFUSALS = {"occupied": "pay.why.occupied", "offline": "pay.why.offline", "out_of_order": "pay.why.out_of_order",
            "no_price": "pay.no_price"}  # fmt: skip


@post("/pay/{evse_id:str}/start", status_code=201)
async def start_payment(
    request: Request[Any, Any, Any], evse_id: str, data: StartIn, payments: Payments, state: State
) -> Response[Any]:
    """Answers in the driver's language (``locale``): what went wrong is for them to read, with a ``reason``
    code for the page; the processor's own words go to the log only."""
    lang = data.locale
    address = client_address(request.scope, state.settings.server.trusted_proxies)
    try:
        begun = await payments.begin(evse_id, lang, data.email, address, request.cookies.get(MINE))
    except NotFound:
        return problem(404, translate(lang, "pay.not_found.title"), reason="not_found")
    except TooManyStarts as limit:
        log.warning("too many card payments started", extra={"per": str(limit), "evse": evse_id[:64]})
        busy = problem(429, translate(lang, "pay.too_many"), reason="too_many")
        busy.headers["Retry-After"] = "60"
        return busy
    except Conflict as refused:
        why = str(refused)
        return problem(409, translate(lang, REFUSALS.get(why, "pay.failed")), reason=why)
    except PaymentsUnavailable as error:
        log.error("card payment could not be started", extra={"evse": evse_id[:64], "error": str(error)[:500]})
        return problem(503, translate(lang, "pay.unavailable"), reason="unavailable")
    secure = state.settings.base_url.startswith("https://")
    mine = Cookie(key=MINE, value=begun.view_token, path="/pay/", max_age=3600, httponly=True, secure=secure,
                  samesite="strict")  # fmt: skip
    return Response({"payment": str(begun.payment_id), "link": f"/pay/p/{begun.view_token}",
                     "status_url": f"/pay/p/{begun.view_token}/status", "client_secret": begun.client_secret,
                     "publishable_key": begun.publishable_key, "hold": _money(begun.amount_minor),
                     "currency": begun.currency, "reused": begun.reused},
                    status_code=200 if begun.reused else 201, cookies=[mine])  # fmt: skip


@get("/pay/{evse_id:str}/availability")
async def availability(evse_id: str, db: AsyncSession) -> dict[str, Any]:
    """Whether a paid start could happen at this EVSE now (the pay page asks every few seconds)."""
    async with db.begin():
        place = await adhoc.place_of(db, evse_id)
        reason = await adhoc.why_unavailable(db, place)
    return {"available": reason is None, "reason": reason}


async def status_of(db: AsyncSession, payments: Payments, payment: AdHocPayment) -> StatusOut:
    charging = await db.get(ChargingSession, payment.session_id) if payment.session_id else None
    cost = await payments.running_cost(db, payment) if payment.status == "charging" else None
    evse = await db.get(Evse, payment.evse_id)
    energy = cost[0] if cost else ((charging.energy_wh or 0) / 1000 if charging is not None else None)
    return StatusOut(
        status=payment.status, message=payment.message, currency=payment.currency, hold=_money(payment.hold_minor) or "",
        captured=_money(payment.captured_minor) or "0.00", refunded=_money(payment.refunded_minor) or "0.00",
        final=_money(payment.final_minor), energy_kwh=f"{energy:.3f}" if energy is not None else None,
        cost_so_far=f"{cost[1]:.2f}" if cost else None,
        started_at=charging.started_at.isoformat() if charging is not None else None,
        stopped_at=charging.stopped_at.isoformat() if charging is not None and charging.stopped_at else None,
        evse_id=evse.evse_id if evse is not None else None,
    )  # fmt: skip


@get("/pay/p/{token:str}/status")
async def payment_status(token: str, db: AsyncSession, payments: Payments, lang: str | None = None) -> StatusOut:
    async with db.begin():
        payment = await adhoc.by_view_token(db, token)
    if payment.status == "created":
        await payments.refresh(payment.id)
    async with db.begin():
        payment = await adhoc.by_view_token(db, token)
        status = await status_of(db, payments, payment)
    status.note = message_text(status.message, adhoc.pay_locale(lang or payment.locale), status.status)
    return status


@post("/pay/p/{token:str}/stop", status_code=202)
async def stop_payment(token: str, db: AsyncSession, payments: Payments) -> dict[str, bool]:
    async with db.begin():
        payment = await adhoc.by_view_token(db, token)
    return {"stopping": await payments.stop(payment.id)}


@post("/payments/stripe/webhook", status_code=200)
async def stripe_webhook(request: Request[Any, Any, Any], db: AsyncSession, payments: Payments, state: State) -> Any:
    """Events of the platform's Stripe account, signed with ``CPO_STRIPE_WEBHOOK_SECRET``."""
    return await _webhook(request, db, payments, state.settings.payments.stripe_webhook_secret, None)


@post("/payments/stripe/webhook/{tenant_id:uuid}", status_code=200)
async def tenant_stripe_webhook(
    request: Request[Any, Any, Any], tenant_id: uuid.UUID, db: AsyncSession, payments: Payments, state: State
) -> Any:
    """Events of a tenant's own Stripe account, signed with that account's webhook secret."""
    async with db.begin():
        sealed = await db.scalar(select(Tenant.stripe_webhook_secret_sealed).where(Tenant.id == tenant_id))
    secret = state.sealer.open(sealed) if sealed else None
    return await _webhook(request, db, payments, secret, tenant_id)


class _EventData(Struct):
    object: dict[str, Any]


class _EventShape(Struct):
    """What the intake reads of a Stripe event. Checked before the signature: Stripe's SDK parses the body
    first, and a body that is not an object (``[]``, ``"x"``, bytes that are not UTF-8) breaks it."""

    id: Annotated[str, Meta(min_length=1, max_length=255)]
    type: Annotated[str, Meta(max_length=255)]
    data: _EventData


async def _webhook(
    request: Request[Any, Any, Any], db: AsyncSession, payments: Payments, secret: str | None,
    account: uuid.UUID | None,
) -> Any:  # fmt: skip
    """Only events signed with the account's webhook secret; each event id handled once (recorded after it was
    handled: a failure is retried by the processor, and every step is idempotent). An event is a cue, not a
    fact: the hold is looked up again on the payment's own account (``account``: a tenant's, None: the
    platform's), so an event signed for one account changes nothing on another's payments."""
    if not secret:
        return problem(503, "webhooks are not set up for this account")
    body = await request.body()
    try:
        shape = msgspec.json.decode(body, type=_EventShape)
    except msgspec.DecodeError:
        return problem(400, "refused: not an event")
    try:
        verify_webhook(body, request.headers.get("stripe-signature", ""), secret)
    except ValueError as error:
        return problem(400, f"refused: {error}")
    event_id, kind, obj = shape.id, shape.type, shape.data.object
    async with db.begin():
        seen = await db.scalar(select(ProcessorEvent.id).where(ProcessorEvent.id == event_id))
    if seen is not None:
        return {"received": True, "duplicate": True}
    intent_id = None
    if kind in HOLD_EVENTS and obj.get("id"):
        intent_id = str(obj["id"])
        try:
            await payments.on_event(intent_id, account)
        except (ProcessorUnavailable, PaymentsUnavailable) as error:
            return problem(503, f"try again: {error}")  # not recorded: the processor sends it again
    elif kind == "charge.refunded" and obj.get("payment_intent"):
        intent_id = str(obj["payment_intent"])
        refunded = obj.get("amount_refunded")
        await payments.on_refunds(intent_id, account, refunded if type(refunded) is int and refunded > 0 else 0)
    async with db.begin():
        await db.execute(insert(ProcessorEvent).values(id=event_id, kind=kind[:80], intent_id=intent_id)
                         .on_conflict_do_nothing())  # fmt: skip
    return {"received": True}


def payments_router() -> Router:
    return Router(
        path="/", route_handlers=[start_payment, availability, payment_status, stop_payment, stripe_webhook,
                                  tenant_stripe_webhook],
        dependencies={"payments": Provide(provide_payments, sync_to_thread=False)},
        exception_handlers=API_EXCEPTION_HANDLERS, include_in_schema=False,
    )  # fmt: skip

"""The card processor port on the real Stripe SDK, against localstripe (a separate server on loopback)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
import stripe
import uvicorn
from litestar import Litestar, Request, post

from cpo.adhoc.processor import CardRefused
from payments.stripe_processor import StripeProcessor, verify_webhook
from tests.platform import free_port
from tests.stripe_support import SECRET_KEY, WEBHOOK_SECRET, LocalStripe, serve_localstripe


@pytest.fixture(scope="module")
def localstripe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStripe]:
    with serve_localstripe(tmp_path_factory.mktemp("localstripe") / "log") as running:
        yield running


async def test_a_hold_is_confirmed_by_card_then_partly_captured_or_released(localstripe: LocalStripe) -> None:
    processor = StripeProcessor(SECRET_KEY, localstripe.url)
    hold = await processor.hold(5000, "EUR", "auth:p1", {"payment": "p1"})
    assert hold.status == "requires_payment_method" and hold.client_secret and hold.amount == 5000
    assert hold.currency == "EUR"
    localstripe.pay(hold.intent_id)
    assert (await processor.get(hold.intent_id)).status == "requires_capture"
    taken = await processor.capture(hold.intent_id, 1234, "capture:p1")
    assert taken.status == "succeeded"
    refund = await processor.refund(hold.intent_id, 234, "refund:p1")
    assert refund.startswith("re_")
    with pytest.raises(CardRefused):  # taken once: a second capture is refused
        await processor.capture(hold.intent_id, 100, "capture:p1-again")

    other = await processor.hold(5000, "EUR", "auth:p2", {"payment": "p2"})
    localstripe.pay(other.intent_id)
    assert (await processor.cancel(other.intent_id, "cancel:p2")).status == "canceled"


async def test_a_declined_card_is_refused_with_a_message(localstripe: LocalStripe) -> None:
    processor = StripeProcessor(SECRET_KEY, localstripe.url)
    hold = await processor.hold(5000, "EUR", "auth:p3", {"payment": "p3"})
    with pytest.raises(stripe.CardError) as declined:
        localstripe.pay(hold.intent_id, "pm_card_chargeCustomerFail")
    assert "declined" in str(declined.value).lower()
    assert (await processor.get(hold.intent_id)).status != "requires_capture"


async def test_webhooks_are_signed_and_a_tampered_one_is_refused(localstripe: LocalStripe) -> None:
    received: list[tuple[bytes, str]] = []
    succeeded = asyncio.Event()
    target: list[bytes] = []

    @post("/hook", status_code=200)
    async def hook(request: Request[Any, Any, Any]) -> None:
        received.append((await request.body(), request.headers.get("stripe-signature", "")))
        if b"payment_intent.succeeded" in received[-1][0] and target and target[0] in received[-1][0]:
            succeeded.set()

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(Litestar([hook]), host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        await asyncio.sleep(0.5)  # uvicorn binds at once; the first webhook comes seconds later
        localstripe.send_webhooks_to(f"http://127.0.0.1:{port}/hook", "processor-test")
        processor = StripeProcessor(SECRET_KEY, localstripe.url)
        hold = await processor.hold(2000, "EUR", "auth:p4", {"payment": "p4"})
        target.append(hold.intent_id.encode())
        localstripe.pay(hold.intent_id)
        await processor.capture(hold.intent_id, 2000, "capture:p4")
        await asyncio.wait_for(succeeded.wait(), 15)
    finally:
        server.should_exit = True
        await task
    body, signature = next((b, s) for b, s in received if b"payment_intent.succeeded" in b and target[0] in b)
    event = verify_webhook(body, signature, WEBHOOK_SECRET)
    assert event["type"] == "payment_intent.succeeded" and event["data"]["object"]["id"] == hold.intent_id
    tampered = json.dumps(json.loads(body) | {"id": "evt_forged"}).encode()
    with pytest.raises(ValueError, match="signature"):
        verify_webhook(tampered, signature, WEBHOOK_SECRET)
    with pytest.raises(ValueError):
        verify_webhook(body, signature, "whsec_someone_else")

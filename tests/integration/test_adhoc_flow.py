"""The payment flow against a processor of our own (``tests/fake_processor.py``) for what localstripe cannot
do: webhooks it never sends (``amount_capturable_updated``, ``canceled``), the same event twice at once,
idempotency keys honoured, and an outage. Real PostgreSQL; the station side is a recording command port."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.dialects.postgresql import insert

from cpo.adhoc import service as adhoc
from cpo.adhoc.models import AdHocRefund
from cpo.adhoc.processor import Hold, ProcessorUnavailable
from cpo.charging.commands import CommandResult
from cpo.charging.models import StationPresence
from cpo.errors import Conflict, InvalidInput
from cpo.settings import PaymentSettings
from payments.flow import Payments, PaymentsUnavailable
from tests.fake_processor import FakeProcessor
from tests.integration.test_api_sites import create_site, create_station


class Commands:
    def __init__(self) -> None:
        self.sent: list[tuple[uuid.UUID, str, dict[str, Any]]] = []

    async def send(self, station_id: uuid.UUID, command: Any, requested_by: str | None = None) -> CommandResult:
        self.sent.append((station_id, command.name, command.arguments))
        await asyncio.sleep(0.05)  # a station takes a moment to answer
        return CommandResult("answered", {"status": "Accepted"})


async def online_evse(client: Any, tenant_a: Any, sessions: Any, name: str, priced: bool = True) -> str:
    """A public EVSE ``BE*CPO*E{name}`` at a station ``{name}-1`` that is online, with an ad-hoc price or none."""
    site = await create_site(client, tenant_a.admin)
    station = await create_station(client, tenant_a.admin, site["id"], f"{name}-1")
    made = await client.post(f"/api/v1/stations/{station['id']}/evses", headers=tenant_a.admin,
                             json={"ocpp_evse_id": 1, "public": True, "evse_id": f"BE*CPO*E{name}1"})  # fmt: skip
    assert made.status_code == 201
    if priced:
        await ad_hoc_price(client, tenant_a.admin, site["id"])
    async with sessions() as db, db.begin():
        await db.execute(insert(StationPresence).values(station_id=uuid.UUID(station["id"]), tenant_id=tenant_a.id,
                                                        online=True))  # fmt: skip
    return f"BE*CPO*E{name}1"


@pytest.fixture
async def evse(client: Any, tenant_a: Any, sessions: Any) -> str:
    return await online_evse(client, tenant_a, sessions, "FLOW")


async def ad_hoc_price(client: Any, headers: dict[str, str], site_id: str) -> None:
    tariff = await client.post("/api/v1/tariffs", headers=headers, json={
        "code": f"ADHOC-{site_id[:8]}", "name": "Pay at the charger", "currency": "EUR",
        "valid_from": "2026-01-01T00:00:00Z", "body": {"elements": [{"price_components": [
            {"type": "ENERGY", "price": "0.50", "vat": "21", "step_size": 1}]}]}})  # fmt: skip
    assert tariff.status_code == 201, tariff.text
    assigned = await client.post("/api/v1/tariff-assignments", headers=headers, json={
        "tariff_id": tariff.json()["id"], "audience": "ad_hoc", "site_id": site_id})  # fmt: skip
    assert assigned.status_code == 201, assigned.text


def _intent(begun: Any) -> str:
    return str(begun.client_secret.split("_secret_")[0])


async def _station_starts(sessions: Any, tag: str, at: str = "2026-11-27T10:00:00+00:00") -> Any:
    """The station reports the paid start (OCPP 1.6 StartTransaction with the payment's token)."""
    from datetime import datetime

    from sqlalchemy import select

    from cpo.charging.sessions import start_transaction_16
    from cpo.sites.models import Station

    async with sessions() as db, db.begin():
        station = (await db.execute(select(Station).where(Station.identity == "FLOW-1"))).scalar_one()
        return await start_transaction_16(db, station, 1, tag, 0, datetime.fromisoformat(at))


async def test_a_webhook_twice_at_once_starts_the_station_once_and_keys_are_honoured(evse: str, sessions: Any) -> None:
    fake, commands = FakeProcessor(), Commands()
    payments = Payments(sessions, fake, commands, PaymentSettings(stripe_secret_key="x", stripe_publishable_key="y"))
    begun = await payments.begin(evse, "en", None)
    assert fake.effects == [("hold", f"auth:{begun.payment_id}")]
    intent = begun.client_secret.split("_secret_")[0]
    # payment_intent.amount_capturable_updated, delivered twice at the same moment
    held = fake.authorize(intent)
    await asyncio.gather(payments.on_hold(held), payments.on_hold(held))
    assert [name for _, name, _ in commands.sent] == ["remote_start"], "one start, however often it is said"
    async with sessions() as db:
        payment = await adhoc.by_id(db, begun.payment_id, lock=False)
        assert payment is not None and payment.status == "starting"
    # payment_intent.canceled (the processor dropped the hold): nothing is taken, the EVSE is free again
    await payments.on_hold(Hold(intent, "canceled", 5000, "EUR"))
    await payments.release(begun.payment_id, "again")  # a repeat changes nothing
    async with sessions() as db:
        payment = await adhoc.by_id(db, begun.payment_id, lock=False)
        assert payment is not None and (payment.status, payment.message) == ("cancelled", "the hold was released")
        place = await adhoc.place_of(db, evse)
        assert await adhoc.why_unavailable(db, place) is None


async def test_a_release_retried_cancels_once_and_an_outage_leaves_nothing_open(evse: str, sessions: Any) -> None:
    fake, commands = FakeProcessor(), Commands()
    payments = Payments(sessions, fake, commands, PaymentSettings(stripe_secret_key="x", stripe_publishable_key="y"))
    begun = await payments.begin(evse, "nl", "driver@example.com")
    fake.authorize(begun.client_secret.split("_secret_")[0])
    key = f"cancel:{begun.payment_id}"
    await asyncio.gather(payments.release(begun.payment_id, "driver left"), payments.release(begun.payment_id, "x"))
    assert fake.effects.count(("cancel", key)) == 1, "the same key twice: released once"
    assert all(k == key for op, k in fake.calls if op == "cancel")

    fake.down = True
    with pytest.raises(PaymentsUnavailable):
        await payments.begin(evse, "en", None)
    async with sessions() as db:
        place = await adhoc.place_of(db, evse)
        assert await adhoc.why_unavailable(db, place) is None, "a payment the processor never saw holds nothing"


async def test_a_tenant_with_its_own_account_is_paid_there_and_open_payments_finish_where_they_began(
    evse: str, sessions: Any, tenant_a: Any
) -> None:
    from cpo.roaming.sealing import Sealer
    from cpo.tenants.models import Tenant

    platform, own, commands = FakeProcessor(), FakeProcessor(), Commands()
    sealer = Sealer(b"test key")
    payments = Payments(sessions, platform, commands, PaymentSettings(stripe_secret_key="x", stripe_publishable_key="pk_p"),
                        sealer, lambda key: own if key == "sk_test_theirs" else FakeProcessor(down=True))  # fmt: skip
    before = await payments.begin(evse, "en", None)  # on the platform's account
    fake_before = before.client_secret.split("_secret_")[0]
    async with sessions() as db, db.begin():
        tenant = await db.get(Tenant, tenant_a.id)
        tenant.stripe_secret_sealed, tenant.stripe_publishable_key = sealer.seal("sk_test_theirs"), "pk_test_theirs"
    await payments.release(before.payment_id, "driver left")
    assert ("cancel", f"cancel:{before.payment_id}") in platform.effects, "finished on the account it began on"
    after = await payments.begin(evse, "en", None)
    assert after.publishable_key == "pk_test_theirs" and before.publishable_key == "pk_p"
    assert [op for op, _ in own.effects] == ["hold"] and fake_before in platform.holds
    async with sessions() as db:
        payment = await adhoc.by_id(db, after.payment_id, lock=False)
        assert payment is not None and payment.own_account


async def test_an_own_account_with_open_payments_is_kept_until_they_finish(
    client: Any, tenant_a: Any, evse: str, sessions: Any, settings: Any
) -> None:
    from cpo.roaming.sealing import sealer_for

    keys = {"secret_key": "sk_test_theirs", "publishable_key": "pk_test_theirs", "webhook_secret": "whsec_theirs"}
    assert (await client.put("/api/v1/payment-account", headers=tenant_a.admin, json=keys)).status_code == 200
    own = FakeProcessor()
    payments = Payments(sessions, FakeProcessor(), Commands(), PaymentSettings(stripe_secret_key="x"),
                        sealer_for(settings), lambda key: own if key == "sk_test_theirs" else FakeProcessor(down=True))  # fmt: skip
    begun = await payments.begin(evse, "en", None)
    assert [op for op, _ in own.effects] == ["hold"]
    removed = await client.delete("/api/v1/payment-account", headers=tenant_a.admin)
    assert removed.status_code == 409 and "still open" in removed.json()["detail"], removed.text
    other = {**keys, "secret_key": "sk_test_another"}
    assert (await client.put("/api/v1/payment-account", headers=tenant_a.admin, json=other)).status_code == 409
    again = await client.put(
        "/api/v1/payment-account", headers=tenant_a.admin, json={**keys, "webhook_secret": "whsec_new"}
    )
    assert again.status_code == 200, "the same account's keys may be set again (a rolled webhook secret)"
    await payments.release(begun.payment_id, "driver left")
    assert ("cancel", f"cancel:{begun.payment_id}") in own.effects, "released on the account it began on"
    assert (await client.delete("/api/v1/payment-account", headers=tenant_a.admin)).status_code == 204


async def test_an_event_is_a_cue_looked_up_on_the_payments_own_account(evse: str, sessions: Any, tenant_a: Any) -> None:
    fake, commands = FakeProcessor(), Commands()
    payments = Payments(sessions, fake, commands, PaymentSettings(stripe_secret_key="x", stripe_publishable_key="y"))
    begun = await payments.begin(evse, "en", None)
    intent = _intent(begun)
    await payments.on_event(intent, None)  # "the hold is on the card", but the processor says it is not
    assert commands.sent == [] and ("get", intent) in fake.calls
    fake.authorize(intent)
    asked = len(fake.calls)
    await payments.on_event(intent, tenant_a.id)  # signed by a tenant's own account: not this payment's account
    assert commands.sent == [] and len(fake.calls) == asked, "ignored without even asking"
    await payments.on_event(intent, None)
    assert [name for _, name, _ in commands.sent] == ["remote_start"]


async def test_a_declined_card_leaves_the_page_open_for_another_card(evse: str, sessions: Any) -> None:
    fake, commands = FakeProcessor(), Commands()
    payments = Payments(sessions, fake, commands, PaymentSettings(stripe_secret_key="x", stripe_publishable_key="y"))
    begun = await payments.begin(evse, "en", None)
    intent = _intent(begun)
    fake.holds[intent] = Hold(intent, "requires_payment_method", 5000, "EUR", error="Your card was declined.")
    await payments.on_event(intent, None)
    async with sessions() as db:
        payment = await adhoc.by_id(db, begun.payment_id, lock=False)
        assert payment is not None and (payment.status, payment.message) == ("created", "Your card was declined.")
    fake.authorize(intent)  # a second card, on the same page
    await payments.on_event(intent, None)
    assert [name for _, name, _ in commands.sent] == ["remote_start"]


async def test_a_release_never_undoes_a_session_that_began_and_a_hold_gone_mid_session_stops_it(
    evse: str, sessions: Any
) -> None:
    fake, commands = FakeProcessor(), Commands()
    payments = Payments(sessions, fake, commands, PaymentSettings(stripe_secret_key="x", stripe_publishable_key="y"))
    begun = await payments.begin(evse, "en", None)
    intent = _intent(begun)
    await payments.on_hold(fake.authorize(intent))
    async with sessions() as db:
        payment = await adhoc.by_id(db, begun.payment_id, lock=False)
        assert payment is not None
        tag = payment.id_tag
    started = await _station_starts(sessions, tag)
    assert started.authorization.accepted
    await payments.release(begun.payment_id, "no car was plugged in")  # the sweeper, a moment too late
    assert not any(op == "cancel" for op, _ in fake.effects), "a running session keeps its hold"
    again = await _station_starts(sessions, tag, "2026-11-27T10:05:00+00:00")
    assert not again.authorization.accepted, "one payment pays for one session"
    # the processor drops the hold during the session (its dashboard, an expiry): the session is stopped
    fake.holds[intent] = Hold(intent, "canceled", 5000, "EUR")
    await payments.on_event(intent, None)
    assert [name for _, name, _ in commands.sent] == ["remote_start", "remote_stop"]
    async with sessions() as db:
        payment = await adhoc.by_id(db, begun.payment_id, lock=False)
        assert payment is not None and payment.status == "cancelled"
        assert payment.message == "the hold on the card was released during the session"
    await payments.sweep()  # the station has not stopped yet: asked again, until it does
    assert [name for _, name, _ in commands.sent] == ["remote_start", "remote_stop", "remote_stop"]


async def test_the_sweeper_goes_on_past_a_payment_it_cannot_settle_and_restarts_a_lost_start(
    evse: str, sessions: Any
) -> None:
    from datetime import timedelta

    from cpo.db.base import utcnow

    fake, commands = FakeProcessor(), Commands()
    settings = PaymentSettings(stripe_secret_key="x", stripe_publishable_key="y", plug_in_seconds=600)
    payments = Payments(sessions, fake, commands, settings)
    stuck = await payments.begin(evse, "en", None)
    fake.down = True
    with pytest.raises(ProcessorUnavailable):  # closed at once, its release left to the sweeper
        await payments.release(stuck.payment_id, "driver left")
    fake.down = False
    fake.holds.pop(_intent(stuck))  # and the processor keeps failing on it
    # a payment authorized just before a restart: its start was never asked for
    other = await payments.begin(evse, "en", None)
    fake.authorize(_intent(other))
    async with sessions() as db, db.begin():
        payment = await adhoc.by_id(db, other.payment_id)
        assert payment is not None
        payment.status, payment.authorized_at = "authorized", utcnow() - timedelta(minutes=3)
    await payments.sweep()  # the first payment's release fails again: the second still starts
    assert [name for _, name, _ in commands.sent] == ["remote_start"]
    async with sessions() as db:
        payment = await adhoc.by_id(db, stuck.payment_id, lock=False)
        assert payment is not None and (payment.status, payment.settled_at) == ("cancelled", None)


async def test_no_price_no_paid_start(client: Any, tenant_a: Any, sessions: Any) -> None:
    assert await online_evse(client, tenant_a, sessions, "NOPRICE", priced=False) == "BE*CPO*ENOPRICE1"
    fake = FakeProcessor()
    payments = Payments(sessions, fake, Commands(), PaymentSettings(stripe_secret_key="x", stripe_publishable_key="y"))
    with pytest.raises(Conflict, match="no_price"):
        await payments.begin("BE*CPO*ENOPRICE1", "en", None)
    assert fake.effects == [], "nothing held"


async def test_a_refund_asked_twice_is_made_once_and_one_the_processor_missed_is_sent_again(
    evse: str, sessions: Any, tenant_a: Any
) -> None:
    fake, commands = FakeProcessor(), Commands()
    payments = Payments(sessions, fake, commands, PaymentSettings(stripe_secret_key="x", stripe_publishable_key="y"))
    begun = await payments.begin(evse, "en", None)
    intent = _intent(begun)
    fake.holds[intent] = Hold(intent, "succeeded", 5000, "EUR", captured=1000)
    await payments.on_hold(fake.holds[intent])
    request = uuid.uuid4()
    results = await asyncio.gather(payments.refund(tenant_a.id, begun.payment_id, 300, request),
                                   payments.refund(tenant_a.id, begun.payment_id, 300, request))  # fmt: skip
    assert sorted(results) in (["done", "done"], ["done", "pending"])
    assert [op for op, _ in fake.effects].count("refund") == 1, "a form sent twice refunds once"
    with pytest.raises(InvalidInput):
        await payments.refund(tenant_a.id, begun.payment_id, 701, uuid.uuid4())
    fake.down = True
    later = uuid.uuid4()
    with pytest.raises(ProcessorUnavailable):
        await payments.refund(tenant_a.id, begun.payment_id, 200, later)
    with pytest.raises(InvalidInput):  # 300 back, 200 on its way back: 500 is left
        await payments.refund(tenant_a.id, begun.payment_id, 501, uuid.uuid4())
    fake.down = False
    await payments.on_refunds(intent, None, 500)  # the processor's own total (charge.refunded) comes first
    async with sessions() as db, db.begin():
        refund = await db.get(AdHocRefund, later)
        assert refund is not None and refund.status == "pending"
        refund.created_at = refund.created_at - timedelta(minutes=5)
    await payments.sweep()
    async with sessions() as db:
        payment = await adhoc.by_id(db, begun.payment_id, lock=False)
        assert payment is not None and payment.refunded_minor == 500, "counted once, not reported plus done"
    assert [k for op, k in fake.effects if op == "refund"] == [f"refund:{begun.payment_id}:{request}",
                                                                f"refund:{begun.payment_id}:{later}"]  # fmt: skip


async def test_a_capture_refused_for_good_releases_the_hold_and_is_flagged(
    evse: str, sessions: Any, tenant_a: Any
) -> None:
    from cpo.db.base import utcnow

    fake, commands = FakeProcessor(), Commands()
    payments = Payments(sessions, fake, commands, PaymentSettings(stripe_secret_key="x", stripe_publishable_key="y"))
    begun = await payments.begin(evse, "en", None)
    await payments.on_hold(fake.authorize(_intent(begun)))
    session_id = uuid.uuid4()
    async with sessions() as db, db.begin():  # the session ended costing 0.30
        payment = await adhoc.by_id(db, begun.payment_id)
        assert payment is not None
        payment.status, payment.session_id, payment.final_minor, payment.ended_at = "ended", session_id, 30, utcnow()
    fake.capture_refusal = "Amount must be at least EUR 0.50"
    await payments.settle(session_id)
    assert ("cancel", f"cancel:{begun.payment_id}") in fake.effects, "not left on the card for a week"
    async with sessions() as db:
        payment = await adhoc.by_id(db, begun.payment_id, lock=False)
        assert payment is not None and payment.status == "cancelled" and payment.settled_at is not None
        assert payment.message is not None and "at least EUR 0.50" in payment.message
        report = await adhoc.day_report(db, tenant_a.id, payment.created_at.date())
        assert any(p.id == payment.id and why.startswith("session cost not taken") for p, why in report.flags)


async def test_a_tenant_sets_its_own_hold(client: Any, tenant_a: Any, evse: str, sessions: Any) -> None:
    assert (await client.patch("/api/v1/tenants/current", headers=tenant_a.admin,
                               json={"payment_hold_minor": 50})).status_code == 400  # fmt: skip
    made = await client.patch("/api/v1/tenants/current", headers=tenant_a.admin, json={"payment_hold_minor": 2500})
    assert made.status_code == 200 and made.json()["payment_hold_minor"] == 2500
    fake = FakeProcessor()
    payments = Payments(sessions, fake, Commands(), PaymentSettings(stripe_secret_key="x", stripe_publishable_key="y"))
    begun = await payments.begin(evse, "en", None)
    assert begun.amount_minor == 2500 and fake.holds[_intent(begun)].amount == 2500
    assert await payments.hold_for(tenant_a.id) == 2500, "and the pay page says so"

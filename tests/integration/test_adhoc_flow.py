"""The payment flow against a processor of our own (``tests/fake_processor.py``) for what localstripe cannot
do: webhooks it never sends (``amount_capturable_updated``, ``canceled``), the same event twice at once,
idempotency keys honoured, and an outage. Real PostgreSQL; the station side is a recording command port."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy.dialects.postgresql import insert

from cpo.adhoc import service as adhoc
from cpo.adhoc.processor import Hold
from cpo.charging.commands import CommandResult
from cpo.charging.models import StationPresence
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


@pytest.fixture
async def evse(client: Any, tenant_a: Any, sessions: Any) -> str:
    site = await create_site(client, tenant_a.admin)
    station = await create_station(client, tenant_a.admin, site["id"], "FLOW-1")
    made = await client.post(f"/api/v1/stations/{station['id']}/evses", headers=tenant_a.admin,
                             json={"ocpp_evse_id": 1, "public": True, "evse_id": "BE*CPO*EFLOW1"})  # fmt: skip
    assert made.status_code == 201
    async with sessions() as db, db.begin():
        await db.execute(insert(StationPresence).values(station_id=uuid.UUID(station["id"]), tenant_id=tenant_a.id,
                                                        online=True))  # fmt: skip
    return "BE*CPO*EFLOW1"


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

"""A driver pays by card at a public EVSE and charges: a real ``cpo serve``, localstripe as the card processor
(a separate server, its signed webhooks included) and the ``ocpp`` package's charge point as the station."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from ocpp.v16 import call

from tests.integration.ocpp_support import Server, connect, start_server
from tests.integration.test_access_ocpp import eventually
from tests.stripe_support import PUBLISHABLE_KEY, SECRET_KEY, WEBHOOK_SECRET, LocalStripe, serve_localstripe, signed


@pytest.fixture(scope="module")
def localstripe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStripe]:
    with serve_localstripe(tmp_path_factory.mktemp("localstripe") / "log") as running:
        yield running


class Mailbox:
    """An SMTP server (aiosmtpd, from PyPI) that keeps what it is sent."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture(scope="module")
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    from aiosmtpd.controller import Controller

    from tests.platform import free_port

    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


@pytest.fixture(scope="module")
def server(
    module_db_url: str, tmp_path_factory: pytest.TempPathFactory, localstripe: LocalStripe,
    mailbox: tuple[Mailbox, int],
) -> Iterator[Server]:  # fmt: skip
    running = start_server(
        tmp_path_factory.mktemp("adhoc"), module_db_url, CPO_OUTBOX_POLL_SECONDS="0.5",
        CPO_STRIPE_SECRET_KEY=SECRET_KEY, CPO_STRIPE_PUBLISHABLE_KEY=PUBLISHABLE_KEY,
        CPO_STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET, CPO_STRIPE_API_BASE=localstripe.url, CPO_PAYMENT_SWEEP_SECONDS="1",
        CPO_PAYMENT_PLUG_IN_SECONDS="8", CPO_SMTP_URL=f"smtp://127.0.0.1:{mailbox[1]}",
        CPO_MAIL_FROM="receipts@cpo.example.com", CPO_PAYMENT_STARTS_PER_ADDRESS="1000",
        CPO_PAYMENT_STARTS_PER_EVSE="1000",
    )  # fmt: skip
    localstripe.send_webhooks_to(f"{running.url}/payments/stripe/webhook", "platform")
    yield running
    assert running.platform.stop() == 0


SITE = {"name": "Visitor car park", "address": "Stationsplein 1", "city": "Utrecht", "country": "NLD",
        "latitude": 52.089, "longitude": 5.110, "time_zone": "Europe/Amsterdam"}  # fmt: skip


async def paid_evse(server: Server, number: int, price: str = "0.50") -> tuple[dict[str, Any], str]:
    """A station with one public EVSE, and an ad-hoc tariff of ``price``/kWh + 21% VAT at its site."""
    async with server.api() as api:
        site = (await api.post("/api/v1/sites", json=SITE | {"name": f"Car park {number}"})).json()
        station = (await api.post("/api/v1/stations", json={"site_id": site["id"], "identity": f"PAY-{number}",
                                                              "password": "station-password-99"})).json()  # fmt: skip
        evse_id = f"NL*CPO*EPAY{number}"
        evse = await api.post(f"/api/v1/stations/{station['id']}/evses", json={
            "ocpp_evse_id": 1, "public": True, "evse_id": evse_id})  # fmt: skip
        await api.post(f"/api/v1/evses/{evse.json()['id']}/connectors", json={
            "standard": "IEC_62196_T2", "format": "SOCKET", "power_type": "AC_3_PHASE", "max_voltage": 400,
            "max_amperage": 32})  # fmt: skip
        tariff = (await api.post("/api/v1/tariffs", json={
            "code": f"ADHOC-{number}", "name": "Pay at the charger", "currency": "EUR",
            "valid_from": "2026-01-01T00:00:00Z", "body": {"elements": [{"price_components": [
                {"type": "ENERGY", "price": price, "vat": "21", "step_size": 1}]}]}})).json()  # fmt: skip
        assigned = await api.post("/api/v1/tariff-assignments", json={
            "tariff_id": tariff["id"], "audience": "ad_hoc", "site_id": site["id"]})  # fmt: skip
        assert assigned.status_code == 201, assigned.text
    return station | {"password": "station-password-99"}, evse_id


def intent_of(client_secret: str) -> str:
    return client_secret.split("_secret_")[0]


async def status_of(http: httpx.AsyncClient, link: str) -> dict[str, Any]:
    answer = await http.get(f"{link}/status")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def test_pay_by_card_charge_and_the_cost_is_taken_from_the_hold(
    server: Server, localstripe: LocalStripe, mailbox: tuple[Mailbox, int], module_db_url: str
) -> None:
    station, evse_id = await paid_evse(server, 1)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        page = await http.get(f"/pay/{evse_id}", headers={"Accept-Language": "nl-NL,nl;q=0.9"})
        assert page.status_code == 200 and 'data-reason="offline"' in page.text, "said before anything is paid"
        assert "Laadpunt" in page.text and "€\xa00,605 per kWh" in page.text, page.text
        assert "Energy" in (await http.get(f"/pay/{evse_id}?lang=en")).text
        assert (await http.get("/pay/NL*CPO*ENOPE")).status_code == 404
        assert (await http.get(f"/pay/{evse_id}/availability")).json() == {"available": False, "reason": "offline"}
        assert (await http.get("/pay/NL*CPO*ENOPE/availability")).status_code == 404
        offline = await http.post(f"/pay/{evse_id}/start", json={"locale": "nl"})
        assert offline.status_code == 409 and offline.json()["reason"] == "offline", "refused before paying"
        unknown = await http.post("/pay/NL*CPO*ENOPE/start", json={})
        assert unknown.status_code == 404
        bad = await http.post(f"/pay/{evse_id}/start", json={"email": "not-an-address"})
        assert bad.status_code == 400 and "email" in bad.text

        async with connect(server, station) as cp:
            await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
            await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available"))
            ready = (await http.get(f"/pay/{evse_id}?lang=en")).text
            assert 'data-reason=""' in ready and "€50.00" in ready and 'id="pay-form" class="pay-form" >' in ready
            free = (await http.get(f"/pay/{evse_id}/availability")).json()
            assert free == {"available": True, "reason": None}
            begun = await http.post(f"/pay/{evse_id.replace('*', '')}/start",
                                    json={"locale": "en", "email": "driver@example.com"})  # fmt: skip
            assert begun.status_code == 201, begun.text
            started = begun.json()
            assert started["hold"] == "50.00" and started["currency"] == "EUR" and started["client_secret"]
            link = started["link"]
            assert (await status_of(http, link))["status"] == "created"
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as elsewhere:  # another browser
                again = await elsewhere.post(f"/pay/{evse_id}/start", json={})
            assert again.status_code == 201, "a payment not yet on the card does not hold the EVSE"

            localstripe.pay(intent_of(started["client_secret"]))  # the driver's card, confirmed in the browser

            async def asked_to_start() -> bool:
                return (await status_of(http, link))["status"] == "starting"

            await eventually(asked_to_start, 20)
            (_, remote), *_ = [r for r in cp.received if r[0] == "RemoteStartTransaction"]
            assert remote["id_tag"].startswith("PAY") and remote["connector_id"] == 1
            busy = await http.post(f"/pay/{evse_id}/start", json={})
            assert busy.status_code == 409 and busy.json()["reason"] == "occupied"

            accepted = await cp.call(call.StartTransaction(connector_id=1, id_tag=remote["id_tag"], meter_start=0,
                                                           timestamp="2026-11-27T10:00:00Z"))  # fmt: skip
            assert accepted.id_tag_info["status"] == "Accepted"
            assert (await status_of(http, link))["status"] == "charging"
            elsewhere = await cp.call(call.StartTransaction(connector_id=2, id_tag=remote["id_tag"], meter_start=0,
                                                            timestamp="2026-11-27T10:00:05Z"))  # fmt: skip
            assert elsewhere.id_tag_info["status"] != "Accepted", "the payment's token is good at its own EVSE only"
            stopped = await cp.call(call.StopTransaction(meter_stop=10_000, timestamp="2026-11-27T11:00:00Z",
                                                         transaction_id=accepted.transaction_id, id_tag=remote["id_tag"]))  # fmt: skip
            assert stopped.id_tag_info["status"] == "Accepted", "its token, shown at its own stop"

            async def captured() -> bool:
                return (await status_of(http, link))["status"] == "captured"

            await eventually(captured, 30)
        done = await status_of(http, link)
        # 10 kWh x 0.50 + 21% VAT = 6.05, taken from the 50.00 held
        assert (done["final"], done["captured"], done["energy_kwh"]) == ("6.05", "6.05", "10.000")
        async with server.api() as api:
            cdrs = (await api.get("/api/v1/cdrs")).json()
        listed = cdrs["items"] if isinstance(cdrs, dict) else cdrs
        (cdr,) = [c for c in listed if c["payment_ref"] == intent_of(started["client_secret"])]
        assert cdr["session_class"] == "ad_hoc" and cdr["payer"] == "driver", "a CDR that names its card payment"
        async with server.api() as api:
            details = "CPO Example BV, Stationsplein 1, 3511 ED Utrecht, VAT NL123456789B01, +31 30 000 0000"
            assert (await api.patch("/api/v1/tenants/current", json={"operator_details": details})).status_code == 200
        live = await http.get(link)
        assert live.status_code == 200 and 'data-status="captured"' in live.text and "/receipt" in live.text
        receipt = await http.get(f"{link}/receipt")
        assert receipt.status_code == 200
        for shown in ("€5.00", "€1.05", "€6.05", "10.000 kWh", evse_id, "VAT NL123456789B01"):
            assert shown in receipt.text, shown
        assert '<dt>Energy (excl. VAT)</dt><dd id="part-energy">€5.00</dd>' in receipt.text, receipt.text
        assert '<dt>VAT 21%</dt><dd id="vat">€1.05</dd>' in receipt.text and 'id="part-time"' not in receipt.text
        # the site's wall clock (Europe/Amsterdam, UTC+1 in November), not UTC
        assert '<dd id="started">27 Nov 2026, 11:00:00</dd>' in receipt.text and "UTC" not in receipt.text
        pdf = await http.get(f"{link}/receipt.pdf")
        assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF-1.4")
        import pypdfium2

        text = pypdfium2.PdfDocument(pdf.content)[0].get_textpage().get_text_range()  # read by pdfium
        assert (
            "€6.05" in text and "VAT 21%" in text and "€1.05" in text and evse_id in text and "NL123456789B01" in text
        ), text
        assert (await http.get("/pay/p/not-a-payment/receipt")).status_code == 404
        tampered = await http.post(f"/pay/{evse_id}/start", json={"amount": 1})
        assert tampered.status_code == 400, "the amount held is ours to set"

    # the receipt went to the address the driver gave, as a PDF; then the address is forgotten
    await eventually(lambda: any("driver@example.com" in m.rcpt_tos for m in mailbox[0].messages), 20)
    import email
    from email import policy

    envelope = next(m for m in mailbox[0].messages if "driver@example.com" in m.rcpt_tos)
    mail = email.message_from_bytes(envelope.content, policy=policy.default)
    assert mail["Subject"] == "Receipt €6.05" and mail["From"] == "receipts@cpo.example.com"
    (attachment,) = [part for part in mail.iter_attachments() if part.get_content_type() == "application/pdf"]
    import pypdfium2

    text = pypdfium2.PdfDocument(attachment.get_content())[0].get_textpage().get_text_range()
    assert "€6.05" in text
    import asyncpg

    from cpo.db.engine import plain_url

    connection = await asyncpg.connect(plain_url(module_db_url))
    try:
        row = await connection.fetchrow("SELECT email, receipt_sent_at FROM adhoc_payments WHERE id = $1",
                                        uuid.UUID(started["payment"]))  # fmt: skip
    finally:
        await connection.close()
    assert row["email"] is None and row["receipt_sent_at"] is not None
    assert len([m for m in mailbox[0].messages if "driver@example.com" in m.rcpt_tos]) == 1, "sent once"


async def test_a_start_with_nothing_delivered_releases_the_hold(server: Server, localstripe: LocalStripe) -> None:
    station, evse_id = await paid_evse(server, 2)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http, connect(server, station) as cp:
        await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        started = (await http.post(f"/pay/{evse_id}/start", json={})).json()
        localstripe.pay(intent_of(started["client_secret"]))
        await eventually(lambda: any(r[0] == "RemoteStartTransaction" for r in cp.received), 20)
        tag = next(r[1]["id_tag"] for r in cp.received if r[0] == "RemoteStartTransaction")
        await eventually(lambda: _is(http, started["link"], "starting"), 10)
        accepted = await cp.call(call.StartTransaction(connector_id=1, id_tag=tag, meter_start=500,
                                                       timestamp="2026-11-27T12:00:00Z"))  # fmt: skip
        await cp.call(call.StopTransaction(meter_stop=500, timestamp="2026-11-27T12:01:00Z",
                                           transaction_id=accepted.transaction_id))  # fmt: skip
        await eventually(lambda: _is(http, started["link"], "cancelled"), 30)
        done = await status_of(http, started["link"])
        assert done["captured"] == "0.00" and done["message"] == "nothing was delivered"
        intent = localstripe.client().v1.payment_intents.retrieve(intent_of(started["client_secret"]))
        assert intent.status == "canceled"


async def _is(http: httpx.AsyncClient, link: str, status: str) -> bool:
    return (await status_of(http, link))["status"] == status


async def reach(http: httpx.AsyncClient, link: str, status: str, seconds: float) -> None:
    await eventually(lambda: _is(http, link, status), seconds)


async def test_a_declined_card_is_said_and_nothing_starts(server: Server, localstripe: LocalStripe) -> None:
    import stripe

    station, evse_id = await paid_evse(server, 3)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http, connect(server, station) as cp:
        await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        started = (await http.post(f"/pay/{evse_id}/start", json={})).json()
        with pytest.raises(stripe.CardError):
            localstripe.pay(intent_of(started["client_secret"]), "pm_card_chargeCustomerFail")

        async def said() -> bool:
            return "declined" in ((await status_of(http, started["link"]))["message"] or "").lower()

        await eventually(said, 20)
        assert (await status_of(http, started["link"]))["status"] == "created", "the driver may give another card"
        await asyncio.sleep(1)
        assert not any(r[0] == "RemoteStartTransaction" for r in cp.received)
        # (a second card on the same intent: localstripe refuses to confirm it again; see test_adhoc_flow)


async def test_webhooks_must_be_signed_and_count_once(server: Server) -> None:
    event = {"id": "evt_test_once", "type": "payment_intent.canceled", "data": {"object": {
        "id": "pi_nobody", "status": "canceled", "amount": 100, "currency": "eur"}}}  # fmt: skip
    body = json.dumps(event).encode()
    good = signed(body, WEBHOOK_SECRET)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        unsigned = await http.post("/payments/stripe/webhook", content=body)
        assert unsigned.status_code == 400
        forged = await http.post("/payments/stripe/webhook", content=body, headers=signed(body, "whsec_forger"))
        assert forged.status_code == 400
        first = await http.post("/payments/stripe/webhook", content=body, headers=good)
        assert first.status_code == 200 and first.json() == {"received": True}
        replay = await http.post("/payments/stripe/webhook", content=body, headers=good)
        assert replay.json() == {"received": True, "duplicate": True}


async def test_a_signed_event_that_the_processor_contradicts_starts_nothing(
    server: Server, localstripe: LocalStripe
) -> None:
    station, evse_id = await paid_evse(server, 12)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http, connect(server, station) as cp:
        await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        started = (await http.post(f"/pay/{evse_id}/start", json={})).json()
        intent = intent_of(started["client_secret"])
        # "the hold is on the card" (signed with the platform's secret), for a card never given
        body = json.dumps({"id": "evt_not_so", "type": "payment_intent.amount_capturable_updated", "data": {
            "object": {"id": intent, "status": "requires_capture", "amount": 5000, "currency": "eur"}}}).encode()  # fmt: skip
        answer = await http.post("/payments/stripe/webhook", content=body, headers=signed(body, WEBHOOK_SECRET))
        assert answer.status_code == 200
        await asyncio.sleep(1)
        assert (await status_of(http, started["link"]))["status"] == "created"
        assert not any(r[0] == "RemoteStartTransaction" for r in cp.received), "the processor was asked, and said no"


async def test_without_processor_keys_the_pay_page_says_card_payment_is_not_set_up(client: Any, tenant_a: Any) -> None:
    from tests.integration.test_api_sites import create_site, create_station

    site = await create_site(client, tenant_a.admin)
    station = await create_station(client, tenant_a.admin, site["id"], "NOKEYS-1")
    made = await client.post(f"/api/v1/stations/{station['id']}/evses", headers=tenant_a.admin,
                             json={"ocpp_evse_id": 1, "public": True, "evse_id": "BE*CPO*ENOKEYS1"})  # fmt: skip
    assert made.status_code == 201, made.text
    page = await client.get("/pay/BE*CPO*ENOKEYS1?lang=en")
    assert page.status_code == 200 and 'id="not-set-up"' in page.text and 'id="pay-form"' not in page.text
    refused = await client.post("/pay/BE*CPO*ENOKEYS1/start", json={})
    assert refused.status_code in (409, 503), refused.text
    internal = await client.post(f"/api/v1/stations/{station['id']}/evses", headers=tenant_a.admin,
                                 json={"ocpp_evse_id": 2, "public": False, "evse_id": "BE*CPO*EINTERNAL1"})  # fmt: skip
    assert internal.status_code == 201
    assert (await client.get("/pay/BE*CPO*EINTERNAL1")).status_code == 404, "internal chargers have no pay page"


async def test_qr_codes_per_evse_and_a_printable_sticker_sheet_per_site(
    client: Any, sessions: Any, ui_admin: str, settings: Any
) -> None:
    from payments.qr import modules
    from tests.conftest import make_tenancy
    from tests.integration.test_api_sites import create_site, create_station
    from tests.integration.test_ui import sign_in

    home = await make_tenancy(sessions, "default")
    site = await create_site(client, home.admin, name="Depot")
    station = await create_station(client, home.admin, site["id"], "QR-1")
    evses = []
    for number in range(1, 9):  # seven public ones: two pages of stickers
        made = await client.post(f"/api/v1/stations/{station['id']}/evses", headers=home.admin, json={
            "ocpp_evse_id": number, "public": number != 8, "evse_id": f"BE*CPO*EQR{number}"})  # fmt: skip
        evses.append(made.json())
    tariff = (await client.post("/api/v1/tariffs", headers=home.admin, json={
        "code": "QR", "name": "QR", "currency": "EUR", "valid_from": "2026-01-01T00:00:00Z",
        "body": {"elements": [{"price_components": [{"type": "ENERGY", "price": "0.40", "vat": "21",
                                                     "step_size": 1}]}]}})).json()  # fmt: skip
    await client.post("/api/v1/tariff-assignments", headers=home.admin,
                      json={"tariff_id": tariff["id"], "audience": "public"})  # fmt: skip
    assert (await client.get(f"/ui/evses/{evses[0]['id']}/qr.svg", follow_redirects=False)).status_code in (302, 303)
    await sign_in(client, ui_admin)
    svg = await client.get(f"/ui/evses/{evses[0]['id']}/qr.svg")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    expected = modules(f"{settings.base_url}/pay/BE*CPO*EQR1")
    dark = svg.text.count("h1v1h-1z")
    assert dark == sum(map(sum, expected)), "the code carries the EVSE's pay page URL"
    internal = await client.get(f"/ui/evses/{evses[7]['id']}/qr.svg")
    assert internal.status_code == 409
    sheet = await client.get(f"/ui/sites/{site['id']}/qr-stickers.pdf")
    assert sheet.status_code == 200 and sheet.content.startswith(b"%PDF-1.4")
    assert b"/Count 2" in sheet.content, "four stickers a page"
    for number in range(1, 8):
        assert f"(BE*CPO*EQR{number})".encode() in sheet.content
    assert b"(BE*CPO*EQR8)" not in sheet.content, "internal EVSEs get no sticker"
    # an independent reader (zxing-cpp) on the printed pages (rendered by pdfium) finds every pay page's URL
    import pypdfium2
    import zxingcpp

    document = pypdfium2.PdfDocument(sheet.content)
    found = sorted(code.text for page in document for code in zxingcpp.read_barcodes(page.render(scale=2).to_pil()))
    assert found == [f"{settings.base_url}/pay/BE*CPO*EQR{n}" for n in range(1, 8)]
    sheet_text = pypdfium2.PdfDocument(sheet.content)[0].get_textpage().get_text_range().replace("\xa0", " ")
    for shown in (
        "Scan, betaal met je kaart en laad.",
        "€ 0,484 per kWh",
        "Scannez, payez par carte et rechargez.",
        "0,484 € par kWh",
        "Scan, pay by card and charge.",
        "€0.484 per kWh",
        "All prices include VAT.",
    ):
        assert shown in sheet_text, (shown, sheet_text)


async def paid_and_started(http: httpx.AsyncClient, localstripe: LocalStripe, cp: Any, evse_id: str) -> dict[str, Any]:
    """Pay at the EVSE and wait for the station to be asked to start."""
    started = dict((await http.post(f"/pay/{evse_id}/start", json={})).json())
    localstripe.pay(intent_of(started["client_secret"]))
    await eventually(lambda: any(r[0] == "RemoteStartTransaction" for r in cp.received), 20)
    return started


async def charging_on_card(
    http: httpx.AsyncClient, localstripe: LocalStripe, cp: Any, evse_id: str, at: str
) -> tuple[dict[str, Any], str, Any]:
    """Paid at the EVSE, and the station's session started at ``at`` with the payment's token: the payment,
    the token and the station's StartTransaction answer."""
    started = await paid_and_started(http, localstripe, cp, evse_id)
    tag = next(r[1]["id_tag"] for r in cp.received if r[0] == "RemoteStartTransaction")
    await reach(http, started["link"], "starting", 10)
    begun = await cp.call(call.StartTransaction(connector_id=1, id_tag=tag, meter_start=0, timestamp=at))
    return started, tag, begun


async def test_a_station_that_refuses_or_never_answers_the_start_releases_the_hold(
    server: Server, localstripe: LocalStripe
) -> None:
    for number, refusal, said in ((4, {"remote_start_status": "Rejected"}, "the station refused to start"),
                                  (5, {"remote_start_delay": 8.0}, "the station did not answer")):  # fmt: skip
        station, evse_id = await paid_evse(server, number)
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http, connect(server, station) as cp:
            for name, value in refusal.items():
                setattr(cp, name, value)
            await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
            started = await paid_and_started(http, localstripe, cp, evse_id)
            await reach(http, started["link"], "cancelled", 30)
            done = await status_of(http, started["link"])
            assert done["message"] == said and done["captured"] == "0.00"
            intent = localstripe.client().v1.payment_intents.retrieve(intent_of(started["client_secret"]))
            assert intent.status == "canceled", "the hold is given back"


async def test_a_car_never_plugged_in_releases_the_hold(server: Server, localstripe: LocalStripe) -> None:
    station, evse_id = await paid_evse(server, 6)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http, connect(server, station) as cp:
        await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        started = await paid_and_started(http, localstripe, cp, evse_id)
        await eventually(lambda: _is(http, started["link"], "starting"), 10)
        await eventually(lambda: _is(http, started["link"], "cancelled"), 30)  # CPO_PAYMENT_PLUG_IN_SECONDS=8
        assert (await status_of(http, started["link"]))["message"] == "no car was plugged in"
        tag = next(r[1]["id_tag"] for r in cp.received if r[0] == "RemoteStartTransaction")
        late = await cp.call(call.StartTransaction(connector_id=1, id_tag=tag, meter_start=0,
                                                   timestamp="2026-11-27T13:00:00Z"))  # fmt: skip
        assert late.id_tag_info["status"] != "Accepted", "a released payment starts nothing"


async def test_the_session_stops_before_the_cost_passes_the_hold(
    server: Server, localstripe: LocalStripe, module_db_url: str
) -> None:
    station, evse_id = await paid_evse(server, 7, price="10.00")  # 12.10 a kWh incl. VAT against 50.00 held
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http, connect(server, station) as cp:
        await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        started, _, begun = await charging_on_card(http, localstripe, cp, evse_id, "2026-11-27T14:00:00Z")
        await cp.call(call.MeterValues(connector_id=1, transaction_id=begun.transaction_id, meter_value=[{
            "timestamp": "2026-11-27T14:20:00Z", "sampled_value": [
                {"value": "4100", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}]))  # fmt: skip
        await eventually(lambda: any(r[0] == "RemoteStopTransaction" for r in cp.received), 20)
        status = await status_of(http, started["link"])
        assert status["message"] == "stopped: the cost reached the amount held on the card"
        assert float(status["cost_so_far"]) >= 49.0
        await cp.call(call.StopTransaction(meter_stop=4_150, timestamp="2026-11-27T14:21:00Z",
                                           transaction_id=begun.transaction_id))  # fmt: skip
        await eventually(lambda: _is(http, started["link"], "captured"), 30)
        done = await status_of(http, started["link"])
        assert done["captured"] == "50.00", "never more than was held"


async def test_a_session_is_stopped_and_settled_before_its_hold_expires(
    server: Server, localstripe: LocalStripe, module_db_url: str
) -> None:
    import asyncpg

    from cpo.db.engine import plain_url

    station, evse_id = await paid_evse(server, 8)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http, connect(server, station) as cp:
        await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        started, tag, begun = await charging_on_card(http, localstripe, cp, evse_id, "2026-11-27T15:00:00Z")
        await reach(http, started["link"], "charging", 10)
        assert not any(r[0] == "RemoteStopTransaction" for r in cp.received)
        # days later (as far as the card is concerned): the processor would drop the hold within the hour
        connection = await asyncpg.connect(plain_url(module_db_url))
        try:
            await connection.execute("UPDATE adhoc_payments SET hold_expires_at = now() + interval '1 hour' "
                                     "WHERE id_tag = $1", tag)  # fmt: skip
        finally:
            await connection.close()
        await eventually(lambda: any(r[0] == "RemoteStopTransaction" for r in cp.received), 20)
        assert (await status_of(http, started["link"]))[
            "message"
        ] == "stopped: the hold on the card was about to expire"
        await cp.call(call.StopTransaction(meter_stop=2_000, timestamp="2026-11-27T15:30:00Z",
                                           transaction_id=begun.transaction_id))  # fmt: skip
        await reach(http, started["link"], "captured", 30)
        assert (await status_of(http, started["link"]))["captured"] == "1.21"


async def test_a_server_restart_mid_session_loses_nothing(
    server: Server, localstripe: LocalStripe, module_db_url: str, tmp_path: Any
) -> None:
    from tests.platform import Platform

    station, evse_id = await paid_evse(server, 9)
    node = start_server(tmp_path / "node", module_db_url, CPO_OUTBOX_POLL_SECONDS="0.5",
                        CPO_STRIPE_SECRET_KEY=SECRET_KEY, CPO_STRIPE_PUBLISHABLE_KEY=PUBLISHABLE_KEY,
                        CPO_STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET, CPO_STRIPE_API_BASE=localstripe.url,
                        CPO_PAYMENT_SWEEP_SECONDS="1")  # fmt: skip
    async with httpx.AsyncClient(base_url=node.url, timeout=30) as http:
        async with connect(node, station) as cp:
            await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
            started, _, begun = await charging_on_card(http, localstripe, cp, evse_id, "2026-11-27T16:00:00Z")
            await reach(http, started["link"], "charging", 10)
        assert node.platform.stop() == 0  # the node goes down with the session running
        again = Platform(node.platform.env, tmp_path / "node-again.log")
        again.wait_ready()
        try:
            async with connect(node, station) as cp:  # the station comes back and ends its session
                await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
                await cp.call(call.StopTransaction(meter_stop=4_000, timestamp="2026-11-27T16:40:00Z",
                                                   transaction_id=begun.transaction_id))  # fmt: skip
                await reach(http, started["link"], "captured", 30)
            assert (await status_of(http, started["link"]))["captured"] == "2.42"  # 4 kWh x 0.605
        finally:
            assert again.stop() == 0


async def test_the_day_reconciles_and_a_payment_is_refunded_in_part_then_in_full(
    server: Server, localstripe: LocalStripe
) -> None:
    import re

    from tests.conftest import ADMIN_PASSWORD
    from tests.integration.test_ui import sign_in
    from tests.platform import run_cpo

    station, evse_id = await paid_evse(server, 10)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http, connect(server, station) as cp:
        await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        started, _, begun = await charging_on_card(http, localstripe, cp, evse_id, "2026-11-27T17:00:00Z")
        await cp.call(call.StopTransaction(meter_stop=5_000, timestamp="2026-11-27T17:30:00Z",
                                           transaction_id=begun.transaction_id))  # fmt: skip
        await reach(http, started["link"], "captured", 30)
    made = run_cpo(["admin", "create-user", "--email", "finance@example.com", "--role", "tenant_admin"],
                   server.platform.env | {"CPO_ADMIN_PASSWORD": ADMIN_PASSWORD})  # fmt: skip
    assert made.returncode == 0, made.stderr
    payment_id = started["payment"]
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as ui:
        csrf = await sign_in(ui, "finance@example.com")  # type: ignore[arg-type]
        page = await ui.get("/ui/payments")
        assert page.status_code == 200 and f'id="payment-{payment_id}"' in page.text
        assert re.search(r'id="captured-total">\d+\.\d\d<', page.text) and "3.03" in page.text  # 5 kWh x 0.605
        assert started["client_secret"].split("_secret_")[0] in page.text, "each payment shows its PaymentIntent"

        async def refund(amount: str, request: str | None = None) -> httpx.Response:
            form = {"amount": amount, "csrf": csrf, "request": request or str(uuid.uuid4())}
            return await ui.post(f"/ui/payments/{payment_id}/refund", data=form)

        assert 'name="request" value="' in page.text, "each form carries its own request id"
        assert (
            await ui.post(f"/ui/payments/{payment_id}/refund", data={"amount": "1.00", "csrf": csrf})
        ).status_code == 400

        assert (await refund("9.99")).status_code == 400, "never more than was taken"
        assert (await refund("abc")).status_code == 400
        once = str(uuid.uuid4())
        part = await refund("1,00", once)
        assert part.status_code == 200 and 'id="refunded"' in part.text
        assert (await refund("1,00", once)).status_code == 200, "the same form sent again"
        assert (await status_of(ui, started["link"]))["refunded"] == "1.00", "...refunds once"
        rest = await refund("2.03")
        assert rest.status_code == 200
        assert (await status_of(ui, started["link"]))["refunded"] == "3.03"
        assert (await refund("0.01")).status_code == 400, "nothing left to refund"
    intent = started["client_secret"].split("_secret_")[0]
    ours = [r.amount for r in localstripe.client().v1.refunds.list({"payment_intent": intent}).data
            if r.amount in (100, 203)]  # fmt: skip
    assert sorted(ours) == [100, 203], "both refunds reached the processor, each once"


async def test_a_tenant_sets_its_own_account_and_its_webhooks_are_checked_with_its_own_secret(server: Server) -> None:
    async with server.api() as api:
        assert (await api.get("/api/v1/payment-account")).json()["own_account"] is False
        mixed = await api.put("/api/v1/payment-account", json={"secret_key": "sk_live_abc", "publishable_key":
                              "pk_test_abc", "webhook_secret": "whsec_abc"})  # fmt: skip
        assert mixed.status_code == 400 and "modes" in mixed.text
        malformed = await api.put("/api/v1/payment-account", json={"secret_key": "hunter2", "publishable_key":
                                  "pk_test_abc", "webhook_secret": "whsec_abc"})  # fmt: skip
        assert malformed.status_code == 400 and "secret_key" in malformed.text
        made = await api.put("/api/v1/payment-account", json={"secret_key": "sk_test_tenantsown", "publishable_key":
                             "pk_test_tenantsown", "webhook_secret": "whsec_tenantsown"})  # fmt: skip
        assert made.status_code == 200, made.text
        account = made.json()
        assert account["own_account"] and account["mode"] == "test" and "sk_test" not in made.text
        hook = "/payments/" + account["webhook_url"].split("/payments/", 1)[1]
        event = json.dumps({"id": "evt_tenant_1", "type": "payment_intent.canceled", "data": {"object": {
            "id": "pi_elsewhere", "status": "canceled", "amount": 100, "currency": "eur"}}}).encode()  # fmt: skip
        async with httpx.AsyncClient(base_url=server.url) as http:
            assert (await http.post(hook, content=event, headers=signed(event, WEBHOOK_SECRET))).status_code == 400
            assert (await http.post(hook, content=event, headers=signed(event, "whsec_tenantsown"))).status_code == 200
        assert (await api.delete("/api/v1/payment-account")).status_code == 204
        assert (await api.get("/api/v1/payment-account")).json()["own_account"] is False

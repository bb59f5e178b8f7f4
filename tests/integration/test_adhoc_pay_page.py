"""The pay page as a visitor meets it: in their language (Dutch, French, English), with money written their
way, every price the tariff charges, a friendly page for a code that leads nowhere, short messages instead of
raw codes or the processor's words, and no new hold for every tap. The platform in process over real
PostgreSQL; the card processor is our own fake behind the same port as Stripe."""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert

from cpo.adhoc.models import AdHocPayment
from cpo.charging.models import ConnectorState
from cpo.settings import PaymentSettings, Settings
from cpo.sites.models import Station
from tests import conftest
from tests.fake_processor import FakeProcessor
from tests.integration.test_adhoc_flow import online_evse
from tests.integration.test_api_sites import create_site, create_station

NL, FR, EN = {"Accept-Language": "nl-BE,nl;q=0.9"}, {"Accept-Language": "fr-BE,fr;q=0.9,en;q=0.5"}, {}


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    """Card payment set up (the processor is swapped for the fake once the app runs)."""
    pay = PaymentSettings(stripe_secret_key="sk_test_x", stripe_publishable_key="pk_test_x", starts_per_evse=3,
                          starts_per_address=5)  # fmt: skip
    return replace(conftest.test_settings(db_url, tmp_path), payments=pay)


@pytest.fixture
def fake(app: Any, client: Any) -> FakeProcessor:
    processor = FakeProcessor()
    app.state.payments.processor = processor
    return processor


async def _busy(sessions: Any, identity: str) -> None:
    """The station says its connector is charging someone's car."""
    async with sessions() as db, db.begin():
        station = (await db.execute(select(Station).where(Station.identity == identity))).scalar_one()
        await db.execute(insert(ConnectorState).values(
            station_id=station.id, tenant_id=station.tenant_id, ocpp_evse_id=1, ocpp_connector_id=1,
            status="Charging", status_at=datetime.now(UTC)))  # fmt: skip


async def test_a_busy_evse_is_refused_in_the_visitors_language_not_with_a_raw_code(
    client: Any, tenant_a: Any, sessions: Any, fake: FakeProcessor
) -> None:
    evse = await online_evse(client, tenant_a, sessions, "BUSY")
    await _busy(sessions, "BUSY-1")
    page = await client.get(f"/pay/{evse}", headers=NL)
    assert 'data-reason="occupied"' in page.text and "Dit laadpunt is bezet" in page.text
    assert '<form id="pay-form" class="pay-form" hidden>' in page.text
    for locale, said in (("nl", "Dit laadpunt is bezet"), ("fr", "Ce point de recharge est occupé"),
                         ("en", "This charging point is in use")):  # fmt: skip
        refused = await client.post(f"/pay/{evse}/start", json={"locale": locale})
        assert refused.status_code == 409 and refused.json()["reason"] == "occupied"
        assert refused.json()["detail"].startswith(said), refused.text
    assert fake.calls == [], "nothing asked of the processor"


async def test_a_processor_failure_is_said_shortly_in_the_visitors_language_and_logged(
    client: Any, tenant_a: Any, sessions: Any, fake: FakeProcessor, caplog: pytest.LogCaptureFixture
) -> None:
    evse = await online_evse(client, tenant_a, sessions, "DOWN")
    fake.down = True
    caplog.set_level(logging.INFO, logger="cpo.payments")
    failed = await client.post(f"/pay/{evse}/start", json={"locale": "nl"})
    assert failed.status_code == 503 and failed.json()["reason"] == "unavailable"
    assert failed.json()["detail"] == "Betalen met je kaart lukt nu even niet. Er is niets afgeschreven. " \
        "Probeer het over enkele minuten opnieuw."  # fmt: skip
    assert "processor is down" not in failed.text, "the processor's own words stay out of the page"
    logged = [r for r in caplog.records if r.name == "cpo.payments" and r.levelno >= logging.ERROR]
    assert logged and "the processor is down" in str(logged[0].__dict__.get("error"))


async def test_an_unknown_internal_or_home_evse_gets_a_friendly_404_page_in_the_visitors_language(
    client: Any, tenant_a: Any, sessions: Any, fake: FakeProcessor
) -> None:
    site = await create_site(client, tenant_a.admin)
    station = await create_station(client, tenant_a.admin, site["id"], "PRIV-1")
    made = await client.post(f"/api/v1/stations/{station['id']}/evses", headers=tenant_a.admin,
                             json={"ocpp_evse_id": 1, "public": False, "evse_id": "BE*CPO*EPRIV1"})  # fmt: skip
    assert made.status_code == 201
    # an older home site that still has a public EVSE (made before the rule): its page is not shown either
    home = await online_evse(client, tenant_a, sessions, "HOME")
    person = (await client.post("/api/v1/people", headers=tenant_a.admin,
                                json={"name": "Noor", "email": "noor@example.com"})).json()  # fmt: skip
    async with sessions() as db, db.begin():
        from cpo.sites.models import Evse, Site

        evse = (await db.execute(select(Evse).where(Evse.evse_id == home))).scalar_one()
        site_id = (await db.execute(select(Station.site_id).where(Station.id == evse.station_id))).scalar_one()
        (await db.get(Site, site_id)).home_person_id = uuid.UUID(person["id"])  # type: ignore[union-attr]
    for code in ("BE*CPO*ENOPE1", "BE*CPO*EPRIV1", home):
        for headers, title in ((NL, "Dit laadpunt kan hier niet betaald worden"),
                               (FR, "Ce point de recharge ne peut pas être payé ici"),
                               (EN, "This charging point cannot be paid here")):  # fmt: skip
            page = await client.get(f"/pay/{code}", headers=headers)
            assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
            assert f'<h1 id="not-found">{title}</h1>' in page.text, (code, page.text)
    assert "Kortrijksesteenweg" not in (await client.get(f"/pay/{home}")).text, "no home address"
    refused = await client.post(f"/pay/{home}/start", json={"locale": "fr"})
    assert refused.status_code == 404 and refused.json()["detail"] == "Ce point de recharge ne peut pas être payé ici"
    assert (await client.get("/pay/p/no-such-link", headers=NL)).status_code == 404


async def test_a_public_evse_cannot_be_at_a_home_and_a_site_with_public_evses_cannot_become_one(
    client: Any, tenant_a: Any
) -> None:
    person = (await client.post("/api/v1/people", headers=tenant_a.admin,
                                json={"name": "Noor", "email": "noor@example.com"})).json()  # fmt: skip
    from tests.conftest import SITE

    home = await create_site(client, tenant_a.admin, home_person_id=person["id"])
    station = await create_station(client, tenant_a.admin, home["id"], "AT-HOME-1")
    public = await client.post(f"/api/v1/stations/{station['id']}/evses", headers=tenant_a.admin,
                               json={"ocpp_evse_id": 1, "public": True, "evse_id": "BE*CPO*EHOME1"})  # fmt: skip
    assert public.status_code == 400 and "never public" in public.text, public.text
    private = await client.post(f"/api/v1/stations/{station['id']}/evses", headers=tenant_a.admin,
                                json={"ocpp_evse_id": 1, "public": False, "evse_id": "BE*CPO*EHOME1"})  # fmt: skip
    assert private.status_code == 201
    made_public = await client.put(f"/api/v1/evses/{private.json()['id']}", headers=tenant_a.admin,
                                   json={"ocpp_evse_id": 1, "public": True, "evse_id": "BE*CPO*EHOME1"})  # fmt: skip
    assert made_public.status_code == 400 and "never public" in made_public.text, made_public.text

    office = await create_site(client, tenant_a.admin, name="Office")
    there = await create_station(client, tenant_a.admin, office["id"], "OFFICE-1")
    assert (await client.post(f"/api/v1/stations/{there['id']}/evses", headers=tenant_a.admin,
                              json={"ocpp_evse_id": 1, "public": True, "evse_id": "BE*CPO*EOFF1"})).status_code == 201  # fmt: skip
    becomes_home = await client.put(f"/api/v1/sites/{office['id']}", headers=tenant_a.admin,
                                    json=SITE | {"name": "Office", "home_person_id": person["id"]})  # fmt: skip
    assert becomes_home.status_code == 400 and "1 public EVSE" in becomes_home.text, becomes_home.text
    moved = await client.put(f"/api/v1/stations/{there['id']}", headers=tenant_a.admin,
                             json={"site_id": home["id"], "security_profile": there["security_profile"],
                                   "registration_status": there["registration_status"]})  # fmt: skip
    assert moved.status_code == 400 and "never public" in moved.text, moved.text
    still = (await client.get(f"/api/v1/sites/{office['id']}", headers=tenant_a.admin)).json()
    assert still["home_person_id"] is None


async def test_the_same_browser_gets_its_open_payment_again_instead_of_a_new_hold(
    client: Any, tenant_a: Any, sessions: Any, fake: FakeProcessor
) -> None:
    evse = await online_evse(client, tenant_a, sessions, "AGAIN")
    first = await client.post(f"/pay/{evse}/start", json={"locale": "nl"})
    assert first.status_code == 201, first.text
    assert "pay_ref" in first.cookies and "httponly" in first.headers["set-cookie"].lower()
    again = await client.post(f"/pay/{evse}/start", json={"locale": "fr", "email": "d@example.com"})
    assert again.status_code == 200 and again.json()["reused"], again.text
    assert (again.json()["client_secret"], again.json()["link"]) == (first.json()["client_secret"],
                                                                     first.json()["link"])  # fmt: skip
    assert [op for op, _ in fake.effects] == ["hold"], "one hold at the processor"
    async with sessions() as db:
        payment = await db.get(AdHocPayment, uuid.UUID(first.json()["payment"]))
        assert payment is not None and (payment.locale, payment.email) == ("fr", "d@example.com")

    # another browser (no cookie) gets a payment of its own; so does this one once its payment is on the card
    client.cookies.clear()
    other = await client.post(f"/pay/{evse}/start", json={})
    assert other.status_code == 201 and other.json()["payment"] != first.json()["payment"]
    fake.authorize(other.json()["client_secret"].split("_secret_")[0])
    third = await client.post(f"/pay/{evse}/start", json={})
    assert third.status_code == 201 and third.json()["payment"] != other.json()["payment"], "paid: not reused"
    async with sessions() as db:
        assert await db.scalar(select(func.count()).select_from(AdHocPayment)) == 3
    await _busy(sessions, "AGAIN-1")  # someone else's car took the EVSE meanwhile: the open payment is not given
    taken = await client.post(f"/pay/{evse}/start", json={"locale": "en"})
    assert taken.status_code == 409 and taken.json()["reason"] == "occupied", taken.text


async def test_starts_are_limited_per_evse_and_per_address_with_a_429_in_the_visitors_language(
    client: Any, tenant_a: Any, sessions: Any, fake: FakeProcessor
) -> None:
    evse = await online_evse(client, tenant_a, sessions, "LIMIT")
    for _ in range(3):  # three browsers (no cookie kept): three payments, the EVSE's limit in the window
        client.cookies.clear()
        assert (await client.post(f"/pay/{evse}/start", json={})).status_code == 201
    client.cookies.clear()
    limited = await client.post(f"/pay/{evse}/start", json={"locale": "fr"})
    assert limited.status_code == 429 and limited.json()["reason"] == "too_many"
    assert limited.json()["detail"] == "Trop de tentatives. Attendez une minute et réessayez."
    assert limited.headers["retry-after"] == "60"
    other = await online_evse(client, tenant_a, sessions, "OTHER")
    client.cookies.clear()
    assert (await client.post(f"/pay/{other}/start", json={})).status_code == 201, "the fifth try of this address"
    client.cookies.clear()
    assert (await client.post(f"/pay/{other}/start", json={})).status_code == 429, "five tries per address"
    assert len([op for op, _ in fake.effects if op == "hold"]) == 4


async def test_prices_are_every_component_with_when_it_applies_in_the_visitors_money_format(
    client: Any, tenant_a: Any, sessions: Any, fake: FakeProcessor
) -> None:
    evse = await online_evse(client, tenant_a, sessions, "PRICE", priced=False)
    site_id = (await client.get("/api/v1/sites", headers=tenant_a.admin)).json()
    site_id = (site_id["items"] if isinstance(site_id, dict) else site_id)[0]["id"]
    await night_and_day_tariff(client, tenant_a.admin, site_id)
    nl = (await client.get(f"/pay/{evse}", headers=NL)).text
    assert "Beschikbaar: je kunt nu starten." in nl and "Vrij" not in nl
    for shown in (
        "Starttarief",
        "€\xa00,61 per sessie",
        "22:00\u201307:00",
        "€\xa00,351 per kWh",
        "andere momenten",
        "€\xa00,545 per kWh",
        "Parkeertijd",
        "€\xa03,63 per uur",
        "We reserveren €\xa050,00",
    ):
        assert shown in nl, shown
    fr = (await client.get(f"/pay/{evse}", headers=FR)).text
    for shown in (
        'lang="fr"',
        "Frais de démarrage",
        "0,61\xa0€ par session",
        "0,351\xa0€ par kWh",
        "autres moments",
        "Disponible",
    ):
        assert shown in fr, shown
    en = (await client.get(f"/pay/{evse}?lang=en", headers=FR)).text
    assert "€0.61 per session" in en and "€0.351 per kWh" in en and "0.6050" not in en
    assert "pay_lang=en" in (await client.get(f"/pay/{evse}?lang=en")).headers.get("set-cookie", "")


async def night_and_day_tariff(client: Any, headers: dict[str, str], site_id: str) -> None:
    """The demo's kind of tariff: a start fee, a night rate, the day rate, parking (VAT 21% on each)."""
    tariff = await client.post("/api/v1/tariffs", headers=headers, json={
        "code": "NIGHT-DAY", "name": "Night and day", "currency": "EUR", "valid_from": "2026-01-01T00:00:00Z",
        "body": {"elements": [
            {"price_components": [{"type": "FLAT", "price": "0.50", "vat": "21", "step_size": 1}]},
            {"price_components": [{"type": "ENERGY", "price": "0.29", "vat": "21", "step_size": 1}],
             "restrictions": {"start_time": "22:00", "end_time": "07:00"}},
            {"price_components": [{"type": "ENERGY", "price": "0.45", "vat": "21", "step_size": 1}]},
            {"price_components": [{"type": "PARKING_TIME", "price": "3.00", "vat": "21", "step_size": 900}]}]}})  # fmt: skip
    assert tariff.status_code == 201, tariff.text
    assigned = await client.post("/api/v1/tariff-assignments", headers=headers, json={
        "tariff_id": tariff.json()["id"], "audience": "ad_hoc", "site_id": site_id})  # fmt: skip
    assert assigned.status_code == 201, assigned.text


async def test_the_sticker_prints_every_price_the_pay_page_shows_in_dutch_french_and_english(
    client: Any, sessions: Any, ui_admin: str, artifacts: Path
) -> None:
    import pypdfium2

    from tests.conftest import make_tenancy
    from tests.integration.test_ui import sign_in

    home = await make_tenancy(sessions, "default")
    site = await create_site(client, home.admin, name="Demo site Gent")
    station = await create_station(client, home.admin, site["id"], "STICKER-1")
    made = await client.post(f"/api/v1/stations/{station['id']}/evses", headers=home.admin,
                             json={"ocpp_evse_id": 1, "public": True, "evse_id": "BE*CPO*ESTICK1"})  # fmt: skip
    assert made.status_code == 201
    await night_and_day_tariff(client, home.admin, site["id"])
    await sign_in(client, ui_admin)
    sheet = await client.get(f"/ui/sites/{site['id']}/qr-stickers.pdf")
    assert sheet.status_code == 200, sheet.text
    printed = pypdfium2.PdfDocument(sheet.content)[0]
    printed.render(scale=2).to_pil().save(artifacts / "qr-stickers.png")  # to be looked at
    text = printed.get_textpage().get_text_range().replace("\xa0", " ")
    for shown in ("Scan, betaal met je kaart en laad.", "Starttarief", "€ 0,61 per sessie", "Energie (22:00\u201307:00)",
                  "€ 0,351 per kWh", "Energie (andere momenten)", "€ 0,545 per kWh", "Parkeertijd", "€ 3,63 per uur",
                  "Alle prijzen zijn inclusief btw.",
                  "Scannez, payez par carte et rechargez.", "Frais de démarrage", "0,61 € par session",
                  "0,351 € par kWh", "Énergie (autres moments)", "3,63 € par heure",
                  "Scan, pay by card and charge.", "Start fee", "€0.61 per session", "€0.351 per kWh",
                  "Energy (other times)", "€0.545 per kWh", "€3.63 per hour"):  # fmt: skip
        assert shown in text, (shown, text)
    page = (await client.get("/pay/BE*CPO*ESTICK1", headers=NL)).text
    for line in ("€\xa00,61 per sessie", "€\xa00,351 per kWh", "€\xa00,545 per kWh", "€\xa03,63 per uur"):
        assert line in page, "the sticker says what the pay page says"


async def test_why_a_payment_stopped_is_said_in_the_drivers_words_not_the_flows_or_the_processors(
    app: Any, client: Any, tenant_a: Any, sessions: Any, fake: FakeProcessor
) -> None:
    evse = await online_evse(client, tenant_a, sessions, "WHY")
    begun = (await client.post(f"/pay/{evse}/start", json={"locale": "nl"})).json()
    intent = begun["client_secret"].split("_secret_")[0]
    from cpo.adhoc.processor import Hold
    from payments.flow import Payments
    from tests.integration.test_adhoc_flow import Commands

    payments = Payments(sessions, fake, Commands(), app.state.settings.payments)  # on the test's own loop
    fake.holds[intent] = Hold(intent, "requires_payment_method", 5000, "EUR", error="Your card was declined.")
    await payments.on_hold(fake.holds[intent])
    page = await client.get(begun["link"])
    assert "Je kaart werd niet aanvaard. Je kunt een andere kaart proberen." in page.text
    assert "Your card was declined" not in page.text
    status = (await client.get(f"{begun['link']}/status?lang=fr")).json()
    assert status["note"] == "Votre carte n'a pas été acceptée. Vous pouvez essayer une autre carte."

    await payments.release(uuid.UUID(begun["payment"]), "no car was plugged in")
    page = await client.get(begun["link"])
    assert "Er werd niet op tijd een auto aangesloten. Er is niets afgeschreven." in page.text
    assert "no car was plugged in" not in page.text and "€\xa050,00" in page.text
    assert (await client.get(f"{begun['link']}/status")).json()["note"].startswith("Er werd niet op tijd")

"""Headless Chromium walks a driver's card payment: the pay page of a public EVSE, the payment step, the live
session page while the station charges, the stop button, and the receipt.

The platform is a real ``cpo serve`` with localstripe as its card processor. The station is the ``ocpp``
package's charge point, run by the test. Stripe.js cannot load here (no internet) and localstripe's stand-in
has no Payment Element, so the page gets a small test-mode Stripe.js of ours: it mounts a placeholder and
confirms the payment with a test card, the way a driver's Payment Element would, through localstripe.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from litestar import Litestar, MediaType, Response, get
from litestar.config.cors import CORSConfig
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result

from tests.e2e.test_browser import CHROMIUM, require_chromium
from tests.platform import Platform, free_port, platform_env, run_cpo
from tests.stripe_support import PUBLISHABLE_KEY, SECRET_KEY, WEBHOOK_SECRET, LocalStripe, serve_localstripe

pytestmark = pytest.mark.browser
EVSE_ID = "NL*CPO*EWEB1"

TEST_MODE_STRIPE_JS = """
window.Stripe = function (key) {
  return {
    elements: function (options) {
      return {
        create: function () {
          return {mount: function (selector) {
            document.querySelector(selector).innerHTML = '<p data-testid="test-card">Test card 4242 4242 4242 4242</p>';
          }};
        },
        clientSecret: options.clientSecret,
      };
    },
    confirmPayment: async function (args) {
      const intent = args.elements.clientSecret.split("_secret_")[0];
      const answer = await fetch("%(helper)s/confirm?intent=" + intent, {method: "POST"});
      return answer.ok ? {paymentIntent: await answer.json()} : {error: {message: "declined"}};
    },
  };
};
"""


class Station(ChargePoint):  # type: ignore[misc]
    """Plugged in and ready: starts when asked to, charges 3 kWh, stops when asked to."""

    transaction: int | None = None
    meter = 0

    @on("RemoteStartTransaction")
    def remote_start(self, id_tag: str, **_: Any) -> Any:
        asyncio.get_running_loop().call_later(0.5, lambda: asyncio.ensure_future(self._start(id_tag)))
        return call_result.RemoteStartTransaction(status="Accepted")

    async def _start(self, id_tag: str) -> None:
        started = await self.call(call.StartTransaction(connector_id=1, id_tag=id_tag, meter_start=0,
                                                        timestamp=_now()))  # fmt: skip
        self.transaction = started.transaction_id
        await self.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Charging"))
        self.meter = 3000
        await self.call(call.MeterValues(connector_id=1, transaction_id=self.transaction, meter_value=[{
            "timestamp": _now(), "sampled_value": [
                {"value": str(self.meter), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}]))  # fmt: skip

    @on("RemoteStopTransaction")
    def remote_stop(self, transaction_id: int) -> Any:
        asyncio.get_running_loop().call_later(0.5, lambda: asyncio.ensure_future(self._stop()))
        return call_result.RemoteStopTransaction(status="Accepted")

    async def _stop(self) -> None:
        await self.call(call.StopTransaction(meter_stop=self.meter, timestamp=_now(), transaction_id=self.transaction))
        await self.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Available"))


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@contextlib.contextmanager
def in_thread(coroutine_factory: Any, stop: Any = None) -> Iterator[None]:
    """Run an asyncio task on a loop in a thread of its own (the browser test itself is synchronous); on the
    way out it is cancelled and awaited there, so it closes its connections on its own loop."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    holder: dict[str, asyncio.Task[Any]] = {}

    async def begin() -> None:
        holder["task"] = asyncio.ensure_future(coroutine_factory())

    async def end() -> None:
        if stop is not None:  # ask it to finish by itself first
            stop()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(holder["task"]), 10)
        holder["task"].cancel()
        with contextlib.suppress(BaseException):
            await holder["task"]

    asyncio.run_coroutine_threadsafe(begin(), loop).result(10)
    try:
        yield
    finally:
        asyncio.run_coroutine_threadsafe(end(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def serve_helper(localstripe: LocalStripe, port: int) -> uvicorn.Server:
    """The test-mode Stripe.js, and the confirmation it calls (a test card, confirmed at localstripe)."""

    @get("/v3/", media_type="application/javascript")
    async def stripe_js() -> str:
        return TEST_MODE_STRIPE_JS % {"helper": f"http://127.0.0.1:{port}"}

    from litestar import post

    @post("/confirm", status_code=200)
    async def confirm(intent: str) -> Response[Any]:
        confirmed = await asyncio.to_thread(localstripe.pay, intent)
        return Response({"id": confirmed.id, "status": confirmed.status}, media_type=MediaType.JSON)

    app = Litestar([stripe_js, confirm], cors_config=CORSConfig(allow_origins=["*"]))
    return uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))


@pytest.fixture(scope="module")
def paying_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Platform, str, dict[str, str]]]:
    require_chromium()
    home = tmp_path_factory.mktemp("pay-browser")
    helper_port = free_port()
    with serve_localstripe(home / "localstripe.log") as localstripe:
        helper = serve_helper(localstripe, helper_port)
        with in_thread(helper.serve, stop=lambda: setattr(helper, "should_exit", True)):
            env = platform_env(home / "var", free_port(), {
                "CPO_STRIPE_SECRET_KEY": SECRET_KEY, "CPO_STRIPE_PUBLISHABLE_KEY": PUBLISHABLE_KEY,
                "CPO_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET, "CPO_STRIPE_API_BASE": localstripe.url,
                "CPO_STRIPE_JS_URL": f"http://127.0.0.1:{helper_port}/v3/", "CPO_PAYMENT_SWEEP_SECONDS": "1",
                "CPO_OUTBOX_POLL_SECONDS": "0.5"})  # fmt: skip
            server = Platform(env, home / "serve.log")
            try:
                server.wait_ready()
                token = run_cpo(["tokens", "create", "--role", "tenant_admin"], env).stdout.strip()
                password = "browser-station-pass"
                with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as api:
                    site = api.post("/api/v1/sites", json={
                        "name": "Station square", "address": "Stationsplein 1", "city": "Utrecht", "country": "NLD",
                        "latitude": 52.089, "longitude": 5.110, "time_zone": "Europe/Amsterdam"}).json()  # fmt: skip
                    station = api.post("/api/v1/stations", json={"site_id": site["id"], "identity": "WEB-1",
                                                                 "password": password}).json()  # fmt: skip
                    evse = api.post(f"/api/v1/stations/{station['id']}/evses", json={
                        "ocpp_evse_id": 1, "public": True, "evse_id": EVSE_ID}).json()  # fmt: skip
                    api.post(f"/api/v1/evses/{evse['id']}/connectors", json={
                        "standard": "IEC_62196_T2", "format": "SOCKET", "power_type": "AC_3_PHASE",
                        "max_voltage": 400, "max_amperage": 32})  # fmt: skip
                    tariff = api.post("/api/v1/tariffs", json={
                        "code": "WEB", "name": "Pay at the charger", "currency": "EUR",
                        "valid_from": "2026-01-01T00:00:00Z", "body": {"elements": [{"price_components": [
                            {"type": "FLAT", "price": "0.50", "vat": "21", "step_size": 1},
                            {"type": "ENERGY", "price": "0.40", "vat": "21", "step_size": 1}]}]}}).json()  # fmt: skip
                    api.post("/api/v1/tariff-assignments", json={"tariff_id": tariff["id"], "audience": "ad_hoc"})
                yield server, password, {"identity": "WEB-1"}
            finally:
                assert server.stop() == 0, (home / "serve.log").read_text()[-3000:]


def test_a_driver_pays_by_card_watches_the_session_stops_it_and_gets_a_receipt(
    paying_platform: tuple[Platform, str, dict[str, str]], artifacts: Path
) -> None:
    import base64

    import websockets
    from playwright.sync_api import expect, sync_playwright

    server, password, _ = paying_platform

    async def run_station() -> None:
        auth = base64.b64encode(f"WEB-1:{password}".encode()).decode()
        url = server.url.replace("http://", "ws://") + "/ocpp/WEB-1"
        async with websockets.connect(url, subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                                      additional_headers={"Authorization": f"Basic {auth}"}) as ws:  # fmt: skip
            cp = Station("WEB-1", ws)
            runner = asyncio.create_task(cp.start())
            await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
            await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Preparing"))
            await runner

    with in_thread(run_station), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox", "--disable-gpu"])  # fmt: skip
        try:
            page = browser.new_page(locale="nl-NL", viewport={"width": 390, "height": 844})  # a phone
            page.goto(f"{server.url}/pay/{EVSE_ID}")  # the page follows the EVSE: free once the station is up
            expect(page.locator("#available")).to_be_visible(timeout=20_000)
            expect(page.locator("#pay-form")).to_be_visible()
            expect(page.locator("h1")).to_have_text("Hier laden, betalen met je kaart")
            expect(page.locator(".pay-prices")).to_contain_text("€ 0,61 per sessie")
            expect(page.locator(".pay-prices")).to_contain_text("€ 0,484 per kWh")
            expect(page.locator("main")).to_contain_text("€ 50,00")
            page.screenshot(path=str(artifacts / "pay-page-nl.png"), full_page=True)

            page.click("text=EN")
            expect(page.locator("h1")).to_have_text("Charge here, pay by card")
            page.fill("input[name=email]", "driver@example.com")
            page.click("#pay-start")
            expect(page.locator("[data-testid=test-card]")).to_be_visible()
            page.screenshot(path=str(artifacts / "pay-step-en.png"), full_page=True)
            page.click("#pay-confirm")

            expect(page).to_have_url(re.compile(r"/pay/p/[A-Za-z0-9_-]+$"), timeout=15_000)
            expect(page.locator("#state")).to_have_attribute("data-status", "charging", timeout=30_000)
            expect(page.locator("#energy")).to_have_text("3.000 kWh", timeout=15_000)
            expect(page.locator("#cost")).to_contain_text("€2.06")  # 0.605 start + 3 x 0.484
            page.screenshot(path=str(artifacts / "pay-session-en.png"), full_page=True)
            page.click("#stop")
            expect(page.locator("#state")).to_have_attribute("data-status", "captured", timeout=30_000)
            page.click("#receipt")
            expect(page.locator("h1")).to_have_text("Receipt")
            expect(page.locator("#total")).to_have_text("€2.06")
            expect(page.locator("#charged")).to_have_text("€2.06")
            expect(page.locator("#receipt-facts")).to_contain_text(EVSE_ID)
            page.screenshot(path=str(artifacts / "pay-receipt-en.png"), full_page=True)
        finally:
            browser.close()


LANGUAGES = (("nl", "nl-BE"), ("fr", "fr-BE"), ("en", "en-GB"))
SCREENS = (("desktop", {"width": 1280, "height": 800}), ("phone", {"width": 390, "height": 844}))
SAID = {  # what a visitor reads, per language: no raw codes, no English on a Dutch page
    "nl": {"busy": "Dit laadpunt is bezet. Probeer een ander laadpunt.", "free": "Beschikbaar: je kunt nu starten.",
           "gone": "Dit laadpunt kan hier niet betaald worden", "down": "Betalen met je kaart lukt nu even niet.",
           "prices": ("€ 0,61 per sessie", "22:00\u201307:00", "€ 0,351 per kWh", "andere momenten", "€ 3,63 per uur"),
           "total": "Totaal incl. btw", "started": "2026"},
    "fr": {"busy": "Ce point de recharge est occupé. Essayez-en un autre.",
           "free": "Disponible : vous pouvez démarrer maintenant.",
           "gone": "Ce point de recharge ne peut pas être payé ici",
           "down": "Le paiement par carte n'est pas disponible pour le moment.",
           "prices": ("0,61 € par session", "22:00\u201307:00", "0,351 € par kWh", "autres moments", "3,63 € par heure"),
           "total": "Total TVA comprise", "started": "2026"},
    "en": {"busy": "This charging point is in use. Please try another one.", "free": "Available: you can start now.",
           "gone": "This charging point cannot be paid here", "down": "Card payment is not available right now.",
           "prices": ("€0.61 per session", "22:00\u201307:00", "€0.351 per kWh", "other times", "€3.63 per hour"),
           "total": "Total incl. VAT", "started": "2026"},
}  # fmt: skip
NIGHT_AND_DAY = {"elements": [
    {"price_components": [{"type": "FLAT", "price": "0.50", "vat": "21", "step_size": 1}]},
    {"price_components": [{"type": "ENERGY", "price": "0.29", "vat": "21", "step_size": 1}],
     "restrictions": {"start_time": "22:00", "end_time": "07:00"}},
    {"price_components": [{"type": "ENERGY", "price": "0.45", "vat": "21", "step_size": 1}]},
    {"price_components": [{"type": "PARKING_TIME", "price": "3.00", "vat": "21", "step_size": 900}]}]}  # fmt: skip


def _stations(server: Platform, token: str, stations: dict[str, str], tariff: dict[str, Any] | None) -> None:
    """A site with one station per identity in ``stations`` (identity -> its public EVSE ID); ``tariff``: the
    site's own ad-hoc tariff."""
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as api:
        site = api.post("/api/v1/sites", json={
            "name": "Korenmarkt", "address": "Korenmarkt 1", "city": "Gent", "country": "BEL", "latitude": 51.054,
            "longitude": 3.721, "time_zone": "Europe/Brussels"}).json()  # fmt: skip
        for identity, evse_id in stations.items():
            station = api.post("/api/v1/stations", json={"site_id": site["id"], "identity": identity,
                                                         "password": "browser-station-pass"}).json()  # fmt: skip
            api.post(f"/api/v1/stations/{station['id']}/evses", json={"ocpp_evse_id": 1, "public": True,
                                                                       "evse_id": evse_id})  # fmt: skip
        if tariff is not None:
            made = api.post("/api/v1/tariffs", json={"code": f"ND-{site['id'][:6]}", "name": "Night and day",
                                                     "currency": "EUR", "valid_from": "2026-01-01T00:00:00Z",
                                                     "body": tariff}).json()  # fmt: skip
            assigned = api.post("/api/v1/tariff-assignments", json={"tariff_id": made["id"], "audience": "ad_hoc",
                                                                    "site_id": site["id"]})  # fmt: skip
            assert assigned.status_code == 201, assigned.text


def _running(server: Platform, statuses: dict[str, str]) -> Any:
    """The stations (identity -> the status their connector reports) connected until the test ends; a
    station asked to start charges 3 kWh and stops when asked."""
    import base64

    import websockets

    async def one(identity: str, status: str) -> None:
        auth = base64.b64encode(f"{identity}:browser-station-pass".encode()).decode()
        url = server.url.replace("http://", "ws://") + f"/ocpp/{identity}"
        async with websockets.connect(url, subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                                      additional_headers={"Authorization": f"Basic {auth}"}) as ws:  # fmt: skip
            cp = Station(identity, ws)
            runner = asyncio.create_task(cp.start())
            await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
            await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status=status))
            await runner

    async def all_of() -> None:
        await asyncio.gather(*(one(identity, status) for identity, status in statuses.items()))

    return in_thread(all_of)


@pytest.fixture(scope="module")
def processor_down(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """A platform whose card processor cannot be reached (nothing listens where it is said to be)."""
    require_chromium()
    home = tmp_path_factory.mktemp("pay-down")
    env = platform_env(home / "var", free_port(), {
        "CPO_STRIPE_SECRET_KEY": SECRET_KEY, "CPO_STRIPE_PUBLISHABLE_KEY": PUBLISHABLE_KEY,
        "CPO_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET, "CPO_STRIPE_API_BASE": f"http://127.0.0.1:{free_port()}",
        "CPO_STRIPE_JS_URL": "http://127.0.0.1:9/v3/"})  # fmt: skip
    server = Platform(env, home / "serve.log")
    try:
        server.wait_ready()
        token = run_cpo(["tokens", "create", "--role", "tenant_admin"], env).stdout.strip()
        _stations(server, token, {"DOWN-1": "NL*CPO*EDOWN1"}, NIGHT_AND_DAY)
        yield server
    finally:
        assert server.stop() == 0, (home / "serve.log").read_text()[-3000:]


def test_the_pay_page_speaks_the_visitors_language_hides_the_form_when_busy_and_says_what_went_wrong(
    paying_platform: tuple[Platform, str, dict[str, str]], processor_down: Platform, artifacts: Path
) -> None:
    """Free, busy, unknown, processor down and the receipt, in Dutch, French and English, on a desktop and a
    phone; every screen is kept in ``artifacts/`` to be looked at."""
    from playwright.sync_api import expect, sync_playwright

    server, _, _ = paying_platform
    token = run_cpo(["tokens", "create", "--role", "tenant_admin"], server.env).stdout.strip()
    _stations(server, token, {"LOOK-FREE": "NL*CPO*ELOOKFREE", "LOOK-BUSY": "NL*CPO*ELOOKBUSY"}, NIGHT_AND_DAY)
    down = {"DOWN-1": "Available"}
    with _running(server, {"LOOK-FREE": "Preparing", "LOOK-BUSY": "Charging"}), _running(processor_down, down), \
            sync_playwright() as playwright:  # fmt: skip
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox", "--disable-gpu"])  # fmt: skip
        try:
            receipt = _pay_and_stop(browser, server, "NL*CPO*ELOOKFREE")
            for lang, locale in LANGUAGES:
                said = SAID[lang]
                for screen, viewport in SCREENS:
                    context = browser.new_context(locale=locale, viewport=viewport)  # type: ignore[arg-type]
                    page = context.new_page()
                    shot = artifacts / f"pay-{{}}-{lang}-{screen}.png"

                    page.goto(f"{server.url}/pay/NL*CPO*ELOOKFREE")
                    expect(page.locator("#available")).to_have_text(said["free"], timeout=20_000)
                    expect(page.locator("#pay-form")).to_be_visible()
                    for price in said["prices"]:
                        expect(page.locator(".pay-prices")).to_contain_text(price)
                    page.screenshot(path=str(shot).format("free"), full_page=True)

                    page.goto(f"{server.url}/pay/NL*CPO*ELOOKBUSY")
                    expect(page.locator("#unavailable")).to_have_text(said["busy"], timeout=20_000)
                    expect(page.locator("#pay-form")).to_be_hidden()
                    expect(page.locator("#pay-start")).to_be_hidden()
                    page.screenshot(path=str(shot).format("busy"), full_page=True)

                    answer = page.goto(f"{server.url}/pay/NL*CPO*ENOSUCH")
                    assert answer is not None and answer.status == 404
                    expect(page.locator("h1")).to_have_text(said["gone"])
                    page.screenshot(path=str(shot).format("unknown"), full_page=True)

                    page.goto(f"{server.url}{receipt}?lang={lang}")
                    expect(page.locator("#receipt-facts")).to_contain_text(said["total"])
                    expect(page.locator("#started")).to_contain_text(said["started"])
                    expect(page.locator("main")).not_to_contain_text("UTC")
                    page.screenshot(path=str(shot).format("receipt"), full_page=True)

                    page.goto(f"{processor_down.url}/pay/NL*CPO*EDOWN1")
                    expect(page.locator("#available")).to_be_visible(timeout=20_000)
                    page.click("#pay-start")
                    expect(page.locator("#pay-error")).to_contain_text(said["down"], timeout=30_000)
                    expect(page.locator("#pay-error")).not_to_contain_text("127.0.0.1")
                    page.screenshot(path=str(shot).format("processor-down"), full_page=True)
                    context.close()
        finally:
            browser.close()


def _pay_and_stop(browser: Any, server: Platform, evse_id: str) -> str:
    """A paid session of 3 kWh at ``evse_id``, stopped by the driver and settled: its receipt's path."""
    from playwright.sync_api import expect

    page = browser.new_page(locale="nl-BE", viewport={"width": 390, "height": 844})
    page.goto(f"{server.url}/pay/{evse_id}")
    expect(page.locator("#available")).to_be_visible(timeout=20_000)
    page.click("#pay-start")
    page.click("#pay-confirm")
    expect(page.locator("#state")).to_have_attribute("data-status", "charging", timeout=30_000)
    expect(page.locator("#energy")).to_have_text("3,000 kWh", timeout=15_000)
    page.click("#stop")
    expect(page.locator("#state")).to_have_attribute("data-status", "captured", timeout=30_000)
    path = str(page.url).split("127.0.0.1", 1)[1].split("/", 1)[1]
    page.close()
    return "/" + path + "/receipt"

"""Headless Chromium drives the real UI of a running platform, in English and in Dutch."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.platform import Platform, free_port, platform_env, run_cpo

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
EMAIL, PASSWORD = "browser@example.com", "browser passphrase"


def require_chromium() -> str:
    """Debian's Chromium: CI must have it (the tests fail there without it); elsewhere they are skipped."""
    if not CHROMIUM:
        if os.environ.get("CI"):
            pytest.fail("CI must run the browser tests: install Debian's chromium package")
        pytest.skip("no Chromium installed (apt-get install chromium); browser tests skipped locally")
    return CHROMIUM


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    require_chromium()
    home = tmp_path_factory.mktemp("browser")
    env = platform_env(home / "var", free_port())
    server = Platform(env, home / "serve.log", args=["--demo", "--demo-stations", "3"])
    try:
        server.wait_ready()
        created = run_cpo(["admin", "create-user", "--email", EMAIL, "--name", "Bo Browser", "--password-stdin"], env,
                          stdin=PASSWORD + "\n")  # fmt: skip
        assert created.returncode == 0, created.stderr
        yield server
    finally:
        # With stations connected and reconnecting, SIGTERM must still end the node, cleanly.
        assert server.stop() == 0, (home / "serve.log").read_text()[-3000:]


@pytest.fixture(scope="module")
def browser(platform: Platform) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )  # fmt: skip
        yield browser
        browser.close()


def sign_in(page: Any, platform: Platform) -> None:
    page.goto(platform.url + "/ui/login")
    page.fill("input[name=email]", EMAIL)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def test_sign_in_create_site_and_station_and_see_them_in_both_languages(
    platform: Platform, browser: object, artifacts: Path
) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    page = browser.new_page(locale="en-GB")
    page.goto(platform.url + "/")
    expect(page).to_have_url(re.compile(r"/ui/login\?next="))
    page.fill("input[name=email]", EMAIL)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_contain_text("Welcome, Bo Browser")

    page.click("nav >> text=Sites")
    page.click("text=New site")
    for name, value in {"name": "Browser Plaza", "address": "Veldstraat 10", "city": "Gent", "country": "BEL",
                        "latitude": "51.0500", "longitude": "3.7200"}.items():  # fmt: skip
        page.fill(f"input[name={name}]", value)
    page.click("button.primary")
    expect(page.locator("h1")).to_have_text("Browser Plaza")
    page.click("text=New station")
    page.fill("input[name=identity]", "PLAZA-01")
    page.fill("input[name=vendor]", "Alfen")
    page.click("button.primary")
    expect(page.locator("[data-testid=station-password]")).not_to_be_empty()
    expect(page.locator("[data-testid=ocpp-url]")).to_contain_text("/ocpp/PLAZA-01")
    page.screenshot(path=str(artifacts / "station-created-en.png"), full_page=True)

    page.click("nav >> text=Stations")
    expect(page.locator("table")).to_contain_text("PLAZA-01")
    expect(page.locator("table")).to_contain_text("Browser Plaza")
    page.screenshot(path=str(artifacts / "stations-en.png"), full_page=True)

    page.click(".lang >> text=NL")
    expect(page.locator("h1")).to_have_text("Laadstations")
    expect(page.locator("table")).to_contain_text("PLAZA-01")
    expect(page.locator("thead")).to_contain_text("Registratie")
    page.click("nav >> text=Locaties")
    expect(page.locator("table")).to_contain_text("Browser Plaza")
    expect(page.locator("a.button")).to_have_text("Nieuwe locatie")
    page.screenshot(path=str(artifacts / "sites-nl.png"), full_page=True)
    page.close()


def test_a_person_with_a_badge_and_office_hours_then_blocked_in_both_languages(
    platform: Platform, browser: object, artifacts: Path
) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    page = browser.new_page(locale="en-GB")
    sign_in(page, platform)
    page.click("nav >> text=People")
    page.click("text=New person")
    page.fill("input[name=name]", "Fien Verhaeghe")
    page.fill("input[name=email]", "fien@example.com")
    page.select_option("select[name=kind]", "employee")
    page.click("button.primary")
    expect(page.locator("h1")).to_have_text("Fien Verhaeghe")
    page.fill("input[name=uid]", "04:aa:bb:cc")
    page.click("text=Add a badge >> nth=-1")
    expect(page.locator("table").first).to_contain_text("04AABBCC")
    page.fill("input[name=name] >> nth=-1", "Office hours")
    page.fill("textarea[name=windows]", "mon-fri 07:00-19:00")
    page.click("text=Add an access rule >> nth=-1")
    expect(page.locator("main")).to_contain_text("mon-fri 07:00-19:00")
    page.click("button[value=block]")
    expect(page.locator("#person-status")).to_have_text("Blocked")
    page.screenshot(path=str(artifacts / "person-en.png"), full_page=True)

    page.click(".lang >> text=NL")
    expect(page.locator("#person-status")).to_have_text("Geblokkeerd")
    expect(page.locator("main")).to_contain_text("Toegangsregels")
    page.click("nav >> text=Auditlog")
    expect(page.locator("table")).to_contain_text("people")
    page.screenshot(path=str(artifacts / "audit-nl.png"), full_page=True)
    page.close()


def test_settings_tokens_accounts_and_a_people_import_in_the_browser(
    platform: Platform, browser: object, artifacts: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    page = browser.new_page(locale="nl-BE")
    sign_in(page, platform)
    page.click(".lang >> text=NL")
    page.click("nav >> text=Instellingen")
    expect(page.locator("h1")).to_have_text("Instellingen")
    page.click("#tokens summary")
    page.fill("#tokens input[name=name]", "HR-koppeling")
    page.select_option("#tokens select[name=role]", "scim")
    page.click("#tokens button.primary")
    expect(page.locator("#new-token code")).to_contain_text("cpo_")
    expect(page.locator("#tokens table")).to_contain_text("HR-systeem (SCIM)")
    page.click("#accounts summary")
    page.fill("#accounts input[name=name]", "Fien Financiën")
    page.fill("#accounts input[name=email]", "fien.finance@example.com")
    page.fill("#accounts input[name=password]", "een lang wachtwoord")
    page.select_option("#accounts select[name=role]", "finance")
    page.click("#accounts button.primary")
    expect(page.locator("#accounts table")).to_contain_text("fien.finance@example.com")
    page.screenshot(path=str(artifacts / "settings-nl.png"), full_page=True)

    csv = tmp_path / "hr.csv"
    csv.write_text("email,name,department\nkoen@example.com,Koen Claes,Onderhoud\n", encoding="utf-8")
    page.goto(platform.url + "/ui/people/import")
    page.set_input_files("input[name=file]", str(csv))
    page.click("text=Controleren")
    expect(page.locator("#import-report")).to_contain_text("Nieuw: 1")
    page.click("text=Deze wijzigingen doorvoeren")
    expect(page.locator("#import-report")).to_contain_text("Geïmporteerd")
    page.click("nav >> text=Personen")
    expect(page.locator("table")).to_contain_text("Koen Claes")
    page.close()


def test_the_tariff_editor_previews_the_price_as_the_owner_types(
    platform: Platform, browser: object, artifacts: Path
) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    page = browser.new_page(locale="en-GB")
    sign_in(page, platform)
    page.goto(platform.url + "/ui/tariffs/new")
    page.fill("input[name=name]", "Visitors")
    page.fill("input[name=code]", "VISIT")
    page.fill("input[name=vat]", "21")
    page.fill("input[name=energy_price]", "0.50")
    page.fill("input[name=preview_kwh]", "20")
    page.fill("input[name=preview_minutes]", "60")
    # 20 kWh x 0.50 = 10.00 excl., 12.10 incl. VAT, shown without submitting
    expect(page.locator("#preview-total")).to_contain_text("EUR 12.10 incl. VAT (10.00 excl.)")
    page.fill("input[name=start_fee]", "1")
    expect(page.locator("#preview-total")).to_contain_text("EUR 13.31 incl. VAT (11.00 excl.)")
    page.screenshot(path=str(artifacts / "tariff-editor-en.png"), full_page=True)
    page.click("button.primary >> text=Create")
    expect(page.locator("h1")).to_have_text("Visitors")
    expect(page.locator("main")).to_contain_text("In force")
    page.close()


def test_usable_on_a_phone(platform: Platform, browser: object, artifacts: Path) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = phone.new_page()
    sign_in(page, platform)
    menu = page.locator("nav.menu")
    expect(menu).to_be_hidden()
    page.click("label.menu-button")
    expect(menu).to_be_visible()
    page.click("nav >> text=Stations")
    expect(page.locator("h1")).to_be_visible()
    # nothing wider than the screen: tables scroll inside their own box
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"page is {width}px wide on a 390px screen"
    page.screenshot(path=str(artifacts / "stations-phone.png"), full_page=True)
    phone.close()


def test_the_demo_shows_cars_charging_without_a_page_reload(
    platform: Platform, browser: object, artifacts: Path
) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    page = browser.new_page()
    sign_in(page, platform)
    page.goto(platform.url + "/ui/sessions")
    page.evaluate("window.loadedOnce = true")  # gone if the page reloads
    rows = page.locator("[data-testid=active-session]")
    expect(rows.first).to_be_visible(timeout=75_000)
    first_energy = rows.first.locator("[data-testid=energy]").inner_text()
    expect(rows.first.locator("[data-testid=energy]")).not_to_have_text(first_energy, timeout=40_000)
    assert page.evaluate("window.loadedOnce") is True, "the figures changed in place, without a reload"
    expect(rows.first.locator("[data-testid=cost]")).to_contain_text("EUR")  # the demo's tariffs price it live
    page.goto(platform.url + "/ui/stations")
    expect(page.locator("[data-testid=online]").first).to_be_visible()
    page.screenshot(path=str(artifacts / "demo-stations.png"), full_page=True)
    page.goto(platform.url + "/ui/sessions")
    page.screenshot(path=str(artifacts / "demo-sessions.png"), full_page=True)
    page.close()

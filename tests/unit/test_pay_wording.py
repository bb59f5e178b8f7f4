"""The pay page's language and money: the visitor's language from the browser, money their way."""

from __future__ import annotations

from decimal import Decimal

from cpo.tariffs.ocpi import TariffRestrictions
from cpo.web.ui.i18n import catalogue, translate
from payments.wording import money, pick_pay_language, unit_price, when_text


def test_a_belgian_french_browser_reads_french_and_the_switch_wins() -> None:
    assert pick_pay_language(None, accept_language="fr-BE,fr;q=0.9,en;q=0.5") == "fr"
    assert pick_pay_language(None, accept_language="nl-BE") == "nl"
    assert pick_pay_language(None, accept_language="de-DE,en;q=0.3,nl;q=0.8") == "nl", "by weight, not order"
    assert pick_pay_language(None, accept_language="de-DE") == "en"
    assert pick_pay_language("fr", "nl", accept_language="nl-BE") == "fr"
    assert pick_pay_language("xx", None, accept_language="fr;q=0") == "en", "q=0 means not wanted"


def test_money_has_two_decimals_written_the_visitors_way_and_rounded_half_up() -> None:
    assert money(Decimal("0.55"), "EUR", "nl") == "€\xa00,55"
    assert money(Decimal("0.55"), "EUR", "fr") == "0,55\xa0€"
    assert money(Decimal("0.55"), "EUR", "en") == "€0.55"
    assert money(Decimal("0.605"), "EUR", "nl") == "€\xa00,61"
    assert money(Decimal("1234.5"), "EUR", "nl") == "€\xa01.234,50"


def test_a_unit_price_keeps_a_third_decimal_but_never_a_fourth() -> None:
    assert unit_price(Decimal("0.4840"), "EUR", "nl") == "€\xa00,484"
    assert unit_price(Decimal("0.5000"), "EUR", "nl") == "€\xa00,50"
    assert unit_price(Decimal("0.42351"), "EUR", "en") == "€0.424"


def test_when_a_price_applies_is_said_in_the_visitors_words() -> None:
    night = TariffRestrictions(start_time="22:00", end_time="07:00", day_of_week=["SATURDAY", "MONDAY"])
    assert when_text(night, "nl") == "ma, za; 22:00\u201307:00"
    assert when_text(TariffRestrictions(min_power=Decimal("11.5")), "fr") == "à partir de 11,5 kW"
    assert when_text(TariffRestrictions(max_duration=3600), "en") == "the first 60 min"
    assert when_text(None, "en") is None


def test_french_has_every_text_of_the_pay_pages() -> None:
    pay = {key for key in catalogue("en") if key.startswith("pay.")}
    assert pay and pay == set(catalogue("fr")), sorted(pay ^ set(catalogue("fr")))
    assert translate("fr", "pay.available").startswith("Disponible")
    assert translate("nl", "pay.available").startswith("Beschikbaar")

"""Both languages carry every text the templates use."""

from __future__ import annotations

import re

from cpo.web.ui import UI_TEMPLATES
from cpo.web.ui.i18n import LANGUAGES, catalogue, pick_language, translate

KEY = re.compile(r"""\bt\(\s*["']([a-z_]+\.[A-Za-z0-9_]+)["']""")
PREFIX = re.compile(r"""\bt\(\s*["']([a-z_]+\.)["']\s*~""")
CHOICE_PREFIX = re.compile(r"""prefix=["']([a-z_]+\.)["']""")


def test_every_language_has_the_same_keys() -> None:
    keys = {language: set(catalogue(language)) for language in LANGUAGES}
    assert keys["en"] == keys["nl"]


def test_every_key_the_templates_use_exists_and_is_translated() -> None:
    used, prefixes = set(), set()
    for template in UI_TEMPLATES.rglob("*.html"):
        text = template.read_text()
        used |= set(KEY.findall(text))
        prefixes |= set(PREFIX.findall(text)) | set(CHOICE_PREFIX.findall(text))
    assert used, "the pattern found no keys: it is broken"
    for language in LANGUAGES:
        missing = used - set(catalogue(language))
        assert not missing, f"{language} lacks {sorted(missing)}"
        for prefix in prefixes:
            assert any(k.startswith(prefix) for k in catalogue(language)), prefix
    untranslated = [k for k in used if catalogue("en")[k] == catalogue("nl")[k] and k not in ("nav.api", "nav.menu",
        "login.email", "evse.number_hint", "live.online", "live.offline", "live.status", "sessions.badge", "station.model", "station.firmware", "evse.uid", "power.DC")]  # fmt: skip
    assert untranslated == []


def test_language_choice() -> None:
    assert pick_language("nl", "en-GB") == "nl"
    assert pick_language(None, "nl-BE,nl;q=0.9,en;q=0.8") == "nl"
    assert pick_language(None, "fr-BE,de;q=0.5") == "en"
    assert pick_language("xx", None) == "en"
    assert translate("nl", "dashboard.welcome", name="An") == "Welkom, An"

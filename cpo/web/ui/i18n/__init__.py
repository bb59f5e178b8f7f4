"""UI translations: one JSON file per language beside this module, the same keys in each."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, pass_context
from jinja2.runtime import Context

HERE = Path(__file__).parent
LANGUAGES = ("en", "nl")
DEFAULT_LANGUAGE = "en"
CATALOGUES = (*LANGUAGES, "fr")
"""Languages with a file here: French carries the driver's pay pages only (the rest falls back to English)."""


@cache
def catalogue(language: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((HERE / f"{language}.json").read_text(encoding="utf-8"))
    return data


def translate(language: str, key: str, **values: Any) -> str:
    text = catalogue(language if language in CATALOGUES else DEFAULT_LANGUAGE).get(key)
    if text is None:
        text = catalogue(DEFAULT_LANGUAGE).get(key, key)
    return text.format(**values) if values else text


_REASONS = (
    (re.compile(r"Expected `[^`]*` of length <= (\d+)$"), "reason.max_chars"),
    (re.compile(r"Expected `[^`]*` of length >= (\d+)$"), "reason.min_chars"),
    (re.compile(r"Expected `[^`]*` <= (\S+)$"), "reason.at_most"),
    (re.compile(r"Expected `[^`]*` >= (\S+)$"), "reason.at_least"),
    (re.compile(r"Expected `[^`]*` < (\S+)$"), "reason.below"),
    (re.compile(r"Expected `[^`]*` > (\S+)$"), "reason.above"),
    (re.compile(r"Expected `int[^`]*`, got `[^`]*`$"), "reason.whole_number"),
    (re.compile(r"Expected `(?:float|decimal)[^`]*`, got `[^`]*`$"), "reason.number"),
    (re.compile(r"Expected `[^`]*` matching regex"), "reason.pattern"),
    (re.compile(r"Invalid enum value"), "reason.choice"),
    (re.compile(r"required$"), "reason.required"),
)


def explain(language: str, reason: str) -> str:
    """A form field's refusal as a reader says it: the validator's wording (msgspec's, in English, naming types)
    in the page's language; any other reason as it is."""
    text = str(reason)[:500]
    for pattern, key in _REASONS:
        if found := pattern.match(text):
            value = found.group(1) if found.groups() else ""
            return translate(language, key, value=value.removesuffix(".0"))
    return text


def pick_language(cookie: str | None, accept_language: str | None) -> str:
    """The cookie's choice, else the first supported language the browser lists, else English."""
    if cookie in LANGUAGES:
        return cookie
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return DEFAULT_LANGUAGE


def install_i18n(env: Environment) -> None:
    @pass_context
    def t(context: Context, key: str, **values: Any) -> str:
        return translate(context.get("lang", DEFAULT_LANGUAGE), key, **values)

    @pass_context
    def choices(
        context: Context,
        items: Iterable[Any],
        value_attr: str | None = None,
        label_attr: str | None = None,
        prefix: str | None = None,
    ) -> list[tuple[str, str]]:
        """(value, label) pairs for a <select>: attributes of objects, or translated vocabulary."""
        language = context.get("lang", DEFAULT_LANGUAGE)
        result = []
        for item in items:
            value = str(getattr(item, value_attr) if value_attr else item)
            if label_attr:
                label = str(getattr(item, label_attr))
            else:
                label = translate(language, prefix + value) if prefix else value
            result.append((value, label))
        return result

    @pass_context
    def field_reason(context: Context, text: str) -> str:
        return explain(context.get("lang", DEFAULT_LANGUAGE), text)

    env.globals["t"] = t
    env.globals["field_reason"] = field_reason
    env.globals["choices"] = choices
    env.globals["LANGUAGES"] = LANGUAGES

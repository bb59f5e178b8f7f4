"""A one-page receipt as PDF."""

from __future__ import annotations

import textwrap

from payments.pdf import Page, document


def receipt_pdf(title: str, rows: list[tuple[str, str]], footer: str = "") -> bytes:
    """An A4 page: the title, then label/value rows, then a footer line."""
    page = Page()
    page.write(56, 780, title, 18, bold=True)
    y = 746.0
    for label, value in rows:
        page.write(56, y, label)
        for line in textwrap.wrap(value, 52) or [""]:
            page.write(256, y, line)
            y -= 14
        y -= 4
    if footer:
        page.write(56, y - 18, footer, 9)
    return document([page])

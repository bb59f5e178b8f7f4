"""QR codes for the pay pages: one per EVSE (SVG), and printable A4 sticker sheets per site (PDF)."""

from __future__ import annotations

from dataclasses import dataclass

import qrcode
import qrcode.constants

from payments.pdf import MM, Page, document


def modules(data: str) -> list[list[bool]]:
    """The QR code's dark modules (error correction M: survives a scratched sticker), no quiet zone."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    code.add_data(data)
    code.make(fit=True)
    return [list(row) for row in code.get_matrix()]


def qr_svg(data: str, size_mm: float = 40) -> str:
    grid = modules(data)
    n = len(grid)
    path = "".join(f"M{x + 4} {y + 4}h1v1h-1z" for y, row in enumerate(grid) for x, dark in enumerate(row) if dark)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{size_mm}mm" height="{size_mm}mm" '
            f'viewBox="0 0 {n + 8} {n + 8}" shape-rendering="crispEdges"><rect width="100%" height="100%" '
            f'fill="#fff"/><path d="{path}" fill="#000"/></svg>')  # fmt: skip


@dataclass(frozen=True, slots=True)
class StickerText:
    """What a sticker says in one language: how to use it, the prices as on the pay page, and that they
    include VAT."""

    how: str
    prices: tuple[tuple[str, str], ...]
    """(what and when, price per unit), e.g. ("Energie 22:00-07:00", "€ 0,35 per kWh")."""
    note: str


@dataclass(frozen=True, slots=True)
class Sticker:
    url: str
    evse_id: str
    place: str
    texts: tuple[StickerText, ...]
    """One per language, in the order printed (Dutch, French, English)."""


COLUMNS, ROWS = 2, 2
WIDTH, HEIGHT = 95 * MM, 138 * MM
QR_SIDE = 44 * MM
PRICE_COLUMN = 50 * MM
"""Where the price stands on a price line, from the sticker's text margin."""


def fitted(value: str, width: float, size: float) -> str:
    """``value`` shortened with an ellipsis to about ``width`` points in Helvetica of ``size`` (an average
    glyph is taken as 0.55 em: the sheet has no font metrics, and a line cut a little early is harmless)."""
    most = max(4, int(width / (0.55 * size)))
    return value if len(value) <= most else value[: most - 1].rstrip() + "…"


def sticker_sheet(stickers: list[Sticker]) -> bytes:
    """A4 pages of four stickers each, with cutting lines: the QR code, the EVSE ID, and per language how to
    use it and the prices the pay page shows (VAT included)."""
    pages = []
    for start in range(0, max(len(stickers), 1), COLUMNS * ROWS):
        page = Page()
        for index, sticker in enumerate(stickers[start : start + COLUMNS * ROWS]):
            column, row = index % COLUMNS, index // COLUMNS
            x0, y0 = 10 * MM + column * WIDTH, 842 - 10 * MM - (row + 1) * HEIGHT
            _draw(page, sticker, x0, y0)
        pages.append(page)
    return document(pages)


def _draw(page: Page, sticker: Sticker, x0: float, y0: float) -> None:
    page.frame(x0, y0, WIDTH, HEIGHT)
    grid = modules(sticker.url)
    cell = QR_SIDE / len(grid)
    qx, qy = x0 + (WIDTH - QR_SIDE) / 2, y0 + HEIGHT - QR_SIDE - 6 * MM
    page.boxes([(qx + x * cell, qy + QR_SIDE - (y + 1) * cell, cell, cell)
                for y, line in enumerate(grid) for x, dark in enumerate(line) if dark])  # fmt: skip
    left, width = x0 + 6 * MM, WIDTH - 12 * MM
    page.write(left, qy - 7 * MM, sticker.evse_id, 12, bold=True)
    # the languages share what is left above the place line: the more price lines, the smaller the type
    top, bottom = qy - 10 * MM, y0 + 9 * MM
    count = sum(2 + len(text.prices) for text in sticker.texts) + 0.5 * len(sticker.texts)
    leading = min(3.8 * MM, (top - bottom) / max(count, 1))
    size = leading / MM * 2.2
    y = top
    for text in sticker.texts:
        y -= leading
        page.write(left, y, fitted(text.how, width, size + 0.5), size + 0.5, bold=True)
        for what, price in text.prices:
            y -= leading
            page.write(left, y, fitted(what, PRICE_COLUMN - 2 * MM, size), size)
            page.write(left + PRICE_COLUMN, y, fitted(price, width - PRICE_COLUMN, size), size, bold=True)
        y -= leading
        page.write(left, y, fitted(text.note, width, size - 1), size - 1)
        y -= leading / 2
    page.write(left, y0 + 5 * MM, fitted(sticker.place, width, 8), 8)

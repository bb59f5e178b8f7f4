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
class Sticker:
    url: str
    evse_id: str
    place: str
    price: str
    """The energy price incl. VAT as a line, e.g. "EUR 0.605 per kWh incl. VAT"."""


COLUMNS, ROWS = 2, 3
WIDTH, HEIGHT = 95 * MM, 90 * MM


def sticker_sheet(stickers: list[Sticker]) -> bytes:
    """A4 pages of six stickers each, with cutting lines: the QR code, the EVSE ID, how to use it (NL and EN)
    and the price."""
    pages = []
    for start in range(0, max(len(stickers), 1), COLUMNS * ROWS):
        page = Page()
        for index, sticker in enumerate(stickers[start : start + COLUMNS * ROWS]):
            column, row = index % COLUMNS, index // COLUMNS
            x0, y0 = 10 * MM + column * WIDTH, 842 - 10 * MM - (row + 1) * HEIGHT
            page.frame(x0, y0, WIDTH, HEIGHT)
            grid = modules(sticker.url)
            side = 46 * MM
            cell = side / len(grid)
            qx, qy = x0 + (WIDTH - side) / 2, y0 + HEIGHT - side - 8 * MM
            page.boxes([(qx + x * cell, qy + side - (y + 1) * cell, cell, cell)
                        for y, line in enumerate(grid) for x, dark in enumerate(line) if dark])  # fmt: skip
            page.write(x0 + 6 * MM, qy - 7 * MM, sticker.evse_id, 12, bold=True)
            page.write(x0 + 6 * MM, qy - 12 * MM, "Scan, betaal met je kaart en laad.", 9)
            page.write(x0 + 6 * MM, qy - 16 * MM, "Scan, pay by card and charge.", 9)
            page.write(x0 + 6 * MM, qy - 21 * MM, sticker.price, 9, bold=True)
            page.write(x0 + 6 * MM, qy - 25 * MM, sticker.place[:60], 8)
        pages.append(page)
    return document(pages)

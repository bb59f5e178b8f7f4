"""A small PDF writer (PDF 1.4, the standard Helvetica fonts, text and filled rectangles): receipts and QR
sticker sheets, without a library."""

from __future__ import annotations

MM = 72 / 25.4
"""PDF points per millimetre."""
A4 = (595, 842)
ENCODING = "cp1252"
"""The standard fonts' /WinAnsiEncoding."""


SPACES = str.maketrans({"\u202f": "\xa0", "\u2009": " ", "\u2007": "\xa0"})
"""Thin and narrow no-break spaces (French money, "1 234,50 €") have no WinAnsi glyph: a plain no-break space."""


def text(value: str) -> str:
    """A PDF string literal in WinAnsi (Windows-1252: Latin letters with accents, €, dashes, ellipsis), delimiters escaped;
    a character outside it prints as '?'."""
    safe = value.translate(SPACES).encode(ENCODING, "replace").decode(ENCODING)
    return "(" + safe.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"


class Page:
    """One A4 page's drawing operations, in points from the bottom left."""

    def __init__(self) -> None:
        self.ops: list[str] = []

    def write(self, x: float, y: float, value: str, size: float = 11, bold: bool = False) -> None:
        font = "F2" if bold else "F1"
        self.ops.append(f"BT /{font} {size:g} Tf {x:.2f} {y:.2f} Td {text(value)} Tj ET")

    def boxes(self, rects: list[tuple[float, float, float, float]]) -> None:
        """Filled black rectangles (x, y, width, height)."""
        if rects:
            self.ops.append("0 g " + " ".join(f"{x:.3f} {y:.3f} {w:.3f} {h:.3f} re" for x, y, w, h in rects) + " f")

    def frame(self, x: float, y: float, w: float, h: float) -> None:
        """A thin grey outline (a cutting line)."""
        self.ops.append(f"0.6 G 0.5 w {x:.2f} {y:.2f} {w:.2f} {h:.2f} re S 0 G")


def document(pages: list[Page]) -> bytes:
    objects: list[bytes] = [b"", b"",
                            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
                            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>"]  # fmt: skip
    kids = []
    for page in pages:
        content = "\n".join(page.ops).encode(ENCODING)
        objects.append(b"<< /Length " + str(len(content)).encode() + b" >>\nstream\n" + content + b"\nendstream")
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {A4[0]} {A4[1]}] /Resources << /Font << "
                       f"/F1 3 0 R /F2 4 0 R >> >> /Contents {len(objects)} 0 R >>".encode())  # fmt: skip
        kids.append(f"{len(objects)} 0 R")
    objects[0] = b"<< /Type /Catalog /Pages 2 0 R >>"
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>".encode()
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)

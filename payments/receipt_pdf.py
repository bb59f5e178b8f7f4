"""A one-page receipt as PDF, written directly (PDF 1.4, the standard Helvetica font, no library)."""

from __future__ import annotations


def _text(value: str) -> str:
    """A PDF string literal: Latin-1 (WinAnsi) only, with its delimiters escaped."""
    safe = value.encode("latin-1", "replace").decode("latin-1")
    return "(" + safe.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"


def receipt_pdf(title: str, rows: list[tuple[str, str]], footer: str = "") -> bytes:
    """An A4 page: the title, then label/value rows, then a footer line."""
    lines = ["BT", "/F1 18 Tf", "56 780 Td", f"{_text(title)} Tj", "/F1 11 Tf", "0 -34 Td"]
    for label, value in rows:
        lines += [f"{_text(label)} Tj", "200 0 Td", f"{_text(value)} Tj", "-200 -18 Td"]
    if footer:
        lines += ["0 -18 Td", "/F1 9 Tf", f"{_text(footer)} Tj"]
    lines.append("ET")
    content = "\n".join(lines).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length " + str(len(content)).encode() + b" >>\nstream\n" + content + b"\nendstream",
    ]
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

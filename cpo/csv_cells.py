"""CSV exports that a spreadsheet opens as data, never as formulas (OWASP "CSV injection").

A cell that begins with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return, which some spreadsheets
skip before reading one of those) is run as a formula by Excel, LibreOffice and Google Sheets: a cost centre
named ``=HYPERLINK(...)`` would become a link, or worse, on the finance team's machine. Such a cell gets a
leading single quote, which spreadsheets show as text.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A plain signed number (a credit CDR's -3.00) is read as a number, not a formula: it stays as it is, or
# the export's amounts would stop adding up in the spreadsheet.
_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def neutralised(value: Any) -> Any:
    """The cell as a spreadsheet should take it: text that would start a formula is quoted."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def csv_text(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    """A CSV document whose every cell is neutralised."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([neutralised(cell) for cell in row] for row in rows)
    return out.getvalue()

"""CSV exports: cells a spreadsheet would run as formulas are quoted; amounts stay numbers."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from cpo.audit.models import AuditEntry
from cpo.audit.service import to_csv
from cpo.csv_cells import csv_text, neutralised
from cpo.tariffs.schemas import AllocationRow
from cpo.tariffs.service import allocation_csv


@pytest.mark.parametrize(
    "cell",
    ['=HYPERLINK("http://evil","x")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\t=1+1", "\r=1+1", "-", "+"],
)
def test_a_cell_that_would_start_a_formula_gets_a_leading_quote(cell: str) -> None:
    assert neutralised(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["-3.00", "+12", "-7", "Sales", "4100", "a=b", "", "'=already quoted"])
def test_plain_numbers_and_ordinary_text_are_left_alone(cell: str) -> None:
    assert neutralised(cell) == cell


def test_non_text_values_pass_through_as_they_are() -> None:
    assert neutralised(Decimal("-3.00")) == Decimal("-3.00") and neutralised(-4) == -4 and neutralised(None) is None


def test_a_csv_document_quotes_every_dangerous_cell_and_keeps_the_rest() -> None:
    text = csv_text(["name", "excl_vat"], [["=cmd()", Decimal("-3.00")], ["Sales, north", "-1.23"]])
    assert list(csv.reader(io.StringIO(text))) == [
        ["name", "excl_vat"], ["'=cmd()", "-3.00"], ["Sales, north", "-1.23"]
    ]  # fmt: skip


def test_the_cost_allocation_export_quotes_a_formula_name_and_keeps_a_credit_amount_a_number() -> None:
    row = AllocationRow(kind="cost_centre", group_id=uuid.uuid4(), code="@4100", name="=HYPERLINK(\"http://x\")",
                        sessions=-1, energy_kwh=Decimal("-10.0000"), excl_vat=Decimal("-3.0000"),
                        vat=Decimal("-0.6300"), incl_vat=Decimal("-3.6300"), currency="EUR")  # fmt: skip
    [line] = list(csv.DictReader(io.StringIO(allocation_csv([row], "2026-11"))))
    assert line["name"] == '\'=HYPERLINK("http://x")' and line["code"] == "'@4100"
    assert (line["sessions"], line["excl_vat"], line["incl_vat"]) == ("-1", "-3.0000", "-3.6300")


def test_the_audit_export_quotes_cells_that_would_start_a_formula() -> None:
    entry = AuditEntry(id=1, at=datetime(2026, 12, 1, tzinfo=UTC), actor="=cmd|' /C calc'!A0", action="update",
                       entity="people", entity_id="-1+1", before=None, after={"name": "=1+1"})  # fmt: skip
    [line] = list(csv.DictReader(io.StringIO(to_csv([entry]))))
    assert line["actor"] == "'=cmd|' /C calc'!A0" and line["entity_id"] == "'-1+1"
    assert json.loads(line["after"]) == {"name": "=1+1"}, "inside a JSON cell the text is not at the start"

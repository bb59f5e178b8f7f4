"""``cpo tariffs price``: the spec's files in, OCPI totals out; a partner's wrong CDR is caught; bad input named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cpo.cli import main
from tests.conftest import shared_specs


def example(name: str) -> str:
    return str(shared_specs("ocpi-2.2.1", "examples", name))


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, object] | None, str]:
    code = main(["tariffs", "price", *args])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else None, err


def test_periods_under_a_tariff_print_the_ocpi_totals(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Tariff 14 (step_size when switching elements), first case: 16:55 local, 10 min charging, 2 min parked."""
    periods = [
        {"start_date_time": "2024-03-04T15:55:00Z", "dimensions": [{"type": "TIME", "volume": 0.08333333},
                                                                   {"type": "ENERGY", "volume": 1}]},
        {"start_date_time": "2024-03-04T16:00:00Z", "dimensions": [{"type": "TIME", "volume": 0.08333333},
                                                                   {"type": "ENERGY", "volume": 1}]},
        {"start_date_time": "2024-03-04T16:05:00Z", "dimensions": [{"type": "PARKING_TIME", "volume": 0.03333333}]},
    ]  # fmt: skip
    (tmp_path / "periods.json").write_text(json.dumps(periods))
    code, out, _ = run(capsys, "--tariff", example("tariff_14_step_size.json"),
                       "--periods", str(tmp_path / "periods.json"), "--tz", "Europe/Brussels")  # fmt: skip
    assert code == 0 and out is not None
    assert out["total_cost"] == {"excl_vat": 0.55, "incl_vat": 0.55}
    assert out["total_time_cost"] == {"excl_vat": 0.3, "incl_vat": 0.3}
    assert out["total_parking_cost"] == {"excl_vat": 0.25, "incl_vat": 0.25}
    assert set(out) >= {"total_energy_cost", "total_fixed_cost"}


def test_a_cdr_is_checked_against_its_own_total(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "--cdr", example("cdr_example.json"))
    assert code == 0 and out is not None and out["cdr_agrees"] is True
    assert out["total_cost"] == {"excl_vat": 4.0, "incl_vat": 4.4}
    # a partner's CDR that bills 5.00 for the same 1.973 h at EUR 2/h is caught (exit 5)
    cdr = json.loads(Path(example("cdr_example.json")).read_text())
    cdr["total_cost"] = {"excl_vat": 5.00, "incl_vat": 5.50}
    (tmp_path / "cdr.json").write_text(json.dumps(cdr))
    code, out, _ = run(capsys, "--cdr", str(tmp_path / "cdr.json"))
    assert code == 5 and out is not None and out["cdr_agrees"] is False


@pytest.mark.parametrize(("args", "message"), [
    (["--periods", "/no/such/file.json", "--tariff", "example:tariff_1_simple_2hour.json"], "cannot read"),
    (["--cdr", "example:cdr_example.json", "--tz", "Mars/Olympus"], "unknown time zone"),
    (["--cdr", "example:tariff_1_simple_2hour.json"], "cdr: Object missing required field"),
])  # fmt: skip
def test_bad_input_says_what_is_wrong(capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    # the spec's files are found when the test runs (collection must not need ../shared)
    args = [example(a.removeprefix("example:")) if a.startswith("example:") else a for a in args]
    code, out, err = run(capsys, *args)
    assert code == 2 and out is None and message in err


def test_a_tariff_that_can_never_apply_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    tariff = json.loads(Path(example("tariff_1_simple_2hour.json")).read_text())
    tariff["elements"][0]["restrictions"] = {"min_kwh": 20, "max_kwh": 10}
    (tmp_path / "t.json").write_text(json.dumps(tariff))
    code, _, err = run(capsys, "--cdr", example("cdr_example.json"), "--tariff", str(tmp_path / "t.json"))
    assert code == 2 and "can never apply" in err and "max_kwh" in err

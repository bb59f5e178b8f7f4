"""Tariffs and CDRs as OCPI 2.2.1 and 2.3.0 JSON, from the one stored model (net prices, a VAT rate per
component, and amounts excluding and including VAT). Pure."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

import msgspec

from cpo.tariffs.models import Cdr
from cpo.tariffs.ocpi import ENCODER, ChargingPeriod, Tariff

Version = Literal["2.2.1", "2.3.0"]
COSTS = ("fixed", "energy", "time", "parking", "reservation")


def _plain(value: Any) -> Any:
    """JSON-ready, numbers as numbers (OCPI writes amounts as JSON numbers)."""
    return msgspec.json.decode(ENCODER.encode(value))


def _price(excl: Decimal, incl: Decimal, version: Version) -> dict[str, Any]:
    if version == "2.2.1":
        return {"excl_vat": excl, "incl_vat": incl}
    taxes = [{"name": "VAT", "amount": incl - excl}] if incl != excl else []
    return {"before_taxes": excl, "taxes": taxes}


def tariff(body: Tariff, version: Version = "2.2.1") -> dict[str, Any]:
    """A tariff as OCPI JSON. 2.3.0: prices stay before taxes (``tax_included: NO``), limits become PriceLimit."""
    out: dict[str, Any] = _plain(body)
    if version == "2.3.0":
        out["tax_included"] = "NO"
        for name in ("min_price", "max_price"):
            if (limit := out.pop(name, None)) is not None:
                out[name] = {"before_taxes": limit["excl_vat"]} | (
                    {"after_taxes": limit["incl_vat"]} if limit.get("incl_vat") is not None else {}
                )
    return out


def cdr(row: Cdr, version: Version = "2.2.1") -> dict[str, Any]:
    """A CDR as OCPI JSON: as sealed at issue, with the tariff as it stood when the session started."""
    stored_tariff = msgspec.convert(row.tariff, Tariff, strict=False)
    # Without the tenant's own OCPI party (set with OCPI roaming), the CDR token's (the platform's default).
    stored_tariff.country_code = stored_tariff.country_code or row.cdr_token.get("country_code") or "NL"
    stored_tariff.party_id = stored_tariff.party_id or row.cdr_token.get("party_id") or "CPO"
    periods = msgspec.convert(row.charging_periods, list[ChargingPeriod], strict=False)
    out: dict[str, Any] = {
        "country_code": stored_tariff.country_code,
        "party_id": stored_tariff.party_id,
        "id": row.ocpi_id,
        "start_date_time": row.start_date_time,
        "end_date_time": row.end_date_time,
        "cdr_token": row.cdr_token,
        "auth_method": row.auth_method,
        "cdr_location": {key: value for key, value in row.cdr_location.items() if value is not None},
        "currency": row.currency,
        "tariffs": [tariff(stored_tariff, version)],
        "charging_periods": periods,
        "total_cost": _price(row.total_excl, row.total_incl, version),
        "total_energy": row.total_energy_kwh,
        "total_time": row.total_time_h,
        "last_updated": row.created_at,
    }
    if row.session_id is not None:
        out["session_id"] = str(row.session_id)
    for name in COSTS:
        excl, incl = getattr(row, f"{name}_excl"), getattr(row, f"{name}_incl")
        if excl or incl:
            out[f"total_{name}_cost"] = _price(excl, incl, version)
    if row.total_parking_time_h:
        out["total_parking_time"] = row.total_parking_time_h
    if row.signed_data:
        out["signed_data"] = row.signed_data
    if row.meter_id:
        out["meter_id"] = row.meter_id
    if row.credit:
        out["credit"] = True
        out["credit_reference_id"] = row.ocpi_id.removesuffix("-C")
    return _plain(out)  # type: ignore[no-any-return]

"""Inputs and outputs of tariffs, assignments, CDRs and cost allocation (msgspec)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from msgspec import Meta, Struct

from cpo.tariffs.ocpi import DisplayText, Price, TariffElement, TariffType

Audience = Literal["public", "ad_hoc", "internal", "visitor", "roaming", "home"]


class TariffBody(Struct, forbid_unknown_fields=True, omit_defaults=True):
    """What a tariff version charges: the OCPI 2.2.1 Tariff's elements and limits."""

    elements: Annotated[list[TariffElement], Meta(min_length=1)]
    type: TariffType | None = None
    tariff_alt_text: list[DisplayText] | None = None
    tariff_alt_url: Annotated[str, Meta(max_length=255)] | None = None
    min_price: Price | None = None
    max_price: Price | None = None
    energy_mix: dict[str, Any] | None = None


Code = Annotated[str, Meta(pattern=r"^[A-Za-z0-9._-]{1,36}$")]
TariffName = Annotated[str, Meta(min_length=1, max_length=200)]
Currency = Annotated[str, Meta(pattern=r"^[A-Z]{3}$")]


class TariffHead(Struct, forbid_unknown_fields=True):
    code: Code
    name: TariffName
    currency: Currency


class TariffIn(Struct, forbid_unknown_fields=True):
    code: Code
    """The OCPI tariff id: letters, digits, dot, dash and underscore, at most 36."""
    name: TariffName
    currency: Currency
    body: TariffBody
    valid_from: datetime | None = None
    """When the first version takes effect (default: now)."""


class VersionIn(Struct, forbid_unknown_fields=True):
    body: TariffBody
    valid_from: datetime
    """When this version takes effect: now or later; sessions started before keep the version they had."""


class VersionOut(Struct):
    id: uuid.UUID
    valid_from: datetime
    valid_until: datetime | None
    body: dict[str, Any]
    created_at: datetime


class TariffOut(Struct):
    id: uuid.UUID
    code: str
    name: str
    currency: str
    archived: bool
    versions: list[VersionOut]
    created_at: datetime


class AssignmentIn(Struct, forbid_unknown_fields=True):
    tariff_id: uuid.UUID
    audience: Audience
    site_id: uuid.UUID | None = None
    evse_id: uuid.UUID | None = None
    connector_id: uuid.UUID | None = None
    group_id: uuid.UUID | None = None
    """Only for internal, visitor and home rates: the group whose members it prices."""
    partner: Annotated[str, Meta(pattern=r"^[A-Z]{2}[A-Z0-9]{3}$")] | None = None
    """Only for roaming: the partner's country code and party id, e.g. NLTNM."""


class AssignmentOut(Struct):
    id: uuid.UUID
    tariff_id: uuid.UUID
    audience: str
    site_id: uuid.UUID | None
    evse_id: uuid.UUID | None
    connector_id: uuid.UUID | None
    group_id: uuid.UUID | None
    partner: str | None


class PriceOut(Struct):
    excl_vat: Decimal
    incl_vat: Decimal


class CdrOut(Struct):
    id: uuid.UUID
    number: int
    ocpi_id: str
    session_id: uuid.UUID | None
    credit: bool
    credit_of: uuid.UUID | None
    session_class: str
    payer: str
    person_id: uuid.UUID | None
    cost_centre_id: uuid.UUID | None
    project_id: uuid.UUID | None
    partner: str | None
    currency: str
    start_date_time: datetime
    end_date_time: datetime
    total_energy: Decimal
    total_time: Decimal
    total_parking_time: Decimal
    total_cost: PriceOut
    total_energy_cost: PriceOut
    total_time_cost: PriceOut
    total_parking_cost: PriceOut
    total_fixed_cost: PriceOut
    total_reservation_cost: PriceOut
    charging_periods: list[Any]
    tariff: dict[str, Any]
    signed_data: dict[str, Any] | None
    created_at: datetime
    payment_ref: str | None = None
    """Paid by card at the charger: the card payment it was taken from (a Stripe PaymentIntent id)."""


class CreditIn(Struct, forbid_unknown_fields=True):
    reason: Annotated[str, Meta(min_length=1, max_length=255)]
    reissue: bool = True
    """Price the session again (with the tariffs assigned now) and issue a new CDR after the credit."""


class LiveCost(Struct):
    session_id: uuid.UUID
    session_class: str | None
    payer: str | None
    pricing: str
    note: str | None
    currency: str | None
    total_cost: PriceOut | None
    energy_kwh: Decimal
    as_of: datetime


class PriceComponentOut(Struct):
    type: str
    price_excl_vat: Decimal
    price_incl_vat: Decimal
    vat: Decimal | None
    unit: str
    """per kWh, per hour, or per session (FLAT)."""
    step_size: int
    when: str | None
    """The element's restrictions in words, none when always."""


class DriverPrices(Struct):
    """What a driver must see before starting: one form for the QR pay page and for OCPI."""

    tariff_id: uuid.UUID
    tariff_code: str
    currency: str
    audience: str
    components: list[PriceComponentOut]
    min_price: Price | None
    max_price: Price | None
    alt_text: list[DisplayText] | None
    valid_from: datetime


class AllocationRow(Struct):
    kind: str
    """cost_centre, customer_project, or unallocated."""
    group_id: uuid.UUID | None
    code: str | None
    name: str
    sessions: int
    energy_kwh: Decimal
    excl_vat: Decimal
    vat: Decimal
    incl_vat: Decimal
    currency: str

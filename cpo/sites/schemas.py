"""Inputs and outputs of the site area (msgspec): validated once, at the edge."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import available_timezones

import msgspec
from msgspec import Meta, Struct

from cpo.sites.models import Connector, Evse, Site, Station
from cpo.sites.vocabulary import (
    Capability,
    ConnectorFormat,
    ConnectorStandard,
    EnergySource,
    Facility,
    ImpactCategory,
    ParkingType,
    PowerType,
    RegistrationStatus,
    SecurityProfile,
)

Name = Annotated[str, Meta(min_length=1, max_length=255)]
Short = Annotated[str, Meta(min_length=1, max_length=45)]
Latitude = Annotated[float, Meta(ge=-90, le=90)]
Longitude = Annotated[float, Meta(ge=-180, le=180)]
# ISO 3166-1 alpha-3, as OCPI Location.country.
Country = Annotated[str, Meta(pattern=r"^[A-Z]{3}$", description="ISO 3166-1 alpha-3, e.g. BEL")]
HourMinute = Annotated[str, Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="HH:MM")]
# OCPP-J: the identity is the last path segment of the URL: no '/', nothing that needs escaping.
StationIdentity = Annotated[
    str, Meta(min_length=1, max_length=48, pattern=r"^[A-Za-z0-9._:*@+-]+$", description="OCPP identity")
]
# OCPP 1.6 security whitepaper and 2.0.1 BasicAuthPassword: 16 to 40 characters.
StationPassword = Annotated[str, Meta(min_length=16, max_length=40)]
# eMI3 EVSE ID as OCPI EVSE.evse_id: country, '*', operator, '*', 'E' and the id (the '*' are optional).
EMI3_EVSE_ID = re.compile(r"^[A-Z]{2}\*?[A-Z0-9]{3}\*?E[A-Z0-9*]{1,30}$")
EvseIdText = Annotated[str, Meta(max_length=48, pattern=EMI3_EVSE_ID.pattern, description="e.g. BE*ABC*E0001")]
EvseUid = Annotated[str, Meta(min_length=1, max_length=36, pattern=r"^[A-Za-z0-9._*-]+$")]

_ZONES: frozenset[str] = frozenset()


def _is_time_zone(name: str) -> bool:
    global _ZONES
    if not _ZONES:
        _ZONES = frozenset(available_timezones())
    return name in _ZONES


class RegularHours(Struct, forbid_unknown_fields=True):
    weekday: Annotated[int, Meta(ge=1, le=7, description="1 = Monday ... 7 = Sunday")]
    period_begin: HourMinute
    period_end: HourMinute


class ExceptionalPeriod(Struct, forbid_unknown_fields=True):
    period_begin: datetime
    period_end: datetime

    def __post_init__(self) -> None:
        if self.period_begin.tzinfo is None or self.period_end.tzinfo is None:
            raise ValueError("periods need a time zone (UTC, ending in Z)")
        if self.period_end <= self.period_begin:
            raise ValueError("period_end must be after period_begin")


class OpeningTimes(Struct, forbid_unknown_fields=True):
    """OCPI Hours: open around the clock, or the listed weekly hours in the site's local time."""

    twentyfourseven: bool = True
    regular_hours: list[RegularHours] = []
    exceptional_openings: list[ExceptionalPeriod] = []
    exceptional_closings: list[ExceptionalPeriod] = []

    def __post_init__(self) -> None:
        # OCPI 2.2.1 mod_locations 8.4.14: regular_hours only when not twentyfourseven.
        if self.twentyfourseven and self.regular_hours:
            raise ValueError("regular_hours must be empty when twentyfourseven is true")


class EnergyShare(Struct, forbid_unknown_fields=True):
    source: EnergySource
    percentage: Annotated[float, Meta(ge=0, le=100)]


class EnvironmentalImpact(Struct, forbid_unknown_fields=True):
    category: ImpactCategory
    amount: Annotated[float, Meta(ge=0, description="g/kWh")]


class EnergyMix(Struct, forbid_unknown_fields=True, omit_defaults=True):
    """OCPI EnergyMix: what the electricity at this site is made of, as published to drivers."""

    is_green_energy: bool
    energy_sources: list[EnergyShare] = []
    environ_impact: list[EnvironmentalImpact] = []
    supplier_name: Annotated[str, Meta(max_length=64)] | None = None
    energy_product_name: Annotated[str, Meta(max_length=64)] | None = None

    def __post_init__(self) -> None:
        if self.energy_sources and abs(sum(s.percentage for s in self.energy_sources) - 100) > 0.01:
            raise ValueError("energy_sources percentages must add up to 100")


class SiteIn(Struct, forbid_unknown_fields=True):
    name: Name
    address: Short
    city: Short
    country: Country
    latitude: Latitude
    longitude: Longitude
    time_zone: Annotated[str, Meta(description="IANA time zone, e.g. Europe/Brussels")]
    postal_code: Annotated[str, Meta(max_length=10)] | None = None
    state: Annotated[str, Meta(max_length=20)] | None = None
    opening_times: OpeningTimes = msgspec.field(default_factory=OpeningTimes)
    publish: bool = False
    currency: Annotated[str, Meta(pattern=r"^[A-Z]{3}$", description="ISO 4217, e.g. EUR")] = "EUR"
    home_person_id: uuid.UUID | None = None
    """An employee whose home this is: sessions here are home charging, reimbursed by the employer."""
    facilities: list[Facility] = []
    parking_type: ParkingType | None = None
    energy_mix: EnergyMix | None = None

    def __post_init__(self) -> None:
        if not _is_time_zone(self.time_zone):
            raise ValueError(f"unknown IANA time zone {self.time_zone!r} - at `$.time_zone`")


class SiteOut(Struct):
    id: uuid.UUID
    name: str
    address: str
    city: str
    postal_code: str | None
    state: str | None
    country: str
    latitude: str
    longitude: str
    time_zone: str
    opening_times: OpeningTimes
    publish: bool
    created_at: datetime
    updated_at: datetime
    currency: str = "EUR"
    home_person_id: uuid.UUID | None = None
    facilities: list[str] = []
    parking_type: str | None = None
    energy_mix: EnergyMix | None = None


class StationIn(Struct, forbid_unknown_fields=True):
    site_id: uuid.UUID
    identity: StationIdentity
    vendor: Annotated[str, Meta(max_length=50)] | None = None
    model: Annotated[str, Meta(max_length=50)] | None = None
    serial_number: Annotated[str, Meta(max_length=50)] | None = None
    firmware_version: Annotated[str, Meta(max_length=50)] | None = None
    security_profile: SecurityProfile = 1
    registration_status: RegistrationStatus = "Accepted"
    password: StationPassword | None = None
    """Left out: the platform generates one and returns it once."""


class StationUpdate(Struct, forbid_unknown_fields=True):
    """A full replacement: security profile and registration must be restated, never silently reset."""

    site_id: uuid.UUID
    security_profile: SecurityProfile
    registration_status: RegistrationStatus
    vendor: Annotated[str, Meta(max_length=50)] | None = None
    model: Annotated[str, Meta(max_length=50)] | None = None
    serial_number: Annotated[str, Meta(max_length=50)] | None = None
    firmware_version: Annotated[str, Meta(max_length=50)] | None = None


class StationOut(Struct):
    id: uuid.UUID
    site_id: uuid.UUID
    identity: str
    vendor: str | None
    model: str | None
    serial_number: str | None
    firmware_version: str | None
    security_profile: int
    registration_status: str
    ocpp_url: str
    created_at: datetime
    updated_at: datetime


class StationCreated(StationOut):
    password: str
    """Shown once: only its hash is stored."""


class NewPassword(Struct):
    password: str


class EvseIn(Struct, forbid_unknown_fields=True):
    ocpp_evse_id: Annotated[int, Meta(ge=1, le=999, description="OCPP 2.0.1 evseId / 1.6 connectorId")]
    uid: EvseUid | None = None
    """OCPI EVSE.uid; left out: derived from the station identity and the EVSE number."""
    evse_id: EvseIdText | None = None
    capabilities: list[Capability] = []
    public: bool = False
    floor_level: Annotated[str, Meta(max_length=4)] | None = None
    physical_reference: Annotated[str, Meta(max_length=16)] | None = None

    def __post_init__(self) -> None:
        if len(set(self.capabilities)) != len(self.capabilities):
            raise ValueError("capabilities must not repeat - at `$.capabilities`")


class EvseOut(Struct):
    id: uuid.UUID
    station_id: uuid.UUID
    ocpp_evse_id: int
    uid: str
    evse_id: str | None
    capabilities: list[str]
    public: bool
    floor_level: str | None
    physical_reference: str | None
    created_at: datetime
    updated_at: datetime


class ConnectorIn(Struct, forbid_unknown_fields=True):
    standard: ConnectorStandard
    format: ConnectorFormat
    power_type: PowerType
    max_voltage: Annotated[int, Meta(gt=0, le=2000, description="V")]
    max_amperage: Annotated[int, Meta(gt=0, le=2000, description="A")]
    ocpp_connector_id: Annotated[int, Meta(ge=1, le=99)] = 1
    max_electric_power: Annotated[int, Meta(gt=0, le=2_000_000, description="W")] | None = None
    terms_and_conditions: Annotated[str, Meta(max_length=255)] | None = None


class ConnectorOut(Struct):
    id: uuid.UUID
    evse_id: uuid.UUID
    ocpp_connector_id: int
    standard: str
    format: str
    power_type: str
    max_voltage: int
    max_amperage: int
    max_electric_power: int | None
    terms_and_conditions: str | None
    created_at: datetime
    updated_at: datetime


def site_out(site: Site) -> SiteOut:
    return SiteOut(
        id=site.id,
        name=site.name,
        address=site.address,
        city=site.city,
        postal_code=site.postal_code,
        state=site.state,
        country=site.country,
        latitude=str(site.latitude),
        longitude=str(site.longitude),
        time_zone=site.time_zone,
        opening_times=msgspec.convert(site.opening_times, OpeningTimes),
        publish=site.publish,
        created_at=site.created_at,
        updated_at=site.updated_at,
        currency=site.currency,
        home_person_id=site.home_person_id,
        facilities=list(site.facilities or []),
        parking_type=site.parking_type,
        energy_mix=msgspec.convert(site.energy_mix, EnergyMix) if site.energy_mix else None,
    )


def station_ocpp_url(ocpp_base_url: str, identity: str) -> str:
    """Where the station connects: the OCPP base URL and its identity as the last path segment."""
    return ocpp_base_url + quote(identity, safe="")


def _station_fields(station: Station, ocpp_base_url: str) -> dict[str, Any]:
    return {
        "id": station.id,
        "site_id": station.site_id,
        "identity": station.identity,
        "vendor": station.vendor,
        "model": station.model,
        "serial_number": station.serial_number,
        "firmware_version": station.firmware_version,
        "security_profile": station.security_profile,
        "registration_status": station.registration_status,
        "ocpp_url": station_ocpp_url(ocpp_base_url, station.identity),
        "created_at": station.created_at,
        "updated_at": station.updated_at,
    }


def station_out(station: Station, ocpp_base_url: str) -> StationOut:
    return StationOut(**_station_fields(station, ocpp_base_url))


def station_created(station: Station, ocpp_base_url: str, password: str) -> StationCreated:
    return StationCreated(**_station_fields(station, ocpp_base_url), password=password)


def evse_out(evse: Evse) -> EvseOut:
    return EvseOut(
        id=evse.id,
        station_id=evse.station_id,
        ocpp_evse_id=evse.ocpp_evse_id,
        uid=evse.uid,
        evse_id=evse.evse_id,
        capabilities=list(evse.capabilities),
        public=evse.public,
        floor_level=evse.floor_level,
        physical_reference=evse.physical_reference,
        created_at=evse.created_at,
        updated_at=evse.updated_at,
    )


def connector_out(connector: Connector) -> ConnectorOut:
    return ConnectorOut(
        id=connector.id,
        evse_id=connector.evse_id,
        ocpp_connector_id=connector.ocpp_connector_id,
        standard=connector.standard,
        format=connector.format,
        power_type=connector.power_type,
        max_voltage=connector.max_voltage,
        max_amperage=connector.max_amperage,
        max_electric_power=connector.max_electric_power,
        terms_and_conditions=connector.terms_and_conditions,
        created_at=connector.created_at,
        updated_at=connector.updated_at,
    )

"""Closed vocabularies of the site model, named as in OCPI 2.2.1 (mod_locations.asciidoc)."""

from __future__ import annotations

from typing import Literal

ConnectorStandard = Literal[
    "CHADEMO", "CHAOJI", "DOMESTIC_A", "DOMESTIC_B", "DOMESTIC_C", "DOMESTIC_D", "DOMESTIC_E", "DOMESTIC_F",
    "DOMESTIC_G", "DOMESTIC_H", "DOMESTIC_I", "DOMESTIC_J", "DOMESTIC_K", "DOMESTIC_L", "DOMESTIC_M",
    "DOMESTIC_N", "DOMESTIC_O", "GBT_AC", "GBT_DC", "IEC_60309_2_single_16", "IEC_60309_2_three_16",
    "IEC_60309_2_three_32", "IEC_60309_2_three_64", "IEC_62196_T1", "IEC_62196_T1_COMBO", "IEC_62196_T2",
    "IEC_62196_T2_COMBO", "IEC_62196_T3A", "IEC_62196_T3C", "NEMA_5_20", "NEMA_6_30", "NEMA_6_50", "NEMA_10_30",
    "NEMA_10_50", "NEMA_14_30", "NEMA_14_50", "PANTOGRAPH_BOTTOM_UP", "PANTOGRAPH_TOP_DOWN", "TESLA_R", "TESLA_S",
]  # fmt: skip
ConnectorFormat = Literal["SOCKET", "CABLE"]
PowerType = Literal["AC_1_PHASE", "AC_2_PHASE", "AC_2_PHASE_SPLIT", "AC_3_PHASE", "DC"]
Capability = Literal[
    "CHARGING_PROFILE_CAPABLE", "CHARGING_PREFERENCES_CAPABLE", "CHIP_CARD_SUPPORT", "CONTACTLESS_CARD_SUPPORT",
    "CREDIT_CARD_PAYABLE", "DEBIT_CARD_PAYABLE", "PED_TERMINAL", "REMOTE_START_STOP_CAPABLE", "RESERVABLE",
    "RFID_READER", "START_SESSION_CONNECTOR_REQUIRED", "TOKEN_GROUP_CAPABLE", "UNLOCK_CAPABLE",
]  # fmt: skip
RegistrationStatus = Literal["Pending", "Accepted", "Rejected"]
# OCPP security profiles (OCPP 1.6 security whitepaper / 2.0.1 part 2 A00.FR): 1 = Basic auth over ws,
# 2 = TLS + Basic auth, 3 = TLS with client certificates.
SecurityProfile = Literal[1, 2, 3]

CONNECTOR_STANDARDS: tuple[str, ...] = ConnectorStandard.__args__  # type: ignore[attr-defined]
CONNECTOR_FORMATS: tuple[str, ...] = ConnectorFormat.__args__  # type: ignore[attr-defined]
POWER_TYPES: tuple[str, ...] = PowerType.__args__  # type: ignore[attr-defined]
CAPABILITIES: tuple[str, ...] = Capability.__args__  # type: ignore[attr-defined]
REGISTRATION_STATUSES: tuple[str, ...] = RegistrationStatus.__args__  # type: ignore[attr-defined]

# OCPI 2.2.1 mod_locations: Facility, ParkingType, EnergySourceCategory, EnvironmentalImpactCategory.
Facility = Literal[
    "HOTEL", "RESTAURANT", "CAFE", "MALL", "SUPERMARKET", "SPORT", "RECREATION_AREA", "NATURE", "MUSEUM",
    "BIKE_SHARING", "BUS_STOP", "TAXI_STAND", "TRAM_STOP", "METRO_STATION", "TRAIN_STATION", "AIRPORT",
    "PARKING_LOT", "CARPOOL_PARKING", "FUEL_STATION", "WIFI",
]  # fmt: skip
ParkingType = Literal[
    "ALONG_MOTORWAY", "PARKING_GARAGE", "PARKING_LOT", "ON_DRIVEWAY", "ON_STREET", "UNDERGROUND_GARAGE"
]
EnergySource = Literal["NUCLEAR", "GENERAL_FOSSIL", "COAL", "GAS", "GENERAL_GREEN", "SOLAR", "WIND", "WATER"]
ImpactCategory = Literal["NUCLEAR_WASTE", "CARBON_DIOXIDE"]

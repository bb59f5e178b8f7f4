"""Tariffs in the database: versions, who they apply to, the class of each session, live costs and CDRs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import msgspec
from sqlalchemy import func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.access.models import Badge
from cpo.charging.models import ChargingSession, MeterSample, StatusEvent
from cpo.db.base import utcnow
from cpo.db.queries import flush_or_conflict, get_scoped
from cpo.errors import Conflict, InvalidInput, NotFound
from cpo.outbox.service import emit
from cpo.people.models import Group, GroupMember, Person
from cpo.sites.models import Connector, Evse, Site, Station
from cpo.tariffs import ocpi
from cpo.tariffs.engine import (
    FOUR_PLACES,
    SECONDS_PER_HOUR,
    CompiledTariff,
    Pricing,
    TariffError,
    compile_tariff,
    price_session,
    to_ocpi_periods,
)
from cpo.tariffs.models import Cdr, Tariff, TariffAssignment, TariffVersion
from cpo.tariffs.periods import build_usages
from cpo.tariffs.schemas import AssignmentIn, TariffBody, TariffIn, VersionIn
from cpo.tenants.models import Tenant

CDR_ISSUED = "cdr.issued"
SESSION_REVIEW = "session.needs_review"
BACKDATE_TOLERANCE = timedelta(minutes=1)
ZERO = Decimal(0)
# Which assignments price a session of each class, in order of preference.
AUDIENCES_FOR = {
    "internal": ("internal", "public"),
    "visitor": ("visitor", "public"),
    "ad_hoc": ("ad_hoc", "public"),
    "roaming": ("roaming", "public"),
    "home": ("home",),
}
GROUP_AUDIENCES = ("internal", "visitor", "home")
TOKEN_TYPES = {"ISO14443": "RFID", "ISO15693": "RFID", "Central": "APP_USER", "eMAID": "OTHER", "KeyCode": "OTHER"}


# --- tariffs and versions -----------------------------------------------------------------------------------


def _ocpi_of(code: str, currency: str, body: TariffBody) -> ocpi.Tariff:
    return ocpi.Tariff(id=code, currency=currency, **{f: getattr(body, f) for f in body.__struct_fields__})


def check_body(code: str, currency: str, body: TariffBody) -> CompiledTariff:
    """The body as a tariff the engine can price; a 400 naming the part that cannot be."""
    try:
        return compile_tariff(_ocpi_of(code, currency, body))
    except TariffError as error:
        raise InvalidInput(f"body.{error.field}", error.reason) from None


def _stored(body: TariffBody) -> dict[str, Any]:
    """JSON for the database: numbers as decimal strings, so nothing is rounded on the way."""
    return msgspec.to_builtins(body)  # type: ignore[no-any-return]


def body_of(version: TariffVersion) -> TariffBody:
    return msgspec.convert(version.body, TariffBody, strict=False)


async def get_tariff(session: AsyncSession, tenant_id: uuid.UUID, tariff_id: uuid.UUID) -> Tariff:
    return await get_scoped(session, Tariff, tenant_id, tariff_id, "tariff")


async def list_tariffs(session: AsyncSession, tenant_id: uuid.UUID) -> list[Tariff]:
    query = select(Tariff).where(Tariff.tenant_id == tenant_id).order_by(Tariff.archived, Tariff.name)
    return list((await session.execute(query)).scalars())


async def versions_of(session: AsyncSession, tariff_id: uuid.UUID) -> list[TariffVersion]:
    query = select(TariffVersion).where(TariffVersion.tariff_id == tariff_id).order_by(TariffVersion.valid_from)
    return list((await session.execute(query)).scalars())


async def create_tariff(session: AsyncSession, tenant_id: uuid.UUID, data: TariffIn) -> Tariff:
    check_body(data.code, data.currency, data.body)
    tariff = Tariff(id=uuid.uuid4(), tenant_id=tenant_id, code=data.code, name=data.name, currency=data.currency)
    session.add(tariff)
    await flush_or_conflict(session, {"uq_tariffs_tenant_id_code": ("code", "a tariff with this code exists")})
    valid_from = data.valid_from or utcnow()
    _aware(valid_from, "valid_from")
    session.add(TariffVersion(id=uuid.uuid4(), tenant_id=tenant_id, tariff_id=tariff.id, valid_from=valid_from,
                              body=_stored(data.body)))  # fmt: skip
    await session.flush()
    await emit(session, "tariff.changed", {"id": tariff.id}, tenant_id)
    return tariff


def _aware(moment: datetime, field: str) -> None:
    if moment.tzinfo is None:
        raise InvalidInput(field, "give a time zone, e.g. 2027-01-01T00:00:00+01:00")


async def add_version(
    session: AsyncSession, tenant_id: uuid.UUID, tariff_id: uuid.UUID, data: VersionIn
) -> TariffVersion:
    """A new version from ``valid_from`` on. Never in the past: what sessions were priced with stays."""
    tariff = await get_scoped(session, Tariff, tenant_id, tariff_id, "tariff", lock="delete")
    _aware(data.valid_from, "valid_from")
    if data.valid_from < utcnow() - BACKDATE_TOLERANCE:
        raise InvalidInput("valid_from", "a new version takes effect now or later, never in the past")
    check_body(tariff.code, tariff.currency, data.body)
    version = TariffVersion(id=uuid.uuid4(), tenant_id=tenant_id, tariff_id=tariff.id, valid_from=data.valid_from,
                            body=_stored(data.body))  # fmt: skip
    session.add(version)
    await flush_or_conflict(session, {
        "uq_tariff_versions_tariff_id_valid_from": ("valid_from", "a version of this tariff starts at that moment"),
    })  # fmt: skip
    tariff.updated_at = utcnow()
    await emit(session, "tariff.changed", {"id": tariff.id}, tenant_id)
    return version


async def archive_tariff(session: AsyncSession, tenant_id: uuid.UUID, tariff_id: uuid.UUID) -> Tariff:
    """Out of use: its assignments go; versions and the CDRs priced with them stay."""
    tariff = await get_tariff(session, tenant_id, tariff_id)
    tariff.archived = True
    for assignment in (await session.execute(
        select(TariffAssignment).where(TariffAssignment.tariff_id == tariff.id)
    )).scalars():  # fmt: skip
        await session.delete(assignment)
    await session.flush()
    await emit(session, "tariff.changed", {"id": tariff.id, "archived": True}, tenant_id)
    return tariff


def version_at(versions: list[TariffVersion], moment: datetime) -> TariffVersion | None:
    """The version in force at ``moment``: the latest that started at or before it."""
    found = None
    for version in versions:
        if version.valid_from <= moment:
            found = version
    return found


DEFAULT_PARTY = ("NL", "CPO")
"""The OCPI country code and party id of a tenant that has not set its own (``PATCH /api/v1/tenants``)."""


def party_of(tenant: Tenant | None) -> tuple[str, str]:
    if tenant is None:
        return DEFAULT_PARTY
    return tenant.country_code or DEFAULT_PARTY[0], tenant.party_id or DEFAULT_PARTY[1]


def ocpi_tariff(
    tariff: Tariff, version: TariffVersion, valid_until: datetime | None = None, party: Tenant | None = None
) -> ocpi.Tariff:
    """The version as an OCPI 2.2.1 Tariff."""
    body = body_of(version)
    out = _ocpi_of(tariff.code, tariff.currency, body)
    out.country_code, out.party_id = party_of(party)
    out.start_date_time = version.valid_from
    out.end_date_time = valid_until
    out.last_updated = version.created_at
    return out


_COMPILED: dict[uuid.UUID, CompiledTariff] = {}


def compiled_version(tariff: Tariff, version: TariffVersion) -> CompiledTariff:
    """Versions never change: each is compiled once per process."""
    found = _COMPILED.get(version.id)
    if found is None:
        if len(_COMPILED) > 2_000:
            _COMPILED.clear()
        found = _COMPILED[version.id] = check_body(tariff.code, tariff.currency, body_of(version))
    return found


# --- assignments --------------------------------------------------------------------------------------------


async def _site_of_place(session: AsyncSession, tenant_id: uuid.UUID, data: AssignmentIn) -> Site | None:
    if data.site_id is not None:
        return await get_scoped(session, Site, tenant_id, data.site_id, "site")
    evse_id = data.evse_id
    if data.connector_id is not None:
        connector = await get_scoped(session, Connector, tenant_id, data.connector_id, "connector")
        evse_id = connector.evse_id
    if evse_id is not None:
        evse = await get_scoped(session, Evse, tenant_id, evse_id, "EVSE")
        station = await get_scoped(session, Station, tenant_id, evse.station_id, "station")
        return await get_scoped(session, Site, tenant_id, station.site_id, "site")
    return None


LOCATIONS_REPRICED = "locations.repriced"
"""Which tariff applies where changed: what published locations show (their tariff ids) changed with it."""


async def _repriced(session: AsyncSession, tenant_id: uuid.UUID, site: Site | None, audience: str) -> None:
    """A public or roaming rate moved: the site (or, for a tenant-wide rate, every published site) changed."""
    if audience not in ("public", "roaming"):
        return
    scope = Site.id == site.id if site is not None else Site.publish
    await session.execute(update(Site).where(Site.tenant_id == tenant_id, scope).values(changed_at=utcnow()))
    await emit(session, LOCATIONS_REPRICED, {"site_id": site.id if site else None}, tenant_id)


async def assign(session: AsyncSession, tenant_id: uuid.UUID, data: AssignmentIn) -> TariffAssignment:
    places = [x for x in (data.site_id, data.evse_id, data.connector_id) if x is not None]
    if len(places) > 1:
        raise InvalidInput("site_id", "give one place: a site, an EVSE or a connector (none: every site)")
    if data.group_id is not None and data.audience not in GROUP_AUDIENCES:
        raise InvalidInput("group_id", f"only {', '.join(GROUP_AUDIENCES)} rates are given to a group")
    if data.partner is not None and data.audience != "roaming":
        raise InvalidInput("partner", "only a roaming tariff is given to one partner")
    tariff = await get_tariff(session, tenant_id, data.tariff_id)
    if tariff.archived:
        raise InvalidInput("tariff_id", "the tariff is archived")
    try:
        site = await _site_of_place(session, tenant_id, data)
    except NotFound as missing:
        raise InvalidInput(f"{missing.kind.lower()}_id", "not a place of this tenant") from None
    if site is not None and site.currency != tariff.currency:
        raise InvalidInput("tariff_id", f"the tariff is in {tariff.currency}, the site {site.name} in {site.currency}")
    if data.group_id is not None:
        await get_scoped(session, Group, tenant_id, data.group_id, "group")
    assignment = TariffAssignment(id=uuid.uuid4(), tenant_id=tenant_id,
                                  **{f: getattr(data, f) for f in data.__struct_fields__})  # fmt: skip
    session.add(assignment)
    await flush_or_conflict(session, {
        "uq_tariff_assignments_place": ("audience", "this place already has a tariff for that audience"),
    })  # fmt: skip
    await emit(session, "tariff.changed", {"id": tariff.id}, tenant_id)
    await _repriced(session, tenant_id, site, data.audience)
    return assignment


async def list_assignments(
    session: AsyncSession, tenant_id: uuid.UUID, tariff_id: uuid.UUID | None = None
) -> list[TariffAssignment]:
    query = select(TariffAssignment).where(TariffAssignment.tenant_id == tenant_id)
    if tariff_id is not None:
        query = query.where(TariffAssignment.tariff_id == tariff_id)
    return list((await session.execute(query.order_by(TariffAssignment.audience, TariffAssignment.id))).scalars())


async def unassign(session: AsyncSession, tenant_id: uuid.UUID, assignment_id: uuid.UUID) -> None:
    assignment = await get_scoped(session, TariffAssignment, tenant_id, assignment_id, "tariff assignment")
    site = await _site_of_place(session, tenant_id, assignment)  # type: ignore[arg-type]
    await session.delete(assignment)
    await session.flush()
    await emit(session, "tariff.changed", {"id": assignment.tariff_id}, tenant_id)
    await _repriced(session, tenant_id, site, assignment.audience)


# --- the class of a session and its tariff --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Place:
    """Where a session runs: its site, EVSE and connector."""

    site: Site
    evse: Evse | None
    connector: Connector | None


async def place_of(session: AsyncSession, charging: ChargingSession) -> Place | None:
    station = await session.get(Station, charging.station_id)
    if station is None:
        return None
    site = await session.get(Site, station.site_id)
    if site is None:
        return None
    evse = await session.get(Evse, charging.evse_id) if charging.evse_id else None
    connector = None
    if evse is not None and charging.ocpp_connector_id is not None:
        connector = (await session.execute(select(Connector).where(
            Connector.evse_id == evse.id, Connector.ocpp_connector_id == charging.ocpp_connector_id
        ))).scalar_one_or_none()  # fmt: skip
    return Place(site, evse, connector)


def classify(charging: ChargingSession, place: Place | None, person: Person | None) -> tuple[str, str]:
    """The class of use and who pays, from the token and the EVSE (see the README's Billing section)."""
    if charging.partner:
        return "roaming", "emsp"
    if charging.session_class == "ad_hoc":
        return "ad_hoc", "driver"
    if person is not None:
        if place is not None and place.site.home_person_id == person.id:
            return "home", "employer"
        if person.kind == "employee":
            return "internal", "cost_centre"
        return "visitor", "driver"
    if charging.badge_id is not None:
        return "internal", "cost_centre"  # a company badge that belongs to nobody: the company pays
    if place is not None and place.evse is not None and place.evse.public:
        return "ad_hoc", "driver"  # a public EVSE letting anyone charge (no token needed)
    return "internal", "cost_centre"


async def _groups_of(session: AsyncSession, person: Person | None) -> set[uuid.UUID]:
    if person is None:
        return set()
    members = (await session.execute(select(GroupMember.group_id).where(GroupMember.person_id == person.id))).scalars()
    return {g for g in (person.department_id, person.cost_centre_id, *members) if g is not None}


async def resolve(
    session: AsyncSession, charging: ChargingSession, place: Place | None, person: Person | None, session_class: str
) -> tuple[Tariff | None, TariffVersion | None, str | None]:
    """The tariff and version for a session: the most specific assignment for its audience at its place, in
    force when it started. Otherwise (None, None, why)."""
    if place is None:
        return None, None, "the session's station or site is gone"
    groups = await _groups_of(session, person)
    audiences = AUDIENCES_FOR[session_class]
    rows = (await session.execute(select(TariffAssignment, Tariff).join(
        Tariff, Tariff.id == TariffAssignment.tariff_id
    ).where(
        TariffAssignment.tenant_id == charging.tenant_id,
        TariffAssignment.audience.in_(audiences),
        Tariff.archived.is_(False),
    ))).all()  # fmt: skip
    best: tuple[tuple[int, int, bool, bool], Tariff] | None = None
    for assignment, tariff in rows:
        if assignment.connector_id is not None:
            if place.connector is None or assignment.connector_id != place.connector.id:
                continue
            where = 3
        elif assignment.evse_id is not None:
            if place.evse is None or assignment.evse_id != place.evse.id:
                continue
            where = 2
        elif assignment.site_id is not None:
            if assignment.site_id != place.site.id:
                continue
            where = 1
        else:
            where = 0
        if assignment.group_id is not None and assignment.group_id not in groups:
            continue
        if assignment.partner is not None and assignment.partner != charging.partner:
            continue
        rank = (-audiences.index(assignment.audience), where, assignment.group_id is not None,
                assignment.partner is not None)  # fmt: skip
        if best is None or rank > best[0]:
            best = (rank, tariff)
    if best is None:
        return None, None, f"no tariff for {' or '.join(audiences)} use at {place.site.name}"
    tariff = best[1]
    if tariff.currency != place.site.currency:
        return tariff, None, f"tariff {tariff.code} is in {tariff.currency}, the site in {place.site.currency}"
    version = version_at(await versions_of(session, tariff.id), charging.started_at)
    if version is None:
        return tariff, None, f"tariff {tariff.code} had no version in force when the session started"
    return tariff, version, None


async def on_session_start(session: AsyncSession, charging: ChargingSession) -> None:
    """Fix the session's class, payer and tariff version at its start (a session keeps its tariff)."""
    if charging.session_class is not None and charging.tariff_version_id is not None:
        return
    place = await place_of(session, charging)
    person = await session.get(Person, charging.person_id) if charging.person_id else None
    charging.session_class, charging.payer = classify(charging, place, person)
    _tariff, version, note = await resolve(session, charging, place, person, charging.session_class)
    charging.tariff_version_id = version.id if version else None
    charging.pricing_note = note


# --- what a session used, and what it costs ------------------------------------------------------------------


async def session_usages(session: AsyncSession, charging: ChargingSession, until: datetime, merge: bool) -> list[Any]:
    """The session's stretches, from its meter readings and its charging states."""
    end = charging.stopped_at or until
    registers = (await session.execute(
        select(MeterSample.sampled_at, MeterSample.value, MeterSample.measurand, MeterSample.phase).where(
            MeterSample.session_id == charging.id,
            MeterSample.measurand.in_(("Energy.Active.Import.Register", "Power.Active.Import", "Current.Import")),
            MeterSample.value.is_not(None),
            or_(MeterSample.location.is_(None), MeterSample.location != "EV"),
        ).order_by(MeterSample.sampled_at)
    )).all()  # fmt: skip
    readings = [(at, v) for at, v, m, phase in registers
                if m == "Energy.Active.Import.Register" and phase is None and v is not None]  # fmt: skip
    powers = [
        (at, v) for at, v, m, phase in registers if m == "Power.Active.Import" and phase is None and v is not None
    ]
    # current: the sum over the phases at each moment (a total when the station sends one)
    per_moment: dict[datetime, dict[str | None, Decimal]] = {}
    for at, v, m, phase in registers:
        if m == "Current.Import" and v is not None and phase in (None, "L1", "L2", "L3"):
            per_moment.setdefault(at, {})[phase] = v
    currents = [(at, got[None] if None in got else sum(got.values(), ZERO)) for at, got in sorted(per_moment.items())]
    if charging.meter_start_wh is not None:
        readings.insert(0, (charging.started_at, charging.meter_start_wh))
    if charging.stopped_at is not None and charging.meter_stop_wh is not None:
        readings.append((charging.stopped_at, charging.meter_stop_wh))
    states: list[tuple[datetime, str]] = []
    if charging.ocpp_version == "2.0.1":
        states = [(datetime.fromisoformat(at), state) for at, state in charging.state_changes or []]
    elif charging.ocpp_evse_id is not None:
        states = list((await session.execute(
            select(StatusEvent.status_at, StatusEvent.status).where(
                StatusEvent.station_id == charging.station_id,
                StatusEvent.ocpp_evse_id == charging.ocpp_evse_id,
                StatusEvent.status_at >= charging.started_at - timedelta(minutes=5),
                StatusEvent.status_at <= end,
            ).order_by(StatusEvent.status_at)
        )).tuples())  # fmt: skip
    return build_usages(charging.started_at, end, readings, states, powers, merge, currents)


async def price(
    session: AsyncSession, charging: ChargingSession, until: datetime | None = None
) -> tuple[Tariff | None, TariffVersion | None, Pricing | None, str | None]:
    """The session's cost so far (or in full, once stopped), with the tariff version it started with."""
    version = await session.get(TariffVersion, charging.tariff_version_id) if charging.tariff_version_id else None
    if version is None:
        return None, None, None, charging.pricing_note or "no tariff applies"
    tariff = await session.get(Tariff, version.tariff_id)
    assert tariff is not None
    place = await place_of(session, charging)
    zone = place.site.time_zone if place else "UTC"
    compiled = compiled_version(tariff, version)
    usages = await session_usages(session, charging, until or utcnow(), merge=compiled.static)
    return tariff, version, price_session(compiled, usages, zone, charging.started_at), None


# --- CDRs --------------------------------------------------------------------------------------------------


async def _next_number(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    """The tenant's next CDR number: the counter row stays locked until this transaction ends, so numbers
    are handed out in order and none is lost."""
    from cpo.tariffs.models import CdrCounter

    statement = insert(CdrCounter).values(tenant_id=tenant_id, last_number=1).on_conflict_do_update(
        index_elements=["tenant_id"], set_={"last_number": CdrCounter.last_number + 1}
    ).returning(CdrCounter.last_number)  # fmt: skip
    return int((await session.execute(statement)).scalar_one())


def _q(amount: Decimal) -> Decimal:
    """As OCPI writes numbers: 4 decimals, half up."""
    return amount.quantize(FOUR_PLACES, rounding=ROUND_HALF_UP)


async def live_cdr(session: AsyncSession, session_id: uuid.UUID) -> Cdr | None:
    """The session's CDR in force: issued and not credited."""
    credited = select(Cdr.credit_of).where(Cdr.credit_of.is_not(None))
    query = select(Cdr).where(Cdr.session_id == session_id, Cdr.credit.is_(False), Cdr.id.not_in(credited))
    return (await session.execute(query.order_by(Cdr.number.desc()).limit(1))).scalar_one_or_none()


async def issue_cdr(session: AsyncSession, session_id: uuid.UUID) -> Cdr | None:
    """Price a finished session and issue its CDR, once (a repeat returns the same CDR). A session that
    cannot be priced is marked for review with the reason, never priced at zero."""
    charging = (await session.execute(
        select(ChargingSession).where(ChargingSession.id == session_id).with_for_update()
    )).scalar_one_or_none()  # fmt: skip
    if charging is None or charging.status != "completed" or charging.stopped_at is None:
        return None
    if (existing := await live_cdr(session, charging.id)) is not None:
        return existing
    if charging.session_class is None:
        await on_session_start(session, charging)
    tariff, version, pricing, note = await price(session, charging)
    if pricing is None or tariff is None or version is None:
        charging.pricing, charging.pricing_note = "review", note
        await emit(session, SESSION_REVIEW, {"id": charging.id, "reason": note}, charging.tenant_id)
        return None
    cdr = await _make_cdr(session, charging, tariff, version, pricing)
    charging.pricing, charging.pricing_note = "priced", None
    await emit(session, CDR_ISSUED, {"id": cdr.id, "session_id": charging.id, "number": cdr.number},
               charging.tenant_id)  # fmt: skip
    return cdr


async def _payment_ref(session: AsyncSession, charging: ChargingSession) -> str | None:
    """The card payment a session paid at the charger was taken from (its PaymentIntent), if any."""
    if charging.session_class != "ad_hoc":
        return None
    from cpo.adhoc.models import AdHocPayment

    return await session.scalar(select(AdHocPayment.intent_id).where(AdHocPayment.session_id == charging.id))


async def _make_cdr(
    session: AsyncSession, charging: ChargingSession, tariff: Tariff, version: TariffVersion, pricing: Pricing
) -> Cdr:
    tenant = await session.get(Tenant, charging.tenant_id)
    place = await place_of(session, charging)
    number = await _next_number(session, charging.tenant_id)
    valid_until = next((v.valid_from for v in await versions_of(session, tariff.id) if v.valid_from > version.valid_from),
                       None)  # fmt: skip
    cost = {name: pricing.cost(name) for name in ("energy", "time", "parking", "fixed", "reservation")}
    cdr = Cdr(
        id=uuid.uuid4(),
        tenant_id=charging.tenant_id,
        number=number,
        ocpi_id=f"C{number:012d}",
        session_id=charging.id,
        credit=False,
        session_class=charging.session_class or "internal",
        payer=charging.payer or "cost_centre",
        person_id=charging.person_id,
        cost_centre_id=charging.cost_centre_id,
        project_id=charging.project_id,
        department_id=charging.department_id,
        partner=charging.partner,
        payment_ref=await _payment_ref(session, charging),
        site_id=place.site.id if place else None,
        tariff_version_id=version.id,
        currency=tariff.currency,
        start_date_time=charging.started_at,
        end_date_time=charging.stopped_at or utcnow(),
        total_energy_kwh=_q(pricing.energy_wh / 1000),
        total_time_h=_q(pricing.duration_s / SECONDS_PER_HOUR),
        total_parking_time_h=_q(pricing.parking_s / SECONDS_PER_HOUR),
        total_excl=_q(pricing.total.excl_vat),
        total_incl=_q(pricing.total.incl_vat or pricing.total.excl_vat),
        **{f"{name}_excl": _q(price.excl_vat) for name, price in cost.items()},
        **{f"{name}_incl": _q(price.incl_vat or price.excl_vat) for name, price in cost.items()},
        tariff=msgspec.to_builtins(ocpi_tariff(tariff, version, valid_until, tenant)),
        charging_periods=msgspec.to_builtins(to_ocpi_periods(pricing)),
        cdr_location=_cdr_location(place, charging),
        cdr_token=cdr_token(
            charging, tenant, await session.get(Badge, charging.badge_id) if charging.badge_id else None
        ),
        auth_method="COMMAND" if charging.authorization == "remote" else "WHITELIST",
        signed_data=await _signed_data(session, charging),
        meter_id=None,
    )
    session.add(cdr)
    await session.flush()
    return cdr


def _cdr_location(place: Place | None, charging: ChargingSession) -> dict[str, Any]:
    if place is None:
        return {"id": "#NA", "evse_uid": "#NA", "evse_id": "#NA", "connector_id": "#NA"}
    site, evse, connector = place.site, place.evse, place.connector
    found = {
        "id": str(site.id), "name": site.name, "address": site.address, "city": site.city,
        "postal_code": site.postal_code, "country": site.country,
        "coordinates": {"latitude": f"{site.latitude:.6f}", "longitude": f"{site.longitude:.6f}"},
        "evse_uid": evse.uid if evse else "#NA", "evse_id": (evse.evse_id or evse.uid) if evse else "#NA",
        "connector_id": str(charging.ocpp_connector_id or 1),
        "connector_standard": connector.standard if connector else "IEC_62196_T2",
        "connector_format": connector.format if connector else "SOCKET",
        "connector_power_type": connector.power_type if connector else "AC_3_PHASE",
    }  # fmt: skip
    return {key: value for key, value in found.items() if value is not None}  # OCPI: absent, never null


def cdr_token(charging: ChargingSession, tenant: Tenant | None, badge: Badge | None) -> dict[str, Any]:
    uid = charging.id_tag or "#NA"
    kind = TOKEN_TYPES.get(badge.token_type if badge else (charging.id_token_type or ""), "RFID" if badge else "OTHER")
    country, party = party_of(tenant)
    return {"country_code": country, "party_id": party, "uid": uid, "type": kind, "contract_id": uid}


async def _signed_data(session: AsyncSession, charging: ChargingSession) -> dict[str, Any] | None:
    """Signed meter values of the session, verbatim, as OCPI SignedData."""
    rows = (await session.execute(
        select(MeterSample.context, MeterSample.raw_value, MeterSample.signed).where(
            MeterSample.session_id == charging.id, func.jsonb_typeof(MeterSample.signed) == "object"
        ).order_by(MeterSample.sampled_at, MeterSample.id)
    )).all()  # fmt: skip
    rows = [row for row in rows if isinstance(row[2], dict)]  # JSON null is not SQL NULL
    if not rows:
        return None
    natures = {"Transaction.Begin": "Start", "Transaction.End": "End"}
    values = []
    method = None
    key = None
    for context, raw, signed in rows:
        method = method or signed.get("encodingMethod") or signed.get("signingMethod") or signed.get("format")
        key = key or signed.get("publicKey")
        values.append({
            "nature": natures.get(context or "", "Intermediate"),
            "plain_data": str(raw)[:5000],
            "signed_data": str(signed.get("signedMeterData") or signed.get("value") or "")[:5000],
        })  # fmt: skip
    out: dict[str, Any] = {"encoding_method": str(method or "unknown")[:36], "signed_values": values}
    if key:
        out["public_key"] = str(key)[:512]
    return out


async def credit_cdr(
    session: AsyncSession, tenant_id: uuid.UUID, cdr_id: uuid.UUID, reason: str, reissue: bool
) -> tuple[Cdr, Cdr | None]:
    """Cancel a CDR by a credit CDR (the same record, negative amounts); then, if asked, price the session
    again with the tariff that applies now and issue a new CDR."""
    original = await get_scoped(session, Cdr, tenant_id, cdr_id, "CDR", lock="delete")
    if original.credit:
        raise InvalidInput("cdr", "a credit CDR is not credited itself")
    if (await session.execute(select(Cdr.id).where(Cdr.credit_of == original.id))).first() is not None:
        raise Conflict("this CDR has been credited already", "cdr")
    number = await _next_number(session, tenant_id)
    negated = {name: -getattr(original, name) for name in (
        "total_excl", "total_incl", "energy_excl", "energy_incl", "time_excl", "time_incl", "parking_excl",
        "parking_incl", "fixed_excl", "fixed_incl", "reservation_excl", "reservation_incl",
    )}  # fmt: skip
    copied = {name: getattr(original, name) for name in (
        "session_id", "session_class", "payer", "person_id", "cost_centre_id", "project_id", "department_id",
        "partner", "payment_ref", "site_id", "tariff_version_id", "currency", "start_date_time", "end_date_time",
        "total_energy_kwh", "total_time_h", "total_parking_time_h", "tariff", "charging_periods", "cdr_location",
        "cdr_token", "auth_method", "signed_data", "meter_id",
    )}  # fmt: skip
    credit = Cdr(id=uuid.uuid4(), tenant_id=tenant_id, number=number, ocpi_id=f"{original.ocpi_id}-C", credit=True,
                 credit_of=original.id, **copied, **negated)  # fmt: skip
    session.add(credit)
    await session.flush()
    await emit(session, CDR_ISSUED, {"id": credit.id, "credit_of": original.id, "reason": reason}, tenant_id)
    reissued = None
    if reissue and original.session_id is not None:
        charging = await session.get(ChargingSession, original.session_id)
        if charging is not None:
            place = await place_of(session, charging)
            person = await session.get(Person, charging.person_id) if charging.person_id else None
            _, version, note = await resolve(session, charging, place, person, charging.session_class or "internal")
            charging.tariff_version_id = version.id if version else None
            charging.pricing_note = note
            reissued = await issue_cdr(session, charging.id)
    return credit, reissued


async def get_cdr(session: AsyncSession, tenant_id: uuid.UUID, cdr_id: uuid.UUID) -> Cdr:
    return await get_scoped(session, Cdr, tenant_id, cdr_id, "CDR")


async def list_cdrs(
    session: AsyncSession, tenant_id: uuid.UUID, limit: int = 100, before_number: int | None = None,
    session_class: str | None = None,
) -> list[Cdr]:  # fmt: skip
    query = select(Cdr).where(Cdr.tenant_id == tenant_id)
    if before_number is not None:
        query = query.where(Cdr.number < before_number)
    if session_class is not None:
        query = query.where(Cdr.session_class == session_class)
    return list((await session.execute(query.order_by(Cdr.number.desc()).limit(limit))).scalars())


async def cdr_totals(session: AsyncSession, session_ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[str, Decimal]]:
    """The billed total incl. VAT of each session that has a CDR in force."""
    if not session_ids:
        return {}
    credited = select(Cdr.credit_of).where(Cdr.credit_of.is_not(None))
    rows = (await session.execute(select(Cdr.session_id, Cdr.currency, Cdr.total_incl).where(
        Cdr.session_id.in_(session_ids), Cdr.credit.is_(False), Cdr.id.not_in(credited)))).all()  # fmt: skip
    return {sid: (currency, total) for sid, currency, total in rows if sid is not None}


async def sessions_to_review(session: AsyncSession, tenant_id: uuid.UUID) -> list[ChargingSession]:
    query = select(ChargingSession).where(ChargingSession.tenant_id == tenant_id, ChargingSession.pricing == "review")
    return list((await session.execute(query.order_by(ChargingSession.stopped_at.desc()))).scalars())


async def price_again(session: AsyncSession, tenant_id: uuid.UUID, session_id: uuid.UUID) -> Cdr | None:
    """A session in review (e.g. a tariff was assigned since): resolve its tariff again and issue its CDR."""
    charging = await get_scoped(session, ChargingSession, tenant_id, session_id, "session")
    if charging.pricing == "priced":
        raise Conflict("this session has its CDR: credit it to correct it", "session")
    place = await place_of(session, charging)
    person = await session.get(Person, charging.person_id) if charging.person_id else None
    charging.session_class, charging.payer = classify(charging, place, person)
    _, version, note = await resolve(session, charging, place, person, charging.session_class)
    charging.tariff_version_id, charging.pricing_note = (version.id if version else None), note
    return await issue_cdr(session, charging.id)


# --- cost allocation --------------------------------------------------------------------------------------


ZONE_SLACK = timedelta(hours=15)
"""Every UTC offset in use lies within this: a wall-clock period's sessions end within it of the UTC one."""


async def allocation(session: AsyncSession, tenant_id: uuid.UUID, start: datetime, end: datetime) -> list[Any]:
    """Internal CDRs (credits netted) of sessions that ended in [start, end), per customer project or else
    cost centre. The bounds are read on the wall clock of each session's site (a month is the site's own
    month: a session ending at 00:30 on the 1st in Brussels is the new month's), UTC where a site is unknown."""
    from cpo.tariffs.schemas import AllocationRow

    target = func.coalesce(Cdr.project_id, Cdr.cost_centre_id)
    wall = func.timezone(func.coalesce(Site.time_zone, "UTC"), Cdr.end_date_time)
    local_start, local_end = start.replace(tzinfo=None), end.replace(tzinfo=None)
    rows = (await session.execute(
        select(target, Cdr.currency, func.count(Cdr.id).filter(Cdr.credit.is_(False)) - func.count(Cdr.id).filter(
            Cdr.credit.is_(True)), func.sum(text("CASE WHEN cdrs.credit THEN -cdrs.total_energy_kwh "
                                                 "ELSE cdrs.total_energy_kwh END")),
               func.sum(Cdr.total_excl), func.sum(Cdr.total_incl))
        .outerjoin(Site, Site.id == Cdr.site_id)
        .where(Cdr.tenant_id == tenant_id, Cdr.payer == "cost_centre", Cdr.end_date_time >= start - ZONE_SLACK,
               Cdr.end_date_time < end + ZONE_SLACK, wall >= local_start, wall < local_end)
        .group_by(target, Cdr.currency)
    )).all()  # fmt: skip
    groups = {g.id: g for g in (await session.execute(
        select(Group).where(Group.tenant_id == tenant_id, Group.id.in_([r[0] for r in rows if r[0]]))
    )).scalars()}  # fmt: skip
    out = []
    for group_id, currency, count, kwh, excl, incl in rows:
        group = groups.get(group_id)
        out.append(AllocationRow(
            kind=group.kind if group else "unallocated", group_id=group_id, code=group.code if group else None,
            name=group.name if group else "(no cost centre)", sessions=int(count), energy_kwh=_q(kwh or ZERO),
            excl_vat=_q(excl or ZERO), vat=_q((incl or ZERO) - (excl or ZERO)), incl_vat=_q(incl or ZERO),
            currency=currency,
        ))  # fmt: skip
    return sorted(out, key=lambda r: (r.kind, r.name))


def allocation_csv(rows: list[Any], month: str) -> str:
    from cpo.csv_cells import csv_text

    header = ["month", "kind", "code", "name", "sessions", "energy_kwh", "excl_vat", "vat", "incl_vat", "currency"]
    return csv_text(header, ([month, r.kind, r.code or "", r.name, r.sessions, r.energy_kwh, r.excl_vat, r.vat,
                              r.incl_vat, r.currency] for r in rows))  # fmt: skip


# --- what a driver sees before starting ------------------------------------------------------------------


def _when(restrictions: ocpi.TariffRestrictions | None) -> str | None:
    if restrictions is None:
        return None
    parts = []
    if restrictions.day_of_week:
        parts.append(", ".join(d[:3].lower() for d in restrictions.day_of_week))
    if restrictions.start_time or restrictions.end_time:
        parts.append(f"{restrictions.start_time or '00:00'}-{restrictions.end_time or '00:00'}")
    if restrictions.start_date or restrictions.end_date:
        parts.append(f"from {restrictions.start_date or '…'} until {restrictions.end_date or '…'}")
    for name, unit in (("kwh", "kWh"), ("power", "kW"), ("current", "A")):
        low, high = getattr(restrictions, f"min_{name}"), getattr(restrictions, f"max_{name}")
        if low is not None:
            parts.append(f"from {low} {unit}")
        if high is not None:
            parts.append(f"below {high} {unit}")
    if restrictions.min_duration is not None:
        parts.append(f"after {restrictions.min_duration // 60} min")
    if restrictions.max_duration is not None:
        parts.append(f"for the first {restrictions.max_duration // 60} min")
    if restrictions.reservation:
        parts.append("reservation" if restrictions.reservation == "RESERVATION" else "expired reservation")
    return "; ".join(parts) or None


async def driver_prices(
    session: AsyncSession, tenant_id: uuid.UUID, evse_id: uuid.UUID, audience: str = "public",
    at: datetime | None = None,
) -> Any:  # fmt: skip
    """The prices a driver of ``audience`` sees for this EVSE now, including VAT: per kWh, per hour, start
    fee, parking; with when each applies. The QR pay page and OCPI show the same."""
    from cpo.tariffs.schemas import DriverPrices, PriceComponentOut

    evse = await get_scoped(session, Evse, tenant_id, evse_id, "EVSE")
    station = await get_scoped(session, Station, tenant_id, evse.station_id, "station")
    site = await get_scoped(session, Site, tenant_id, station.site_id, "site")
    probe = ChargingSession(tenant_id=tenant_id, station_id=station.id, evse_id=evse.id, started_at=at or utcnow(),
                            ocpp_connector_id=None, partner=None, session_class=None)  # fmt: skip
    classes = {"public": "ad_hoc", "ad_hoc": "ad_hoc", "internal": "internal", "visitor": "visitor",
               "roaming": "roaming", "home": "home"}  # fmt: skip
    if audience not in classes:
        raise InvalidInput("audience", f"one of {', '.join(classes)}")
    place = Place(site, evse, None)
    tariff, version, note = await resolve(session, probe, place, None, classes[audience])
    if tariff is None or version is None:
        raise NotFound("tariff", note or audience)
    body = body_of(version)
    components = []
    for element in body.elements:
        if element.restrictions is not None and element.restrictions.reservation:
            continue
        for component in element.price_components:
            with_vat = component.price * (100 + (component.vat or 0)) / 100
            components.append(PriceComponentOut(
                type=component.type, price_excl_vat=component.price, price_incl_vat=_q(with_vat),
                vat=component.vat, unit={"ENERGY": "kWh", "TIME": "hour", "PARKING_TIME": "hour",
                                         "FLAT": "session"}[component.type],
                step_size=component.step_size, when=_when(element.restrictions),
            ))  # fmt: skip
    return DriverPrices(tariff_id=tariff.id, tariff_code=tariff.code, currency=tariff.currency, audience=audience,
                        components=components, min_price=body.min_price, max_price=body.max_price,
                        alt_text=body.tariff_alt_text, valid_from=version.valid_from)  # fmt: skip

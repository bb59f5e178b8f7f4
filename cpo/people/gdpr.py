"""What we hold about a person (GDPR Art. 15/20), erasure (Art. 17) that keeps the books, and retention.

Erasure replaces names, e-mail addresses and badge UIDs with keyed hashes (pseudonyms, Art. 4(5)) and
unlinks the person's sessions, which stay: energy, times, prices and cost allocation are financial
records the law requires us to keep. The key is the tenant's own and never leaves the database.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Text, cast, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.access.local_lists import ERASED_ENTRY
from cpo.access.models import AccessRule, Badge, LocalListEntry
from cpo.access.tokens import canonical_uid
from cpo.accounts.models import Account, SignInFailure
from cpo.accounts.sign_in_limits import account_key
from cpo.audit.capture import ACTOR_KEY, snapshot
from cpo.audit.models import AuditEntry
from cpo.charging.models import ChargingSession, MeterSample, StationCommand, StationEvent, StatusEvent
from cpo.db.base import utcnow
from cpo.outbox.service import emit
from cpo.people.models import Group, GroupMember
from cpo.people.service import get_person
from cpo.sites.models import Site, Station
from cpo.tariffs.models import Cdr
from cpo.tenants.models import Tenant

PERSONAL_KEYS = {"name", "email", "user_name", "external_id", "uid", "label", "id_tag", "group_uid"}
HOME_KEYS = {"name", "address", "postal_code", "state", "latitude", "longitude"}
"""What an audit entry about a home charger's site says of where the person lives."""


def _row(obj: Any) -> dict[str, Any]:
    return {k: v for k, v in snapshot(obj).items() if k != "tenant_id"}


async def export_person(session: AsyncSession, tenant_id: uuid.UUID, person_id: uuid.UUID) -> dict[str, Any]:
    """Everything held about the person, in one document."""
    person = await get_person(session, tenant_id, person_id)
    badges = list((await session.execute(select(Badge).where(Badge.person_id == person.id))).scalars())
    members = (await session.execute(select(GroupMember.group_id).where(GroupMember.person_id == person.id))).scalars()
    group_ids = [person.department_id, person.cost_centre_id, *members]
    groups = (await session.execute(select(Group).where(Group.id.in_([g for g in group_ids if g])))).scalars()
    rules = (await session.execute(select(AccessRule).where(AccessRule.person_id == person.id))).scalars()
    charging = (
        await session.execute(
            select(ChargingSession, Station.identity)
            .join(Station, Station.id == ChargingSession.station_id)
            .where(ChargingSession.person_id == person.id)
            .order_by(ChargingSession.started_at)
        )
    ).all()
    accounts = (await session.execute(select(Account).where(Account.person_id == person.id))).scalars()
    cdrs = (await session.execute(select(Cdr).where(Cdr.person_id == person.id).order_by(Cdr.number))).scalars()
    about = [str(person.id), *(str(b.id) for b in badges)]
    audit = (
        await session.execute(
            select(AuditEntry).where(AuditEntry.tenant_id == tenant_id, AuditEntry.entity_id.in_(about))
            .order_by(AuditEntry.id)
        )
    ).scalars()  # fmt: skip
    return {
        "person": _row(person),
        "groups": [{"id": str(g.id), "kind": g.kind, "name": g.name} for g in groups],
        "badges": [_row(b) for b in badges],
        "access_rules": [_row(r) for r in rules],
        "sessions": [_row(s) | {"station": identity} for s, identity in charging],
        "accounts": [_row(a) for a in accounts],
        "cdrs": [
            {k: v for k, v in _row(c).items() if k not in ("tariff", "charging_periods", "cdr_location")} for c in cdrs
        ],
        "audit": [_row(e) for e in audit],
        "exported_at": utcnow().isoformat(),
    }


async def _key(session: AsyncSession, tenant_id: uuid.UUID) -> bytes:
    tenant = await session.get(Tenant, tenant_id, with_for_update=True)
    assert tenant is not None
    if tenant.pseudonym_key is None:
        tenant.pseudonym_key = secrets.token_hex(32)
    return bytes.fromhex(tenant.pseudonym_key)


def pseudonym(key: bytes, value: str) -> str:
    """The same value always maps to the same pseudonym within a tenant (for statistics), never back."""
    return "anon-" + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:24]


def _redact(key: bytes, data: dict[str, Any] | None, keys: set[str] = PERSONAL_KEYS) -> dict[str, Any] | None:
    if data is None:
        return None
    return {k: pseudonym(key, str(v)) if k in keys and v else v for k, v in data.items()}


async def erase_person(session: AsyncSession, tenant_id: uuid.UUID, person_id: uuid.UUID, actor: str) -> dict[str, int]:
    """Erase the person's personal data; keep (unlinked) the sessions and their figures."""
    person = await get_person(session, tenant_id, person_id)
    key = await _key(session, tenant_id)
    # The erasure writes its own audit entry below: the automatic one would copy the data being erased.
    captured = session.sync_session.info.pop(ACTOR_KEY, None)
    try:
        badges = list((await session.execute(select(Badge).where(Badge.person_id == person.id))).scalars())
        badge_ids = [b.id for b in badges]
        accounts_of = (
            await session.execute(select(Account.id, Account.email).where(Account.person_id == person.id))
        ).all()
        account_ids = [account_id for account_id, _ in accounts_of]
        # Failed sign-ins are keyed by a plain hash of the e-mail: anyone who knows the address finds them.
        emails = {email for _, email in accounts_of} | ({person.email} if person.email else set())
        if emails:
            await session.execute(delete(SignInFailure).where(SignInFailure.account_key.in_(
                [account_key(email) for email in emails])))  # fmt: skip
        for badge in badges:
            await _forget_on_stations(session, tenant_id, key, badge.uid)
            await _scrub_station_records(session, tenant_id, key, badge.uid)
        sessions_unlinked = (
            await session.execute(
                update(ChargingSession)
                .where(ChargingSession.tenant_id == tenant_id, ChargingSession.person_id == person.id)
                .values(person_id=None, badge_id=None)
                .returning(ChargingSession.id, ChargingSession.id_tag)
            )
        ).all()
        for session_id, id_tag in sessions_unlinked:
            if id_tag:
                await session.execute(
                    update(ChargingSession)
                    .where(ChargingSession.id == session_id)
                    .values(id_tag=pseudonym(key, id_tag)[:36])
                )
        # CDRs stay whole for the books: only the link to the person and the token are cut or pseudonymised.
        await session.execute(text("SET LOCAL cpo.cdr_redaction = 'on'"))
        for cdr in (await session.execute(select(Cdr).where(Cdr.person_id == person.id))).scalars():
            token = dict(cdr.cdr_token)
            for field in ("uid", "contract_id"):
                if token.get(field) and token[field] != "#NA":
                    token[field] = pseudonym(key, str(token[field]))[:36]
            cdr.person_id, cdr.cdr_token = None, token
        homes = await _erase_homes(session, tenant_id, person.id)  # their ids
        await session.flush()
        await session.execute(text("SET LOCAL cpo.cdr_redaction = 'off'"))
        if badge_ids:
            await session.execute(delete(Badge).where(Badge.id.in_(badge_ids)))
        await session.execute(delete(AccessRule).where(AccessRule.person_id == person.id))
        await session.execute(delete(GroupMember).where(GroupMember.person_id == person.id))
        accounts = await session.execute(delete(Account).where(Account.person_id == person.id).returning(Account.id))
        person.name, person.user_name = pseudonym(key, person.name), pseudonym(key, person.user_name)
        person.email = person.external_id = None
        person.status, person.erased_at = "inactive", utcnow()
        await session.flush()
        # Past audit entries about the person, their badges and their accounts keep their shape, with pseudonyms.
        await session.execute(text("SET LOCAL cpo.audit_redaction = 'on'"))
        about = [str(person.id), *(str(b) for b in badge_ids), *(str(a) for a in account_ids)]
        for entry in (
            await session.execute(
                select(AuditEntry).where(AuditEntry.tenant_id == tenant_id, AuditEntry.entity_id.in_(about))
            )
        ).scalars():
            entry.before, entry.after = _redact(key, entry.before), _redact(key, entry.after)
        for entry in (await session.execute(select(AuditEntry).where(
                AuditEntry.tenant_id == tenant_id, AuditEntry.entity == "sites",
                AuditEntry.entity_id.in_([str(site_id) for site_id in homes])))).scalars():  # fmt: skip
            entry.before, entry.after = _redact(key, entry.before, HOME_KEYS), _redact(key, entry.after, HOME_KEYS)
        await session.flush()
        await session.execute(text("SET LOCAL cpo.audit_redaction = 'off'"))
        summary = {"sessions_kept": len(sessions_unlinked), "badges_removed": len(badge_ids),
                   "accounts_removed": len(accounts.all()), "home_addresses_erased": len(homes)}  # fmt: skip
        session.add(AuditEntry(tenant_id=tenant_id, actor=actor, action="erase", entity="people",
                               entity_id=str(person.id), before=None, after=summary))  # fmt: skip
        for badge_id in badge_ids:
            await emit(session, "badge.changed", {"id": badge_id, "deleted": True}, tenant_id)
        await emit(session, "person.updated", {"id": person.id, "erased": True}, tenant_id)
        return summary
    finally:
        if captured is not None:
            session.sync_session.info[ACTOR_KEY] = captured


def uid_pattern(uid: str) -> str:
    """A PostgreSQL regular expression (case-insensitive use) for every way a station may write this UID:
    hex UIDs with or without separators between bytes, in either byte order (as ``uid_key`` matches them).
    Not inside a longer word or id: a UUID's group of hex digits is left alone."""
    canonical = canonical_uid(uid)
    if re.fullmatch(r"(?:[0-9A-F]{2})+", canonical):
        pairs = [canonical[i : i + 2] for i in range(0, len(canonical), 2)]
        forms = {"[[:space:]:.-]?".join(pairs), "[[:space:]:.-]?".join(reversed(pairs))}
    else:
        # as it stands in JSON text, every character that is not a letter or digit taken literally
        forms = {"".join(c if c.isalnum() else "\\" + c for c in json.dumps(canonical)[1:-1])}
    return "(?<![[:alnum:]-])(?:" + "|".join(sorted(forms)) + ")(?![[:alnum:]-])"


async def _scrub_station_records(session: AsyncSession, tenant_id: uuid.UUID, key: bytes, uid: str) -> None:
    """The UID in what stations were sent and said (remote starts, local lists, stops for unknown sessions,
    their own notes) and in the sessions' start keys becomes its pseudonym; the records stay."""
    pattern, alias = uid_pattern(uid), pseudonym(key, uid)
    for model, column in ((StationCommand, StationCommand.payload), (StationCommand, StationCommand.response),
                          (StationEvent, StationEvent.payload)):  # fmt: skip
        as_text = cast(column, Text)
        await session.execute(
            update(model)
            .where(model.tenant_id == tenant_id, as_text.op("~*")(pattern))
            .values({column.key: cast(func.regexp_replace(as_text, pattern, alias, "gi"), JSONB)})
            .execution_options(synchronize_session=False)
        )
    await session.execute(
        update(StationCommand)
        .where(StationCommand.tenant_id == tenant_id, StationCommand.error.op("~*")(pattern))
        .values(error=func.regexp_replace(StationCommand.error, pattern, alias, "gi"))
        .execution_options(synchronize_session=False)
    )
    # Refused starts and stops are not linked to the person, but carry the UID all the same.
    for field, size in ((ChargingSession.id_tag, 36), (ChargingSession.start_key, 200)):
        await session.execute(
            update(ChargingSession)
            .where(ChargingSession.tenant_id == tenant_id, field.op("~*")(pattern))
            .values({field.key: func.left(func.regexp_replace(field, pattern, alias, "gi"), size)})
            .execution_options(synchronize_session=False)
        )


async def _forget_on_stations(session: AsyncSession, tenant_id: uuid.UUID, key: bytes, uid: str) -> None:
    """What stations hold of the badge is marked erased, under its pseudonym: their next update is a Full list
    (a Differential would have to name the UID to remove it, and the command would be stored with it)."""
    holding = (await session.execute(select(LocalListEntry.station_id).where(
        LocalListEntry.tenant_id == tenant_id, LocalListEntry.uid == uid).order_by(LocalListEntry.station_id)
    )).scalars().all()  # fmt: skip
    for station_id in holding:
        # Wait for an update in flight to that station (it holds this lock): it must not store the UID again.
        lock = int.from_bytes(station_id.bytes[:8], "big", signed=True)
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock})
    await session.execute(
        update(LocalListEntry)
        .where(LocalListEntry.tenant_id == tenant_id, LocalListEntry.uid == uid)
        .values(uid=pseudonym(key, uid)[:36], status=ERASED_ENTRY)
        .execution_options(synchronize_session=False)
    )


ERASED = "(erased)"
HOME_PRECISION = Decimal("0.1")
"""A home's coordinates after erasure: about 10 km, enough for a region's energy figures, not for a house."""


def _blurred(site_location: dict[str, Any]) -> dict[str, Any]:
    """A CDR's location without the street, postal code and exact place of a home."""
    location = dict(site_location)
    location.update({key: ERASED for key in ("name", "address") if key in location})
    location.pop("postal_code", None)
    location.pop("state", None)
    if coordinates := location.get("coordinates"):
        location["coordinates"] = {axis: f"{Decimal(value).quantize(HOME_PRECISION):.6f}" for axis, value in
                                   coordinates.items()}  # fmt: skip
    return location


async def _erase_homes(session: AsyncSession, tenant_id: uuid.UUID, person_id: uuid.UUID) -> list[uuid.UUID]:
    """The person's home chargers: the address goes (street, postal code, exact place; the city and country
    stay for the books), on the site and in every CDR made there. The site stays theirs (pseudonymised)."""
    homes = list((await session.execute(select(Site).where(
        Site.tenant_id == tenant_id, Site.home_person_id == person_id))).scalars())  # fmt: skip
    for site in homes:
        site.name, site.address, site.postal_code, site.state = ERASED, ERASED, None, None
        site.latitude = site.latitude.quantize(HOME_PRECISION)
        site.longitude = site.longitude.quantize(HOME_PRECISION)
        for cdr in (await session.execute(select(Cdr).where(Cdr.site_id == site.id))).scalars():
            cdr.cdr_location = _blurred(cdr.cdr_location)
    return [site.id for site in homes]


async def purge_expired(session: AsyncSession, now: datetime) -> dict[str, int]:
    """Delete what is past each tenant's retention: raw meter samples of finished sessions, station events,
    status history and command records. Sessions (and their totals) are never purged here."""
    purged = {"meter_samples": 0, "station_events": 0, "status_events": 0, "station_commands": 0}
    tenants = (await session.execute(select(Tenant))).scalars().all()
    for tenant in tenants:
        if tenant.meter_sample_retention_days:
            cutoff = now - timedelta(days=tenant.meter_sample_retention_days)
            finished = select(ChargingSession.id).where(ChargingSession.status != "active")
            result = await session.execute(
                delete(MeterSample).where(
                    MeterSample.tenant_id == tenant.id,
                    MeterSample.sampled_at < cutoff,
                    (MeterSample.session_id.is_(None)) | (MeterSample.session_id.in_(finished)),
                )
            )
            purged["meter_samples"] += result.rowcount or 0  # type: ignore[attr-defined]
        if tenant.event_retention_days:
            cutoff = now - timedelta(days=tenant.event_retention_days)
            for name, model, column in (
                ("station_events", StationEvent, StationEvent.received_at),
                ("status_events", StatusEvent, StatusEvent.received_at),
                ("station_commands", StationCommand, StationCommand.created_at),
            ):
                result = await session.execute(delete(model).where(model.tenant_id == tenant.id, column < cutoff))
                purged[name] += result.rowcount or 0  # type: ignore[attr-defined]
    return purged

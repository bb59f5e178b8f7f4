"""Stations' local authorization lists kept in step with badges, so an offline station refuses a blocked one.

OCPP 1.6 §3.5.3 and §5.15 (2.0.1 D01): the CSMS sends the list (Full) or its changes (Differential) with
a version number; the station keeps both. We remember what each station accepted (``local_list_entries``
and the version in ``station_presence``) and send only the difference. A station that does not support
local lists says so once (NotSupported, or no handler at all) and is left alone until it reconnects.

Weekly hours and quotas cannot be written into a local list: offline, a station applies only what the list
says (the badge's status and whether it may charge at this station at all: its site, or one of its EVSEs).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo.access.models import AccessRule, Badge, LocalListEntry
from cpo.charging.commands import ChargerCommands, Command
from cpo.charging.models import StationPresence
from cpo.db.base import utcnow
from cpo.people.models import GroupMember, Person
from cpo.sites.models import Evse, Station

log = logging.getLogger("cpo.access")
UNSUPPORTED = -1
"""``local_list_version`` of a station that has no local list."""
CHUNK = 250
"""Entries per SendLocalList message (stations cap it: SendLocalListMaxLength)."""
ACTOR = "system:local-list"
ERASED_ENTRY = "Erased"
"""Status of a held entry whose badge was erased (GDPR): its UID is kept only as a pseudonym."""


@dataclass(frozen=True, slots=True)
class ListEntry:
    uid: str
    token_type: str
    status: str
    """OCPP 1.6 AuthorizationStatus: Accepted, Blocked, Expired or Invalid."""
    expires_at: datetime | None = None
    group_uid: str | None = None

    def to_command(self) -> dict[str, Any]:
        expires = self.expires_at.astimezone(UTC).isoformat().replace("+00:00", "Z") if self.expires_at else None
        return {"id_tag": self.uid, "type": self.token_type, "status": self.status, "expires_at": expires,
                "group": self.group_uid}  # fmt: skip


def _held(entry: LocalListEntry) -> ListEntry:
    return ListEntry(entry.uid, entry.token_type, entry.status, entry.expires_at, entry.group_uid)


@dataclass(frozen=True, slots=True)
class TenantAccess:
    """A tenant's badges, rules and group memberships, read once: every site's list is made from them."""

    badges: list[Any]
    """(uid, token type, status, valid from, valid to, group uid, person id, person status, department id,
    cost centre id): plain values, outliving the session that read them."""
    by_subject: dict[uuid.UUID, list[tuple[frozenset[uuid.UUID] | None, frozenset[uuid.UUID] | None]]]
    """A person's or group's rules, each as its sites and its EVSEs (None: every one)."""
    groups: dict[uuid.UUID, set[uuid.UUID]]
    rule_evses: frozenset[uuid.UUID] = frozenset()
    """Every EVSE some rule names: a station with none of them has its site's list."""


async def tenant_access(session: AsyncSession, tenant_id: uuid.UUID) -> TenantAccess:
    badge_rows = (
        await session.execute(
            select(Badge.uid, Badge.token_type, Badge.status, Badge.valid_from, Badge.valid_to, Badge.group_uid,
                   Badge.person_id, Person.status, Person.department_id, Person.cost_centre_id)
            .outerjoin(Person, Person.id == Badge.person_id)
            .where(Badge.tenant_id == tenant_id, Badge.token_type.in_(("ISO14443", "ISO15693", "KeyCode", "Local")))
        )
    ).all()  # fmt: skip
    rules = (await session.execute(select(AccessRule).where(AccessRule.tenant_id == tenant_id))).scalars().all()
    by_subject: dict[uuid.UUID, list[tuple[frozenset[uuid.UUID] | None, frozenset[uuid.UUID] | None]]]
    by_subject = defaultdict(list)
    for rule in rules:
        sites = None if rule.site_ids is None else frozenset(rule.site_ids)
        evses = None if rule.evse_ids is None else frozenset(rule.evse_ids)
        by_subject[rule.person_id or rule.group_id].append((sites, evses))  # type: ignore[index]
    groups: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    if rules:
        members = await session.execute(
            select(GroupMember.person_id, GroupMember.group_id).where(GroupMember.tenant_id == tenant_id)
        )
        for person_id, group_id in members:
            groups[person_id].add(group_id)
    rule_evses = frozenset(e for rule in rules for e in (rule.evse_ids or ()))
    return TenantAccess([tuple(row) for row in badge_rows], by_subject, groups, rule_evses)


def site_entries(
    access: TenantAccess, site_id: uuid.UUID, now: datetime, evses: frozenset[uuid.UUID] = frozenset()
) -> dict[str, ListEntry]:
    """What the list of a station at this site, with these of the EVSEs rules name, should say about every
    badge of the tenant. Offline a station cannot tell its EVSEs apart in the list: a rule for some of them
    lets the badge in at the station."""
    entries: dict[str, ListEntry] = {}
    for (
        uid,
        kind,
        state,
        valid_from,
        valid_to,
        group_uid,
        person_id,
        person_status,
        department,
        centre,
    ) in access.badges:
        if state == "blocked" or person_status in ("blocked", "inactive"):
            status = "Blocked"
        elif state == "expired" or (valid_to is not None and valid_to <= now):
            status = "Expired"
        elif valid_from is not None and valid_from > now:
            status = "Invalid"
        else:
            subjects = {person_id, department, centre} | access.groups.get(person_id, set())
            applying = [rule for subject in subjects if subject for rule in access.by_subject.get(subject, [])]
            here = any((sites is None or site_id in sites) and (named is None or bool(named & evses))
                       for sites, named in applying)  # fmt: skip
            status = "Accepted" if not applying or here else "Invalid"
        entries[uid] = ListEntry(uid, kind, status, valid_to, group_uid)
    return entries


async def desired_entries(session: AsyncSession, station: Station, now: datetime) -> dict[str, ListEntry]:
    """What this station's list should say about every badge of its tenant."""
    return await SiteLists(now).entries(session, station)


class SiteLists:
    """The desired lists of one sync round, made once per site (a tenant's stations share their site's, unless
    a rule names some of their EVSEs)."""

    def __init__(self, now: datetime | None = None) -> None:
        self.access: TenantAccess | None = None
        self.made: dict[tuple[uuid.UUID, frozenset[uuid.UUID]], dict[str, ListEntry]] = {}
        self.lock = asyncio.Lock()
        self.now = now or utcnow()

    async def entries(self, session: AsyncSession, station: Station) -> dict[str, ListEntry]:
        async with self.lock:
            if self.access is None:
                self.access = await tenant_access(session, station.tenant_id)
            named: frozenset[uuid.UUID] = frozenset()
            if self.access.rule_evses:
                ids = (await session.execute(select(Evse.id).where(Evse.station_id == station.id))).scalars()
                named = frozenset(ids) & self.access.rule_evses
            key = (station.site_id, named)
            if key not in self.made:
                self.made[key] = site_entries(self.access, station.site_id, self.now, named)
            return self.made[key]


def changes_between(held: Mapping[str, ListEntry], desired: Mapping[str, ListEntry]) -> list[dict[str, Any]]:
    """A differential update: new and changed entries, and removals for what is no longer wanted."""
    changed = [entry.to_command() for uid, entry in sorted(desired.items()) if held.get(uid) != entry]
    removed = [
        {"id_tag": uid, "type": held[uid].token_type, "remove": True} for uid in sorted(held) if uid not in desired
    ]
    return changed + removed


async def sync_station(
    sessions: async_sessionmaker[AsyncSession], commands: ChargerCommands, station_id: uuid.UUID, full: bool = False,
    lists: SiteLists | None = None,
) -> str:  # fmt: skip
    """Bring one station's list in step; returns what happened (for logs and tests). ``lists``: the round's
    lists per site, shared by the stations of a tenant-wide sync.

    One update per station at a time, whichever node runs it: versions must not interleave.
    """
    async with sessions() as lock, lock.begin():
        key = int.from_bytes(station_id.bytes[:8], "big", signed=True)
        await lock.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        return await _sync_station(sessions, commands, station_id, full, lists)


async def _sync_station(
    sessions: async_sessionmaker[AsyncSession], commands: ChargerCommands, station_id: uuid.UUID, full: bool,
    lists: SiteLists | None = None,
) -> str:  # fmt: skip
    async with sessions() as db, db.begin():
        presence = await db.get(StationPresence, station_id)
        station = await db.get(Station, station_id)
        if presence is None or station is None or not presence.online:
            return "offline"
        if presence.local_list_version == UNSUPPORTED:
            return "unsupported"
        desired = await (lists or SiteLists()).entries(db, station)
        held = {
            e.uid: _held(e)
            for e in (await db.execute(select(LocalListEntry).where(LocalListEntry.station_id == station_id))).scalars()
        }
        version = presence.local_list_version or 0
    # An erased badge can only leave the station by a Full list: a removal would name its UID again.
    full = full or presence.local_list_version is None or any(e.status == ERASED_ENTRY for e in held.values())
    updates = [entry.to_command() for _, entry in sorted(desired.items())] if full else changes_between(held, desired)
    if not updates and not full:
        return "in step"
    chunks = [updates[i : i + CHUNK] for i in range(0, len(updates), CHUNK)] or [[]]
    for number, chunk in enumerate(chunks):
        version += 1
        kind = "Full" if full and number == 0 else "Differential"
        arguments = {"version": version, "update_type": kind, "entries": chunk}
        result = await commands.send(station_id, Command("send_local_list", arguments), ACTOR)
        answer = (result.response or {}).get("status") if result.status == "answered" else None
        if answer == "VersionMismatch" and not full:
            return await _sync_station(sessions, commands, station_id, True, lists)
        if answer == "NotSupported" or result.status == "rejected":
            await _set_version(sessions, station_id, UNSUPPORTED, None)
            return "unsupported"
        if answer != "Accepted":
            log.info(
                "local list not updated", extra={"station_id": str(station_id), "outcome": answer or result.status}
            )
            return answer or result.status
    await _set_version(sessions, station_id, version, desired)
    return "updated"


async def _set_version(
    sessions: async_sessionmaker[AsyncSession],
    station_id: uuid.UUID,
    version: int,
    entries: Mapping[str, ListEntry] | None,
) -> None:
    async with sessions() as db, db.begin():
        presence = await db.get(StationPresence, station_id, with_for_update=True)
        if presence is None:
            return
        presence.local_list_version, presence.local_list_synced_at = version, utcnow()
        await db.execute(delete(LocalListEntry).where(LocalListEntry.station_id == station_id))
        db.add_all(
            LocalListEntry(tenant_id=presence.tenant_id, station_id=station_id, uid=e.uid, token_type=e.token_type,
                           status=e.status, expires_at=e.expires_at, group_uid=e.group_uid)
            for e in (entries or {}).values()
        )  # fmt: skip


async def after_connect(
    sessions: async_sessionmaker[AsyncSession], commands: ChargerCommands, station_id: uuid.UUID
) -> str:
    """A station (re)connected: ask which list version it holds; a different one than ours gets a Full list."""
    async with sessions() as db:
        ours = await db.scalar(
            select(StationPresence.local_list_version).where(StationPresence.station_id == station_id)
        )
    # Asked on every connect, even of a station known to have no list: it may have new firmware.
    result = await commands.send(station_id, Command("get_local_list_version", {}), ACTOR)
    theirs: Any
    if result.status != "answered" or result.response is None:
        if result.status != "rejected":
            return result.status
        theirs = UNSUPPORTED  # no handler at all (NotImplemented): no local list
    else:
        theirs = result.response.get("listVersion", result.response.get("versionNumber"))
    if theirs == UNSUPPORTED:  # OCPP 1.6 §6.29: -1 means no local list
        if ours != UNSUPPORTED:
            await _set_version(sessions, station_id, UNSUPPORTED, None)
        return "unsupported"
    if ours == UNSUPPORTED:
        ours = None
        await _set_version(sessions, station_id, 0, None)  # it has a list now: start from nothing
    return await sync_station(sessions, commands, station_id, full=theirs != ours)


async def sync_tenant(
    sessions: async_sessionmaker[AsyncSession], commands: ChargerCommands, tenant_id: uuid.UUID, at_once: int = 20
) -> dict[str, int]:
    """Every connected station of the tenant; counts of outcomes. Raises if some must be retried."""
    async with sessions() as db:
        station_ids = list(
            (
                await db.execute(
                    select(StationPresence.station_id).where(
                        StationPresence.tenant_id == tenant_id,
                        StationPresence.online.is_(True),
                        StationPresence.local_list_version.is_distinct_from(UNSUPPORTED),
                    )
                )
            ).scalars()
        )
    gate = asyncio.Semaphore(at_once)
    lists = SiteLists()  # the tenant's badges and rules read once, each site's list made once

    async def one(station_id: uuid.UUID) -> str:
        async with gate:
            return await sync_station(sessions, commands, station_id, lists=lists)

    outcomes = await asyncio.gather(*(one(s) for s in station_ids))
    counts: dict[str, int] = defaultdict(int)
    for outcome in outcomes:
        counts[outcome] += 1
    return dict(counts)

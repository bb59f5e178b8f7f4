"""Pushes to partners, as outbox consumers (at least once, retried with backoff by the dispatcher).

State (locations, EVSE status, tariffs, sessions) is read when it is sent, so a partner that was down gets
each changed object's current state, never a replay of stale steps (the spec: pushes are not queued and
replayed; a partner can always resync with GET). CDRs, billing-critical and sealed, are POSTed until the
partner accepts them, and never twice: an accepted CDR is recorded per partner.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import quote

import httpx
from litestar.datastructures import State
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.charging.models import ChargingSession
from cpo.db.base import utcnow
from cpo.outbox.dispatcher import Event
from cpo.roaming.models import RoamingDelivery, RoamingPartner
from cpo.roaming.sealing import Sealer
from cpo.roaming.service import their_token
from cpo.sites.models import Evse, Site, Station
from cpo.tariffs import render
from cpo.tariffs import service as tariffs
from cpo.tariffs.models import Cdr, Tariff
from cpo.tenants.models import Tenant
from ocpi import client
from ocpi.auth import Caller, routing
from ocpi.envelope import ENCODER
from ocpi.modules.locations import render_locations
from ocpi.modules.sessions import render_session
from ocpi.modules.tariffs import published_tariffs
from ocpi.outbound import FAILURES, UNREACHABLE, failed, partner_http_of

log = logging.getLogger("cpo.ocpi")
TOPICS = ("cdr.issued", "session.started", "session.completed", "tariff.changed", "site.created", "site.updated",
          "evse.created", "evse.updated", "evse.status", "connector.created", "connector.updated", "station.online",
          "station.offline", "locations.repriced")  # fmt: skip
"""What the OCPI module pushes on (some topics have other consumers too)."""
Handler = Callable[[Event], Awaitable[None]]
LOCATIONS_AT_ONCE = 8
"""Locations of one event in flight at a time (each to every partner at once)."""
PUSHED = "pushed"
"""A push event a partner took while another partner failed it (kept until the event is done)."""


NOT_ACCEPTED = "the partner's server did not accept it"


class PushFailed(RuntimeError):
    """The partner did not take it: the outbox tries again later."""


async def _partners(db: AsyncSession, tenant_id: uuid.UUID) -> list[RoamingPartner]:
    query = select(RoamingPartner).where(RoamingPartner.tenant_id == tenant_id, RoamingPartner.status == "registered")
    return list((await db.execute(query)).scalars())


async def _owner(db: AsyncSession, tenant_id: uuid.UUID, partner_id: uuid.UUID | None) -> list[RoamingPartner]:
    """The registered partner whose driver's session it is, by id: the party code a session keeps names the
    partner as it was (a hub's first role may change), not who it is."""
    if partner_id is None:
        return []
    partner = await db.get(RoamingPartner, partner_id)
    return (
        [partner] if partner is not None and partner.tenant_id == tenant_id and partner.status == "registered" else []
    )


async def _send(
    http: httpx.AsyncClient,
    partner: RoamingPartner,
    sealer: Sealer,
    method: str,
    url: str,
    body: Any,
    sender: tuple[str, str],
) -> httpx.Response:
    """One request to a partner's functional module, with the routing headers (us to them)."""
    token = their_token(partner, sealer)
    if token is None:
        raise PushFailed(f"no token for partner {partner.id}")
    routed = routing(sender, (partner.country_code or "", partner.party_id or ""))
    try:
        return await http.request(method, url, content=ENCODER.encode(body),
                                  headers=client.headers(token, partner.plain_tokens) | routed
                                  | {"Content-Type": "application/json"})  # fmt: skip
    except FAILURES as error:
        # Shown to the tenant's admins with the event: the reason (what answered, or did not) is logged only.
        failed(method, url, error)
        raise PushFailed(f"partner {partner.id}: {UNREACHABLE}") from None


def _refused(what: str, partner: RoamingPartner, response: httpx.Response) -> PushFailed:
    """A push the partner answered but did not take: its status goes to the log, the admin sees one text."""
    failed(what, str(response.request.url), f"HTTP {response.status_code}")
    return PushFailed(f"{what} to partner {partner.id}: {NOT_ACCEPTED}")


def _accepted(response: httpx.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return response.status_code in (200, 201) and isinstance(body, dict) and body.get("status_code") == 1000


def _endpoint(partner: RoamingPartner, module: str) -> str | None:
    url = (partner.endpoints or {}).get(f"{module}:RECEIVER")
    return url.rstrip("/") if url else None


def _party_path(tenant: Tenant | None) -> str:
    country, party = tariffs.party_of(tenant)
    return f"{country}/{party}"


def _push_key(event: Event, site_id: uuid.UUID) -> str:
    """One location of one event, in ``roaming_deliveries.object_id`` (39 characters at most)."""
    return f"{event.id}:{site_id.hex[:12]}"


def handlers(state: State, sessions: Callable[[], Any]) -> dict[str, list[Handler]]:
    def sealer() -> Sealer:
        found: Sealer = state.sealer
        return found

    async def push_cdr(event: Event) -> None:
        async with sessions() as db, db.begin(), partner_http_of(state).client() as http:
            cdr = await db.get(Cdr, uuid.UUID(str(event.payload["id"])))
            if cdr is None or cdr.partner is None:
                return
            owner = await db.scalar(select(ChargingSession.partner_id).where(ChargingSession.id == cdr.session_id))
            for partner in await _owner(db, cdr.tenant_id, owner):
                url = _endpoint(partner, "cdrs")
                done = await db.get(RoamingDelivery, (partner.id, "cdr", cdr.ocpi_id))
                if url is None or done is not None:
                    continue
                tenant = await db.get(Tenant, cdr.tenant_id)
                response = await _send(http, partner, sealer(), "POST", url, render.cdr(cdr), tariffs.party_of(tenant))
                if not _accepted(response):
                    raise _refused(f"CDR {cdr.ocpi_id}", partner, response)
                await db.execute(insert(RoamingDelivery).values(
                    tenant_id=cdr.tenant_id, partner_id=partner.id, kind="cdr", object_id=cdr.ocpi_id,
                    delivered_at=utcnow(), location=response.headers.get("location"),
                ).on_conflict_do_nothing())  # fmt: skip

    async def push_session(event: Event) -> None:
        async with sessions() as db, db.begin(), partner_http_of(state).client() as http:
            charging = await db.get(ChargingSession, uuid.UUID(str(event.payload["id"])))
            if charging is None or charging.partner is None:
                return
            tenant = await db.get(Tenant, charging.tenant_id)
            body = await render_session(db, charging)
            for partner in await _owner(db, charging.tenant_id, charging.partner_id):
                if (url := _endpoint(partner, "sessions")) is None:
                    continue
                response = await _send(http, partner, sealer(), "PUT", f"{url}/{_party_path(tenant)}/{charging.id}",
                                       body, tariffs.party_of(tenant))  # fmt: skip
                if not _accepted(response):
                    raise _refused(f"session {charging.id}", partner, response)

    async def push_tariffs(event: Event) -> None:
        if event.tenant_id is None:
            return
        async with sessions() as db, db.begin(), partner_http_of(state).client() as http:
            tenant = await db.get(Tenant, event.tenant_id)
            changed = await db.get(Tariff, uuid.UUID(str(event.payload["id"])))
            for partner in await _partners(db, event.tenant_id):
                if (url := _endpoint(partner, "tariffs")) is None:
                    continue
                for _, body in await published_tariffs(db, Caller(partner, "")):
                    if changed is not None and body["id"] != changed.code:
                        continue
                    response = await _send(http, partner, sealer(), "PUT",
                                           f"{url}/{_party_path(tenant)}/{quote(body['id'], safe='')}", body,
                                           tariffs.party_of(tenant))  # fmt: skip
                    if not _accepted(response):
                        raise _refused(f"tariff {body['id']}", partner, response)

    async def push_location(
        event: Event, site_id: uuid.UUID, tenant_id: uuid.UUID, evse_uid: str | None = None
    ) -> list[uuid.UUID]:
        """The location (or, for a status change, the EVSE's status) to every partner at once: each partner's
        copy is rendered for them (their tariffs), then all are sent together. When some partners fail, those
        that took it are noted for the event, and its retries go to the others only. Returns the partners
        that took it now."""
        key = _push_key(event, site_id)
        async with sessions() as db, db.begin():
            tenant = await db.get(Tenant, tenant_id)
            sender = tariffs.party_of(tenant)
            outgoing: list[tuple[RoamingPartner, str, dict[str, Any]]] = []
            partners = await _partners(db, tenant_id)
            served: set[uuid.UUID] = set()
            if event.attempt > 1 and partners:
                served = set((await db.execute(select(RoamingDelivery.partner_id).where(
                    RoamingDelivery.partner_id.in_([p.id for p in partners]), RoamingDelivery.kind == PUSHED,
                    RoamingDelivery.object_id == key))).scalars())  # fmt: skip
            for partner in partners:
                if (url := _endpoint(partner, "locations")) is None or partner.id in served:
                    continue
                found = await render_locations(db, Caller(partner, "", sender), [site_id])
                if not found:
                    return []  # not (or no longer) published
                outgoing.append((partner, f"{url}/{_party_path(tenant)}/{site_id}", found[0]))

        async def deliver(http: httpx.AsyncClient, partner: RoamingPartner, target: str, location: Any) -> None:
            evse = next((e for e in location["evses"] if e["uid"] == evse_uid), None) if evse_uid else None
            if evse is not None:
                patched = await _send(http, partner, sealer(), "PATCH", f"{target}/{quote(evse_uid or '', safe='')}",
                                      {"status": evse["status"], "last_updated": evse["last_updated"]}, sender)  # fmt: skip
                if _accepted(patched):
                    return
                log.info("EVSE status PATCH refused; sending the whole location", extra={"partner": str(partner.id)})
            response = await _send(http, partner, sealer(), "PUT", target, location, sender)
            if not _accepted(response):
                raise _refused(f"location {site_id}", partner, response)

        async with partner_http_of(state).client() as http:
            results = await asyncio.gather(*(deliver(http, *item) for item in outgoing), return_exceptions=True)
        failed = [str(result) for result in results if isinstance(result, BaseException)]
        took = [
            item[0] for item, result in zip(outgoing, results, strict=True) if not isinstance(result, BaseException)
        ]
        if failed and took:  # the outbox tries again, for the others only
            await note_pushed(tenant_id, key, [p.id for p in took])
        elif not failed and served:  # done: the notes have served their purpose
            async with sessions() as db, db.begin():
                await db.execute(delete(RoamingDelivery).where(
                    RoamingDelivery.kind == PUSHED, RoamingDelivery.object_id == key,
                    RoamingDelivery.partner_id.in_(served)))  # fmt: skip
        if failed:
            raise PushFailed("; ".join(failed))
        return [p.id for p in took]

    async def note_pushed(tenant_id: uuid.UUID, key: str, partner_ids: Sequence[uuid.UUID]) -> None:
        async with sessions() as db, db.begin():
            await db.execute(insert(RoamingDelivery).values([
                {"tenant_id": tenant_id, "partner_id": partner_id, "kind": PUSHED, "object_id": key,
                 "delivered_at": utcnow()} for partner_id in partner_ids]).on_conflict_do_nothing())  # fmt: skip

    async def site_changed(event: Event) -> None:
        if event.tenant_id is not None:
            await push_location(event, uuid.UUID(str(event.payload["id"])), event.tenant_id)

    async def evse_changed(event: Event) -> None:
        if event.tenant_id is None:
            return
        async with sessions() as db:
            row = (await db.execute(select(Station.site_id, Evse.uid).join(Evse, Evse.station_id == Station.id).where(
                Evse.id == uuid.UUID(str(event.payload["id"]))))).first()  # fmt: skip
        if row is not None:
            await push_location(event, row[0], event.tenant_id, row[1] if event.topic == "evse.status" else None)

    async def presence_changed(event: Event) -> None:
        """Online or offline: what the station's public EVSEs show (UNKNOWN while offline) changed."""
        if event.tenant_id is None:
            return
        async with sessions() as db:
            sites = (await db.execute(select(Station.site_id).join(Evse, Evse.station_id == Station.id).where(
                Station.id == uuid.UUID(str(event.payload["id"])), Evse.public).distinct())).scalars().all()  # fmt: skip
        await each_location(event, sites)

    async def repriced(event: Event) -> None:
        """Another tariff applies at a site (or, tenant-wide, at every published site): the tariff ids change."""
        if event.tenant_id is None:
            return
        if event.payload.get("site_id"):
            await push_location(event, uuid.UUID(str(event.payload["site_id"])), event.tenant_id)
            return
        async with sessions() as db:
            sites = (await db.execute(select(Site.id).where(Site.tenant_id == event.tenant_id, Site.publish,
                                                            Site.home_person_id.is_(None)))).scalars().all()  # fmt: skip
        await each_location(event, sites)

    async def each_location(event: Event, sites: Sequence[uuid.UUID]) -> None:
        """Many locations for one event (a tenant-wide rate, a station on several sites): a few at a time, each
        to every partner. When some fail, what the partners took is noted: the event's retries send the rest."""
        tenant_id = event.tenant_id
        assert tenant_id is not None
        gate = asyncio.Semaphore(LOCATIONS_AT_ONCE)

        async def one(site_id: uuid.UUID) -> list[uuid.UUID]:
            async with gate:
                return await push_location(event, site_id, tenant_id)

        results = await asyncio.gather(*(one(site_id) for site_id in sites), return_exceptions=True)
        failed = [str(result) for result in results if isinstance(result, BaseException)]
        if failed:
            for site_id, result in zip(sites, results, strict=True):
                if isinstance(result, list) and result:  # all its partners took it: not sent again
                    await note_pushed(tenant_id, _push_key(event, site_id), result)
            raise PushFailed(f"{len(failed)} of {len(sites)} locations: " + "; ".join(failed[:3]))

    async def connector_changed(event: Event) -> None:
        if event.tenant_id is None or "evse_id" not in event.payload:
            return
        await evse_changed(Event(event.id, "evse.updated", {"id": event.payload["evse_id"]}, event.tenant_id,
                                 event.attempt))  # fmt: skip

    return {
        "cdr.issued": [push_cdr],
        "session.started": [push_session],
        "session.completed": [push_session],
        "tariff.changed": [push_tariffs],
        "site.created": [site_changed],
        "site.updated": [site_changed],
        "evse.created": [evse_changed],
        "evse.updated": [evse_changed],
        "evse.status": [evse_changed],
        "connector.created": [connector_changed],
        "connector.updated": [connector_changed],
        "station.online": [presence_changed],
        "station.offline": [presence_changed],
        "locations.repriced": [repriced],
    }

"""Roaming partners in the UI: invite or register one, see its state, pushes that failed (and retry them),
and what is published."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.di import Provide
from litestar.response import Redirect, Template
from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.errors import Conflict, InvalidInput
from cpo.outbox.models import OutboxEvent
from cpo.roaming import service as roaming
from cpo.sites.models import Evse, Site, Station
from cpo.web.ui.forms import form_values
from cpo.web.ui.session import UiUser, provide_ui_db, ui_user_needing
from ocpi.envelope import OcpiError
from ocpi.push import TOPICS
from ocpi.routes import base_of, sealer_of


async def _failed(db: AsyncSession, tenant_id: uuid.UUID) -> list[OutboxEvent]:
    """Pushes to partners that have not gone through: retried, or given up."""
    query = select(OutboxEvent).where(
        OutboxEvent.tenant_id == tenant_id, OutboxEvent.topic.in_(TOPICS), OutboxEvent.delivered_at.is_(None),
        or_(OutboxEvent.attempts > 0, OutboxEvent.dead_at.is_not(None)),
    )  # fmt: skip
    return list((await db.execute(query.order_by(OutboxEvent.id.desc()).limit(100))).scalars())


async def _published(db: AsyncSession, tenant_id: uuid.UUID) -> list[tuple[Site, int]]:
    public = (
        select(func.count(Evse.id)).join(Station, Station.id == Evse.station_id)
        .where(Station.site_id == Site.id, Evse.public).scalar_subquery()
    )  # fmt: skip
    rows = (await db.execute(select(Site, public).where(Site.tenant_id == tenant_id).order_by(Site.name))).all()
    return [(site, int(count or 0)) for site, count in rows]


class RoamingPages(Controller):
    path = "/roaming"
    dependencies = {"user": ui_user_needing("roaming.read"), "db": Provide(provide_ui_db)}

    async def _page(self, db: AsyncSession, user: UiUser, state: State, status: int = 200, **extra: Any) -> Template:
        tenant_id = user.principal.tenant_id
        async with db.begin():
            context = {"partners": await roaming.list_partners(db, tenant_id), "failed": await _failed(db, tenant_id),
                       "parties": await roaming.all_parties(db, tenant_id),
                       "sites": await _published(db, tenant_id), "versions_url": f"{base_of(state)}/versions",
                       "errors": {}, "values": {}, "section": "roaming"}  # fmt: skip
        return Template("roaming.html", context=user.context(**(context | extra)), status_code=status)

    @get("/")
    async def roaming_page(self, db: AsyncSession, user: UiUser, state: State) -> Template:
        return await self._page(db, user, state)

    @post("/invite")
    async def invite(self, request: Request[Any, Any, Any], db: AsyncSession, user: UiUser, state: State) -> Template:
        user.require("roaming.write", db)
        values = form_values(await request.form())
        parties: list[roaming.Party] = []
        try:
            parties = roaming.parties_from_text(values.get("parties", ""))
            async with db.begin():
                partner, token = await roaming.invite(db, user.principal.tenant_id, values.get("name", ""),
                                                      sealer_of(state), parties)  # fmt: skip
        except (InvalidInput, Conflict) as invalid:
            # the page says in the reader's language what was wrong with the parties; other reasons as they are
            error: tuple[str, dict[str, str]] | str = str(invalid)
            if isinstance(invalid, InvalidInput) and invalid.field == "parties":
                error = ("roaming.party_invalid", {"typed": invalid.reason.partition(": ")[0]})
            elif isinstance(invalid, Conflict) and invalid.field == "parties":
                async with db.begin():
                    held = {p for ps in (await roaming.all_parties(db, user.principal.tenant_id)).values() for p in ps}
                taken = [f"{c}*{p}" for c, p in parties if f"{c}*{p}" in held]
                error = ("roaming.party_taken", {"parties": ", ".join(taken)}) if taken else str(invalid)
            return await self._page(db, user, state, 400, errors={"invite": error}, values=values)
        return await self._page(db, user, state, 201, token_a=token, invited=partner.name)

    @post("/register")
    async def register(
        self, request: Request[Any, Any, Any], db: AsyncSession, user: UiUser, state: State
    ) -> Template | Redirect:
        """Register with a partner that gave us its versions URL and a Token A (as the API does)."""
        user.require("roaming.write", db)
        from ocpi.admin import RegisterIn, register_with

        values = form_values(await request.form())
        try:
            data = RegisterIn(name=values.get("name", "").strip() or "Partner", versions_url=values.get("versions_url", ""),
                              token=values.get("token", ""), plain_tokens=values.get("plain_tokens") == "on")  # fmt: skip
            if not data.versions_url.startswith(("http://", "https://")) or not data.token:
                raise InvalidInput("versions_url", "the partner's versions URL (http(s)://...) and its Token A")
            await register_with(db, user.principal, state, data)
        except (InvalidInput, OcpiError) as error:
            values.pop("token", None)  # a secret is not sent back
            return await self._page(db, user, state, 400, errors={"register": str(error)}, values=values)
        return Redirect("/ui/roaming")

    @post("/{partner_id:uuid}/plain")
    async def plain(
        self, request: Request[Any, Any, Any], db: AsyncSession, user: UiUser, partner_id: uuid.UUID
    ) -> Redirect:
        user.require("roaming.write", db)
        plain = (await request.form()).get("plain_tokens") == "on"
        async with db.begin():
            partner = await roaming.get_partner(db, user.principal.tenant_id, partner_id)
            partner.plain_tokens = plain
        return Redirect("/ui/roaming")

    @post("/retry/{event_id:int}")
    async def retry(self, db: AsyncSession, user: UiUser, event_id: int) -> Redirect:
        """Send a failed push again now (and again later if it still fails)."""
        user.require("roaming.write", db)
        async with db.begin():
            await db.execute(update(OutboxEvent).where(
                OutboxEvent.id == event_id, OutboxEvent.tenant_id == user.principal.tenant_id,
                OutboxEvent.topic.in_(TOPICS), OutboxEvent.delivered_at.is_(None),
            ).values(dead_at=None, available_at=func.now(), attempts=0))  # fmt: skip
        return Redirect("/ui/roaming#failed")

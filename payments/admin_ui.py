"""QR codes in the admin UI: one EVSE's code (SVG) and a site's printable sticker sheet (A4 PDF)."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Response, get
from litestar.datastructures import State
from litestar.di import Provide
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.db.queries import get_scoped
from cpo.errors import Conflict, NotFound
from cpo.sites.models import Evse, Site, Station
from cpo.tariffs import service as tariffs
from cpo.web.ui.session import UiUser, provide_ui_db, ui_user_needing
from payments.pages import price_text
from payments.qr import Sticker, qr_svg, sticker_sheet


def pay_url(state: State, evse: Evse) -> str:
    return f"{state.settings.base_url}/pay/{evse.evse_id}"


class QrPages(Controller):
    path = "/"
    dependencies = {"user": ui_user_needing("sites.read"), "db": Provide(provide_ui_db)}

    @get("/evses/{evse_id:uuid}/qr.svg")
    async def evse_qr(self, evse_id: uuid.UUID, db: AsyncSession, user: UiUser, state: State) -> Response[Any]:
        async with db.begin():
            evse = await get_scoped(db, Evse, user.principal.tenant_id, evse_id, "EVSE")
        if not evse.public or not evse.evse_id:
            raise Conflict("only a public EVSE with an EVSE ID has a pay page", "evse_id")
        return Response(qr_svg(pay_url(state, evse)), media_type="image/svg+xml",
                        headers={"Content-Disposition": f'inline; filename="{evse.evse_id}.svg"'})  # fmt: skip

    @get("/sites/{site_id:uuid}/qr-stickers.pdf")
    async def site_stickers(self, site_id: uuid.UUID, db: AsyncSession, user: UiUser, state: State) -> Response[Any]:
        tenant_id = user.principal.tenant_id
        async with db.begin():
            site = await get_scoped(db, Site, tenant_id, site_id, "site")
            evses = (await db.execute(select(Evse).join(Station, Station.id == Evse.station_id).where(
                Station.site_id == site.id, Evse.public, Evse.evse_id.is_not(None)).order_by(Evse.evse_id))).scalars()  # fmt: skip
            stickers = []
            for evse in evses:
                try:
                    prices = await tariffs.driver_prices(db, tenant_id, evse.id, "ad_hoc")
                    energy = next((c for c in prices.components if c.type == "ENERGY"), None)
                    price = f"{prices.currency} {price_text(energy.price_incl_vat)} per kWh incl. VAT" if energy else ""
                except NotFound:
                    price = ""
                stickers.append(Sticker(pay_url(state, evse), evse.evse_id or "", f"{site.name}, {site.city}", price))
        if not stickers:
            raise Conflict("this site has no public EVSE with an EVSE ID", "site")
        return Response(sticker_sheet(stickers), media_type="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="qr-stickers-{site.id}.pdf"'})  # fmt: skip

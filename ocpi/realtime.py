"""Real-time authorization of a partner's token: ``POST {tokens}/{uid}/authorize`` at the partner (the port
``cpo.roaming.tokens.RealtimeAuthorizer``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from cpo.roaming.models import RoamingPartner, RoamingToken
from cpo.roaming.sealing import Sealer
from cpo.roaming.service import their_token
from cpo.roaming.tokens import Asked, RealtimeAuthorizer
from ocpi import client
from ocpi.outbound import FAILURES, PartnerHttp, failed


def make_asker(sealer: Sealer, partner_http: PartnerHttp) -> RealtimeAuthorizer:
    async def ask(partner: RoamingPartner, token: RoamingToken, location: dict[str, Any]) -> Asked | None:
        url = (partner.endpoints or {}).get("tokens:SENDER")
        secret = their_token(partner, sealer)
        if not url or not secret:
            return None
        target = f"{url.rstrip('/')}/{quote(token.uid, safe='')}/authorize?type={token.type}"
        try:
            async with partner_http.client() as http:
                response = await http.post(target, json=location, headers=client.headers(secret, partner.plain_tokens))
            body = response.json()
        except (*FAILURES, ValueError) as error:
            failed("POST", url, error)  # their tokens endpoint: the token uid stays out of the log
            return None
        data = body.get("data") if isinstance(body, dict) else None
        if response.status_code == 404 or (isinstance(body, dict) and body.get("status_code") == 2004):
            return Asked("NOT_ALLOWED")
        if response.status_code != 200 or not isinstance(data, dict) or "allowed" not in data:
            return None
        return Asked(str(data["allowed"]), data.get("authorization_reference"))

    return ask

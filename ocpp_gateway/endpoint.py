"""The websocket endpoint ``/ocpp/{identity}``: handshake, authentication, then the station's frames.

It is plain ASGI, routed ahead of the web framework (see ``with_ocpp``): a station's frames are the hot
path, and they need none of the per-message wrapping an HTTP framework puts around ``send``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from sqlalchemy.exc import IntegrityError

from cpo.charging import presence
from cpo.network import arrived_over_tls, client_address
from cpo.secrets import verify_password_async
from ocpp_gateway.connection import StationConnection, StationRef
from ocpp_gateway.gateway import Gateway
from ocpp_gateway.schemas import Version

log = logging.getLogger("ocpp_gateway")
PREFIX = "/ocpp/"
# Our preference, newest first (OCPP-J: the server picks from what the station offers).
SUBPROTOCOLS: dict[str, Version] = {"ocpp2.0.1": "2.0.1", "ocpp1.6": "1.6"}

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def choose_subprotocol(offered: list[str]) -> str | None:
    for name in SUBPROTOCOLS:
        if name in offered:
            return name
    return None


def header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return ""


def basic_credentials(authorization: str) -> tuple[str, str] | None:
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


async def refuse(scope: Scope, send: Send, status: int, reason: str) -> None:
    """Answer the upgrade request with a plain HTTP status (ASGI websocket denial response)."""
    headers = [(b"content-type", b"text/plain")]
    if status == 401:
        headers.append((b"www-authenticate", b'Basic realm="OCPP"'))
    if "websocket.http.response" in scope.get("extensions", {}):
        await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": reason.encode(), "more_body": False})
    else:
        # A server without the denial extension: closing before accept still refuses (as HTTP 403).
        await send({"type": "websocket.close", "code": 1008, "reason": reason})


async def ocpp_endpoint(state: Any, scope: Scope, receive: Receive, send: Send) -> None:
    gateway: Gateway = state.gateway
    proxies = state.settings.server.trusted_proxies
    identity = scope["path"][len(PREFIX) :]  # ASGI paths arrive percent-decoded
    if (await receive())["type"] != "websocket.connect":
        return
    if gateway.stopping:
        await refuse(scope, send, 503, "this node is shutting down; reconnect")
        return
    if not identity or "/" in identity:
        await refuse(scope, send, 404, "no such endpoint")
        return
    offered = list(scope.get("subprotocols") or [])
    chosen = choose_subprotocol(offered)
    credentials = basic_credentials(header(scope, b"authorization"))

    async with gateway.sessions() as db, db.begin():
        station = await presence.station_by_identity(db, identity)
    if station is None:
        # Unknown identities are where strangers probe, and where a tenant's new stations register: a few per
        # address, so nobody walks the identity space or fills a tenant with pending stations.
        address = client_address(scope, proxies)
        if gateway.unknown_identities.blocked_for(address) > 0:
            await refuse(scope, send, 429, "too many unknown charging stations from this address: try later")
            return
        gateway.unknown_identities.failed(address)
        if credentials is not None and credentials[0] == identity:
            try:
                async with gateway.sessions() as db, db.begin():
                    outcome = await presence.auto_register(
                        db, identity, credentials[1], gateway.settings.pending_stations_max
                    )
            except IntegrityError:  # the same identity registering on two connections at once: one wins
                outcome = "registered meanwhile"
            if isinstance(outcome, str):
                log.info("unknown station not registered", extra={"station": identity, "reason": outcome})
            else:
                station = outcome
                log.info("station registered itself, pending acceptance", extra={"station": identity})
    if station is None:
        await refuse(scope, send, 404, "unknown charging station")
        return
    # One profile per station, never downgraded (A00.FR.002/005): 3 uses the client-certificate port,
    # 2 needs TLS here (served by us, or by a trusted proxy in front).
    if station.security_profile == 3:
        await refuse(scope, send, 401, "security profile 3: connect to the client-certificate port")
        return
    if station.security_profile == 2 and not arrived_over_tls(scope, proxies):
        await refuse(scope, send, 401, "security profile 2 needs wss:// (TLS)")
        return
    # Security profiles 1 and 2: HTTP Basic, user = identity, checked before the upgrade (A00.FR.204).
    if credentials is None or credentials[0] != identity:
        await refuse(scope, send, 401, "HTTP Basic authentication with the station identity required")
        return
    # No stored password is no password to pass, not a free pass (default deny).
    if station.password_hash is None or not await verify_password_async(credentials[1], station.password_hash):
        await refuse(scope, send, 401, "wrong password")
        return

    if offered and chosen is None:
        # OCPP-J 1.6 §3.1.2 / 2.0.1 part 4 §3.2: no common subprotocol: complete the handshake without one, close.
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 1002, "reason": "no supported OCPP subprotocol offered"})
        return
    # Some 1.6 stations offer no subprotocol at all; they speak 1.6.
    version: Version = SUBPROTOCOLS[chosen] if chosen else "1.6"
    await send({"type": "websocket.accept", "subprotocol": chosen})

    async def send_text(text: str) -> None:
        await send({"type": "websocket.send", "text": text})

    async def close_socket(code: int) -> None:
        await send({"type": "websocket.close", "code": code})

    connection = StationConnection(
        station=StationRef(station.id, station.tenant_id, station.identity),
        version=version,
        send_text=send_text,
        close_socket=close_socket,
        registration_status=station.registration_status,
    )

    async def incoming() -> AsyncIterator[str | bytes]:
        while True:
            message = await receive()
            if message["type"] != "websocket.receive":
                return
            text = message.get("text")
            data = message.get("bytes")
            yield text if isinstance(text, str) else data if isinstance(data, bytes) else b""

    with contextlib.suppress(OSError, RuntimeError):
        await gateway.serve(connection, incoming())


def with_ocpp(app: Any) -> ASGIApp:
    """Route station websockets (``/ocpp/...``) to the gateway, everything else to the web app."""

    async def route(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"].startswith(PREFIX):
            await ocpp_endpoint(app.state, scope, receive, send)
        else:
            await app(scope, receive, send)

    return route

"""The websocket endpoint ``/ocpp/{identity}``: handshake, authentication, then the station's frames."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
from typing import Any

from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from cpo.charging import presence
from cpo.secrets import verify_password_async
from ocpp_gateway.connection import StationConnection, StationRef
from ocpp_gateway.gateway import Gateway
from ocpp_gateway.schemas import Version

log = logging.getLogger("ocpp_gateway")
# Our preference, newest first (OCPP-J: the server picks from what the station offers).
SUBPROTOCOLS: dict[str, Version] = {"ocpp2.0.1": "2.0.1", "ocpp1.6": "1.6"}


def choose_subprotocol(offered: list[str]) -> str | None:
    for name in SUBPROTOCOLS:
        if name in offered:
            return name
    return None


def basic_credentials(headers: Any) -> tuple[str, str] | None:
    header = headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


async def refuse(socket: WebSocket[Any, Any, Any], status: int, reason: str) -> None:
    """Answer the upgrade request with a plain HTTP status (ASGI websocket denial response)."""
    headers = [(b"content-type", b"text/plain")]
    if status == 401:
        headers.append((b"www-authenticate", b'Basic realm="OCPP"'))
    try:
        await socket.send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await socket.send({"type": "websocket.http.response.body", "body": reason.encode(), "more_body": False})
    except Exception:
        # A server without the denial extension: closing before accept still refuses (as HTTP 403).
        with contextlib.suppress(Exception):
            await socket.close(code=1008, reason=reason)


@websocket("/ocpp/{identity:str}", name="ocpp")
async def ocpp_endpoint(socket: WebSocket[Any, Any, Any], identity: str) -> None:
    gateway: Gateway = socket.app.state.gateway
    offered = list(socket.scope.get("subprotocols") or [])
    chosen = choose_subprotocol(offered)
    credentials = basic_credentials(socket.headers)

    async with gateway.sessions() as db, db.begin():
        station = await presence.station_by_identity(db, identity)
        if station is None and credentials is not None and credentials[0] == identity:
            station = await presence.auto_register(db, identity, credentials[1])
            if station is not None:
                log.info("station registered itself, pending acceptance", extra={"station": identity})
    if station is None:
        await refuse(socket, 404, "unknown charging station")
        return
    # Security profiles 1 and 2: HTTP Basic, user = identity, checked before the upgrade (A00.FR.204).
    if station.password_hash is not None:
        if credentials is None or credentials[0] != identity:
            await refuse(socket, 401, "HTTP Basic authentication with the station identity required")
            return
        if not await verify_password_async(credentials[1], station.password_hash):
            await refuse(socket, 401, "wrong password")
            return

    if offered and chosen is None:
        # OCPP-J 1.6 §3.1.2 / 2.0.1 part 4 §3.2: no common subprotocol: complete the handshake without one, close.
        await socket.accept()
        await socket.close(code=1002, reason="no supported OCPP subprotocol offered")
        return
    # Some 1.6 stations offer no subprotocol at all; they speak 1.6.
    version: Version = SUBPROTOCOLS[chosen] if chosen else "1.6"
    await socket.accept(subprotocols=chosen)

    async def send_text(text: str) -> None:
        await socket.send_data(text, mode="text")

    async def close_socket(code: int) -> None:
        await socket.close(code=code)

    connection = StationConnection(
        station=StationRef(station.id, station.tenant_id, station.identity),
        version=version,
        send_text=send_text,
        close_socket=close_socket,
        registration_status=station.registration_status,
    )
    await gateway.register(connection)
    worker = asyncio.create_task(gateway.work(connection), name=f"ocpp-{identity}")
    try:
        while True:
            message = await socket.receive()
            if message["type"] == "websocket.disconnect":
                break
            text = message.get("text")
            data = message.get("bytes")
            raw: str | bytes = text if isinstance(text, str) else data if isinstance(data, bytes) else b""
            await gateway.receive(connection, raw)
    except WebSocketDisconnect:
        pass
    finally:
        await gateway.unregister(connection)
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await worker

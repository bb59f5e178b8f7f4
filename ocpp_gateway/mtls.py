"""Security profile 3: a TLS port that demands a client certificate from every station.

The ASGI server cannot hand us the peer certificate, so this port is served by the ``websockets`` library
inside each node, feeding the same gateway. The certificate must chain to the configured CA, carry the
operator's organisation (A00.FR.404, when configured) and name the station in its CN: its serial number
(A00.FR.405) or, failing that, its identity.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from cpo.charging import presence
from cpo.settings import TlsSettings
from ocpp_gateway.connection import StationConnection, StationRef
from ocpp_gateway.endpoint import SUBPROTOCOLS
from ocpp_gateway.gateway import Gateway

log = logging.getLogger("ocpp_gateway")
PREFIX = "/ocpp/"


def server_context(tls: TlsSettings) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    assert tls.cert_file is not None and tls.key_file is not None and tls.client_ca_file is not None
    context.load_cert_chain(tls.cert_file, tls.key_file)
    context.load_verify_locations(tls.client_ca_file)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def subject_of(certificate: dict[str, Any]) -> dict[str, str]:
    return {key: value for rdn in certificate.get("subject", ()) for key, value in rdn}


class ClientCertificatePort:
    def __init__(self, gateway: Gateway, tls: TlsSettings, host: str) -> None:
        self.gateway = gateway
        self.tls = tls
        self.host = host
        self._server: Server | None = None

    async def start(self) -> None:
        self._server = await serve(
            self._handle, self.host, self.tls.client_port, ssl=server_context(self.tls),
            process_request=self._check, select_subprotocol=self._subprotocol, reuse_port=True,
            ping_interval=self.gateway.settings.ping_seconds or None,
            ping_timeout=self.gateway.settings.ping_seconds or None,
            compression=None, max_size=4 * self.gateway.settings.max_frame_bytes,
        )  # fmt: skip

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _subprotocol(self, connection: ServerConnection, offered: Any) -> Any:
        for name in SUBPROTOCOLS:
            if name in offered:
                return name
        return None

    async def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        if not request.path.startswith(PREFIX):
            return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")
        identity = unquote(request.path[len(PREFIX) :].split("?")[0])
        certificate = connection.transport.get_extra_info("peercert") or {}
        subject = subject_of(certificate)
        async with self.gateway.sessions() as db, db.begin():
            station = await presence.station_by_identity(db, identity)
        if station is None:
            return connection.respond(HTTPStatus.NOT_FOUND, "unknown charging station\n")
        if station.security_profile != 3:
            return connection.respond(HTTPStatus.UNAUTHORIZED, "this station does not use client certificates\n")
        if self.tls.client_organization and subject.get("organizationName") != self.tls.client_organization:
            return connection.respond(HTTPStatus.UNAUTHORIZED, "certificate of another organisation\n")
        if subject.get("commonName") not in {station.serial_number, station.identity} - {None}:
            return connection.respond(HTTPStatus.UNAUTHORIZED, "certificate of another station\n")
        connection.station = station  # type: ignore[attr-defined]
        return None

    async def _handle(self, websocket: ServerConnection) -> None:
        station = websocket.station  # type: ignore[attr-defined]
        chosen = websocket.subprotocol
        if chosen is None and _offered(websocket.request.headers if websocket.request else Headers()):
            await websocket.close(1002, "no supported OCPP subprotocol offered")
            return
        connection = StationConnection(
            station=StationRef(station.id, station.tenant_id, station.identity),
            version=SUBPROTOCOLS[chosen] if chosen else "1.6",
            send_text=websocket.send,
            close_socket=lambda code: websocket.close(code),
            registration_status=station.registration_status,
        )

        async def incoming() -> AsyncIterator[str | bytes]:
            async for message in websocket:
                yield message

        await self.gateway.serve(connection, incoming())


def _offered(headers: Headers) -> bool:
    return bool(headers.get("Sec-WebSocket-Protocol"))

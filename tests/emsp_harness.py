"""An eMSP of our own for tests: versions, details, credentials, real-time authorization, and what it receives.

Served by uvicorn on loopback in its own thread (the platform under test calls it over real HTTP).
"""

from __future__ import annotations

import base64
import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from litestar import Litestar, Request, get, post, route
from litestar.exceptions import HTTPException

from tests.platform import free_port

THEIR_TOKEN = "emsp-token-for-the-cpo"
ALLOW_REALTIME = {"ASKME001"}


@dataclass
class Emsp:
    url: str
    party_id: str = "TNM"
    seen_tokens: list[str] = field(default_factory=list)
    received: list[tuple[str, str, Any]] = field(default_factory=list)
    """(method, path, body) of everything pushed to its receiver endpoints."""
    sent_credentials: dict[str, Any] = field(default_factory=dict)
    """The credentials the platform sent when it registered with this eMSP."""
    called_back: int = 0
    """How often it read our versions and details while answering a registration of ours."""
    arrived: list[float] = field(default_factory=list)
    """When each push to a module's object arrived (time.monotonic)."""
    refusing: bool = False
    """Answer every push with 503 (a partner that is down), noting it in ``refused``."""
    refused: list[tuple[str, str]] = field(default_factory=list)
    allow_realtime: set[str] = field(default_factory=lambda: set(ALLOW_REALTIME))
    """The token uids it allows when asked in real time."""

    def credentials(self) -> dict[str, Any]:
        return {"token": THEIR_TOKEN, "url": f"{self.url}/versions",
                "roles": [{"role": "EMSP", "party_id": self.party_id, "country_code": "NL",
                           "business_details": {"name": "Harness"}}]}  # fmt: skip


def _ok(data: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"status_code": 1000, "timestamp": "2026-11-27T00:00:00Z"}
    return body | ({"data": data} if data is not None else {})


@contextlib.contextmanager
def serve_emsp(
    party_id: str = "TNM", call_back: bool = True, version: str = "2.2.1", credentials_endpoint: bool = True
) -> Iterator[Emsp]:
    """``call_back``: read the platform's versions while answering its registration (off when the platform
    runs in-process and has no URL to call). ``version`` and ``credentials_endpoint``: what it offers (a
    partner on another version, or one listing no credentials endpoint, for failed handshakes)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    harness = Emsp(base, party_id)

    def check(request: Request[Any, Any, Any]) -> None:
        sent = request.headers.get("authorization", "").removeprefix("Token ")
        harness.seen_tokens.append(base64.b64decode(sent).decode())

    @get("/versions")
    async def versions(request: Request[Any, Any, Any]) -> dict[str, Any]:
        check(request)
        return _ok([{"version": version, "url": f"{base}/2.2.1"}])

    @get("/2.2.1")
    async def details(request: Request[Any, Any, Any]) -> dict[str, Any]:
        check(request)
        endpoints = [{"identifier": m, "role": r, "url": f"{base}/2.2.1/{m}"} for m, r in (
            ("credentials", "SENDER"), ("locations", "RECEIVER"), ("tariffs", "RECEIVER"), ("sessions", "RECEIVER"),
            ("cdrs", "RECEIVER"), ("tokens", "SENDER")) if credentials_endpoint or m != "credentials"]  # fmt: skip
        return _ok({"version": "2.2.1", "endpoints": endpoints})

    @post("/2.2.1/credentials", status_code=200)
    async def credentials(request: Request[Any, Any, Any]) -> dict[str, Any]:
        """As an eMSP does: read the caller's versions and details with the token it sent, then answer."""
        check(request)
        sent = harness.sent_credentials = await request.json()
        if not call_back:
            return _ok(harness.credentials())
        token = {"Authorization": "Token " + base64.b64encode(sent["token"].encode()).decode()}
        async with httpx.AsyncClient(timeout=10) as http:
            versions = await http.get(sent["url"], headers=token)
            if versions.status_code != 200:
                return {"status_code": 3001, "status_message": f"versions: HTTP {versions.status_code}",
                        "timestamp": "2026-11-27T00:00:00Z"}  # fmt: skip
            details = await http.get(versions.json()["data"][0]["url"], headers=token)
            if details.status_code != 200:
                return {"status_code": 3001, "status_message": f"details: HTTP {details.status_code}",
                        "timestamp": "2026-11-27T00:00:00Z"}  # fmt: skip
        harness.called_back += 1
        return _ok(harness.credentials())

    @post("/2.2.1/tokens/{uid:str}/authorize", status_code=200)
    async def authorize(request: Request[Any, Any, Any], uid: str) -> dict[str, Any]:
        check(request)
        harness.received.append(("POST", f"/tokens/{uid}/authorize", await request.json()))
        return _ok({"allowed": "ALLOWED" if uid in harness.allow_realtime else "NOT_ALLOWED", "authorization_reference": "R-1",
                    "token": {"uid": uid}})  # fmt: skip

    @route("/2.2.1/{module:str}/{rest:path}", http_method=["PUT", "PATCH", "POST"], status_code=200)
    async def receive(request: Request[Any, Any, Any], module: str, rest: str) -> Any:
        check(request)
        if harness.refusing:
            harness.refused.append((request.method, f"/{module}{rest}"))
            raise HTTPException(status_code=503, detail="down for maintenance")
        harness.received.append((request.method, f"/{module}{rest}", await request.json()))
        harness.arrived.append(time.monotonic())
        return _ok()

    @route("/2.2.1/{module:str}", http_method=["POST"], status_code=200)
    async def receive_post(request: Request[Any, Any, Any], module: str) -> Any:
        check(request)
        harness.received.append(("POST", f"/{module}", await request.json()))
        return _ok()

    server = uvicorn.Server(uvicorn.Config(
        Litestar([versions, details, credentials, authorize, receive, receive_post]), host="127.0.0.1", port=port,
        log_level="warning", lifespan="off"))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the eMSP harness did not start"
        time.sleep(0.02)
    try:
        yield harness
    finally:
        server.should_exit = True
        thread.join(10)

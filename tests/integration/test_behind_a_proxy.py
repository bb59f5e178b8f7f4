"""Behind a proxy: forwarded headers are believed from the configured proxies only, never from any client.

Two nodes on one database: one whose only trusted proxies are elsewhere (10.0.0.0/8), so the tests, talking from
127.0.0.1, are ordinary clients forging headers; one that trusts 127.0.0.1, so the tests act as its proxy.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from tests.integration.ocpp_support import Server, basic, start_server
from tests.platform import run_cpo

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def forging(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # CPO_TRUST_PROXY is the old switch that believed everyone: with a proxy list it no longer does.
    running = start_server(
        tmp_path_factory.mktemp("forging"), module_db_url, CPO_TRUSTED_PROXIES="10.0.0.0/8", CPO_TRUST_PROXY="true"
    )
    yield running
    assert running.platform.stop() == 0


@pytest.fixture(scope="module")
def proxied(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("proxied"), module_db_url, CPO_TRUSTED_PROXIES="127.0.0.1")
    yield running
    assert running.platform.stop() == 0


def account(server: Server, email: str) -> str:
    created = run_cpo(
        ["admin", "create-user", "--email", email, "--role", "read_only", "--password-stdin"],
        server.platform.env, stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    return email


def sign_in(browser: httpx.Client, email: str, password: str, forwarded_for: str) -> int:
    form = browser.get("/ui/login")
    match = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert match
    data = {"email": email, "password": password, "next": "/ui/", "csrf": match.group(1)}
    return browser.post("/ui/login", data=data, headers={"X-Forwarded-For": forwarded_for}).status_code


def test_a_forged_forwarded_for_does_not_escape_the_address_throttle(forging: Server) -> None:
    email = account(forging, "forger-target@example.com")
    with httpx.Client(base_url=forging.url, timeout=30) as browser:
        for n in range(10):
            # a different "address" each time: a client that could pick its address would never be stopped
            assert sign_in(browser, email, "a wrong guess", f"198.51.100.{n}") == 401
        assert sign_in(browser, "someone-else@example.com", "another guess", "203.0.113.77") == 429


def test_an_account_is_throttled_whatever_addresses_the_guesses_come_from(proxied: Server) -> None:
    target = account(proxied, "target@example.com")
    bystander = account(proxied, "bystander@example.com")
    with httpx.Client(base_url=proxied.url, timeout=30) as browser:
        for n in range(10):
            assert sign_in(browser, target, "a wrong guess", f"198.51.100.{n}") == 401
        # an eleventh address, the right password even: the account waits
        assert sign_in(browser, target, PASSWORD, "198.51.100.200") == 429
        # the proxy really is believed: the addresses above were each below their own limit, and another
        # account is not held up by them
        assert sign_in(browser, bystander, PASSWORD, "198.51.100.0") in (302, 303)


async def connect_profile_2(server: Server, station: dict[str, str], headers: dict[str, str]) -> None:
    headers = {"Authorization": basic(station["identity"], station["password"]), **headers}
    async with websockets.connect(
        server.ws_url + station["identity"], subprotocols=["ocpp1.6"], additional_headers=headers
    ):  # type: ignore[list-item]
        pass


async def test_a_profile_2_station_cannot_skip_tls_by_saying_a_proxy_did_it(forging: Server) -> None:
    station = await forging.new_station("P2", security_profile=2)
    assert forging.ws_url.startswith("ws://")
    with pytest.raises(websockets.InvalidStatus) as refused:
        await connect_profile_2(forging, station, {"X-Forwarded-Proto": "https"})
    assert refused.value.response.status_code == 401


async def test_a_profile_2_station_behind_a_trusted_tls_proxy_connects(proxied: Server) -> None:
    station = await proxied.new_station("P2", security_profile=2)
    await connect_profile_2(proxied, station, {"X-Forwarded-Proto": "https"})
    with pytest.raises(websockets.InvalidStatus) as refused:
        await connect_profile_2(proxied, station, {})
    assert refused.value.response.status_code == 401


def test_trust_proxy_alone_refuses_to_start_and_names_the_new_setting(forging: Server, tmp_path: Path) -> None:
    env = {k: v for k, v in forging.platform.env.items() if k != "CPO_TRUSTED_PROXIES"}
    refused = run_cpo(["db", "current"], env)
    assert refused.returncode == 2 and "CPO_TRUSTED_PROXIES" in refused.stderr

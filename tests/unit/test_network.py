"""The client's address and scheme through proxies: believed from configured proxies only, read right to left."""

from __future__ import annotations

from typing import Any

import pytest

from cpo.network import arrived_over_tls, client_address, parse_networks

PROXIES = parse_networks("10.0.0.0/8, 192.0.2.1 2001:db8::/32")


def scope(peer: str | None, *headers: tuple[str, str], scheme: str = "http") -> dict[str, Any]:
    return {
        "type": "http",
        "scheme": scheme,
        "client": (peer, 50000) if peer else None,
        "headers": [(name.lower().encode(), value.encode()) for name, value in headers],
    }


def test_a_direct_peer_that_is_no_proxy_is_the_client_whatever_it_forwards() -> None:
    assert client_address(scope("198.51.100.7", ("X-Forwarded-For", "203.0.113.1")), PROXIES) == "198.51.100.7"


def test_without_configured_proxies_nobody_is_believed() -> None:
    assert client_address(scope("10.0.0.5", ("X-Forwarded-For", "203.0.113.1")), ()) == "10.0.0.5"


def test_behind_a_proxy_the_first_untrusted_hop_from_the_right_is_the_client() -> None:
    # the client wrote "1.1.1.1" itself; our proxies appended what they saw: 203.0.113.9, then 10.0.0.3
    forwarded = ("X-Forwarded-For", "1.1.1.1, 203.0.113.9, 10.0.0.3")
    assert client_address(scope("10.0.0.2", forwarded), PROXIES) == "203.0.113.9"


def test_repeated_forwarded_for_lines_are_one_list_in_order() -> None:
    lines = (("X-Forwarded-For", "1.1.1.1"), ("X-Forwarded-For", "203.0.113.9"))
    assert client_address(scope("192.0.2.1", *lines), PROXIES) == "203.0.113.9"


def test_ipv6_hops_and_ports_are_understood() -> None:
    forwarded = ("X-Forwarded-For", "[2001:db9::5]:4711, 2001:db8::1")
    assert client_address(scope("2001:db8::2", forwarded), PROXIES) == "2001:db9::5"
    assert client_address(scope("::ffff:10.1.2.3", ("X-Forwarded-For", "203.0.113.4:80")), PROXIES) == "203.0.113.4"


def test_a_hop_that_is_no_address_ends_the_walk() -> None:
    forwarded = ("X-Forwarded-For", "203.0.113.1, unknown, 10.0.0.3")
    assert client_address(scope("10.0.0.2", forwarded), PROXIES) == "unknown"


def test_a_proxy_without_forwarded_for_is_its_own_client() -> None:
    assert client_address(scope("10.0.0.2"), PROXIES) == "10.0.0.2"
    assert client_address(scope(None), PROXIES) == "unknown"


@pytest.mark.parametrize(
    ("peer", "headers", "scheme", "tls"),
    [
        ("198.51.100.7", [("X-Forwarded-Proto", "https")], "http", False),  # a client's own claim
        ("10.0.0.2", [("X-Forwarded-Proto", "https")], "ws", True),  # our proxy terminated TLS
        ("10.0.0.2", [("X-Forwarded-Proto", "https, http")], "ws", False),  # our proxy's own word is the last
        ("10.0.0.2", [], "ws", False),
        ("198.51.100.7", [], "wss", True),  # TLS to us directly
    ],
)
def test_tls_is_believed_from_the_scheme_or_a_trusted_proxy_only(
    peer: str, headers: list[tuple[str, str]], scheme: str, tls: bool
) -> None:
    assert arrived_over_tls(scope(peer, *headers, scheme=scheme), PROXIES) is tls


def test_a_proxy_list_that_is_not_addresses_is_refused() -> None:
    with pytest.raises(ValueError):
        parse_networks("10.0.0.0/8, proxy.example.com")

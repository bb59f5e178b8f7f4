"""Who is on the other end of a request: the client's address and scheme, seen through trusted proxies only.

``X-Forwarded-For`` and ``X-Forwarded-Proto`` are written by whoever sends the request. They are believed only
when the direct peer is one of the configured proxies (``CPO_TRUSTED_PROXIES``), and ``X-Forwarded-For`` is read
from the right: each trusted proxy appends the address it was talking to, so the first hop from the right that
is not a trusted proxy is the client, and anything to its left is whatever the client chose to send.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(text: str) -> tuple[Network, ...]:
    """``"10.0.0.1, 192.168.0.0/16 fd00::/8"`` as networks; a bare address is a network of one. Raises ValueError."""
    return tuple(ipaddress.ip_network(part, strict=False) for part in text.replace(",", " ").split())


def _address(text: str) -> Address | None:
    text = text.strip()
    if text.startswith("["):  # "[2001:db8::1]:443"
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # "192.0.2.1:443"
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    # An IPv4 peer on a dual-stack socket shows as ::ffff:a.b.c.d; match it against IPv4 networks.
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped if mapped is not None else address


def _trusted(address: Address | None, proxies: Iterable[Network]) -> bool:
    return address is not None and any(address in network for network in proxies)


def _header_values(scope: Mapping[str, Any], name: bytes) -> list[str]:
    """Every comma-separated value of every line of this header, in order (repeated lines are one list)."""
    values: list[str] = []
    for key, value in scope.get("headers", ()):
        if bytes(key).lower() == name:
            values.extend(part.strip() for part in bytes(value).decode("latin-1").split(","))
    return [value for value in values if value]


def _peer(scope: Mapping[str, Any]) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def peer_is_trusted_proxy(scope: Mapping[str, Any], proxies: tuple[Network, ...]) -> bool:
    return bool(proxies) and _trusted(_address(_peer(scope)), proxies)


def client_address(scope: Mapping[str, Any], proxies: tuple[Network, ...]) -> str:
    """The client's address for throttles and limits: the direct peer, or behind trusted proxies the first
    untrusted hop of ``X-Forwarded-For`` from the right. Works on any ASGI scope (``request.scope``)."""
    peer = _peer(scope)
    if not peer_is_trusted_proxy(scope, proxies):
        return peer
    client = peer
    for hop in reversed(_header_values(scope, b"x-forwarded-for")):
        address = _address(hop)
        if address is None:
            # Not an address (e.g. "unknown"): nothing to its left can be trusted; the hop itself names the client.
            return hop[:64]
        client = str(address)
        if not _trusted(address, proxies):
            return client
    # Every hop was a trusted proxy: the leftmost is as near the client as we can tell.
    return client


def arrived_over_tls(scope: Mapping[str, Any], proxies: tuple[Network, ...]) -> bool:
    """TLS to us, or to the trusted proxy in front of us as it says in ``X-Forwarded-Proto``."""
    if scope.get("scheme") in ("https", "wss"):
        return True
    if not peer_is_trusted_proxy(scope, proxies):
        return False
    # The value our direct peer wrote is the last one; anything before it came from further away.
    said = _header_values(scope, b"x-forwarded-proto")
    return bool(said) and said[-1].lower() in ("https", "wss")

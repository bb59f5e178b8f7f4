"""Requests to URLs that others give us: a Token A holder's credentials ``url``, the versions and endpoints a
partner lists, every ``response_url``, the versions URL a tenant admin registers with.

Whoever names the URL chooses where this server connects, so (unless ``CPO_OCPI_ALLOW_PRIVATE_URLS``, for
tests and closed networks) a URL must be ``https`` and its host must resolve to public addresses only. The URL
is checked when it is taken (a clear refusal to whoever gave it) and the address again when connecting: the
host name is resolved once, every address checked, and the connection made to exactly a checked address, so
a name that resolves elsewhere a moment later (DNS rebinding) cannot slip through. TLS still verifies the
certificate against the host name of the URL. Redirects are not followed (a public server could otherwise
bounce us to an internal one). What went wrong goes to the log only: a caller learns one generic text, never
what answered where.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass

import anyio
import httpcore
import httpx
from litestar.datastructures import State

from cpo.settings import OcpiSettings

log = logging.getLogger("cpo.ocpi")

TIMEOUT = httpx.Timeout(15.0)
UNREACHABLE = "the partner's server could not be reached or gave no usable answer"
"""All a partner or an admin is told when a call to a partner fails (details go to the log)."""
FAILURES = (httpx.HTTPError, httpx.InvalidURL)
"""What a call through ``PartnerHttp.client()`` raises when it fails."""

Resolver = Callable[[str, int], Awaitable[list[str]]]
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
_V4_COMPATIBLE = ipaddress.ip_network("::/96")


class RefusedUrl(ValueError):
    """A URL this server will not call; ``reason`` says why (safe to tell whoever gave it)."""

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(f"{what}: {reason}")
        self.what = what
        self.reason = reason


class RefusedAddress(httpcore.ConnectError):
    """The host of a URL resolved to an address that is not public: no connection was made."""


def is_public(address: str) -> bool:
    """True for a globally routable unicast address; False for loopback, private, link-local, CGNAT, multicast,
    reserved, unspecified, documentation ranges, and IPv6 forms that carry such an IPv4 address inside."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone (fe80::1%eth0) is link-local anyway
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour
        if inner is None and ip in _V4_COMPATIBLE:
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if inner is not None or ip in _SIX_TO_FOUR:
            return False  # an IPv4 address in IPv6 clothing: no partner needs it, and it may reach inside
        if ip.is_site_local:
            return False  # fec0::/10: deprecated (RFC 3879) but still routed inside some networks
    return ip.is_global and not (
        ip.is_multicast or ip.is_reserved or ip.is_loopback or ip.is_link_local or ip.is_private
        or ip.is_unspecified
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class UrlPolicy:
    allow_private: bool = False
    """Plain http and loopback or private hosts too (tests, closed networks)."""

    def check(self, url: str, what: str = "url") -> str:
        """``url`` if it may be called; else ``RefusedUrl`` naming ``what`` (the field it came in)."""
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError):
            raise RefusedUrl(what, "not a valid URL") from None
        schemes = ("https", "http") if self.allow_private else ("https",)
        if parsed.scheme not in schemes:
            raise RefusedUrl(what, "must be an https:// URL")
        host = parsed.host.rstrip(".").lower()
        if not host:
            raise RefusedUrl(what, "has no host")
        if parsed.userinfo:
            raise RefusedUrl(what, "must not carry a user name or password")
        if self.allow_private:
            return url
        if host == "localhost" or host.endswith(".localhost") or (_literal(host) and not is_public(host)):
            raise RefusedUrl(what, "must point at a public server")
        return url


def _literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in the resolver's order."""
    found = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in found))


class PublicOnlyBackend(httpcore.AsyncNetworkBackend):
    """Resolves the host itself, refuses it unless every address is public, then connects to a checked address
    (never to the name, which could resolve differently the second time)."""

    def __init__(
        self,
        allow_private: bool = False,
        resolver: Resolver = resolve,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._allow_private = allow_private
        self._resolve = resolver
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            with anyio.fail_after(timeout):
                addresses = await self._resolve(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        except OSError as error:
            raise httpcore.ConnectError(f"could not resolve {host}: {error}") from None
        refused = [address for address in addresses if not is_public(address)]
        if not addresses or (refused and not self._allow_private):
            # One non-public address is enough to refuse: a name that mixes public and internal addresses is
            # either misconfigured or an attempt to have some of our connections land inside.
            raise RefusedAddress(f"refused {host}: resolves to non-public {', '.join(refused) or 'nothing'}")
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise RefusedAddress("no unix sockets for partner calls")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class PublicOnlyTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport (TLS, pooling, error mapping) over a ``PublicOnlyBackend``."""

    def __init__(self, backend: httpcore.AsyncNetworkBackend, verify: ssl.SSLContext | bool = True) -> None:
        context = verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(verify=verify)
        super().__init__(verify=context)
        limits = httpx.Limits()
        # httpx builds the pool without a way to pass a network backend: the same pool again, with ours.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )


MAX_RESPONSE_BYTES = 8 * 1024 * 1024
"""The most a partner's answer may hold: a page of 100 locations is well under 1 MB, and an answer without end
would otherwise be read whole into memory."""


class _Capped(httpx.AsyncByteStream):
    """A response body that ends the call (``httpx.ReadError``) once it grows past ``limit`` bytes."""

    def __init__(self, inner: httpx.AsyncByteStream, limit: int, request: httpx.Request) -> None:
        self._inner, self._limit, self._request = inner, limit, request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        total = 0
        async for chunk in self._inner:
            total += len(chunk)
            if total > self._limit:
                raise httpx.ReadError(f"answer over {self._limit} bytes", request=self._request)
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class CheckedTransport(httpx.AsyncBaseTransport):
    """Checks each request's URL against the policy before the transport underneath sees it."""

    def __init__(self, policy: UrlPolicy, inner: httpx.AsyncBaseTransport, limit: int = MAX_RESPONSE_BYTES) -> None:
        self._policy = policy
        self._inner = inner
        self._limit = limit

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            self._policy.check(str(request.url))
        except RefusedUrl as refused:
            raise httpx.ConnectError(f"refused {request.url.host}: {refused}", request=request) from None
        response = await self._inner.handle_async_request(request)
        if isinstance(response.stream, httpx.AsyncByteStream):
            response.stream = _Capped(response.stream, self._limit, request)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


class PartnerHttp:
    """Makes the clients for calls to partners: one per app, on ``app.state.partner_http``."""

    def __init__(
        self, policy: UrlPolicy, transport: Callable[[], httpx.AsyncBaseTransport] | None = None,
        resolver: Resolver = resolve,
    ) -> None:  # fmt: skip
        self.policy = policy
        self._transport = transport
        self._resolver = resolver
        self._tls: ssl.SSLContext | None = None
        """Made once: loading the CA bundle costs tens of milliseconds, and every push makes a client."""

    @classmethod
    def from_settings(cls, settings: OcpiSettings) -> PartnerHttp:
        return cls(UrlPolicy(allow_private=settings.allow_private_urls))

    def check(self, url: str, what: str = "url") -> str:
        """``url`` if it may be called, else ``RefusedUrl`` (for a clear refusal when a URL is handed to us)."""
        return self.policy.check(url, what)

    def client(self) -> httpx.AsyncClient:
        """A client for one piece of work (close it after): checked URLs, public addresses, no redirects."""
        if self._transport is not None:
            inner = self._transport()
        else:
            self._tls = self._tls or httpx.create_ssl_context()
            inner = PublicOnlyTransport(PublicOnlyBackend(self.policy.allow_private, self._resolver), self._tls)
        return httpx.AsyncClient(
            transport=CheckedTransport(self.policy, inner), timeout=TIMEOUT, follow_redirects=False, trust_env=False
        )


def failed(what: str, url: str, error: BaseException | str) -> None:
    """Log why a call to a partner failed (the caller tells the partner or admin only ``UNREACHABLE``)."""
    reason = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    log.warning("a call to a partner failed", extra={"call": what, "url": url, "reason": reason})


def partner_http_of(state: State) -> PartnerHttp:
    found: PartnerHttp = state.partner_http
    return found

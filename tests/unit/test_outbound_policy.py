"""Which partner URLs and addresses the server may call (ocpi.outbound): the pure rules."""

from __future__ import annotations

import pytest

from cpo.settings import load_settings
from ocpi.outbound import RefusedUrl, UrlPolicy, is_public

NOT_PUBLIC = [
    "127.0.0.1", "127.1.2.3", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
    "100.127.255.254", "0.0.0.0", "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255", "192.0.2.1",
    "198.18.0.1", "::1", "::", "fe80::1", "fe80::1%eth0", "fc00::1", "fd12:3456::1", "ff02::1", "2001:db8::1",
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::127.0.0.1", "2002:7f00:1::1",
    "2002:a00:1::1", "64:ff9b::7f00:1", "fec0::1", "not-an-address", "",
]  # fmt: skip
PUBLIC = ["93.184.215.14", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450:4001:80b::200e"]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_loopback_private_link_local_cgnat_multicast_and_reserved_addresses_are_not_public(address: str) -> None:
    assert not is_public(address)


@pytest.mark.parametrize("address", PUBLIC)
def test_globally_routable_unicast_addresses_are_public(address: str) -> None:
    assert is_public(address)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://partner.example.com/ocpi/versions", "must be an https:// URL"),
        ("ftp://partner.example.com/versions", "must be an https:// URL"),
        ("file:///etc/passwd", "must be an https:// URL"),
        ("https://127.0.0.1/ocpi/versions", "must point at a public server"),
        ("https://10.1.2.3/ocpi/versions", "must point at a public server"),
        ("https://[::1]:8443/ocpi/versions", "must point at a public server"),
        ("https://169.254.169.254/latest/meta-data/", "must point at a public server"),
        ("https://100.64.0.1/", "must point at a public server"),
        ("https://0.0.0.0/", "must point at a public server"),
        ("https://[::ffff:127.0.0.1]/", "must point at a public server"),
        ("https://localhost/ocpi/versions", "must point at a public server"),
        ("https://LOCALHOST./ocpi/versions", "must point at a public server"),
        ("https://cpo.localhost/ocpi/versions", "must point at a public server"),
        ("https://user:secret@partner.example.com/versions", "must not carry a user name or password"),
        ("https:///versions", "has no host"),
        ("not a url at all", "must be an https:// URL"),
    ],
)
def test_a_partner_url_must_be_https_to_a_public_host(url: str, reason: str) -> None:
    with pytest.raises(RefusedUrl) as refused:
        UrlPolicy().check(url, "url")
    assert refused.value.reason == reason and str(refused.value) == f"url: {reason}"


@pytest.mark.parametrize(
    "url", ["https://partner.example.com/ocpi/versions", "https://93.184.215.14:8443/ocpi", "https://[2606:4700::1]/"]
)
def test_an_https_url_of_a_public_host_passes(url: str) -> None:
    assert UrlPolicy().check(url) == url


def test_allowing_private_urls_lets_plain_http_and_loopback_through_but_not_other_schemes() -> None:
    policy = UrlPolicy(allow_private=True)
    assert policy.check("http://127.0.0.1:8080/ocpi/versions") == "http://127.0.0.1:8080/ocpi/versions"
    assert policy.check("https://localhost/ocpi") == "https://localhost/ocpi"
    with pytest.raises(RefusedUrl):
        policy.check("ftp://127.0.0.1/")


def test_private_partner_urls_are_refused_unless_the_setting_says_otherwise() -> None:
    assert load_settings({}).ocpi.allow_private_urls is False
    assert load_settings({"CPO_OCPI_ALLOW_PRIVATE_URLS": "true"}).ocpi.allow_private_urls is True

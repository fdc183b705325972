"""The address rule and the URL checks, on their own."""

from __future__ import annotations

import ipaddress

import pytest

from imagetune.webhooks.addresses import Policy, is_public, literal_address

NOT_PUBLIC = [
    "127.0.0.1",
    "127.255.0.9",
    "::1",
    "0.0.0.0",
    "::",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "100.127.255.254",
    "192.0.2.10",
    "198.51.100.7",
    "203.0.113.1",
    "198.18.0.1",
    "198.19.255.1",
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:a00:1::",  # 6to4 of 10.0.0.1
    "2001:db8::1",
    "2001::1",  # Teredo
    "fc00::1",
    "fd12:3456::1",
    "fe80::1",
    "ff02::1",
]
PUBLIC = [
    "93.184.215.14",
    "8.8.8.8",
    "1.1.1.1",
    "2606:4700::1111",
    "::ffff:8.8.8.8",
    "2002:808:808::",
]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_not_public(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_public(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


def test_the_library_flag_would_let_cgnat_through() -> None:
    # Why the rule is ours: Python does not call carrier-grade NAT private.
    assert not ipaddress.ip_address("100.64.0.1").is_private
    assert not is_public(ipaddress.ip_address("100.64.0.1"))


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("::1", "::1"),
        ("example.com", None),
        ("cafe.be", None),
    ],
)
def test_literal_addresses_in_every_spelling(host: str, address: str | None) -> None:
    found = literal_address(host)
    assert (str(found) if found else None) == address


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/hook", "http or https"),
        ("example.com/hook", "http or https"),
        ("http:///hook", "valid"),
        ("https://user:pw@example.com/hook", "credentials"),
        ("https://user@example.com/hook", "credentials"),
        ("https://example.com:8443/hook", "port"),
        ("https://example.com:99999/hook", "valid URL"),
        ("https://exa mple.com/hook", "valid"),
        ("https://example.com/" + "a" * 2048, "2048"),
        ("http://localhost/hook", "private"),
        ("http://api.localhost/hook", "private"),
        ("http://[::ffff:127.0.0.1]/hook", "private"),
    ],
)
def test_urls_refused_with_a_reason(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        Policy().check_url(url)


def test_urls_accepted() -> None:
    Policy().check_url("https://hooks.example.com/imagetune?token=abc")
    Policy().check_url("http://93.184.215.14/hook")
    Policy(allowed_ports=(8443,)).check_url("https://example.com:8443/hook")
    Policy(allow_private=True).check_url("http://127.0.0.1/hook")

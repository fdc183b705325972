"""Where a webhook may go: the address rule, and the checks of a submitted URL.

The rule is ours, from IANA's special-purpose registries, not Python's ``is_private``
(which calls 100.64.0.1, carrier-grade NAT, not private). An IPv6 address that carries an
IPv4 one (mapped, NAT64, 6to4) is judged by the IPv4 address inside.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048
SCHEMES = {"http": 80, "https": 443}

BLOCKED_V4 = [
    ipaddress.IPv4Network(net)
    for net in (
        "0.0.0.0/8",  # "this network", unspecified
        "10.0.0.0/8",  # private
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, cloud metadata (169.254.169.254)
        "172.16.0.0/12",  # private
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation (TEST-NET-1)
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",  # private
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation (TEST-NET-2)
        "203.0.113.0/24",  # documentation (TEST-NET-3)
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and the broadcast address
    )
]
BLOCKED_V6 = [
    ipaddress.IPv6Network(net)
    for net in (
        "::/128",  # unspecified
        "::1/128",  # loopback
        "::/96",  # IPv4-compatible (deprecated)
        "100::/64",  # discard
        "2001::/23",  # IETF protocol assignments, Teredo (2001::/32) included
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
    )
]
NAT64 = [ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48")]
LEGACY_IPV4 = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}$")
"""Forms inet_aton (and so every resolver) reads as IPv4: 2130706433, 127.1, 0x7f.0.0.1."""


def is_public(address: IPAddress) -> bool:
    """Whether ``address`` is globally routable by the rule above."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_public(address.ipv4_mapped)
        if address.sixtofour is not None:
            return is_public(address.sixtofour)
        if any(address in net for net in NAT64):
            return is_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        return not any(address in net for net in BLOCKED_V6)
    return not any(address in net for net in BLOCKED_V4)


def literal_address(host: str) -> IPAddress | None:
    """The address ``host`` spells, in any form a resolver accepts; None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if LEGACY_IPV4.match(host.lower()):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def is_localhost(host: str) -> bool:
    """``localhost`` and its subdomains, which resolvers answer locally (RFC 6761)."""
    name = host.lower().rstrip(".")
    return name == "localhost" or name.endswith(".localhost")


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to now (OSError when it does not resolve)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


@dataclass(frozen=True)
class Policy:
    """Where deliveries may go: ``allow_private`` lifts the address rule (LAN, tests)."""

    allowed_ports: Collection[int] = (80, 443)
    allow_private: bool = False

    def check_url(self, url: str) -> SplitResult:
        """The parsed URL of a submission; ValueError with the reason for a person."""
        if len(url) > MAX_URL_LENGTH:
            raise ValueError(f"must be at most {MAX_URL_LENGTH} characters")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as e:
            raise ValueError("is not a valid URL") from e
        if parts.scheme not in SCHEMES:
            raise ValueError("must be an absolute http or https URL")
        if not parts.hostname or any(c.isspace() for c in url):
            raise ValueError("is not a valid absolute URL")
        if parts.username is not None or parts.password is not None or "@" in parts.netloc:
            raise ValueError("must not contain credentials")
        if (port or SCHEMES[parts.scheme]) not in self.allowed_ports:
            allowed = ", ".join(str(p) for p in sorted(self.allowed_ports))
            raise ValueError(f"must use port {allowed}")
        if not self.allow_private:
            host = parts.hostname
            literal = literal_address(host)
            if is_localhost(host) or (literal is not None and not is_public(literal)):
                raise ValueError("must not point to a private, loopback or reserved address")
        return parts

    def refuses(self, addresses: Collection[IPAddress]) -> bool:
        """Whether a delivery to a host that resolved to ``addresses`` must not go out."""
        return not addresses or (
            not self.allow_private and not all(is_public(a) for a in addresses)
        )

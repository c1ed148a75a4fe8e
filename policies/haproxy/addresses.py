"""HAProxy address arguments (`[proto@]host[:port]`): which name a host name, as opposed to an IP (v4 or v6,
bracketed or not), a wildcard, an environment reference, a socket path or a socket prefix, and the stand-in
of the right family for a name that only the pod's DNS can resolve."""

from __future__ import annotations

import ipaddress

SOCKET_PREFIXES = ("unix@", "abns@", "abnsz@", "fd@", "sockpair@", "uxst@", "uxdg@")
IPV6_PREFIXES = ("ipv6@", "tcp6@", "udp6@", "quic6@")


def split_address(address: str) -> tuple[str, str, str]:
    """(prefix with its @, host, :port) of an address; any part may be empty. As in HAProxy, the last colon
    separates the port (`:::80` is `::` port 80, `[::1]:443` is `[::1]` port 443)."""
    prefix, _, rest = address.rpartition("@") if "@" in address else ("", "", address)
    if rest.startswith("[") and "]" in rest:
        host, _, tail = rest.partition("]")
        return (f"{prefix}@" if prefix else ""), host + "]", tail
    host, colon, port = rest.rpartition(":") if ":" in rest else (rest, "", "")
    return (f"{prefix}@" if prefix else ""), host, (colon + port if colon else "")


def is_hostname(host: str) -> bool:
    """True for a DNS name; False for an IP (v4, v6 with or without brackets), `*`, empty, `${VAR}`, a path."""
    if not host or host == "*" or "$" in host or "/" in host:
        return False
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return True
    return False


def names_a_host(address: str) -> bool:
    prefix, host, _ = split_address(address)
    return prefix not in SOCKET_PREFIXES and not address.startswith("/") and is_hostname(host)


def stand_in(address: str) -> str:
    """The address with its host name replaced by a loopback address of the same family (prefix and port
    kept): what lets `haproxy -c` parse, offline, an address the pod resolves through its DNS."""
    if not names_a_host(address):
        return address
    prefix, _, port = split_address(address)
    return f"{prefix}{'::1' if prefix in IPV6_PREFIXES else '127.0.0.1'}{port}"

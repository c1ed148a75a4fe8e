"""HAProxy address arguments (`[proto@]host[:port]`): which name a host name, as opposed to an IP, a
wildcard, an environment reference or a socket."""

from __future__ import annotations

import ipaddress

SOCKET_PREFIXES = ("unix@", "abns@", "fd@", "sockpair@", "uxst@", "uxdg@")


def split_address(address: str) -> tuple[str, str, str]:
    """(prefix with its @, host, :port) of an address; any part may be empty."""
    prefix, _, rest = address.rpartition("@") if "@" in address else ("", "", address)
    host, colon, port = rest.rpartition(":") if rest.count(":") == 1 else (rest, "", "")
    return (f"{prefix}@" if prefix else ""), host, (colon + port if colon else "")


def is_hostname(host: str) -> bool:
    """True for a DNS name; False for an IP (v4, v6 with or without brackets), `*`, empty or `${VAR}`."""
    if not host or host == "*" or "$" in host:
        return False
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return True
    return False


def names_a_host(address: str) -> bool:
    prefix, host, _ = split_address(address)
    return prefix not in SOCKET_PREFIXES and is_hostname(host)

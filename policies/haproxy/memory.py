"""A lower bound for an HAProxy container's memory at its connection limit.

From HAProxy's own accounting (src/haproxy.c, src/limits.c; the facts file): each connection reserves two
buffers (2 x tune.bufsize, 16 KiB each by default) plus about 4 KiB for the stream and connection; with
SSL, 16 KiB per SSL side (two counted, as HAProxy's own -m arithmetic does) and about 76 KiB for the handshake; the SSL session cache holds tune.ssl.cachesize entries of about
200 bytes; HAProxy treats 97 % of a memory limit as usable. Buffers are allocated on demand, so idle usage
(about 6 MiB) says nothing about the peak: the estimate is for all `maxconn` connections at once.
Checked against the maxconn `haproxy -m 256` derives (2.6 and 2.8): 7281 vs 7300 plain, 1820 vs 1900 with an
SSL frontend, 3855 vs 3800 with tune.bufsize 32768. Assumptions: SSL costs for every connection when any
bind uses SSL, a fixed base
of `memoryBaseMiB` for the process itself, and `memoryReloadFactor` copies when reloads keep an old worker
alive (1 when configuration changes roll the pods, which `config-hash` ensures).
"""

from __future__ import annotations

from dataclasses import dataclass

from haproxy_guard.policies.haproxy.facts import ConfigFacts

MIB = 1024 * 1024
STREAM_COST = 4 * 1024  # stream (~3 KiB) + connection; calibrated on `haproxy -m` (tests/haproxy/test_memory.py)
SSL_SIDE_COST = 16 * 1024
SSL_HANDSHAKE_COST = 76 * 1024
SSL_CACHE_ENTRY = 200
USABLE_FRACTION = 0.97


@dataclass(frozen=True, slots=True)
class MemoryEstimate:
    bytes_needed: int
    per_connection: int
    maxconn: int


def per_connection_bytes(facts: ConfigFacts) -> int:
    cost = 2 * facts.bufsize + STREAM_COST
    if facts.uses_ssl:
        cost += 2 * SSL_SIDE_COST + SSL_HANDSHAKE_COST
    return cost


def estimate(facts: ConfigFacts, base_mib: int = 24, reload_factor: int = 1) -> MemoryEstimate | None:
    """The memory limit below which HAProxy can be OOM-killed at `maxconn`, or None without maxconn."""
    if facts.maxconn is None:
        return None
    ssl_cache = facts.ssl_cachesize * SSL_CACHE_ENTRY if facts.uses_ssl else 0
    per_connection = per_connection_bytes(facts)
    total = (base_mib * MIB + ssl_cache + facts.maxconn * per_connection) * reload_factor / USABLE_FRACTION
    return MemoryEstimate(int(total), per_connection, facts.maxconn)


def maxconn_for_memory(facts: ConfigFacts, megabytes: int) -> int:
    """What `haproxy -m <megabytes>` should derive by the same arithmetic (for comparison in tests)."""
    return int(megabytes * MIB / per_connection_bytes(facts))

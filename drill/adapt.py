"""The rendered configuration (see `policies.haproxy.render`: the pod's files in place, stand-ins for the
rest) made runnable as one replica on this machine, changing only where it runs, never how it behaves:

- every listener moves to a private loopback port (`ports` maps the container port to it; a UNIX socket to
  a file in the replica's folder); the Service hop and the probes then use those ports;
- every server (and `dispatch`) points at the stand-in backend, without what the stand-in cannot answer
  (TLS, PROXY protocol, DNS resolvers, health checks that target other ports or expect other answers);
- what would leave the replica's folder or this machine is left out: process management (`daemon`, `user`,
  `chroot`, `pidfile`, `cpu-map`), `stats socket`, `log` targets, source binding, and listeners that
  cannot move (QUIC, inherited sockets).
Soft-stop behaviour (`hard-stop-after`, `grace`, `close-spread-time`, timeouts, `option idle-close-on-
response`, `maxconn`, threads) is kept as written: it is what the drill measures. Line numbers are kept
(a line left out becomes empty), so HAProxy's messages still point at the submitted lines.
"""

from __future__ import annotations

import re
import resource
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from haproxy_guard.policies.haproxy.addresses import SOCKET_PREFIXES, split_address
from haproxy_guard.policies.haproxy.config import SECTION_KEYWORDS, tokenize
from haproxy_guard.policies.haproxy.directives import apply_environment

DROPPED_GLOBAL = frozenset(
    {"daemon", "user", "group", "uid", "gid", "chroot", "pidfile", "cpu-map", "nbproc", "stats", "ssl-engine",
     "setcap", "set-dumpable", "unix-bind", "lua-load", "lua-load-per-thread", "lua-prepend-path"}
)  # fmt: skip
"""Global keywords about the process's identity and host (the drill runs replicas as the current user)."""
SERVER_FLAGS = frozenset(
    {"ssl", "check", "check-ssl", "check-send-proxy", "check-via-socks4", "send-proxy", "send-proxy-v2",
     "send-proxy-v2-ssl", "send-proxy-v2-ssl-cn", "no-ssl-reuse", "ssl-reuse", "tls-tickets", "no-tls-tickets",
     "allow-0rtt", "force-sslv3", "force-tlsv10", "force-tlsv11", "force-tlsv12", "force-tlsv13", "no-sslv3",
     "no-tlsv10", "no-tlsv11", "no-tlsv12", "no-tlsv13", "agent-check", "no-agent-check", "no-check",
     "no-check-ssl", "no-send-proxy", "no-send-proxy-v2", "no-ssl", "no-verifyhost", "non-stick"}
)  # fmt: skip
SERVER_OPTIONS = frozenset(
    {"verify", "verifyhost", "ca-file", "crt", "crl-file", "sni", "check-sni", "alpn", "check-alpn", "npn",
     "proto", "check-proto", "ssl-min-ver", "ssl-max-ver", "ciphers", "ciphersuites", "curves", "sigalgs",
     "client-sigalgs", "resolvers", "resolve-prefer", "resolve-opts", "resolve-net", "init-addr", "port",
     "addr", "agent-port", "agent-addr", "agent-send", "agent-inter", "track", "source", "usesrc", "interface",
     "namespace", "socks4", "proxy-v2-options", "set-proxy-v2-tlv-fmt", "observe", "on-error",
     "on-marked-down", "on-marked-up", "error-limit", "check-pool-conn-name"}
)  # fmt: skip
"""Server options the stand-in backend cannot honour (it speaks plain HTTP/1.1 on one port, no TLS, no PROXY
protocol, no agent), each with its argument: left out. Health checks go too: the stand-in never fails, and a
check aimed at another port or expecting another answer would mark it down."""
BIND_FLAGS = frozenset({"accept-proxy", "v4v6", "v6only", "transparent", "defer-accept"})
BIND_OPTIONS = frozenset({"interface", "namespace", "user", "group", "uid", "gid"})
_PORT_ONLY = re.compile(r"^\d+$")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:\[[^\]]*\])?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


class AdaptError(ValueError):
    """The configuration cannot run on this machine as the drill runs it (a port range, an inherited socket)."""


@dataclass(frozen=True)
class Listener:
    """One `bind` address: where it is, the container port, and what the section serves."""

    section: str
    section_kind: str
    port: int | None
    """Container port (None for a UNIX socket)."""
    ssl: bool
    stats: bool
    health: bool


@dataclass
class Layout:
    """What a configuration listens on and which ports a replica needs."""

    listeners: list[Listener] = field(default_factory=list)
    peers: list[str] = field(default_factory=list)

    @property
    def container_ports(self) -> list[int]:
        return sorted({listener.port for listener in self.listeners if listener.port is not None})

    def traffic_port(self, health_port: int | None) -> int | None:
        """The port clients use: the first plain listener of a proxy that is neither statistics nor health."""
        for listener in self.listeners:
            if listener.port is None or listener.ssl or listener.stats or listener.health:
                continue
            if listener.port == health_port:
                continue
            return listener.port
        return None


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports free right now (held together so none repeats)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _expand(word: str, env: Mapping[str, str]) -> str:
    return _ENV.sub(lambda match: env.get(match.group(1) or match.group(2), ""), word)


def _port_of(address: str, env: Mapping[str, str]) -> tuple[str, int | None]:
    """('socket' | 'inet' | 'quic' | 'fd', container port) of one bind address."""
    expanded = _expand(address, env)
    prefix, _, port = split_address(expanded)
    if prefix.startswith("quic"):
        return "quic", None
    if prefix in {"fd@", "sockpair@"}:
        return "fd", None
    if prefix in SOCKET_PREFIXES or expanded.startswith("/"):
        return "socket", None
    digits = port.lstrip(":")
    if "-" in digits:
        raise AdaptError(f"bind {address}: a port range cannot be drilled")
    if not _PORT_ONLY.match(digits):
        raise AdaptError(f"bind {address}: no port the drill can move")
    return "inet", int(digits)


class _Lines:
    """Walks a configuration's lines with the section they are in and the environment HAProxy would use."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = dict(env)
        self.section_kind, self.section = "", ""

    def words(self, raw: str) -> tuple[list[str], list[tuple[int, int]]]:
        tokens = tokenize(raw)
        if tokens and tokens[0].text in SECTION_KEYWORDS:
            self.section_kind = tokens[0].text
            self.section = tokens[1].text if len(tokens) > 1 else ""
        words = [token.text for token in tokens]
        if words:
            apply_environment(words, self.env)
        return words, [(token.start, token.end) for token in tokens]


def layout(configs: Iterable[str], env: Mapping[str, str], health_port: int | None) -> Layout:
    """The listeners and peers of rendered configuration texts."""
    found = Layout()
    walker = _Lines(env)
    flags: dict[str, dict[str, bool]] = {}
    pending: list[tuple[str, str, int | None, bool]] = []
    for text in configs:
        for raw in text.split("\n"):
            words, _ = walker.words(raw)
            if not words:
                continue
            section = flags.setdefault(walker.section_kind + "/" + walker.section, {"stats": False, "health": False})
            if words[0] == "stats" and len(words) > 1 and words[1] in {"uri", "enable"}:
                section["stats"] = True
            if words[0] == "monitor-uri" or "prometheus-exporter" in words:
                section["health"] = True
            if words[0] == "peer" and walker.section_kind == "peers" and len(words) > 1:
                found.peers.append(words[1])
            if words[0] != "bind" or len(words) < 2 or walker.section_kind not in {"frontend", "listen"}:
                continue
            for part in words[1].split(","):
                kind, port = _port_of(part, walker.env)
                if kind in {"inet", "socket"}:
                    pending.append(
                        (walker.section_kind + "/" + walker.section, walker.section_kind, port, "ssl" in words)
                    )
    for key, kind, port, ssl in pending:
        section = flags[key]
        name = key.partition("/")[2]
        health = section["health"] or (port is not None and port == health_port)
        found.listeners.append(Listener(name, kind, port, ssl, section["stats"], health))
    return found


def _drop_options(
    words: list[str], spans: list[tuple[int, int]], start: int, flags: frozenset[str], options: frozenset[str]
) -> set[int]:
    dropped: set[int] = set()
    index = start
    while index < len(words):
        if words[index] in flags:
            dropped.add(index)
        elif words[index] in options:
            dropped.update({index, index + 1})
            index += 1
        index += 1
    return {index for index in dropped if index < len(spans)}


def connection_cap() -> int:
    """The highest global `maxconn` HAProxy can open files for under this process's hard open-files limit
    (about two descriptors per connection). Pods usually get 1048576; a machine with less makes the drill
    lower a larger `maxconn` (said in the report): its load is far below either bound."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        return 1 << 30
    return max(hard // 2 - 500, 100)


@dataclass(frozen=True)
class Replica:
    """Where one replica runs: its folder, its ports (container port -> local port), its stand-in backend."""

    folder: Path
    ports: Mapping[int, int]
    backend_port: int
    peer_ports: Mapping[str, int] = field(default_factory=dict)
    max_connections: int | None = None
    """Cap on the global `maxconn` (see `connection_cap`); None keeps it as written."""


class _Adapter:
    def __init__(self, replica: Replica, env: Mapping[str, str]) -> None:
        self.replica, self.walker = replica, _Lines(env)
        self.sockets = 0

    def _bind_address(self, address: str) -> str | None:
        kind, port = _port_of(address, self.walker.env)
        if kind in {"quic", "fd"}:
            return None
        if kind == "socket":
            self.sockets += 1
            return f"unix@{self.replica.folder}/socket-{self.sockets}"
        assert port is not None
        return f"127.0.0.1:{self.replica.ports[port]}"

    def line(self, raw: str) -> str:
        words, spans = self.walker.words(raw)
        if not words:
            return raw
        keyword, section = words[0], self.walker.section_kind
        replaced: dict[int, str] = {}
        dropped: set[int] = set()
        if section == "global" and keyword in DROPPED_GLOBAL:
            return ""
        cap = self.replica.max_connections
        if (
            section == "global"
            and keyword == "maxconn"
            and cap
            and words[1:2]
            and words[1].isdigit()
            and int(words[1]) > cap
        ):
            replaced[1] = str(cap)
        if section == "global" and keyword == "ulimit-n" and cap:
            return ""  # HAProxy sizes it from maxconn; a written one above the hard limit cannot be set
        if keyword == "log" and not (len(words) > 1 and words[1] == "global"):
            return ""
        if keyword in {"dgram-bind", "source"} or words[:3] in (
            ["tcp-request", "connection", "expect-proxy"],
            ["tcp-request", "connection", "expect-netscaler-cip"],
        ):
            return ""
        if keyword == "bind" and len(words) > 1 and section in {"frontend", "listen"}:
            moved = [self._bind_address(part) for part in words[1].split(",")]
            kept = [address for address in moved if address is not None]
            if not kept:
                return ""
            replaced[1] = ",".join(kept)
            dropped = _drop_options(words, spans, 2, BIND_FLAGS, BIND_OPTIONS)
        elif keyword == "bind" and len(words) > 1 and section == "peers":
            replaced[1] = f"127.0.0.1:{self.replica.peer_ports.get(self.walker.section, 1)}"
        elif keyword in {"server", "server-template", "default-server"} and section in {
            "backend",
            "listen",
            "defaults",
            "frontend",
        }:
            address_index = {"server": 2, "server-template": 3, "default-server": 0}[keyword]
            if 0 < address_index < len(words):
                replaced[address_index] = f"127.0.0.1:{self.replica.backend_port}"
            dropped = _drop_options(words, spans, max(address_index + 1, 1), SERVER_FLAGS, SERVER_OPTIONS)
        elif keyword == "dispatch" and len(words) > 1:
            replaced[1] = f"127.0.0.1:{self.replica.backend_port}"
        elif keyword in {"peer", "server"} and section == "peers" and len(words) > 2:
            replaced[2] = f"127.0.0.1:{self.replica.peer_ports.get(words[1], 9)}"
        elif (keyword in {"mailer", "nameserver"} and len(words) > 2) or (
            keyword == "server" and section in {"ring", "log-forward"} and len(words) > 2
        ):
            replaced[2] = "127.0.0.1:9"
        elif keyword in {"tcp-check", "http-check"} and len(words) > 1 and words[1] == "connect":
            dropped = _drop_options(
                words, spans, 2, frozenset({"ssl", "send-proxy"}), frozenset({"port", "addr", "sni", "alpn", "proto"})
            )
        if not replaced and not dropped:
            return raw
        out = raw
        for index in sorted(set(replaced) | dropped, reverse=True):
            start, end = spans[index]
            out = out[:start] + ("" if index in dropped else replaced[index]) + out[end:]
        return out


def adapt(configs: Iterable[str], replica: Replica, env: Mapping[str, str]) -> list[str]:
    """The rendered configuration texts rewritten to run as `replica` (line numbers kept)."""
    adapter = _Adapter(replica, env)
    return ["\n".join(adapter.line(raw) for raw in text.split("\n")) for text in configs]

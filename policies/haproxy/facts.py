"""Facts read from a parsed configuration, for the config-aware policies.

Only what the policies need, with HAProxy's defaults where a directive is absent. The parse is
line-level, so a fact can be wrong for exotic layouts (named defaults sections, `.if` blocks); the
policies that use facts only ever warn or raise values, and `haproxy -c` stays the judge of validity.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from haproxy_guard.policies.haproxy.addresses import names_a_host, split_address
from haproxy_guard.policies.haproxy.config import HAProxyConfig, Line, Section, parse
from haproxy_guard.policies.haproxy.durations import parse_seconds

DEFAULT_BUFSIZE = 16384
DEFAULT_SSL_CACHESIZE = 20000
_PORT = re.compile(r":(\d+)$")


@dataclass(frozen=True, slots=True)
class ConfigHealthEndpoint:
    """A deep readiness endpoint declared in the configuration, and where."""

    port: int
    path: str
    line: int
    style: str  # "monitor" or "return"


@dataclass(frozen=True, slots=True)
class Located:
    """Something found on a line: a proxy missing timeouts, a server needing DNS..."""

    line: int
    what: str
    host: str = ""
    """For a server: the host name it names."""


@dataclass(frozen=True)
class ConfigFacts:
    maxconn: int | None = None
    maxconn_line: int | None = None
    nbthread: int | None = None
    hard_stop_after_seconds: float | None = None
    hard_stop_after_line: int | None = None
    bufsize: int = DEFAULT_BUFSIZE
    ssl_cachesize: int = DEFAULT_SSL_CACHESIZE
    uses_ssl: bool = False
    missing_timeouts: tuple[Located, ...] = ()
    http_without_idle_close: tuple[Located, ...] = ()
    servers_without_resolvers: tuple[Located, ...] = ()
    health_endpoint: ConfigHealthEndpoint | None = None
    proxies: tuple[str, ...] = field(default=())


def _int(words: tuple[str, ...], index: int) -> int | None:
    return int(words[index]) if len(words) > index and words[index].isdigit() else None


def _effective(section: Section, defaults: Section | None, *keyword: str) -> list[Line]:
    own = section.find(*keyword)
    return own if own or defaults is None else defaults.find(*keyword)


def _mode(section: Section, defaults: Section | None) -> str:
    lines = _effective(section, defaults, "mode")
    return lines[-1].words[1] if lines and len(lines[-1].words) > 1 else "tcp"


def _option_enabled(section: Section, defaults: Section | None, option: str) -> bool:
    for source in (section, defaults):
        if source is None:
            continue
        if source.find("no", "option", option):
            return False
        if source.find("option", option):
            return True
    return False


def _bind_port(section: Section) -> int | None:
    for line in section.find("bind"):
        if len(line.words) > 1:
            match = _PORT.search(line.words[1].split(",")[0])
            if match:
                return int(match.group(1))
    return None


def _braced_paths(line: Line) -> set[str]:
    words = line.words
    return {words[i + 2] for i in range(len(words) - 2) if words[i] == "{" and words[i + 1] == "path"}


def _health_endpoint(section: Section) -> ConfigHealthEndpoint | None:
    port = _bind_port(section)
    if port is None:
        return None
    monitor = section.find("monitor-uri")
    if monitor and section.find("monitor", "fail") and len(monitor[0].words) > 1:
        return ConfigHealthEndpoint(port, monitor[0].words[1], monitor[0].number, "monitor")
    returns = section.find("http-request", "return")
    failing = {path for line in returns if _status(line) >= 500 for path in _braced_paths(line)}
    for line in returns:
        if _status(line) == 200:
            for path in sorted(_braced_paths(line) & failing):
                return ConfigHealthEndpoint(port, path, line.number, "return")
    return None


def _status(line: Line) -> int:
    words = line.words
    for index, word in enumerate(words[:-1]):
        if word == "status" and words[index + 1].isdigit():
            return int(words[index + 1])
    return 200


def _proxies(section: Section, defaults: Section | None) -> bool:
    """Whether a frontend or listen section passes traffic on to servers (a backend, or its own servers), as
    opposed to answering everything itself: health and probe frontends (`monitor-uri`, `http-request return`),
    statistics pages and exporters (`stats`, `use-service prometheus-exporter`)."""
    if section.find("use_backend") or section.find("default_backend"):
        return True
    if section.kind == "listen" and (section.find("server") or section.find("server-template")):
        return True
    return defaults is not None and bool(defaults.find("default_backend"))


def _servers_without_resolvers(section: Section, defaults: Section | None) -> list[Located]:
    default_server = [line for source in (defaults, section) if source for line in source.find("default-server")]
    if any("resolvers" in line.words for line in default_server):
        return []
    found = []
    for line in section.lines:
        if line.keyword == "server" and len(line.words) > 2:
            address = line.words[2]
        elif line.keyword == "server-template" and len(line.words) > 3:
            address = line.words[3]
        else:
            continue
        if names_a_host(address) and "resolvers" not in line.words:
            host = split_address(address)[1]
            found.append(Located(line.number, f"{section.kind} {section.name}: {line.keyword} {address}", host))
    return found


def facts_of(config: HAProxyConfig) -> ConfigFacts:
    values: dict[str, Any] = {}
    glob = config.global_section
    if glob is not None:
        for line in glob.lines:
            words = line.words
            if words[0] == "maxconn":
                values["maxconn"], values["maxconn_line"] = _int(words, 1), line.number
            elif words[0] == "nbthread":
                values["nbthread"] = _int(words, 1)
            elif words[0] == "hard-stop-after" and len(words) > 1:
                values["hard_stop_after_seconds"] = parse_seconds(words[1])
                values["hard_stop_after_line"] = line.number
            elif words[0] == "tune.bufsize":
                values["bufsize"] = _int(words, 1) or DEFAULT_BUFSIZE
            elif words[0] == "tune.ssl.cachesize":
                values["ssl_cachesize"] = _int(words, 1) if _int(words, 1) is not None else DEFAULT_SSL_CACHESIZE
    missing_timeouts: list[Located] = []
    idle_close: list[Located] = []
    unresolved: list[Located] = []
    health: ConfigHealthEndpoint | None = None
    uses_ssl = False
    defaults: Section | None = None
    for section in config.sections:
        if section.kind == "defaults":
            defaults = section
            continue
        if section.kind not in {"frontend", "backend", "listen"}:
            continue
        uses_ssl = uses_ssl or any("ssl" in line.words or "crt" in line.words for line in section.find("bind"))
        needed = {"frontend": ("client",), "backend": ("connect", "server"), "listen": ("client", "connect", "server")}
        missing = [name for name in needed[section.kind] if not _effective(section, defaults, "timeout", name)]
        if missing:
            missing_timeouts.append(
                Located(section.line.number, f"{section.kind} {section.name}: timeout {', '.join(missing)}")
            )
        serves_http = section.kind in {"frontend", "listen"} and _mode(section, defaults) == "http"
        if (
            serves_http
            and section.find("bind")
            and _proxies(section, defaults)
            and not _option_enabled(section, defaults, "idle-close-on-response")
        ):
            idle_close.append(Located(section.line.number, f"{section.kind} {section.name}"))
        if section.kind in {"backend", "listen"}:
            unresolved.extend(_servers_without_resolvers(section, defaults))
        if health is None and section.kind in {"frontend", "listen"}:
            health = _health_endpoint(section)
    return ConfigFacts(
        **values,
        uses_ssl=uses_ssl,
        missing_timeouts=tuple(missing_timeouts),
        http_without_idle_close=tuple(idle_close),
        servers_without_resolvers=tuple(unresolved),
        health_endpoint=health,
        proxies=tuple(s.name for s in config.of_kind("frontend", "backend", "listen")),
    )


class _FactsCache:
    """The facts of the last `FACTS_CACHE_SIZE` configurations, by the SHA-256 of their text: a fleet shares
    a few configurations among many ConfigMaps and workloads, and facts are immutable. Keys are digests, not
    the texts, and entries are few, so memory stays bounded; thread-safe (the CLI checks documents in threads)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.entries: OrderedDict[bytes, ConfigFacts] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, text: str) -> ConfigFacts:
        key = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
        with self.lock:
            found = self.entries.get(key)
            if found is not None:
                self.entries.move_to_end(key)
                return found
        facts = facts_of(parse(text))
        with self.lock:
            self.entries[key] = facts
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)
        return facts


FACTS_CACHE_SIZE = 64
_FACTS = _FactsCache(FACTS_CACHE_SIZE)


def facts_from_text(text: str) -> ConfigFacts:
    """The facts of a configuration's text (parsed once per distinct text while it stays in the cache)."""
    return _FACTS.get(text)

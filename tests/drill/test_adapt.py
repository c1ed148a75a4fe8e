"""The rendered configuration moved onto local ports and the stand-in backend, changing where it runs and
nothing of how it stops: each rewrite by itself, then every real-world configuration of the corpus that the
validator accepts, adapted and checked by the real `haproxy -c` of each branch, and started for real."""

from __future__ import annotations

import functools
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from haproxy_guard.drill.adapt import AdaptError, Layout, Replica, adapt, connection_cap, free_ports, layout
from haproxy_guard.drill.replica import raise_open_files_limit
from haproxy_guard.policies.haproxy.bundle import ConfigBundle
from haproxy_guard.policies.haproxy.facts import facts_from_text
from haproxy_guard.policies.haproxy.render import render
from haproxy_guard.policies.haproxy.unknowns import find_unknowns
from haproxy_guard.policies.haproxy.validator import Validator, discover_binaries, launch_command

CORPUS = Path(__file__).parents[1] / "haproxy" / "corpus" / "real-world"
BINARIES = discover_binaries()
VALIDATOR = Validator(BINARIES)
ISOLATE = ["unshare", "--user", "--map-root-user", "--net", "--"]


def _adapted(text: str, ports: dict[int, int] | None = None, env: dict[str, str] | None = None) -> str:
    found = layout([text], env or {}, None)
    mapping = ports or {port: 20000 + index for index, port in enumerate(found.container_ports)}
    return adapt([text], Replica(Path("/run/replica"), mapping, 19999, {"a": 31000}), env or {})[0]


@pytest.mark.parametrize(
    ("bind", "expected"),
    [
        ("bind :80", "bind 127.0.0.1:20000"),
        ("bind *:80", "bind 127.0.0.1:20000"),
        ("bind 0.0.0.0:80 name web", "bind 127.0.0.1:20000 name web"),
        ("bind [::]:80 v4v6", "bind 127.0.0.1:20000"),
        ("bind :::80 v6only", "bind 127.0.0.1:20000"),
        ("bind ipv6@:80", "bind 127.0.0.1:20000"),
        ("bind :80,:81", "bind 127.0.0.1:20000,127.0.0.1:20001"),
        ("bind :80 accept-proxy interface eth0", "bind 127.0.0.1:20000"),
        ("bind unix@/var/run/h.sock", "bind unix@/run/replica/socket-1"),
        ("bind quic4@:443", ""),
    ],
)
def test_listeners_move_to_private_ports(bind: str, expected: str) -> None:
    out = _adapted(f"frontend fe\n    {bind}\n    default_backend be\n").split("\n")[1].strip()
    assert " ".join(out.split()) == expected


def test_ports_from_the_environment_are_expanded() -> None:
    text = 'frontend fe\n    bind :${PORT}\n    bind "${ADDR}:$ALT"\n'
    found = layout([text], {"PORT": "8080", "ADDR": "0.0.0.0", "ALT": "9090"}, None)
    assert found.container_ports == [8080, 9090]
    out = _adapted(text, {8080: 1, 9090: 2}, {"PORT": "8080", "ADDR": "0.0.0.0", "ALT": "9090"})
    assert "bind 127.0.0.1:1" in out and "bind 127.0.0.1:2" in out


@pytest.mark.parametrize("bind", ["bind :8000-8010", "bind :${UNSET}"])
def test_what_cannot_move_is_a_clear_error(bind: str) -> None:
    with pytest.raises(AdaptError, match="bind"):
        layout([f"frontend fe\n    {bind}\n"], {}, None)


def test_servers_point_at_the_stand_in_without_what_it_cannot_answer() -> None:
    text = (
        "backend be\n"
        "    default-server check resolvers dns init-addr none inter 2s\n"
        "    server a app.default.svc:8443 ssl verify required ca-file /etc/ca.pem check port 9000 send-proxy-v2 weight 10\n"
        "    server-template s 3 _http._tcp.app.svc resolvers dns check\n"
        "    server u unix@/run/app.sock maxconn 5\n"
    )
    lines = _adapted(text).split("\n")
    assert " ".join(lines[1].split()) == "default-server inter 2s"
    assert " ".join(lines[2].split()) == "server a 127.0.0.1:19999 weight 10"
    assert " ".join(lines[3].split()) == "server-template s 3 127.0.0.1:19999"
    assert " ".join(lines[4].split()) == "server u 127.0.0.1:19999 maxconn 5"


def test_process_management_and_outside_targets_are_left_out_and_soft_stop_kept() -> None:
    text = (
        "global\n    daemon\n    user haproxy\n    chroot /var/empty\n    pidfile /run/h.pid\n"
        "    stats socket /run/admin.sock level admin\n    log 10.0.0.5:514 local0\n    hard-stop-after 30s\n"
        "    close-spread-time 5s\n    grace 2s\ndefaults\n    log global\n    option idle-close-on-response\n"
        "    source 10.1.1.1\n"
    )
    out = _adapted(text)
    assert out.count("\n") == text.count("\n"), "line numbers are kept"
    for gone in ("daemon", "user", "chroot", "pidfile", "stats socket", "10.0.0.5", "source"):
        assert gone not in out
    for kept in ("hard-stop-after 30s", "close-spread-time 5s", "grace 2s", "log global", "idle-close-on-response"):
        assert kept in out


def test_traffic_port_skips_tls_statistics_and_health() -> None:
    text = (
        "frontend tls\n    bind :443 ssl crt /x.pem\n"
        "listen stats\n    bind :8404\n    stats uri /\n"
        "frontend health\n    bind :8405\n    monitor-uri /healthz\n"
        "frontend web\n    bind :8080\n"
    )
    found = layout([text], {}, None)
    assert found.traffic_port(None) == 8080
    assert Layout().traffic_port(None) is None


def _corpus_cases(version: str) -> list[tuple[Path, str, ConfigBundle]]:
    """(file, text, bundle) of every corpus file the validator accepts on `version`."""
    cases = []
    for path in sorted(CORPUS.glob("*.cfg")):
        text = path.read_text(encoding="utf-8", errors="replace")
        bundle = ConfigBundle((("haproxy.cfg", text),), env_open=True)
        if not VALIDATOR.validate(bundle, version).valid:
            continue
        cases.append((path, text, bundle))
    return cases


def _adapt_case(version: str, folder: Path, case: tuple[Path, str, ConfigBundle]) -> str | None:
    """None when the adapted configuration parses (or has nothing to drill), else the problem."""
    path, text, bundle = case
    root = Path(tempfile.mkdtemp(dir=folder))
    sandbox = render(bundle, root)
    texts = [(root / name).read_text(encoding="utf-8") for name in sandbox.config_names]
    env = find_unknowns(bundle).stand_ins()
    health = facts_from_text(text).health_endpoint
    try:
        found = layout(texts, env, health.port if health else None)
    except AdaptError:
        return None
    if found.traffic_port(health.port if health else None) is None:
        return None
    ports = {port: 20000 + index for index, port in enumerate(found.container_ports)}
    (root / "drill.cfg").write_text(adapt(texts, Replica(root, ports, 19999, {}), env)[0], encoding="utf-8")
    command = [*ISOLATE, *launch_command(BINARIES[version]), "-c", "-dr", "-f", "drill.cfg"]
    if sandbox.local_peer:
        command += ["-L", sandbox.local_peer]
    result = subprocess.run(command, cwd=root, capture_output=True, text=True, env=env, timeout=60, check=False)
    if result.returncode != 0:
        return f"{path.name}: {[line for line in result.stdout.splitlines() if 'ALERT' in line][:2]}"
    return ""


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("version", sorted(BINARIES))
def test_every_valid_corpus_configuration_still_parses_once_adapted(version: str, tmp_path: Path) -> None:
    """What the validator accepts, adapted, is accepted by the same branch (or has no listener to drill, or
    a listener that cannot move: both named errors, never a silent change of meaning)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(functools.partial(_adapt_case, version, tmp_path), _corpus_cases(version)))
    assert sum(outcome == "" for outcome in outcomes) >= 150
    assert [outcome for outcome in outcomes if outcome] == []


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_every_adapted_corpus_configuration_starts_answers_and_soft_stops(tmp_path: Path) -> None:
    """On the default branch, for real: each adapted configuration starts, its traffic port answers through
    the stand-in backend (any HTTP status, or a close: routing is the configuration's business; the drill
    itself refuses to measure a configuration that does not answer its request) and SIGUSR1 ends it once its
    clients are gone."""
    version = VALIDATOR.default_version
    raise_open_files_limit()
    backend = subprocess.Popen(
        [sys.executable, "-m", "haproxy_guard.drill.backend"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert backend.stdout is not None
    backend_port = int(backend.stdout.readline())
    started, problems = 0, []
    try:
        for path, text, bundle in _corpus_cases(version):
            root = Path(tempfile.mkdtemp(dir=tmp_path))
            sandbox = render(bundle, root)
            texts = [(root / name).read_text(encoding="utf-8") for name in sandbox.config_names]
            health = facts_from_text(text).health_endpoint
            try:
                found = layout(texts, find_unknowns(bundle).stand_ins(), health.port if health else None)
            except AdaptError:
                continue
            traffic = found.traffic_port(health.port if health else None)
            if traffic is None:
                continue
            local = free_ports(len(found.container_ports) + len(found.peers))
            ports = dict(zip(found.container_ports, local, strict=False))
            peers = dict(zip(found.peers, local[len(ports) :], strict=False))
            env = find_unknowns(bundle).stand_ins()
            placement = Replica(root, ports, backend_port, peers, connection_cap())
            (root / "drill.cfg").write_text(adapt(texts, placement, env)[0])
            command = [*launch_command(BINARIES[version]), "-db", "-f", "drill.cfg"]
            if sandbox.local_peer:
                command += ["-L", sandbox.local_peer]
            with (root / "haproxy.log").open("wb") as log:
                process = subprocess.Popen(
                    command,
                    cwd=root,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            started += 1
            try:
                problem = _answers(ports[traffic], process)
                if problem is None:
                    process.send_signal(signal.SIGUSR1)
                    process.wait(10)
            except subprocess.TimeoutExpired:
                problem = "did not end on SIGUSR1 without clients"
            finally:
                process.kill()
                process.wait()
            if problem:
                alerts = [
                    line for line in (root / "haproxy.log").read_text(errors="replace").splitlines() if "ALERT" in line
                ]
                problems.append(f"{path.name}: {problem} {alerts[:2]}")
    finally:
        backend.kill()
        backend.wait()
        for pipe in (backend.stdin, backend.stdout):
            if pipe is not None:
                pipe.close()
    assert started >= 150, started
    assert problems == []


def _answers(port: int, process: subprocess.Popen[bytes]) -> str | None:
    deadline = time.monotonic() + 30  # a configuration with a 4 GB cache takes seconds to start on a busy machine
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"exited at start ({process.returncode})"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: drill.local\r\nConnection: close\r\n\r\n")
                head = sock.recv(64)
                if head.startswith(b"HTTP/1.") or head == b"":
                    return None  # an answer, or a close the configuration chose (no server, a reject rule)
                return f"not HTTP: {head[:40]!r}"
        except OSError:
            time.sleep(0.02)
    return "never listened"

"""Never block a valid configuration: whatever the real `haproxy -c` of a branch accepts (run as the pod
would run it: the file as written, the container's environment), the validator accepts, on every branch.
Cases that failed before (addresses rewritten without ports, IPv6 and sockets taken for host names, SRV
records, escapes lost, lines split on form feeds, `$VAR` and `${VAR[*]}` not expanded, 3.x keywords judged
by 2.8), then generated address forms and escapes."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from haproxy_guard.policies.haproxy.bundle import ConfigBundle
from haproxy_guard.policies.haproxy.stubs import dh_params_pem, ffdhe2048_prime
from haproxy_guard.policies.haproxy.validator import Validator, discover_binaries, launch_command
from tests.haproxy.hostile import ADDRESS_TEMPLATES

BINARIES = discover_binaries()
VERSIONS = sorted(BINARIES)
VALIDATOR = Validator(BINARIES)
HEADER = (
    "defaults\n  mode http\n  timeout client 5s\n  timeout server 5s\n  timeout connect 1s\n"
    "frontend fe0\n  bind 127.0.0.1:9999\n  default_backend be0\nbackend be0\n  server z 127.0.0.1:80\n"
)  # a listener: without one `haproxy -c` exits 2 ("will not start")
BACKEND = "  default_backend be\nbackend be\n  server s 127.0.0.1:80\n"
ERROR_PAGE = b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\n\r\ndown\n"


def raw_accepts(version: str, text: str, env: dict[str, str] | None = None) -> bool:
    """The real binary on the file as written, outside any sandbox (the reference)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "haproxy.cfg"
        path.write_text(text)
        result = subprocess.run(
            [*launch_command(BINARIES[version]), "-c", "-dr", "-f", str(path)],
            capture_output=True, env=env or {}, timeout=60, check=False, cwd=folder,
        )  # fmt: skip
    return result.returncode == 0


VALID_EVERYWHERE = {
    "srv-server-template": "resolvers dns\n  nameserver ns 127.0.0.1:53\nbackend api\n  server-template api 5 _http._tcp.api.shop.svc.cluster.local resolvers dns check\n",
    "srv-init-addr-none": "resolvers dns\n  nameserver ns 127.0.0.1:53\nbackend api\n  server-template api 5 _http._tcp.api.shop.svc.cluster.local resolvers dns init-addr none check\n",
    "ipv6-binds": "frontend fe\n  bind :::80 v4v6\n  bind [::]:81\n  bind ipv6@:::82\n  bind :8081,:::8082\n" + BACKEND,
    "unix-socket-binds": "frontend fe\n  bind /tmp/haproxy-guard-x.sock\n  bind unix@/tmp/haproxy-guard-y.sock\n"
    + BACKEND,
    "dgram-bind": "log-forward lf\n  dgram-bind 127.0.0.1:1514\n  log 127.0.0.1:514 local0\n",
    "regex-with-escapes": "frontend fe\n  bind :80\n  acl api path_reg ^/api/\\(v1\n  http-request deny if api\n"
    + BACKEND,
    "escapes-in-values": 'frontend fe\n  bind :80\n  http-request set-header X-A "a\\"b\\\\c\\x41"\n  http-request set-header X-B \'lit\\x41\'\n'
    + BACKEND,
    "form-feed-inside-a-line": 'frontend fe\n  bind :80\f\n  http-request set-header X-Sep "a\u2028b\u0085c"\n'
    + BACKEND,
    "crlf-line-endings": "frontend fe\r\n  log global\r\n  bind :80\r\n  default_backend be\r\nbackend be\r\n  server s 127.0.0.1:80\r\n",
    "vertical-tab-and-form-feed-are-blanks": "frontend fe\n  bind\v:80\f\n  log\fglobal\n" + BACKEND,
    "unbraced-variable": 'frontend fe\n  bind ":$PORT"\n' + BACKEND,
    "word-expansion": 'frontend fe\n  bind :80\n  http-request set-header "${HDR[*]}"\n' + BACKEND,
    "if-defined-from-the-workload": ".if defined(EDGE)\nfrontend edge\n  bind :81\n  default_backend be\n.endif\nfrontend fe\n  bind :80\n"
    + BACKEND,
    "setenv-in-skipped-block": 'global\n.if defined(NOPE)\n  setenv PORT notaport\n.endif\nfrontend fe\n  bind ":${PORT}"\n'
    + BACKEND,
}
ENV = {"PORT": "8080", "HDR": "X-Word value", "EDGE": "1"}


@pytest.mark.slow
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("case", sorted(VALID_EVERYWHERE))
def test_what_raw_haproxy_accepts_is_accepted(version: str, case: str) -> None:
    text = HEADER + VALID_EVERYWHERE[case]
    assert raw_accepts(version, text, ENV), "the reference itself refuses this case: it proves nothing"
    result = VALIDATOR.validate(ConfigBundle((("haproxy.cfg", text),), env=ENV), version)
    assert result.valid, [str(message) for message in result.errors]


NAMES_ONLY_THE_POD_RESOLVES = {
    **{
        key: ADDRESS_TEMPLATES[key]
        for key in (
            "log",
            "source-usesrc",
            "server-addr",
            "server-socks4",
            "tcp-check-connect",
            "http-check-connect",
            "dgram-bind",
            "stats-socket",
            "nameserver",
            "mailer",
        )
    },
    "bind": "frontend fe\n  bind {name}:80\n" + BACKEND,
    "peers-server": "peers p\n  peer {name} 127.0.0.1:10000\n  server other {name}:10001\n",
    "backend-server": "backend b\n  server s {name}:80 check\n",
}


@pytest.mark.slow
@pytest.mark.parametrize("version", VERSIONS)
def test_a_file_without_a_final_newline_is_refused_as_the_pod_would(version: str) -> None:
    """HAProxy refuses a file whose last line lacks its LF (`haproxy.cfg: |-` in a ConfigMap): so must we."""
    text = HEADER.rstrip("\n")
    assert not raw_accepts(version, text)
    result = VALIDATOR.validate(ConfigBundle((("haproxy.cfg", text),)), version)
    assert not result.valid
    assert "Missing LF on last line" in str(result.errors[0]) and "haproxy.cfg:10" in str(result.errors[0])


@pytest.mark.slow
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("case", sorted(NAMES_ONLY_THE_POD_RESOLVES))
def test_names_only_the_pods_dns_resolves(version: str, case: str) -> None:
    """With `localhost` (resolvable here) the reference accepts the file; with a cluster name, which only the
    pod's DNS resolves, the validator must accept it just the same."""
    template = HEADER + NAMES_ONLY_THE_POD_RESOLVES[case]
    assert raw_accepts(version, template.format(name="localhost")), "the reference refuses: it proves nothing"
    cluster = template.format(name="api.shop.svc.cluster.local")
    result = VALIDATOR.validate(ConfigBundle((("haproxy.cfg", cluster),)), version)
    assert result.valid, [str(message) for message in result.errors]


@pytest.mark.parametrize("image_version", ["3.2", "3.0", "3.4", "3.1", "3.3"])
def test_a_3x_keyword_is_judged_by_a_3x_branch(image_version: str) -> None:
    text = HEADER + "frontend fe\n  guid fe-main-1\n  bind :80\n" + BACKEND
    result = VALIDATOR.validate(ConfigBundle((("haproxy.cfg", text),)), image_version)
    assert result.valid, [str(message) for message in result.errors]
    assert result.version.startswith("3.")
    refused = VALIDATOR.validate(ConfigBundle((("haproxy.cfg", text),)), "2.8")
    assert not refused.valid and "guid" in str(refused.errors[0]), "2.8 does not know `guid`"


def test_a_configuration_of_unknown_version_is_accepted_when_a_branch_accepts_it() -> None:
    """`bind ... process 1` is refused from 2.8: a ConfigMap without a version annotation that uses it is
    still accepted (2.6 runs it), with a warning naming the branches that refuse it."""
    text = HEADER + "frontend fe\n  bind :80 process 1\n" + BACKEND
    result = VALIDATOR.validate(ConfigBundle((("haproxy.cfg", text),)))
    assert result.valid, [str(message) for message in result.errors]
    assert any("not valid for HAProxy 3.4" in str(message) for message in result.warnings)


ADDRESS_HOSTS = ["", "*", "127.0.0.1", "0.0.0.0", "::", "::1", "[::]", "[::1]", "localhost", "/tmp/hg-a.sock"]
ADDRESS_PREFIXES = ["", "ipv4@", "ipv6@", "tcp@", "tcp4@", "tcp6@", "unix@", "abns@"]


@st.composite
def bind_addresses(draw: st.DrawFn) -> str:
    host = draw(st.sampled_from(ADDRESS_HOSTS))
    prefix = draw(st.sampled_from(ADDRESS_PREFIXES))
    port = draw(st.sampled_from([":80", ":8080-8081", ":0", ""]))
    return prefix + (host if host.startswith("/") else host + port)


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(bind_addresses(), min_size=1, max_size=3))
def test_generated_bind_addresses(addresses: list[str]) -> None:
    text = HEADER + f"frontend fe\n  bind {','.join(addresses)}\n" + BACKEND
    for version in VERSIONS:
        if raw_accepts(version, text):
            result = VALIDATOR.validate(ConfigBundle((("haproxy.cfg", text),)), version)
            assert result.valid, (version, text, [str(message) for message in result.errors])


ESCAPE_PIECES = [
    "a",
    "\\x41",
    "\\\\",
    "\\ ",
    "\\#",
    '\\"',
    "\\'",
    "\\t",
    "\\(",
    "$PORT",
    "${PORT}",
    "'q w'",
    '"q w"',
    ".",
]


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(ESCAPE_PIECES), min_size=1, max_size=6).map("".join))
def test_generated_escapes_in_header_values(value: str) -> None:
    text = HEADER + f"frontend fe\n  bind :80\n  http-request set-header X-Gen {value}\n" + BACKEND
    for version in VERSIONS:
        if raw_accepts(version, text, ENV):
            result = VALIDATOR.validate(ConfigBundle((("haproxy.cfg", text),), env=ENV), version)
            assert result.valid, (version, text, [str(message) for message in result.errors])


ENV_NAMES = ["A", "B", "PORT"]
ENV_VALUES = ["8080", "", "a b", "x\ty", "127.0.0.1", "/tmp", "-", "#", "v1"]
ENV_FORMS = ["$A", "${A}", '"$A"', '"${A}"', '"${A[*]}"', '"${A-dflt}"', '"pre${B}post"', "'${A}'", '"\\$A"', '"$PORT"']
CONDITIONS = ["defined(A)", "defined(NOPE)", 'streq("$A","v1")', 'strneq("${B}","")', "!defined(B)", "1", "0"]


@st.composite
def env_configurations(draw: st.DrawFn) -> tuple[str, dict[str, str]]:
    env = draw(st.dictionaries(st.sampled_from(ENV_NAMES), st.sampled_from(ENV_VALUES), max_size=3))
    globals_ = draw(
        st.lists(st.sampled_from(["  setenv B v1\n", "  presetenv A 8080\n", "  resetenv PORT A B\n", ""]), max_size=2)
    )
    value = draw(st.sampled_from(ENV_FORMS))
    port = draw(st.sampled_from([":8080", '":${PORT}"', '":${PORT-8081}"', "${PORT}", '"${A[*]}"']))
    condition = draw(st.sampled_from(CONDITIONS))
    block = f".if {condition}\n  http-request set-header X-Cond {draw(st.sampled_from(ENV_FORMS))}\n.endif\n"
    text = (
        "global\n" + "".join(globals_) + HEADER
        + f"frontend fe\n  bind {port}\n  http-request set-header X-Env {value}\n" + block + BACKEND
    )  # fmt: skip
    return text, env


@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(env_configurations())
def test_generated_environment_forms_and_if_blocks(case: tuple[str, dict[str, str]]) -> None:
    """Both expansion forms, quoting, defaults, word splitting, setenv/presetenv/resetenv and `.if`
    conditions on the container's declared environment: what raw HAProxy accepts with that environment, the
    validator accepts with it, on every branch."""
    text, env = case
    for version in VERSIONS:
        if raw_accepts(version, text, env):
            result = VALIDATOR.validate(ConfigBundle((("haproxy.cfg", text),), env=env), version)
            assert result.valid, (version, text, env, [str(message) for message in result.errors])


SECTIONS = {
    "resolvers": "resolvers dns\n  nameserver ns1 10.0.0.10:53\n  accepted_payload_size 8192\n  hold valid 10s\n",
    "peers": "peers mesh\n  peer self 127.0.0.1:10000\n  peer other other-haproxy.svc.cluster.local:10000\n",
    "userlist": "userlist admins\n  user admin insecure-password secret\n  group ops users admin\n",
    "cache": "cache small\n  total-max-size 4\n  max-age 60\n",
    "http-errors": "http-errors site\n  errorfile 503 /usr/local/etc/haproxy/errors/503.http\n",
    "ring": "ring buffered\n  format rfc5424\n  size 32764\n  server collector logs.example.com:514\n",
    "mailers": "mailers alerts\n  mailer smtp1 smtp.example.com:25\n",
    "listen": "listen stats\n  bind :8404\n  stats enable\n  stats uri /stats\n",
    "backend-srv": "backend api\n  server-template api 3 _http._tcp.api.shop.svc.cluster.local check resolvers dns init-addr none\n",
    "frontend-ssl": "frontend tls\n  bind :8443 ssl crt /etc/haproxy/certs/site.pem alpn h2,http/1.1\n  default_backend be0\n",
    "log-forward": "log-forward syslog\n  dgram-bind 127.0.0.1:1514\n  log global\n",
}


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(sorted(SECTIONS)), min_size=1, max_size=5, unique=True))
def test_generated_section_mixes(sections: list[str]) -> None:
    """Sections in any order and mix (host names where the pod's DNS resolves them, files from other
    volumes): never refused where raw HAProxy accepts; where raw lacks only a file or a name the pod has,
    still accepted."""
    if "backend-srv" in sections and "resolvers" not in sections:
        sections.append("resolvers")
    text = "global\n  log stdout format raw local0\n" + HEADER + "".join(SECTIONS[name] for name in sections)
    for version in VERSIONS:
        result = VALIDATOR.validate(ConfigBundle((("haproxy.cfg", text),)), version)
        assert result.valid, (version, text, [str(message) for message in result.errors])


FILES_THE_POD_HAS = (
    "  errorfile 503 /usr/local/etc/haproxy/errors/503.http\n"  # shipped in the official image
    "  option h1-case-adjust-bogus-client\n"
    "frontend fe\n  bind :80\n"
    "  acl bad src -f /etc/haproxy/lists/bad.lst\n"  # another ConfigMap
    "  http-request set-var(txn.b) req.hdr(host),map_str(/etc/haproxy/maps/hosts.map,x)\n"
    "  http-request return status 200 file /etc/haproxy/pages/ok.html if { path /ok }\n" + BACKEND
)


@pytest.mark.parametrize("version", VERSIONS)
def test_files_the_pod_gets_elsewhere_are_stood_in(version: str) -> None:
    """Error pages from the image, lists, maps, pages, DH parameters and the header-case file from other
    volumes: the pod has them, the bundle does not; the check stands them in (whatever the webhook's own host
    holds) instead of refusing."""
    text = "global\n  ssl-dh-param-file /etc/haproxy/tls/dh.pem\n  h1-case-adjust-file /etc/haproxy/case.txt\n"
    text += HEADER.replace("timeout connect 1s\n", "timeout connect 1s\n" + FILES_THE_POD_HAS.split("frontend")[0], 1)
    text += "frontend" + FILES_THE_POD_HAS.split("frontend", 1)[1]
    result = VALIDATOR.validate(ConfigBundle((("haproxy.cfg", text),)), version)
    assert result.valid, [str(message) for message in result.errors]


@pytest.mark.parametrize("version", VERSIONS)
def test_the_checks_memory_cap_never_denies(version: str) -> None:
    """`tune.ssl.cachesize 5000000` is legal; it only fails under the check's own address-space cap: a
    warning saying so, never a denial."""
    text = (
        "global\n  tune.ssl.cachesize 5000000\n"
        + HEADER
        + "frontend fe\n  bind :443 ssl crt /etc/haproxy/certs/site.pem\n"
        + BACKEND
    )
    result = VALIDATOR.validate(ConfigBundle((("haproxy.cfg", text),)), version)
    assert result.valid, [str(message) for message in result.errors]
    assert any("not fully checked: Unable to allocate SSL session cache" in str(message) for message in result.warnings)


@pytest.mark.parametrize("version", [version for version in VERSIONS if version not in {"2.6", "2.8"}])
def test_a_crt_store_with_files_from_a_secret_is_accepted(version: str) -> None:
    store = "crt-store web\n  crt-base /etc/tls\n  key-base /etc/tls\n  load crt site.pem key site.key ocsp site.ocsp\n"
    text = store + HEADER + "frontend fe\n  bind :443 ssl crt @web/site.pem\n" + BACKEND
    result = VALIDATOR.validate(ConfigBundle((("haproxy.cfg", text),)), version)
    assert result.valid, [str(message) for message in result.errors]


@pytest.mark.parametrize("version", VERSIONS)
def test_an_spoe_configuration_from_elsewhere_is_said_not_checked(version: str) -> None:
    filter_line = "  filter spoe engine waf config /etc/haproxy/spoe/waf.conf\n"
    text = HEADER + "frontend fe\n  bind :80\n" + filter_line + BACKEND
    result = VALIDATOR.validate(ConfigBundle((("haproxy.cfg", text),)), version)
    assert result.valid, [str(message) for message in result.errors]
    assert any("not checked: the SPOE configuration /etc/haproxy/spoe/waf.conf" in str(m) for m in result.warnings)
    spoe = (
        "[waf]\nspoe-agent waf_agent\n  messages check\n  timeout hello 1s\n  timeout idle 1s\n"
        "  timeout processing 1s\n  use-backend agents\nspoe-message check\n  args src\n"
        "  event on-frontend-http-request\n"
    )
    agents = "backend agents\n  mode tcp\n  server a 127.0.0.1:12345\n"
    given = ConfigBundle((("haproxy.cfg", text + agents),), files={"/etc/haproxy/spoe/waf.conf": spoe.encode()})
    checked = VALIDATOR.validate(given, version)
    assert checked.valid and not any("SPOE" in str(m) for m in checked.warnings), [str(m) for m in checked.errors]
    broken = replace(
        given, files={"/etc/haproxy/spoe/waf.conf": spoe.replace("messages check", "messages nope").encode()}
    )
    assert not VALIDATOR.validate(broken, version).valid, "a given SPOE configuration is really checked"


def test_the_dh_parameters_are_rfc_7919s() -> None:
    pem = dh_params_pem()
    assert hex(ffdhe2048_prime()).startswith("0xffffffffffffffffadf85458a2bb4a9aafdc5620273d3cf1")
    assert hex(ffdhe2048_prime()).endswith("886b423861285c97ffffffffffffffff")
    if shutil.which("openssl"):
        made = subprocess.run(
            ["openssl", "genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt", "dh_param:ffdhe2048"],
            capture_output=True, check=True,
        ).stdout  # fmt: skip
        assert made == pem


RELATIVE_FILES = "frontend fe\n  bind :80\n  errorfile 503 errors/503.http\n  acl bad src -f lists/bad.lst\n" + BACKEND


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("default_path", ["", "current", "config", "parent", "origin /etc/haproxy"])
def test_relative_file_names_follow_default_path(version: str, default_path: str) -> None:
    """Relative names resolve where the pod resolves them: from its working folder (unknown: stand-ins),
    the configuration's folder, its parent or a given folder; a folder the bundle knows whole is checked."""
    setting = f"global\n  default-path {default_path}\n" if default_path else ""
    text = setting + HEADER + RELATIVE_FILES
    assert VALIDATOR.validate(ConfigBundle((("haproxy.cfg", text),)), version).valid
    known = "/usr/local/etc/haproxy" if default_path == "config" else None
    if known:
        bad_list = {f"{known}/lists/bad.lst": b"notanip\n", f"{known}/errors/503.http": ERROR_PAGE}
        result = VALIDATOR.validate(ConfigBundle((("haproxy.cfg", text),), files=bad_list), version)
        assert not result.valid and "'notanip' is not a valid" in str(result.errors[0])
        whole = ConfigBundle((("haproxy.cfg", text),), complete_dirs=(known,))
        missing = VALIDATOR.validate(whole, version)
        assert not missing.valid and "errors/503.http" in str(missing.errors[0])


def test_a_file_missing_from_a_whole_directory_mount_is_still_an_error() -> None:
    """The stand-ins stop where the pod's content is known: a ConfigMap mounted over a whole folder hides
    what the image had there, so a map it does not provide is missing in the pod too."""
    text = (
        HEADER
        + "frontend fe\n  bind :80\n  use_backend %[req.hdr(host),map(/usr/local/etc/haproxy/hosts.map,be)]\n"
        + BACKEND
    )
    lone = VALIDATOR.validate(ConfigBundle((("haproxy.cfg", text),)), "2.8")
    assert lone.valid, "mount unknown: the pod may well have the file"
    mounted = ConfigBundle((("haproxy.cfg", text),), complete_dirs=("/usr/local/etc/haproxy",))
    result = VALIDATOR.validate(mounted, "2.8")
    assert not result.valid and "hosts.map" in str(result.errors[0])

"""Hostile configurations: the validator must not run their code, read the webhook's files or
environment, reach the network, or run unbounded."""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from haproxy_guard.policies.haproxy import sandbox
from haproxy_guard.policies.haproxy import validator as validator_module
from haproxy_guard.policies.haproxy.bundle import ConfigBundle
from haproxy_guard.policies.haproxy.validator import ValidationResult, Validator

HEADER = """global
  maxconn 100
defaults
  mode http
  timeout client 5s
  timeout server 5s
  timeout connect 1s
"""


def _check(
    validator: Validator, text: str, files: dict[str, bytes] | None = None, version: str = "2.8"
) -> ValidationResult:
    return validator.validate(ConfigBundle((("haproxy.cfg", HEADER + text),), files or {}), version)


def _all_text(result: ValidationResult) -> str:
    return "\n".join(str(message) for message in (*result.errors, *result.warnings))


@pytest.mark.parametrize("version", ["2.6", "2.8"])
@pytest.mark.parametrize("keyword", ["lua-load", "lua-load-per-thread"])
def test_lua_never_runs(validator: Validator, tmp_path: Path, version: str, keyword: str) -> None:
    sentinel = tmp_path / "lua-ran"
    lua = f'os.execute("touch {sentinel}")\n'.encode()
    global_line = f"global\n  {keyword} /usr/local/etc/haproxy/evil.lua\n"
    result = validator.validate(
        ConfigBundle(
            (("haproxy.cfg", global_line + HEADER.removeprefix("global\n")),), {"/usr/local/etc/haproxy/evil.lua": lua}
        ),
        version,
    )
    time.sleep(0.2)
    assert not sentinel.exists(), "submitted Lua ran inside the validator"
    assert not result.valid
    assert str(result.errors[0]).startswith(f"haproxy.cfg:2: {keyword} is refused")


def test_lua_prepend_path_is_refused(validator: Validator) -> None:
    result = _check(
        validator,
        "frontend fe\n  bind :8080\n  default_backend be\nbackend be\n  server s 127.0.0.1:80\n".replace(
            "frontend", "global\n  lua-prepend-path /tmp/?.lua\nfrontend"
        ),
    )
    assert not result.valid
    assert any("lua-prepend-path is refused" in str(message) for message in result.errors)


@pytest.mark.parametrize("version", ["2.6", "2.8"])
def test_files_outside_the_configmap_are_never_read(validator: Validator, tmp_path: Path, version: str) -> None:
    canary = tmp_path / "canary.txt"
    canary.write_text("CANARY-8f14e45f-not-an-address\n")
    traversal = "../" * 12 + str(canary).lstrip("/")
    map_canary = tmp_path / "canary.map"
    map_canary.write_text("CANARY-8f14e45f-in-a-map\n")
    text = f"""frontend fe
  bind :8080
  acl from_file src -f {canary}
  acl climbing src -f {traversal}
  errorfile 503 {canary}
  http-request set-header X-Map %[req.hdr(host),map({map_canary})]
  default_backend be
backend be
  server s 127.0.0.1:80
"""
    result = _check(validator, text, version=version)
    assert "CANARY-8f14e45f" not in _all_text(result)
    assert result.valid, _all_text(result)


def test_an_unreadable_host_file_is_also_replaced(validator: Validator) -> None:
    result = _check(
        validator,
        "frontend fe\n  bind :8080\n  acl a src -f /etc/shadow\n  acl z src -f /dev/zero\n  default_backend be\nbackend be\n  server s 127.0.0.1:80\n",
    )
    assert result.valid, _all_text(result)
    assert result.seconds < 2, "reading /dev/zero would never end"


def test_the_webhook_environment_is_never_visible(validator: Validator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HG_WEBHOOK_SECRET", "s3cr3t-2c9a1b")
    result = _check(
        validator,
        'frontend fe\n  bind "${HG_WEBHOOK_SECRET}"\n  bind ":${HG_WEBHOOK_SECRET}"\n  default_backend be\nbackend be\n  server s 127.0.0.1:80\n',
    )
    assert "s3cr3t-2c9a1b" not in _all_text(result)


def test_declared_container_environment_is_expanded(validator: Validator) -> None:
    text = 'frontend fe\n  bind ":${PORT}"\n  default_backend be\nbackend be\n  server s "${BACKEND}:80"\n'
    good = validator.validate(
        ConfigBundle((("haproxy.cfg", HEADER + text),), env={"PORT": "8080", "BACKEND": "app.default.svc"})
    )
    assert good.valid, _all_text(good)
    missing = validator.validate(ConfigBundle((("haproxy.cfg", HEADER + text),), env={"BACKEND": "app"}))
    assert not missing.valid, "an undefined variable expands to nothing, as in the pod"


def test_setenv_cannot_assemble_a_host_path(validator: Validator, tmp_path: Path) -> None:
    canary = tmp_path / "assembled.txt"
    canary.write_text("CANARY-assembled-77\n")
    head, tail = str(canary)[:5], str(canary)[5:]
    text = 'frontend fe\n  bind :8080\n  acl a src -f "${A}${B}"\n  default_backend be\nbackend be\n  server s 127.0.0.1:80\n'
    result = validator.validate(
        ConfigBundle(
            (
                (
                    "haproxy.cfg",
                    f"global\n  setenv A {head}\n  setenv B {tail}\n" + HEADER.removeprefix("global\n") + text,
                ),
            )
        )
    )
    assert "CANARY-assembled-77" not in _all_text(result)


@pytest.mark.parametrize("version", ["2.6", "2.8"])
def test_unresolvable_server_names_need_no_network(validator: Validator, version: str) -> None:
    text = "frontend fe\n  bind :8080\n  default_backend be\nbackend be\n  server s1 does-not-exist.invalid:80 check\n  server s2 other.example.invalid:8080\n"
    started = time.monotonic()
    result = _check(validator, text, version=version)
    assert result.valid, _all_text(result)
    assert time.monotonic() - started < validator.timeout_seconds


def test_concurrency_is_bounded_and_every_check_is_answered(
    validator: Validator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """50 distinct checks at once: every one answered, never more than `max_concurrent` jails running."""
    lock = threading.Lock()
    running = peak = 0
    real_run = sandbox.run

    def counting_run(*args: Any, **kwargs: Any) -> Any:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        try:
            return real_run(*args, **kwargs)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(validator_module, "run", counting_run)
    bounded = Validator({"2.8": validator.binaries["2.8"]}, max_concurrent=4, timeout_seconds=20)
    results: list[ValidationResult] = []

    def one(index: int) -> None:
        text = (
            f"frontend fe{index}\n  bind :{8000 + index}\n  default_backend be\nbackend be\n  server s 127.0.0.1:80\n"
        )
        results.append(bounded.validate(ConfigBundle((("haproxy.cfg", HEADER + text),))))

    threads = [threading.Thread(target=one, args=(index,)) for index in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 50 and all(result.valid for result in results)
    assert 1 < peak <= 4, f"peak concurrency {peak}"


def test_results_are_cached_by_content(validator: Validator) -> None:
    text = "frontend cached\n  bind :8081\n  default_backend be\nbackend be\n  server s 127.0.0.1:80\n"
    first = _check(validator, text)
    second = _check(validator, text)
    assert not first.cached and second.cached
    assert (second.valid, second.errors, second.warnings) == (first.valid, first.errors, first.warnings)
    other_version = _check(validator, text, version="2.6")
    assert not other_version.cached, "the cache key includes the binary"


def test_the_sandbox_folder_is_removed(validator: Validator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In a private temporary folder (the shared one also holds other processes' checks)."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    fresh = Validator(validator.binaries)
    result = _check(fresh, "frontend gone\n  bind :8082\n  default_backend be\nbackend be\n  server s 127.0.0.1:80\n")
    assert result.valid and not result.cached
    assert list(tmp_path.iterdir()) == []


def test_concurrent_checks_of_the_same_input_run_haproxy_once(validator: Validator) -> None:
    fresh = Validator(validator.binaries, max_concurrent=4)
    text = "frontend same\n  bind :8083\n  default_backend be\nbackend be\n  server s 127.0.0.1:80\n"
    results: list[ValidationResult] = []
    threads = [threading.Thread(target=lambda: results.append(_check(fresh, text))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 8 and all(result.valid for result in results)
    assert fresh.stats["runs"] == 1 and fresh.stats["cache_hits"] == 7

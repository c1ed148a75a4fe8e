"""preStop handlers judged by what they run: waits, signals to HAProxy, waits for its exit, and the opaque."""

from __future__ import annotations

import posixpath
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from haproxy_guard.policies.model.commands import program_name, shell_script
from haproxy_guard.policies.model.lifecycle import prestop_wait_seconds
from haproxy_guard.policies.model.prestop import PreStop, Step, read_pre_stop
from haproxy_guard.policies.rules.prestop_wait import _script_with_wait


def _exec(*command: str) -> dict[str, Any]:
    return {"lifecycle": {"preStop": {"exec": {"command": list(command)}}}}


WAIT, EXIT = Step("wait", 10.0), Step("wait-exit")


@pytest.mark.parametrize(
    ("container", "steps"),
    [
        ({}, ()),
        ({"lifecycle": {"preStop": {"sleep": {"seconds": 10}}}}, (WAIT,)),
        (_exec("sleep", "10"), (WAIT,)),
        (_exec("/bin/sleep", "10s"), (WAIT,)),
        (_exec("sh", "-c", "sleep 10"), (WAIT,)),
        (_exec("/bin/bash", "-ec", "exec sleep 10"), (WAIT,)),
        (_exec("sh", "-c", "sleep 4 && sleep 6"), (Step("wait", 4.0), Step("wait", 6.0))),
        (_exec("sh", "-c", "sleep 10 >/dev/null 2>&1"), (WAIT,)),
        (_exec("sh", "-c", "echo bye > /proc/1/fd/1; sleep 10"), (WAIT,)),
        (_exec("sh", "-c", "sleep 30 &"), ()),
        (
            _exec("/bin/sh", "-c", "kill -USR1 $(pidof haproxy); while killall -0 haproxy; do sleep 1; done"),
            (Step("signal", signal="SIGUSR1"), EXIT),
        ),
        (
            _exec("sh", "-c", "sleep 10; kill -s USR1 1\nwhile kill -0 1 2>/dev/null; do sleep 1; done"),
            (WAIT, Step("signal", signal="SIGUSR1"), EXIT),
        ),
        (_exec("sh", "-c", "sleep 10; kill -SIGTERM 1"), (WAIT, Step("signal", signal="SIGTERM"))),
        (_exec("sh", "-c", "sleep 10; kill 1"), (WAIT, Step("signal", signal="SIGTERM"))),
        (_exec("sh", "-c", "sleep 10; kill -10 1"), (WAIT, Step("signal", signal="SIGUSR1"))),
        (_exec("kill", "-USR1", "1"), (Step("signal", signal="SIGUSR1"),)),
        (_exec("sh", "-c", "pkill --signal=USR1 haproxy"), (Step("signal", signal="SIGUSR1"),)),
        (_exec("sh", "-c", "sleep 1m"), (Step("wait", 60.0),)),
    ],
)
def test_recognised_handlers(container: dict[str, Any], steps: tuple[Step, ...]) -> None:
    assert read_pre_stop(container).steps == steps


@pytest.mark.parametrize(
    "container",
    [
        _exec("/pre-stop.sh"),
        _exec("sh", "-c", "curl -s localhost:8080/drain; sleep 10"),
        _exec("sh", "-c", "echo 'disable frontend fe' | socat stdio /var/run/haproxy.sock; sleep 10"),
        _exec("sh", "-c", "for i in 1 2 3; do sleep 1; done"),
        _exec("sh", "-c", "sleep 'unterminated"),
        _exec("sleep", "forever"),
        {"lifecycle": {"preStop": {"exec": {"command": "sleep 10"}}}},
        {"lifecycle": {"preStop": {"sleep": {"seconds": "10"}}}},
    ],
)
def test_handlers_whose_effect_cannot_be_told_are_opaque(container: dict[str, Any]) -> None:
    assert read_pre_stop(container).steps is None
    assert prestop_wait_seconds(container) is None


def test_a_signal_before_any_wait_is_no_wait() -> None:
    documented = _exec("/bin/sh", "-c", "kill -USR1 $(pidof haproxy); while killall -0 haproxy; do sleep 1; done")
    parsed = read_pre_stop(documented)
    assert parsed.signal_first == "SIGUSR1"
    assert parsed.wait_seconds == 0
    assert prestop_wait_seconds(documented) == 0


def test_a_soft_stop_after_the_wait_is_a_soft_stop() -> None:
    parsed = read_pre_stop(_exec("sh", "-c", "sleep 10; kill -USR1 1; while kill -0 1; do sleep 1; done"))
    assert parsed.wait_seconds == 10 and parsed.signal_first is None and parsed.soft_stops


def test_the_community_controller_wait_before_shutdown_counts() -> None:
    container = {"args": ["--configmap=a/b", "--wait-before-shutdown=12"]}
    assert prestop_wait_seconds(container) == 12
    assert prestop_wait_seconds({**container, "args": ["--wait-before-shutdown", "15s"]}) == 15
    assert prestop_wait_seconds({**container, **_exec("sleep", "5")}) == 17


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_script_is_read_without_error(script: str) -> None:
    parsed = read_pre_stop(_exec("sh", "-c", script))
    assert parsed.steps is None or all(step.kind in {"wait", "signal", "wait-exit"} for step in parsed.steps)


@pytest.mark.parametrize(
    ("command", "script"),
    [
        (["sh", "-c", "sleep 1"], "sleep 1"),
        (["/bin/bash", "-ec", "sleep 1"], "sleep 1"),
        (["sh", "-c", "--", "sleep 1"], "sleep 1"),
        (["/bin/busybox", "sh", "-c", "sleep 1"], "sleep 1"),
        (["sh", "/pre-stop.sh"], None),
        (["sh", "-c"], None),
        (["sleep", "-c", "x"], None),
        ([], None),
    ],
)
def test_the_script_of_a_shell_command(command: list[str], script: str | None) -> None:
    """One reading of `sh -c SCRIPT` for the families, the preStop reader and fixes, and the readiness check."""
    assert shell_script(command) == script


def test_an_exec_signal_first_keeps_its_words_literal_behind_the_wait() -> None:
    """`exec: [kill, -USR1, '$(x)']` runs no shell: wrapped behind `sleep N;` its words stay literal."""
    command = _script_with_wait(["kill", "-USR1", "$(pidof haproxy)"], 10)
    assert command == ["/bin/sh", "-c", "sleep 10; kill -USR1 '$(pidof haproxy)'"]
    assert read_pre_stop(_exec(*command)).wait_seconds == 10


@given(st.text(alphabet="/ab.-", max_size=12))
def test_a_programs_name_is_its_paths_basename(word: str) -> None:
    assert program_name(word) == posixpath.basename(word)


def test_exec_readings_are_remembered_within_a_bound_and_read_alike_past_it() -> None:
    from haproxy_guard.policies.model import prestop

    command = ["/bin/sh", "-c", "sleep 7; kill -USR1 1"]
    first = read_pre_stop(_exec(*command))
    assert read_pre_stop(_exec(*command)) == first and first.steps is not None
    for number in range(prestop._MAX_EXEC_READINGS + 10):
        read_pre_stop(_exec("sleep", str(number)))
    assert len(prestop._EXEC_READINGS) <= prestop._MAX_EXEC_READINGS
    assert read_pre_stop(_exec("sleep", "99999")) == PreStop("exec", (Step("wait", 99999.0),))

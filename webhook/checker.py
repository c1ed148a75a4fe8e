"""Privilege separation: `haproxy-guard checker` runs the checks in a container of its own, and the webhook asks
it over a Unix socket on a shared `emptyDir`.

The checker container holds nothing worth stealing: no service-account token, no serving key, no settings
beyond the validators'; its own memory and CPU limits, so a check that exhausts them kills the checker, never
the webhook. The protocol carries bundles in and verdicts out, nothing else: one request per connection, a
4-byte big-endian length and a JSON body, each side refusing a frame over its bound before reading it.

- request `{"op": "check", "version": "X.Y", "bundle": {...}}`: the bundle (files in base64), and the branch
  the webhook chose; the checker runs only binaries of its own (`Validator.check_branch`).
- request `{"op": "layers"}`: the kernel layers its checks run behind.
- reply: a verdict (`ValidationResult` fields) or the layers; any malformed request gets `{"error": ...}`.

`RemoteValidator` is the webhook's side: a `Validator` (the same choice of branch, cache, concurrency and
observers) whose runs go to the checker. When the checker does not answer (restarting after a hostile check
used up its limits), a check is answered "not checked" (a warning, never a deny, never cached) and `/readyz`
says so.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import signal
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from haproxy_guard.policies.haproxy.bundle import ConfigBundle
from haproxy_guard.policies.haproxy.sandbox import Layers
from haproxy_guard.policies.haproxy.validator import Message, ValidationResult, Validator

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 64 * 1024 * 1024
"""A bundle is at most what one AdmissionReview carries (the body limit) plus its base64 growth."""
MAX_REPLY_BYTES = 4 * 1024 * 1024
"""A verdict is small: messages are bounded by HAProxy's output (256 KiB) after filtering."""
MAX_CONNECTIONS = 32
IO_TIMEOUT_SECONDS = 5.0
_HEADER = struct.Struct(">I")


class ProtocolError(ValueError):
    """A frame or a request outside the protocol."""


def send_frame(sock: socket.socket, payload: dict[str, Any]) -> None:
    body = json.dumps(payload, separators=(",", ":")).encode()
    sock.sendall(_HEADER.pack(len(body)) + body)


def receive_frame(sock: socket.socket, limit: int) -> dict[str, Any]:
    """One frame, refused before reading when its length is over `limit`."""
    (size,) = _HEADER.unpack(_read_exactly(sock, _HEADER.size))
    if size > limit:
        raise ProtocolError(f"frame of {size} bytes over the limit of {limit}")
    try:
        value = json.loads(_read_exactly(sock, size))
    except (UnicodeDecodeError, ValueError) as error:
        raise ProtocolError(f"not JSON: {error}") from None
    if not isinstance(value, dict):
        raise ProtocolError("not a JSON object")
    return value


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise ProtocolError("connection closed mid-frame")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def bundle_to_wire(bundle: ConfigBundle) -> dict[str, Any]:
    return {
        "configs": [list(pair) for pair in bundle.configs],
        "files": {path: base64.b64encode(content).decode() for path, content in bundle.files.items()},
        "env": dict(bundle.env),
        "complete_dirs": list(bundle.complete_dirs),
        "opaque_dirs": list(bundle.opaque_dirs),
        "unknown_env": sorted(bundle.unknown_env),
        "env_open": bundle.env_open,
        "config_dir": bundle.config_dir,
        "match_by_name": bundle.match_by_name,
    }


def _strings(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ProtocolError(f"{what}: expected a list of strings")
    return value


def _string_map(value: Any, what: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ProtocolError(f"{what}: expected an object of strings")
    return value


def bundle_from_wire(value: Any) -> ConfigBundle:
    if not isinstance(value, dict):
        raise ProtocolError("bundle: expected an object")
    configs = value.get("configs")
    if not isinstance(configs, list) or not configs:
        raise ProtocolError("bundle.configs: expected a non-empty list")
    pairs = tuple(tuple(_strings(pair, "bundle.configs[]")) for pair in configs)
    if any(len(pair) != 2 for pair in pairs):
        raise ProtocolError("bundle.configs[]: expected [name, text]")
    try:
        files = {
            path: base64.b64decode(text, validate=True)
            for path, text in _string_map(value.get("files", {}), "bundle.files").items()
        }
    except ValueError:
        raise ProtocolError("bundle.files: not base64") from None
    flags = [value.get(name, False) for name in ("env_open", "match_by_name")]
    if not all(isinstance(flag, bool) for flag in flags) or not isinstance(value.get("config_dir", ""), str):
        raise ProtocolError("bundle: env_open, match_by_name and config_dir have the wrong type")
    return ConfigBundle(
        tuple((pair[0], pair[1]) for pair in pairs),
        files,
        _string_map(value.get("env", {}), "bundle.env"),
        tuple(_strings(value.get("complete_dirs", []), "bundle.complete_dirs")),
        tuple(_strings(value.get("opaque_dirs", []), "bundle.opaque_dirs")),
        frozenset(_strings(value.get("unknown_env", []), "bundle.unknown_env")),
        flags[0],
        value.get("config_dir") or ConfigBundle.config_dir,
        flags[1],
    )


def _messages(messages: tuple[Message, ...]) -> list[list[Any]]:
    return [[message.config, message.line, message.text] for message in messages]


def result_to_wire(result: ValidationResult) -> dict[str, Any]:
    return {
        "valid": result.valid,
        "errors": _messages(result.errors),
        "warnings": _messages(result.warnings),
        "version": result.version,
        "timed_out": result.timed_out,
        "unavailable": result.unavailable,
        "seconds": result.seconds,
        "layers": _layers_to_wire(result.layers) if result.layers is not None else None,
    }


def _layers_to_wire(layers: Layers) -> dict[str, Any]:
    return {**layers.active(), "landlock": layers.landlock_abi}


def result_from_wire(value: Mapping[str, Any]) -> ValidationResult:
    def messages(name: str) -> tuple[Message, ...]:
        items = value.get(name)
        if not isinstance(items, list):
            raise ProtocolError(f"{name}: expected a list")
        return tuple(Message(str(config), line if isinstance(line, int) else None, str(text))
                     for config, line, text in items)  # fmt: skip

    layers = value.get("layers")
    return ValidationResult(
        value.get("valid") is True,
        messages("errors"),
        messages("warnings"),
        str(value.get("version")),
        timed_out=value.get("timed_out") is True,
        unavailable=value.get("unavailable") is True,
        seconds=float(value.get("seconds") or 0.0),
        layers=Layers.from_status(layers) if isinstance(layers, dict) else None,
    )


# -- the checker container ----------------------------------------------------------------------------------


class _Handler(socketserver.BaseRequestHandler):
    server: CheckerServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        if not self.server.slots.acquire(blocking=False):
            return  # over MAX_CONNECTIONS: closed at once (the webhook answers "not checked")
        try:
            sock.settimeout(IO_TIMEOUT_SECONDS)
            try:
                request = receive_frame(sock, MAX_REQUEST_BYTES)
                sock.settimeout(self.server.validator.timeout_seconds * 4 + IO_TIMEOUT_SECONDS)
                reply = self.server.answer(request)
            except ProtocolError as error:
                reply = {"error": str(error)}
            except OSError:
                return
            with contextlib.suppress(OSError):
                send_frame(sock, reply)
        finally:
            self.server.slots.release()


class CheckerServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """The checker's listening socket; one thread per connection, at most `MAX_CONNECTIONS` served."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, path: Path, validator: Validator) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        self.validator = validator
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__(str(path), _Handler)
        path.chmod(0o660)  # the pod's group (fsGroup) only

    def answer(self, request: Mapping[str, Any]) -> dict[str, Any]:
        operation = request.get("op")
        if operation == "layers":
            return {"layers": _layers_to_wire(self.validator.layers())}
        if operation != "check":
            raise ProtocolError("op: expected check or layers")
        version = request.get("version")
        if not isinstance(version, str) or version not in self.validator.binaries:
            raise ProtocolError(f"version: this checker has no validator for {version!r}")
        return result_to_wire(self.validator.check_branch(bundle_from_wire(request.get("bundle")), version))


# -- the webhook's side -------------------------------------------------------------------------------------

NOT_ANSWERING = (
    "not checked: the checker container is not answering (it restarts after a check used up its limits); "
    "this configuration was not validated and is admitted with this warning"
)
LAYERS_TTL_SECONDS = 10.0


class RemoteValidator(Validator):
    """A `Validator` whose runs happen in the checker container, reached at `socket_path`."""

    def __init__(self, socket_path: Path, binaries: Mapping[str, str], **options: Any) -> None:
        super().__init__(binaries, **options)
        self.socket_path = socket_path
        self._layers: tuple[float, Layers] | None = None

    def _ask(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(self.socket_path))
            send_frame(sock, request)
            reply = receive_frame(sock, MAX_REPLY_BYTES)
        if "error" in reply:
            raise ProtocolError(str(reply["error"]))
        return reply

    def _run(self, bundle: ConfigBundle, binary: str, version: str) -> ValidationResult:
        """One check in the checker container (within a slot of this validator, like a check in process)."""
        started = time.monotonic()
        self._count("runs")
        try:
            reply = self._ask(
                {"op": "check", "version": version, "bundle": bundle_to_wire(bundle)}, self.timeout_seconds * 4 + 5
            )
            return result_from_wire(reply)
        except (OSError, ProtocolError, TypeError, ValueError) as error:
            log.warning("checker container not answering: %s", error)
            warning = Message(bundle.configs[0][0], None, NOT_ANSWERING)
            return ValidationResult(True, (), (warning,), version, unavailable=True, seconds=time.monotonic() - started)

    def layers(self) -> Layers:
        """The checker's layers (asked at most every `LAYERS_TTL_SECONDS`); none while it does not answer."""
        now = time.monotonic()
        if self._layers is not None and now - self._layers[0] < LAYERS_TTL_SECONDS:
            return self._layers[1]
        try:
            reply = self._ask({"op": "layers"}, IO_TIMEOUT_SECONDS)
            layers = Layers.from_status(reply["layers"]) if isinstance(reply.get("layers"), dict) else Layers()
        except (OSError, ProtocolError):
            return Layers()
        self._layers = (now, layers)
        return layers

    def isolation(self) -> str:
        try:
            self._ask({"op": "layers"}, IO_TIMEOUT_SECONDS)
            state = "answering"
        except (OSError, ProtocolError):
            state = "NOT answering: checks are admitted as 'not checked' until it is back"
        return f"checks run in a separate container (checker at {self.socket_path}: {state})"


def serve_checker(path: Path, validator: Validator) -> None:
    """Serve checks on `path` until SIGTERM or SIGINT (the launcher of each check dies with this process)."""
    layers = validator.layers()  # probed before serving: the main thread only ever waits on the socket
    server = CheckerServer(path, validator)

    def _stop(signum: int, frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log.info("checker serving on %s; sandbox: %s", path, layers.describe(), extra={"pid": os.getpid()})
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    # Checks in flight are abandoned, not awaited (their webhook answers "not checked"): the process ends now,
    # and each check's launcher dies with it (PR_SET_PDEATHSIG; the fork server ends with its socket). Waiting
    # for the interpreter's orderly exit once kept a checker past its grace period.
    log.info("checker stopped")
    logging.shutdown()
    os._exit(0)

"""Which containers run HAProxy, and the facts of each HAProxy family: how it stops, where its configuration
comes from, what it exposes.

A container runs HAProxy when its image is an HAProxy image and its command does not run something else (a
Dataplane API or an exporter from the same image is not HAProxy), when its image is one of the HAProxy ingress
controllers or gateways, or when its command starts `haproxy` itself (an in-house image). Each family's facts
carry their source; README.md, "HAProxy families", repeats them for users.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from haproxy_guard.policies.model.commands import SHELLS, program_name, shell_script
from haproxy_guard.policies.model.images import HAPROXY_IMAGE_NAMES, image_repository, is_haproxy_image

StopKind = Literal["soft", "hard", "controller", "unknown"]
"""What HAProxy does on the stop signal the runtime sends: a soft stop (SIGUSR1: unbind, drain, exit), a hard
stop (SIGTERM reaches HAProxy: every connection closed at once), a controller that drains HAProxy itself, or
unknown."""


@dataclass(frozen=True, slots=True)
class Family:
    """The facts of one kind of HAProxy container."""

    id: str
    title: str
    stop_signal: str | None
    """The image's STOPSIGNAL (None when unknown)."""
    stop: StopKind
    user_config: bool
    """True when users write haproxy.cfg (a ConfigMap); False when a controller generates it at run time."""
    readiness: tuple[int, str] | None
    """The readiness endpoint the family serves itself (port, path), if any."""
    soft_stop_hint: str
    """How to make its stop soft, for messages."""
    source: str

    @property
    def controller(self) -> bool:
        return not self.user_config


HAPROXY = Family(
    id="haproxy",
    title="HAProxy image (official or haproxytech)",
    stop_signal="SIGUSR1",
    stop="soft",
    user_config=True,
    readiness=None,
    soft_stop_hint="the image stops HAProxy with SIGUSR1 (soft stop)",
    source="docker-library/haproxy Dockerfiles and haproxytech/haproxy-docker-* set STOPSIGNAL SIGUSR1",
)
BITNAMI = Family(
    id="bitnami",
    title="Bitnami HAProxy image",
    stop_signal=None,
    stop="hard",
    user_config=True,
    readiness=None,
    soft_stop_hint="the image sets no STOPSIGNAL, so the runtime sends SIGTERM: a hard stop",
    source="bitnami/containers bitnami/haproxy Dockerfiles set no STOPSIGNAL (the runtime's default SIGTERM)",
)
KUBERNETES_INGRESS = Family(
    id="haproxytech-kubernetes-ingress",
    title="HAProxy Kubernetes Ingress Controller (haproxytech)",
    stop_signal="SIGUSR1",
    stop="hard",
    user_config=False,
    readiness=(1042, "/healthz"),
    soft_stop_hint=(
        "its s6 supervisor turns the stop signal into SIGTERM for HAProxy (a hard stop); soft-stop HAProxy in "
        "preStop after the wait"
    ),
    source=(
        "haproxytech/kubernetes-ingress build/Dockerfile (s6-overlay /init as entrypoint) and "
        "fs/etc/s6-overlay/scripts/00-sigusr1 (SIGUSR1 -> kill -SIGTERM 1); the chart's values.yaml documents "
        "a preStop that soft-stops HAProxy"
    ),
)
HAPROXY_INGRESS = Family(
    id="haproxy-ingress",
    title="HAProxy Ingress (community controller)",
    stop_signal="SIGTERM",
    stop="controller",
    user_config=False,
    readiness=(10253, "/healthz"),
    soft_stop_hint=(
        "the controller receives SIGTERM and stops HAProxy gracefully within --shutdown-timeout (25s); it "
        "waits --wait-before-shutdown first (default 0)"
    ),
    source=(
        "jcmoraisjr/haproxy-ingress rootfs/Dockerfile (STOPSIGNAL SIGTERM) and docs command-line.md "
        "(--wait-before-shutdown, --shutdown-timeout)"
    ),
)
UNIFIED_GATEWAY = Family(
    id="haproxy-unified-gateway",
    title="HAProxy Unified Gateway",
    stop_signal=None,
    stop="unknown",
    user_config=False,
    readiness=None,
    soft_stop_hint="its stop behaviour is not documented",
    source="haproxytech/helm-charts haproxy-unified-gateway (the image's source is not public)",
)
IN_HOUSE = Family(
    id="in-house",
    title="in-house image running haproxy",
    stop_signal=None,
    stop="unknown",
    user_config=True,
    readiness=None,
    soft_stop_hint="the image's STOPSIGNAL is not known here (SIGUSR1 stops HAProxy softly, SIGTERM hard)",
    source="the container's command starts haproxy",
)
FAMILIES = (HAPROXY, BITNAMI, KUBERNETES_INGRESS, HAPROXY_INGRESS, UNIFIED_GATEWAY, IN_HOUSE)

_ENTRYPOINTS = frozenset({"docker-entrypoint.sh", "entrypoint.sh", "run.sh", "tini", "dumb-init", "start.sh"})
_HAPROXY_COMMAND = re.compile(r"(?:^|[;&|\n(]|\bexec)\s*(?:\S*/)?haproxy(?:\s+-|\s*$|\s*[;&|\n])", re.MULTILINE)
"""`haproxy` (or a path ending in it) in a shell script's command position, followed by an option or the end
of the command: `exec haproxy -f ...`, `/usr/sbin/haproxy -W ...`; not `ping haproxy` or `curl http://haproxy`."""


def _family_of_image(repository: str) -> Family | None:
    """The family an image repository path belongs to, or None when it is not an HAProxy image."""
    segments = repository.split("/")
    last = segments[-1]
    if last == "haproxy" and any(segment.startswith("bitnami") for segment in segments[:-1]):
        return BITNAMI
    if last in HAPROXY_IMAGE_NAMES:
        return HAPROXY
    if last == "kubernetes-ingress" and "haproxy" in repository:
        return KUBERNETES_INGRESS
    if last in {"haproxy-ingress", "haproxy-ingress-controller"}:
        return HAPROXY_INGRESS
    if last == "haproxy-unified-gateway":
        return UNIFIED_GATEWAY
    return None


def _words(container: dict[str, Any], key: str) -> list[str] | None:
    value = container.get(key)
    if not isinstance(value, list):
        return None
    return [word for word in value if isinstance(word, str)]


_OTHER_PROGRAMS = frozenset({"dataplaneapi", "sleep", "tail", "cat", "true", "pause", "socat", "nc"})
"""Programs an HAProxy image also runs that are not HAProxy (the Dataplane API, a debug or helper loop)."""


def _other_program(program: str) -> bool:
    return program in _OTHER_PROGRAMS or "exporter" in program or "dataplane" in program


def _runs_haproxy(words: list[str]) -> bool | None:
    """Whether a command line runs HAProxy: True, False (recognisably another program), or None (cannot be
    told: an entrypoint, a wrapper; the image decides)."""
    if not words:
        return None
    program = program_name(words[0])
    if program == "haproxy":
        return True
    if program in SHELLS:
        script = shell_script(words) or ""
        if _HAPROXY_COMMAND.search(script):
            return True
        return None if "haproxy" in script or "entrypoint" in script else False
    if program in _ENTRYPOINTS:
        rest = words[1:]
        if rest and rest[0] == "--":
            rest = rest[1:]
        return _runs_haproxy(rest) if rest and not rest[0].startswith("-") else None
    if _other_program(program):
        return False
    return None


def container_family(container: dict[str, Any], extra_patterns: tuple[str, ...] = ()) -> Family | None:
    """The HAProxy family of a container, or None when it does not run HAProxy.

    An HAProxy image whose `command` (or, without one, `args` replacing the image's command) recognisably runs
    another program (the Dataplane API, an exporter, a helper loop) is not HAProxy; a command that cannot be
    told (a wrapper script) leaves the image to decide. An image matching `extra_patterns` is HAProxy on the
    same terms. Any image whose command starts haproxy is an in-house HAProxy.
    """
    image = container.get("image")
    repository = image_repository(image) if isinstance(image, str) else ""
    family = _family_of_image(repository) if repository else None
    command, args = _words(container, "command"), _words(container, "args")
    if (
        family is None
        and repository
        and extra_patterns
        and isinstance(image, str)
        and is_haproxy_image(image, extra_patterns)
    ):
        family = IN_HOUSE
    if family is not None and family.user_config:
        if command:
            return None if _runs_haproxy(command + (args or [])) is False else family
        if args and not args[0].startswith("-"):
            return None if _runs_haproxy(args) is False else family
        return family
    if family is not None:
        return None if command and _runs_haproxy(command) is False else family
    if command and _runs_haproxy(command + (args or [])) is True:
        return IN_HOUSE
    if not command and args and _runs_haproxy(args) is True:
        return IN_HOUSE
    return None

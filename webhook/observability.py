"""Metrics (Prometheus text on /metrics) and structured JSON logs for the webhook.

Logs carry the request uid, object kind/namespace/name, verdict, policy ids and duration; never object
contents or configuration text (findings messages can quote a configuration line, so only ids are logged).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric

from haproxy_guard.policies.haproxy.sandbox import Layers
from haproxy_guard.policies.haproxy.validator import ValidationResult

ADMISSION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
VALIDATOR_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "color_message"}


class _BeforeCollection:
    """A collector with no metrics of its own: it runs `flush` whenever the registry is collected (a scrape,
    `get_sample_value`), before the collectors registered after it."""

    def __init__(self, flush: Callable[[], None]) -> None:
        self.flush = flush

    def collect(self) -> Iterator[Metric]:
        self.flush()
        return iter(())


class Metrics:
    """The webhook's Prometheus metrics, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # Per-policy counts are added up here and handed to prometheus_client when the registry is collected:
        # one lock per admission instead of a labelled child's lock and method calls per policy (up to five)
        self._pending_policies: dict[tuple[str, str, str], int] = {}
        self._pending_lock = threading.Lock()
        self.registry.register(_BeforeCollection(self._flush_policies))
        self.admission = Histogram(
            "haproxy_guard_admission_duration_seconds",
            "Time to answer an AdmissionReview",
            ["webhook", "operation", "kind", "verdict"],
            buckets=ADMISSION_BUCKETS,
            registry=self.registry,
        )
        self.policies = Counter(
            "haproxy_guard_admission_policies_total",
            "Admissions in which a policy denied, warned or mutated (one count per policy)",
            ["webhook", "policy", "outcome"],
            registry=self.registry,
        )
        self.rollouts = Counter(
            "haproxy_guard_rollouts_total",
            "Rollout controller outcomes: rolled (a ConfigMap change rolled a workload), blocked (the webhook would "
            "deny the configuration), refused (admission refused the patch), failed (retried with a backoff)",
            ["result"],
            registry=self.registry,
        )
        self.rollout_leader = Gauge(
            "haproxy_guard_rollout_controller_leader",
            "1 on the replica whose rollout controller holds the Lease, 0 on the others",
            registry=self.registry,
        )
        self.bad_requests = Counter(
            "haproxy_guard_bad_requests_total",
            "Requests answered 400, 413 or 503 (bodies in flight over budget)",
            ["webhook", "code"],
            registry=self.registry,
        )
        self.validator = Histogram(
            "haproxy_guard_validator_duration_seconds",
            "Duration of sandboxed haproxy -c runs (cache misses)",
            ["version", "result"],
            buckets=VALIDATOR_BUCKETS,
            registry=self.registry,
        )
        self.validator_timeouts = Counter(
            "haproxy_guard_validator_timeouts_total",
            "haproxy -c runs stopped at the time limit, per HAProxy branch",
            ["version"],
            registry=self.registry,
        )
        self.validator_cache_hits = Counter(
            "haproxy_guard_validator_cache_hits_total",
            "Validations answered from the cache, per HAProxy branch",
            ["version"],
            registry=self.registry,
        )
        self.sandbox_layer = Gauge(
            "haproxy_guard_sandbox_layer",
            "Kernel layers in force around haproxy -c (1 active, 0 not available on this node)",
            ["layer"],
            registry=self.registry,
        )
        self.certificate_expiry = Gauge(
            "haproxy_guard_certificate_expiry_timestamp_seconds",
            "When a certificate expires (Unix time): certificate=serving (the served one) or ca (its issuer, "
            "when the chain or ca.crt beside it holds it)",
            ["certificate"],
            registry=self.registry,
        )
        self._admission_children: dict[tuple[str, str, str, str], Any] = {}
        self._policy_children: dict[tuple[str, str, str], Any] = {}

    def admission_observed(self, webhook: str, operation: str, kind: str, verdict: str, seconds: float) -> None:
        """One admission's duration. The labelled child is looked up once per label set (prometheus_client's
        `labels()` costs about 1 us, six times per admission on the hot path); the label values come from
        closed sets (see `webhook.app`), so the cache stays small."""
        key = (webhook, operation, kind, verdict)
        child = self._admission_children.get(key)
        if child is None:
            child = self._admission_children[key] = self.admission.labels(*key)
        child.observe(seconds)

    def policies_counted(self, webhook: str, outcomes: Iterable[tuple[str, str]]) -> None:
        """One admission in which each `(policy, outcome)` happened (policy ids and outcomes are closed sets).
        Counted at once, seen by prometheus_client at the next collection."""
        with self._pending_lock:
            pending = self._pending_policies
            for policy, outcome in outcomes:
                key = (webhook, policy, outcome)
                pending[key] = pending.get(key, 0) + 1

    def _flush_policies(self) -> None:
        with self._pending_lock:
            pending, self._pending_policies = self._pending_policies, {}
        for key, count in pending.items():
            child = self._policy_children.get(key)
            if child is None:
                child = self._policy_children[key] = self.policies.labels(*key)
            child.inc(count)

    def observe_sandbox(self, layers: Layers) -> None:
        for layer, active in layers.active().items():
            self.sandbox_layer.labels(layer).set(1 if active else 0)

    def observe_validation(self, result: ValidationResult) -> None:
        if result.cached:
            self.validator_cache_hits.labels(result.version).inc()
            return
        if result.timed_out:
            self.validator_timeouts.labels(result.version).inc()
        outcome = "valid" if result.valid else "invalid"
        if result.timed_out:
            outcome = "timeout"
        elif result.unavailable:  # busy, or could not run: sandbox incomplete, binary missing, disk full
            busy = bool(result.errors) and result.errors[0].text.startswith("validator busy")
            outcome = "busy" if busy else "unavailable"
        self.validator.labels(result.version, outcome).observe(result.seconds)


def _timestamp(created: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(created * 1000) % 1000:03d}Z"


class AdmissionLog:
    """The per-admission log line, written straight to stderr as JSON (same shape as JsonFormatter's lines).

    On the hot path the logging module costs about 12 µs a line and a buffered write plus flush about 8 µs;
    one `os.write` of the whole line costs about 2 µs, appears at once, and keeps lines whole when threads
    log at the same time (a pipe write under PIPE_BUF bytes is atomic).
    """

    def __init__(self, fd: int = 2, enabled: bool = True) -> None:
        self.fd, self.enabled = fd, enabled
        self._second, self._stamp = -1, ""

    def _time(self) -> str:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second, self._stamp = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._stamp}.{int(now * 1000) % 1000:03d}Z"

    def write(self, entry: dict[str, Any]) -> None:
        if not self.enabled:
            return
        line = {
            "time": self._time(),
            "level": "info",
            "logger": "haproxy_guard.webhook.admission",
            "message": "admission",
            **entry,
        }
        os.write(self.fd, orjson.dumps(line) + b"\n")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({key: value for key, value in vars(record).items() if key not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_json_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)

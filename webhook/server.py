"""Serving the app over HTTPS only, with the certificate re-read from disk while running."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import uvicorn

from haproxy_guard.certs.reloader import ReloadingCertificate
from haproxy_guard.native import describe
from haproxy_guard.policies.haproxy.sandbox import SandboxMode
from haproxy_guard.policies.haproxy.validator import Validator
from haproxy_guard.webhook.admission import Admission
from haproxy_guard.webhook.app import create_app
from haproxy_guard.webhook.limits import guarded_protocol
from haproxy_guard.webhook.metrics_server import start_metrics_server
from haproxy_guard.webhook.observability import Metrics

if TYPE_CHECKING:
    from haproxy_guard.webhook.rollouts.controller import RolloutController

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServeOptions:
    host: str
    port: int
    cert_file: Path
    key_file: Path
    certificate_poll_seconds: float = 5.0
    metrics_port: int = 9090
    """Plain-HTTP `/metrics` port; 0 serves `/metrics` on the webhook's HTTPS port instead."""


async def _refresh_certificates(certificate: ReloadingCertificate, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        certificate.refresh()


class _Server(uvicorn.Server):
    """uvicorn's server, which on SIGTERM also stops the validator: checks in flight end at once and their
    requests are answered "not validated" instead of holding the process for their time limits."""

    def __init__(self, config: uvicorn.Config, validator: Validator | None) -> None:
        super().__init__(config)
        self.validator = validator

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if self.validator is not None:
            threading.Thread(target=self.validator.stop, daemon=True).start()  # off the signal handler


def serve(admission: Admission, options: ServeOptions, rollouts: RolloutController | None = None) -> None:
    """Serve until stopped; `rollouts` (the rollout controller) is started here, its outcomes and leadership
    reported as metrics."""
    settings = admission.settings
    certificate = ReloadingCertificate(options.cert_file, options.key_file, settings.tls_min_version)
    validator = admission.context.validator
    checks = (certificate.problem, validator.problem if validator else lambda: "no HAProxy validator binary found")
    metrics = Metrics()
    metrics.certificate_expiry.labels("serving").set_function(lambda: certificate.not_after.timestamp())  # noqa: PLW0108  (not_after changes on reload)
    metrics.certificate_expiry.labels("ca").set_function(
        lambda: certificate.ca_not_after.timestamp() if certificate.ca_not_after else float("nan")
    )
    app = create_app(
        admission, readiness_checks=checks, metrics=metrics, metrics_on_webhook_port=not options.metrics_port
    )
    if rollouts is not None:
        controller = rollouts
        controller.on_result = lambda result: metrics.rollouts.labels(result).inc()
        metrics.rollout_leader.set_function(lambda: 1.0 if controller.leading.is_set() else 0.0)
        controller.start()
    config = uvicorn.Config(
        app,
        host=options.host,
        port=options.port,
        http=guarded_protocol(settings.header_timeout_seconds),
        limit_concurrency=settings.max_connections,
        access_log=False,
        lifespan="off",
        server_header=False,
        proxy_headers=False,  # the API server connects directly: no X-Forwarded-* to trust, one layer less
        log_config=None,
        ssl_context_factory=lambda _config, _default: certificate.context,
    )
    server = _Server(config, validator)

    async def main() -> None:
        refresher = asyncio.create_task(_refresh_certificates(certificate, options.certificate_poll_seconds))
        metrics_server = (
            await start_metrics_server(metrics, options.host, options.metrics_port) if options.metrics_port else None
        )
        if metrics_server is not None:
            log.info("serving http://%s:%d/metrics", options.host, options.metrics_port)
        try:
            await server.serve()
        finally:
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher
            if metrics_server is not None:
                metrics_server.close()

    if validator is not None:
        layers = validator.layers()
        log.info(
            "validator sandbox: %s (mode %s)",
            layers.describe(),
            validator.sandbox_mode,
            extra={"sandbox_layers": layers.active(), "landlock_abi": layers.landlock_abi},
        )
        log.info("validator isolation: %s", validator.isolation())
        if layers.missing() and validator.sandbox_mode is SandboxMode.REQUIRE:
            log.warning(
                "kernel sandbox incomplete (missing: %s): HAProxy configurations will be answered 'not validated'",
                ", ".join(layers.missing()),
            )
    log.info("engine: %s", describe())
    log.info("serving https://%s:%d (TLS >= %s)", options.host, options.port, settings.tls_min_version)
    # What start-up built (modules, FastAPI, pydantic schemas: ~55,000 objects) lives as long as the process:
    # frozen, the cyclic collector stops walking it in every full collection while reviews allocate
    gc.collect()
    gc.freeze()
    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        runner.run(main())

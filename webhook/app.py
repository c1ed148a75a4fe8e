"""The FastAPI application: `/mutate`, `/validate`, `/healthz`, `/readyz`.

The two admission endpoints are the hot path (every matching write in the cluster waits on them), so they
are served by a pure ASGI application in front of FastAPI's: it reads the body with a size limit
(413, decided from Content-Length before reading when the client announces one), parses it once into an
AdmissionRequest and answers; anything malformed is a 400 with a short reason. Measured in bench/, this
halves the framework cost per review. Decisions come from `webhook.admission`, which only calls the engine.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from haproxy_guard.policies.model.json_text import wire_json
from haproxy_guard.policies.model.objects import object_identity
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.registry import ALL_POLICIES
from haproxy_guard.webhook.admission import Admission
from haproxy_guard.webhook.limits import BodyBudget, default_budget
from haproxy_guard.webhook.observability import AdmissionLog, Metrics
from haproxy_guard.webhook.review import AdmissionRequest, BadReview, parse_review

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], str | None]
"""Returns None when ready, else the reason for not being ready."""

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ADMISSION_ROUTES = {"/mutate": Admission.mutate, "/validate": Admission.validate}


class BodyTooLarge(Exception):
    pass


class Overloaded(Exception):
    """The replica's budget for request bodies in flight is spent (see `webhook.limits`)."""


_BODY_TIMEOUT = "haproxy-guard: request body timeout"


class BodyDeadlines:
    """Ends body reads that outlast `timeout` (a stalled or truncated upload), with a TimeoutError.

    A per-request timer (`asyncio.timeout`) costs about 5 % of the hot path's throughput; instead, reads
    register here and one reaper task cancels overdue ones, checking twice per timeout period (so a stalled
    read ends between 1x and 1.5x the timeout).
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._pending: dict[asyncio.Task[Any], float] = {}
        self._reaper: asyncio.Task[None] | None = None

    async def _reap(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.timeout / 2)
            now = loop.time()
            for task, deadline in list(self._pending.items()):
                if deadline <= now:
                    del self._pending[task]
                    task.cancel(_BODY_TIMEOUT)

    async def read(self, reading: Awaitable[bytes]) -> bytes:
        task = asyncio.current_task()
        assert task is not None
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.get_running_loop().create_task(self._reap())
        self._pending[task] = asyncio.get_running_loop().time() + self.timeout
        try:
            return await reading
        except asyncio.CancelledError as error:
            if error.args == (_BODY_TIMEOUT,):
                task.uncancel()
                raise TimeoutError from None
            raise
        finally:
            self._pending.pop(task, None)


async def _read_body(scope: Scope, receive: Receive, limit: int, budget: BodyBudget) -> bytes:
    for name, value in scope["headers"]:
        if name == b"content-length":
            if not value.isdigit():
                raise BadReview("invalid Content-Length header")
            if int(value) > limit:
                raise BodyTooLarge
    chunks, size = [], 0
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise BadReview("client disconnected before sending the whole body")
            chunk = message.get("body", b"")
            if size + len(chunk) > limit:
                raise BodyTooLarge
            if not budget.take(len(chunk)):
                raise Overloaded
            size += len(chunk)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)
    finally:
        budget.give_back(size)


def _verdict(reply: dict[str, Any]) -> tuple[str, list[str]]:
    response = reply["response"]
    annotations = response.get("auditAnnotations") or {}
    policies = [p for key in ("denied-by", "warned-by", "mutated-by") for p in annotations.get(key, "").split(",") if p]
    if not response["allowed"]:
        return "denied", policies
    if "patch" in response:
        return "patched", policies
    return ("warned" if response.get("warnings") else "allowed"), policies


class AdmissionMiddleware:
    """Answers POST /mutate and /validate; every other request (and the lifespan) goes on to FastAPI."""

    def __init__(self, app: ASGIApp, admission: Admission, metrics: Metrics, admission_log: AdmissionLog) -> None:
        self.app, self.admission, self.metrics, self.admission_log = app, admission, metrics, admission_log
        self.settings = admission.settings
        self.deadlines = BodyDeadlines(admission.settings.body_timeout_seconds)
        self.budget = BodyBudget(admission.settings.max_in_flight_body_bytes or default_budget())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        decide = ADMISSION_ROUTES.get(scope["path"]) if scope["type"] == "http" else None
        if decide is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        webhook = scope["path"].lstrip("/")
        headers = [(b"content-type", b"application/json")]
        if scope["method"] != "POST":
            status, body = 405, wire_json({"error": "use POST"})
            headers.append((b"allow", b"POST"))
        else:
            try:
                body_bytes = await self.deadlines.read(
                    _read_body(scope, receive, self.settings.max_body_bytes, self.budget)
                )
                review = parse_review(body_bytes)
                prepared = self.admission.prepare(review)
                if prepared.blocking:
                    reply = await anyio.to_thread.run_sync(decide, self.admission, review, prepared)
                else:
                    reply = decide(self.admission, review, prepared)
                status, body = 200, wire_json(reply)
                _record_admission(
                    self.metrics, self.admission_log, webhook, review, reply, time.perf_counter() - started
                )
            except BodyTooLarge:
                status, body = 413, wire_json({"error": f"request body exceeds {self.settings.max_body_bytes} bytes"})
                headers.append((b"connection", b"close"))
                self.metrics.bad_requests.labels(webhook, "413").inc()
            except Overloaded:
                status, body = 503, wire_json({"error": "too many request bodies in flight on this replica; retry"})
                headers += [(b"retry-after", b"1"), (b"connection", b"close")]
                self.metrics.bad_requests.labels(webhook, "503").inc()
            except TimeoutError:
                status, body = (
                    400,
                    wire_json({"error": f"request body not received within {self.settings.body_timeout_seconds:g}s"}),
                )
                headers.append((b"connection", b"close"))
                self.metrics.bad_requests.labels(webhook, "400").inc()
            except BadReview as error:
                log.info("bad admission request", extra={"webhook": webhook, "reason": str(error)})
                status, body = 400, wire_json({"error": str(error)})
                self.metrics.bad_requests.labels(webhook, "400").inc()
            except Exception as error:  # a value of a type the engine did not expect: the request is bad, not us
                log.warning("unreadable admission object", exc_info=True, extra={"webhook": webhook})
                reason = f"request.object: a field has a value of the wrong type ({type(error).__name__})"
                status, body = 400, wire_json({"error": reason})
                self.metrics.bad_requests.labels(webhook, "400").inc()
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


METRIC_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "Pod", "ConfigMap"})
METRIC_OPERATIONS = frozenset({"CREATE", "UPDATE", "DELETE", "CONNECT"})
POLICY_OUTCOMES = (("denied-by", "denied"), ("warned-by", "warned"), ("mutated-by", "mutated"))
KNOWN_POLICIES = frozenset(policy.id for policy in ALL_POLICIES)


def _record_admission(  # noqa: PLR0917
    metrics: Metrics,
    admission_log: AdmissionLog,
    webhook: str,
    review: AdmissionRequest,
    reply: dict[str, Any],
    seconds: float,
) -> None:
    verdict, policies = _verdict(reply)
    kind = review.kind.kind
    # Label values from closed sets: any caller can send any kind or operation, and every distinct label value
    # is a series held forever (memory) and served by /metrics.
    metric_kind = kind if kind in METRIC_KINDS else "other"
    operation = review.operation if review.operation in METRIC_OPERATIONS else "other"
    metrics.admission_observed(webhook, operation, metric_kind, verdict, seconds)
    annotations = reply["response"].get("auditAnnotations")
    if annotations:
        metrics.policies_counted(
            webhook,
            [
                (policy, outcome)
                for key, outcome in POLICY_OUTCOMES
                for policy in annotations.get(key, "").split(",")
                if policy in KNOWN_POLICIES  # a closed set, like every other label value
            ],
        )
    admission_log.write(
        {
            "uid": review.uid,
            "webhook": webhook,
            "operation": review.operation,
            "kind": kind,
            "namespace": review.namespace,
            "object_name": review.name or object_identity(review.object or {})[0],
            "verdict": verdict,
            "policies": policies,
            "dry_run": bool(review.dry_run),
            "duration_ms": round(seconds * 1000, 3),
        }
    )


def create_app(
    admission: Admission | Settings,
    readiness_checks: tuple[ReadinessCheck, ...] = (),
    metrics: Metrics | None = None,
    admission_log: AdmissionLog | None = None,
    *,
    metrics_on_webhook_port: bool = True,
) -> AdmissionMiddleware:
    """The webhook application; `/readyz` is 200 only when every check returns None; `/metrics` too unless it
    is served on its own port (`webhook.metrics_server`).

    The admission routes are answered in front of the whole FastAPI application, not inside its middleware
    stack: Starlette's error middleware (which wraps every `send`), FastAPI's telemetry and body-limit layers
    and the router cost about a twentieth of a `/mutate` answer and do nothing there (the middleware bounds
    bodies and answers every error itself). Everything else goes on to FastAPI."""
    if isinstance(admission, Settings):
        admission = Admission(admission)
    metrics = metrics or Metrics()
    validator = admission.context.validator
    if validator is not None:
        validator.observers.append(metrics.observe_validation)
        metrics.observe_sandbox(validator.layers())
    app = FastAPI(title="haproxy-guard", docs_url=None, redoc_url=None, openapi_url=None)
    admission_log = admission_log or AdmissionLog(enabled=log.isEnabledFor(logging.INFO))

    if metrics_on_webhook_port:

        @app.get("/metrics")
        async def prometheus() -> Response:
            return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz")
    async def healthz() -> Response:
        return PlainTextResponse("ok")

    @app.get("/readyz")
    async def readyz() -> Response:
        problems = [problem for check in readiness_checks if (problem := check()) is not None]
        sandbox = (
            f"\nvalidator sandbox: {validator.layers().describe()}\n{validator.isolation()}"
            if validator is not None
            else ""
        )
        if problems:
            return PlainTextResponse("not ready: " + "; ".join(problems) + sandbox, status_code=503)
        return PlainTextResponse("ok" + sandbox)

    return AdmissionMiddleware(app, admission, metrics, admission_log)

"""The FastAPI application: `/mutate`, `/validate`, `/healthz`, `/readyz`.

Request bodies are read here with a size limit (413 beyond it, checked before reading when the client
announces a length), then parsed once into an AdmissionRequest; anything malformed is a 400 with a short
reason. Decisions come from `webhook.admission`, which only calls the shared engine.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response

from policies.settings import Settings
from webhook import admission
from webhook.review import AdmissionRequest, BadReview, parse_review

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], str | None]
"""Returns None when ready, else the reason for not being ready."""


class BodyTooLarge(Exception):
    pass


def _json(payload: dict[str, Any], status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(payload, separators=(",", ":")).encode(),
        status_code=status_code,
        media_type="application/json",
        headers=headers,
    )


async def _read_body(request: Request, limit: int) -> bytes:
    announced = request.headers.get("content-length")
    if announced is not None:
        if not announced.isdigit():
            raise BadReview("invalid Content-Length header")
        if int(announced) > limit:
            raise BodyTooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(settings: Settings, readiness_checks: tuple[ReadinessCheck, ...] = ()) -> FastAPI:
    """The webhook application for `settings`; `/readyz` is 200 only when every check returns None."""
    app = FastAPI(title="haproxy-guard", docs_url=None, redoc_url=None, openapi_url=None)

    async def admit(request: Request, decide: Callable[[AdmissionRequest, Settings], dict[str, Any]]) -> Response:
        try:
            review = parse_review(await _read_body(request, settings.max_body_bytes))
            return _json(decide(review, settings))
        except BodyTooLarge:
            return _json(
                {"error": f"request body exceeds {settings.max_body_bytes} bytes"},
                413,
                headers={"Connection": "close"},
            )
        except BadReview as error:
            log.info("bad admission request: %s", error)
            return _json({"error": str(error)}, 400)

    @app.post("/mutate")
    async def mutate(request: Request) -> Response:
        return await admit(request, admission.mutate)

    @app.post("/validate")
    async def validate(request: Request) -> Response:
        return await admit(request, admission.validate)

    @app.get("/healthz")
    async def healthz() -> Response:
        return PlainTextResponse("ok")

    @app.get("/readyz")
    async def readyz() -> Response:
        problems = [problem for check in readiness_checks if (problem := check()) is not None]
        if problems:
            return PlainTextResponse("not ready: " + "; ".join(problems), status_code=503)
        return PlainTextResponse("ok")

    return app

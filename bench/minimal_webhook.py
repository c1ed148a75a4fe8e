"""The baseline for bench_mutate.py: a minimal FastAPI webhook (parse the body, allow with the uid).

Served by the same uvicorn/httptools stack and the same TLS certificate as haproxy-guard, so the ratio
between the two measures what haproxy-guard's own work costs.
"""

from __future__ import annotations

import argparse
import json
import ssl
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response

app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


@app.post("/mutate")
@app.post("/validate")
async def mutate(request: Request) -> Response:
    review = json.loads(await request.body())
    answer = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": review["request"]["uid"], "allowed": True},
    }
    return Response(json.dumps(answer).encode(), media_type="application/json")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert-dir", type=Path, required=True)
    args = parser.parse_args()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(args.cert_dir / "tls.crt", args.cert_dir / "tls.key")
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=args.port,
        http="httptools",
        access_log=False,
        lifespan="off",
        log_level="warning",
        ssl_context_factory=lambda _config, _default: context,
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()

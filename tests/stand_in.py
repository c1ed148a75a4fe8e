"""A local HTTPS server for API stand-ins (where no real API server is needed or available yet)."""

from __future__ import annotations

import contextlib
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.conftest import free_port


@contextlib.contextmanager
def serve_https(handler: type[BaseHTTPRequestHandler], cert_dir: Path, host: str = "localhost") -> Iterator[str]:
    """Serve `handler` over TLS with the certificate in `cert_dir`; yields the base URL."""
    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    httpd.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_dir / "tls.crt", cert_dir / "tls.key")
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"https://{host}:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()

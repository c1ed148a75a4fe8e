"""Certificate rotation: the state machine, and a real server that keeps answering across every switch."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
import time
from pathlib import Path

import httpx
from cryptography import x509

from haproxy_guard.certs.rotation import CA_BUNDLE, NEXT_CRT, SIGNING_CRT, TLS_CRT, Policy, step
from haproxy_guard.certs.stores import FolderStore, rotate
from tests.conftest import start_server, stop_server

NAMES = ("localhost", "127.0.0.1")
NOW = datetime.datetime(2026, 11, 27, tzinfo=datetime.UTC)


def _cert(data: dict[str, bytes], key: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(data[key])


def _bundle(data: dict[str, bytes]) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(data[CA_BUNDLE])


def test_the_state_machine() -> None:
    policy = Policy(NAMES, days=90, renew_before_days=30, ca_days=365, ca_renew_before_days=60)
    created = step(None, policy, NOW)
    assert created.changed and len(_bundle(created.data)) == 1
    assert not step(created.data, policy, NOW + datetime.timedelta(days=10)).changed, "idempotent when nothing is due"

    renewed = step(created.data, policy, NOW + datetime.timedelta(days=70))
    assert renewed.reason == "renewed the serving certificate"
    assert renewed.data[CA_BUNDLE] == created.data[CA_BUNDLE], "same CA: the bundle does not change"
    assert _cert(renewed.data, TLS_CRT).issuer == _cert(created.data, SIGNING_CRT).subject

    later = NOW + datetime.timedelta(days=320)
    added = step(renewed.data, policy, later)
    assert added.reason.startswith("added the next CA")
    assert added.data[TLS_CRT] == renewed.data[TLS_CRT], "the served certificate is unchanged in this step"
    assert len(_bundle(added.data)) == 2 and _cert(added.data, NEXT_CRT) in _bundle(added.data)

    promoted = step(added.data, policy, later + datetime.timedelta(days=1))
    assert promoted.reason.startswith("promoted the next CA")
    assert _cert(promoted.data, TLS_CRT).issuer == _cert(added.data, NEXT_CRT).subject
    assert NEXT_CRT not in promoted.data and len(_bundle(promoted.data)) == 2

    pruned = step(promoted.data, policy, NOW + datetime.timedelta(days=366))
    assert len(_bundle(pruned.data)) == 1, "the expired CA left the bundle"


def test_missing_names_reissue_the_certificate() -> None:
    created = step(None, Policy(("localhost",)), NOW)
    more = step(created.data, Policy(("localhost", "haproxy-guard.haproxy-guard.svc")), NOW)
    assert more.changed and "missing names" in more.reason


def _hammer(url: str, bundle: bytes, stop: threading.Event, failures: list[str], count: list[int]) -> None:
    context = ssl.create_default_context(cadata=bundle.decode())
    while not stop.is_set():
        try:
            with httpx.Client(verify=context, timeout=5) as client:
                if client.get(url + "/healthz").status_code != 200:
                    failures.append("status")
            count[0] += 1
        except httpx.HTTPError as error:
            failures.append(repr(error))
        time.sleep(0.01)


def _served_serial(url: str, bundle: bytes) -> int:
    context = ssl.create_default_context(cadata=bundle.decode())
    host, port = url.removeprefix("https://").split(":")
    with context.wrap_socket(socket.create_connection((host, int(port))), server_hostname=host) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def test_the_server_keeps_answering_across_renewal_and_ca_rollover(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    store = FolderStore(secret)
    rotate(store, Policy(NAMES))
    server = start_server(secret, tmp_path / "log", ["--cert-poll-seconds", "0.2"])
    stop, failures, count = threading.Event(), list[str](), [0]
    try:
        # the API server's view: the bundle published before each certificate change
        bundle = (secret / "ca.crt").read_bytes()
        worker = threading.Thread(target=_hammer, args=(server.url, bundle, stop, failures, count))
        worker.start()

        renewed = rotate(store, Policy(NAMES, renew_before_days=400))  # "near expiry" for this policy
        assert renewed.reason == "renewed the serving certificate"
        new_serial = _cert(renewed.data, TLS_CRT).serial_number
        deadline = time.monotonic() + 10
        while _served_serial(server.url, bundle) != new_serial:
            assert time.monotonic() < deadline, "the renewed certificate was never served"
            time.sleep(0.1)

        rollover = Policy(NAMES, ca_renew_before_days=4000)
        assert rotate(store, rollover).reason.startswith("added the next CA")
        stop.set()
        worker.join()
        bundle = (secret / "ca.crt").read_bytes()  # published first: now holds both CAs
        stop.clear()
        worker = threading.Thread(target=_hammer, args=(server.url, bundle, stop, failures, count))
        worker.start()
        promoted = rotate(store, rollover)
        assert promoted.reason.startswith("promoted the next CA")
        new_serial = _cert(promoted.data, TLS_CRT).serial_number
        deadline = time.monotonic() + 10
        while _served_serial(server.url, bundle) != new_serial:
            assert time.monotonic() < deadline, "the certificate from the new CA was never served"
            time.sleep(0.1)
        time.sleep(0.5)
    finally:
        stop.set()
        stop_server(server)
    assert failures == [], failures[:3]
    assert count[0] > 20, "requests kept flowing during the switches"

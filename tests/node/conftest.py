"""Fixtures of the node tests: one node (tests/node/cluster.py) for the package, stopped once tests/node is
done (the other tests never run beside it), started after checking that `make e2e-node` built its parts (never
built here, inside a test's timeout); the application behind HAProxy; the product installed with Helm; the order
of the node tests (the kustomize overlay's, which installs into and then deletes the namespace the Helm release
lives in, run before any other)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.node.cluster import Node, available, parts_missing, start_node
from tests.node.workloads import BACKEND_IP, BACKEND_NAMESPACE, backend_objects, config_map
from tests.ship.rendering import CHART, helm_binary


def require_parts() -> None:
    if os.geteuid() != 0:
        pytest.fail(
            "the node tests run a kubelet and containerd: they need root (deselect them with -m 'not node')",
            pytrace=False,
        )
    missing = parts_missing()
    if missing:
        pytest.fail(
            f"the node's parts are missing ({', '.join(missing)}): run `make e2e-node` first (`make test` does)",
            pytrace=False,
        )


@pytest.fixture(scope="package")
def node() -> Iterator[Node]:
    require_parts()
    with start_node() as running:
        print(
            f"\nnode: images imported in {running.timings['images']:.1f} s, Ready in {running.timings['ready']:.1f} s"
        )
        yield running


FIRST = "test_install_overlay.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the overlay's test before every other node test, whatever the file names: it installs into the
    namespace `haproxy-guard` and deletes it, which would take the package's Helm release (`guard`) with it."""
    places = [i for i, item in enumerate(items) if item.path.parent == Path(__file__).parent]
    node_items = [items[i] for i in places]
    ordered = sorted(node_items, key=lambda item: item.path.name != FIRST)
    for place, item in zip(places, ordered, strict=True):
        items[place] = item


RELEASE, GUARD_NAMESPACE = "guard", "haproxy-guard"
FULLNAME = "guard-haproxy-guard"
IMAGE_VALUES = ("--set", "image.repository=localhost/haproxy-guard", "--set", "image.tag=test",
                "--set", "image.pullPolicy=Never")  # fmt: skip


def helm(node: Node, *args: str, timeout: float = 300) -> str:
    """helm in the node's network namespace, its cache and config in the run folder (never the user's)."""
    home = node.run / "helm"
    env = {
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }
    done = node.run_in([helm_binary(), *args], env=env, timeout=timeout)
    assert done.returncode == 0, f"helm {' '.join(args)}: {done.stdout}{done.stderr}\n{node.tail_logs()}"
    return done.stdout


@pytest.fixture(scope="package")
def backend(node: Node) -> str:
    """The application the HAProxy workloads route to (tests/node/workloads.py), running; yields its address."""
    applied = node.apply(backend_objects())
    assert applied.returncode == 0, applied.stderr

    node.wait_for(
        "the application behind HAProxy", lambda: available(node, "deployment", "app", BACKEND_NAMESPACE, 2), 120
    )
    return BACKEND_IP


@pytest.fixture(scope="package")
def guard(node: Node, backend: str) -> Iterator[str]:
    """haproxy-guard installed with `helm install` of charts/haproxy-guard (the image built by `make test-image`,
    certificates self-signed by the chart's Job); yields the release's output. Uninstalled at the end. The
    application behind the HAProxy workloads (`backend`) runs before."""
    started = time.monotonic()
    output = helm(node, "install", RELEASE, str(CHART), "--namespace", GUARD_NAMESPACE, "--create-namespace",
                  *IMAGE_VALUES, "--wait", "--timeout", "240s")  # fmt: skip
    wait_for_webhooks(node, FULLNAME)
    node.timings["helm install"] = time.monotonic() - started
    print(f"\nnode: helm install ready in {node.timings['helm install']:.1f} s")
    yield output
    helm(node, "uninstall", RELEASE, "--namespace", GUARD_NAMESPACE, "--wait")


def wait_for_webhooks(node: Node, name: str) -> None:
    """Until both webhook configurations carry a caBundle and the webhook answers an admission request."""

    def published() -> bool:
        for kind in ("mutatingwebhookconfiguration", "validatingwebhookconfiguration"):
            found = node.get(kind, name, "")
            if not found or not all(w.get("clientConfig", {}).get("caBundle") for w in found.get("webhooks", [])):
                return False
        return True

    node.wait_for(f"the caBundle of {name}", published, timeout=120)
    probe = config_map("guard-probe", "default")
    node.wait_for(
        "the webhook to answer",
        lambda: node.kubectl("apply", "--dry-run=server", "-f", "-", stdin=json.dumps(probe)).returncode == 0,
        timeout=120,
    )

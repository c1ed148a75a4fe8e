"""Where rotated certificate material lives: a folder laid out like a mounted Secret, or a Kubernetes
Secret plus the caBundle of the webhook configurations. `rotate` publishes the trust bundle first and the
certificate second, so the API server never meets a certificate signed by a CA it does not trust yet."""

from __future__ import annotations

import base64
import datetime
import logging
import tempfile
from pathlib import Path
from typing import Any, Protocol

from haproxy_guard.certs.rotation import Policy, Step, step

log = logging.getLogger(__name__)
SECRET_KEYS_MODE = 0o600


class Store(Protocol):
    def read(self) -> dict[str, bytes] | None: ...
    def publish_bundle(self, bundle: bytes) -> None: ...
    def write(self, data: dict[str, bytes]) -> None: ...


class FolderStore:
    """Files behind a `..data` symlink swapped atomically, exactly as the kubelet updates a Secret volume."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def read(self) -> dict[str, bytes] | None:
        data = self.folder / "..data"
        if not data.exists():
            return None
        return {path.name: path.read_bytes() for path in data.iterdir() if path.is_file()}

    def publish_bundle(self, bundle: bytes) -> None:
        """Nothing to publish: clients of a folder read ca.crt from it."""

    def write(self, data: dict[str, bytes]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        version = Path(tempfile.mkdtemp(prefix="..", dir=self.folder))
        for name, content in data.items():
            target = version / name
            target.write_bytes(content)
            target.chmod(SECRET_KEYS_MODE if name.endswith(".key") else 0o644)
        link = self.folder / "..data_tmp"
        link.unlink(missing_ok=True)
        link.symlink_to(version.name)
        previous = (self.folder / "..data").resolve() if (self.folder / "..data").exists() else None
        link.replace(self.folder / "..data")
        for name in data:
            entry = self.folder / name
            if not entry.is_symlink():
                entry.unlink(missing_ok=True)
                entry.symlink_to(Path("..data") / name)
        for entry in self.folder.iterdir():
            if entry.is_symlink() and not entry.name.startswith("..") and entry.name not in data:
                entry.unlink()
        if previous is not None and previous != version.resolve():
            for old in previous.iterdir():
                old.unlink()
            previous.rmdir()


class KubernetesStore:
    """A Secret of type kubernetes.io/tls, and the caBundle of every webhook in the named configurations."""

    def __init__(self, api_client: Any, namespace: str, secret: str, webhook_configurations: list[str]) -> None:
        from kubernetes import client  # noqa: PLC0415

        self.core = client.CoreV1Api(api_client)
        self.admission = client.AdmissionregistrationV1Api(api_client)
        self.namespace, self.secret, self.configurations = namespace, secret, webhook_configurations

    def read(self) -> dict[str, bytes] | None:
        from kubernetes.client.exceptions import ApiException  # noqa: PLC0415

        try:
            secret = self.core.read_namespaced_secret(self.secret, self.namespace)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return {key: base64.b64decode(value) for key, value in (secret.data or {}).items()}

    def publish_bundle(self, bundle: bytes) -> None:
        encoded = base64.b64encode(bundle).decode()
        for name in self.configurations:
            for read, patch in (
                (
                    self.admission.read_mutating_webhook_configuration,
                    self.admission.patch_mutating_webhook_configuration,
                ),
                (
                    self.admission.read_validating_webhook_configuration,
                    self.admission.patch_validating_webhook_configuration,
                ),
            ):
                try:
                    configuration = read(name)
                except Exception as error:
                    if getattr(error, "status", None) == 404:
                        continue
                    raise
                operations = [
                    {"op": "add", "path": f"/webhooks/{index}/clientConfig/caBundle", "value": encoded}
                    for index in range(len(configuration.webhooks or []))
                ]
                if operations:
                    patch(name, operations)
                    log.info("caBundle published to %s (%d webhooks)", name, len(operations))

    def write(self, data: dict[str, bytes]) -> None:
        from kubernetes import client  # noqa: PLC0415
        from kubernetes.client.exceptions import ApiException  # noqa: PLC0415

        body = client.V1Secret(
            metadata=client.V1ObjectMeta(
                name=self.secret, namespace=self.namespace, labels={"app.kubernetes.io/name": "haproxy-guard"}
            ),
            type="kubernetes.io/tls",
            data={key: base64.b64encode(value).decode() for key, value in data.items()},
        )
        try:
            self.core.replace_namespaced_secret(self.secret, self.namespace, body)
        except ApiException as error:
            if error.status != 404:
                raise
            self.core.create_namespaced_secret(self.namespace, body)


def rotate(store: Store, policy: Policy, now: datetime.datetime | None = None) -> Step:
    """One rotation step: bundle first, then the certificate (see `certs.rotation`)."""
    result = step(store.read(), policy, now or datetime.datetime.now(datetime.UTC))
    if result.changed:
        store.publish_bundle(result.bundle)
        store.write(result.data)
    log.info("certificate rotation: %s", result.reason)
    return result

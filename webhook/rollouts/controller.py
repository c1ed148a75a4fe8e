"""The rollout controller's running parts: the Lease, the watches, the worker, the patches and the Events.

One replica of the webhook's Deployment leads (a `coordination.k8s.io/v1` Lease, through the Kubernetes
client's leader election); the others wait. The leader lists the three workload kinds (building the mount
index and queueing every HAProxy workload: a restart resumes from the API server's state, never from memory),
then watches them and the ConfigMaps. A ConfigMap event queues the workloads that mount it; a workload event
queues it when its spec changed. The worker reads each queued workload afresh, decides (`decide`), and rolls
it with a JSON patch whose first operation tests the `resourceVersion` it decided on (a concurrent write makes
the patch fail and the key come back). The patch goes through admission like any write. Losing the Lease
stops the watches and the worker; the next leader starts over from the API server.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from haproxy_guard.policies.context import Context
from haproxy_guard.policies.haproxy.validator import Validator
from haproxy_guard.policies.model.settings import Settings
from haproxy_guard.policies.rules.config_hash import current_hash
from haproxy_guard.webhook.rollouts.decide import Action, Decision, decide
from haproxy_guard.webhook.rollouts.index import WORKLOAD_KINDS, MountIndex, WorkloadKey, key_of, mounted_configmaps
from haproxy_guard.webhook.rollouts.queue import WorkQueue

log = logging.getLogger(__name__)

LEASE_NAME = "haproxy-guard-rollouts"
COMPONENT = "haproxy-guard-rollouts"
IGNORE_LABEL = "haproxy-guard.io/ignore"
NEVER_NAMESPACES = frozenset({"kube-system", "kube-node-lease"})
"""Namespaces the webhook is never sent (its own is added at start): the controller leaves them alone too."""
_PLURAL = {"Deployment": "deployment", "StatefulSet": "stateful_set", "DaemonSet": "daemon_set"}
_WATCH_SECONDS = 240
_REQUEST_TIMEOUT = 10.0
_MAX_REPORTED = 10_000


def own_namespace() -> str:
    """The namespace this pod runs in (the downward API's POD_NAMESPACE, else the service account's)."""
    if namespace := os.environ.get("POD_NAMESPACE"):
        return namespace
    try:
        return Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace").read_text().strip() or "haproxy-guard"
    except OSError:
        return "haproxy-guard"


class _FreshConfigMaps:
    """A `ConfigMapSource` reading the API server (no cache: the state now), each ConfigMap once per decision."""

    def __init__(self, core: Any) -> None:
        self._core = core
        self._read: dict[tuple[str | None, str], dict[str, Any] | None] = {}

    def __call__(self, namespace: str | None, name: str) -> dict[str, Any] | None:
        key = (namespace, name)
        if key not in self._read:
            self._read[key] = _raw(
                lambda: self._core.read_namespaced_config_map(
                    name, namespace or "default", _preload_content=False, _request_timeout=_REQUEST_TIMEOUT
                ),
                missing=True,
            )
        return self._read[key]


def _raw(call: Callable[[], Any], *, missing: bool = False) -> Any:
    """The JSON of a call made with `_preload_content=False`; None for a 404 when `missing`."""
    from kubernetes.client.exceptions import ApiException  # noqa: PLC0415

    try:
        response = call()
    except ApiException as error:
        if missing and error.status == 404:
            return None
        raise
    return json.loads(response.data)


class RolloutController:
    """Start with `start()`; `stop()` ends the work (the election thread is a daemon and ends with the process)."""

    def __init__(
        self,
        api_client: Any,
        settings: Settings,
        validator: Validator | None,
        *,
        namespace: str | None = None,
        identity: str | None = None,
    ) -> None:
        from kubernetes import client  # noqa: PLC0415

        self.settings = settings
        self.validator = validator
        self.namespace = namespace or own_namespace()
        self.identity = identity or f"{os.environ.get('HOSTNAME', 'haproxy-guard')}_{uuid.uuid4().hex[:8]}"
        self._api_client = api_client
        self._core = client.CoreV1Api(api_client)
        self._apps = client.AppsV1Api(api_client)
        self._stopped = threading.Event()
        self._session: threading.Event | None = None
        self._namespaces: dict[str, tuple[float, bool]] = {}
        self._reported: dict[WorkloadKey, str] = {}
        self.leading = threading.Event()
        self.stats = {"rolled": 0, "blocked": 0, "refused": 0, "failed": 0, "decided": 0}
        self.on_result: Callable[[str], None] = lambda result: None
        """Called with each result counted in `stats` but "decided" (the webhook's metrics attach here)."""

    # -- leadership --------------------------------------------------------------------------------------

    def start(self) -> None:
        threading.Thread(target=self._elect, name="rollouts-election", daemon=True).start()

    def stop(self) -> None:
        self._stopped.set()
        if self._session is not None:
            self._session.set()

    def _elect(self) -> None:
        from kubernetes.leaderelection import electionconfig, leaderelection  # noqa: PLC0415
        from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock  # noqa: PLC0415

        logging.getLogger("leaderelection").setLevel(logging.WARNING)  # it logs every retry at INFO
        lease = self.settings.rollout_controller.lease_duration_seconds  # an int: the Lease stores whole seconds
        renew = lease * 2 // 3  # client-go's 15/10/2, scaled
        retry = 2 if renew > 2.4 else 1  # the library wants renew > 1.2 x retry
        while not self._stopped.is_set():
            lock = LeaseLock(LEASE_NAME, self.namespace, self.identity)  # type: ignore[no-untyped-call]
            lock.api_instance.api_client = self._api_client
            config = electionconfig.Config(lock, lease, renew, retry, self._lead, self._lost)  # type: ignore[no-untyped-call]
            try:
                leaderelection.LeaderElection(config).run()  # type: ignore[no-untyped-call]
            except Exception:
                log.exception("rollout controller: leader election failed; trying again")
            self._lost()
            self._stopped.wait(retry)

    def _lost(self) -> None:
        if self.leading.is_set():
            log.info("rollout controller: %s stopped leading", self.identity)
        self.leading.clear()
        if self._session is not None:
            self._session.set()

    def _lead(self) -> None:
        """Lead until the Lease is lost or the controller stopped."""
        session = self._session = threading.Event()
        if self._stopped.is_set():
            return
        self.leading.set()
        log.info("rollout controller: %s leads (Lease %s/%s)", self.identity, self.namespace, LEASE_NAME)
        options = self.settings.rollout_controller
        queue: WorkQueue[WorkloadKey] = WorkQueue(per_second=options.patches_per_second, burst=options.burst)
        index = MountIndex()
        generations: dict[WorkloadKey, object] = {}
        threads = [threading.Thread(target=self._work, args=(session, queue, index), name="rollouts-worker")]
        for kind in WORKLOAD_KINDS:
            threads.append(threading.Thread(target=self._watch_workloads, args=(session, kind, queue, index,
                           generations), name=f"rollouts-{kind}"))  # fmt: skip
        threads.append(
            threading.Thread(target=self._watch_configmaps, args=(session, queue, index), name="rollouts-cm")
        )
        for thread in threads:
            thread.daemon = True
            thread.start()
        session.wait()
        queue.close()
        for thread in threads:
            thread.join(timeout=_REQUEST_TIMEOUT)

    # -- watches -----------------------------------------------------------------------------------------

    def _stream(self, session: threading.Event, list_call: Callable[..., Any], on_list: Callable[[list[dict[str, Any]]],
                None], on_event: Callable[[str, dict[str, Any]], None], *, items: bool = True) -> None:  # fmt: skip
        """List (all pages; only the resourceVersion when not `items`), then watch from there, until `session`
        ends; a 410 (history compacted) lists again, other errors retry after a pause."""
        from kubernetes import watch  # noqa: PLC0415
        from kubernetes.client.exceptions import ApiException  # noqa: PLC0415

        pause = 1.0
        while not session.is_set():
            try:
                listed, version = self._list(list_call, items)
                on_list(listed)
                while not session.is_set():
                    watcher = watch.Watch()  # type: ignore[no-untyped-call]
                    events = watcher.stream(  # type: ignore[no-untyped-call]
                        list_call,
                        resource_version=version,
                        timeout_seconds=_WATCH_SECONDS,
                        allow_watch_bookmarks=True,
                        _request_timeout=_WATCH_SECONDS + 30,
                    )
                    for event in events:
                        if session.is_set():
                            watcher.stop()  # type: ignore[no-untyped-call]
                            break
                        kind, obj = event["type"], event["raw_object"]
                        if kind == "ERROR":
                            raise ApiException(status=int(obj.get("code") or 500), reason=str(obj.get("message")))
                        version = (obj.get("metadata") or {}).get("resourceVersion") or version
                        if kind != "BOOKMARK":
                            on_event(kind, obj)
                    pause = 1.0
            except ApiException as error:
                if error.status != 410:
                    log.warning("rollout controller: watch failed (%s %s); again in %.0f s", error.status,
                                error.reason, pause)  # fmt: skip
                    session.wait(pause)
                    pause = min(pause * 2, 30.0)
            except Exception as error:  # a dropped connection, a timeout: list and watch again
                log.warning("rollout controller: watch interrupted (%s); again in %.0f s", error, pause)
                session.wait(pause)
                pause = min(pause * 2, 30.0)

    def _list(self, list_call: Callable[..., Any], items: bool) -> tuple[list[dict[str, Any]], str]:
        found: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page = _raw(partial(list_call, limit=500 if items else 1, _continue=token, _preload_content=False,
                                _request_timeout=_REQUEST_TIMEOUT))  # fmt: skip
            if items:
                kind = str(page.get("kind", "")).removesuffix("List")
                for item in page.get("items") or []:
                    item.setdefault("kind", kind)
                    item.setdefault("apiVersion", page.get("apiVersion"))
                    found.append(item)
            metadata = page.get("metadata") or {}
            token = metadata.get("continue") if items else None
            if not token:
                return found, str(metadata.get("resourceVersion"))

    def _watch_workloads(self, session: threading.Event, kind: str, queue: WorkQueue[WorkloadKey], index: MountIndex,
                         generations: dict[WorkloadKey, object]) -> None:  # fmt: skip
        list_call = getattr(self._apps, f"list_{_PLURAL[kind]}_for_all_namespaces")

        def remember(obj: dict[str, Any]) -> bool:
            """Index the workload; whether it is an HAProxy workload mounting a ConfigMap."""
            obj.setdefault("kind", kind)
            key = key_of(obj)
            mounted = mounted_configmaps(obj, self.settings)
            index.update(key, mounted)
            if not mounted:
                generations.pop(key, None)
            return bool(mounted)

        def on_list(objects: list[dict[str, Any]]) -> None:
            for obj in objects:
                if remember(obj):
                    generations[key_of(obj)] = (obj.get("metadata") or {}).get("generation")
                    queue.add(key_of(obj))

        def on_event(event: str, obj: dict[str, Any]) -> None:
            obj.setdefault("kind", kind)
            key = key_of(obj)
            if event == "DELETED":
                index.update(key, [])
                generations.pop(key, None)
                return
            generation = (obj.get("metadata") or {}).get("generation")
            if remember(obj) and generations.get(key) != generation:  # a spec change, not a status update
                generations[key] = generation
                queue.add(key)

        self._stream(session, list_call, on_list, on_event)

    def _watch_configmaps(self, session: threading.Event, queue: WorkQueue[WorkloadKey], index: MountIndex) -> None:
        def on_event(event: str, obj: dict[str, Any]) -> None:
            metadata = obj.get("metadata") or {}
            for key in index.readers(str(metadata.get("namespace")), str(metadata.get("name"))):
                queue.add(key)

        self._stream(session, self._core.list_config_map_for_all_namespaces, lambda _: None, on_event, items=False)

    # -- the worker --------------------------------------------------------------------------------------

    def _work(self, session: threading.Event, queue: WorkQueue[WorkloadKey], index: MountIndex) -> None:
        while not session.is_set():
            if queue.overflowed:  # more keys than the queue holds: take everything from the API server again
                queue.overflowed = False
                for key in list(_all_keys(index)):
                    queue.add(key)
            taken = queue.take(timeout=1.0)
            if taken is None:
                continue
            key = taken
            try:
                if self._process(key, index):
                    queue.forget(key)
                else:
                    queue.retry(key)
            except Exception as error:
                self._count("failed")
                delay = queue.retry(key)
                log.warning("rollout controller: %s %s/%s failed (%s); again in %.0f s", *key, error, delay)
            finally:
                queue.done(key)

    def _process(self, key: WorkloadKey, index: MountIndex) -> bool:
        """Decide on one workload and act; False to try it again later (a concurrent write, a denial)."""
        from kubernetes.client.exceptions import ApiException  # noqa: PLC0415

        kind, namespace, name = key
        if self._ignored(namespace):
            return True
        obj = _raw(lambda: getattr(self._apps, f"read_namespaced_{_PLURAL[kind]}")(
            name, namespace, _preload_content=False, _request_timeout=_REQUEST_TIMEOUT), missing=True)  # fmt: skip
        if obj is None:
            index.update(key, [])
            return True
        obj.setdefault("kind", kind)
        obj.setdefault("apiVersion", "apps/v1")
        context = Context(self.validator, _FreshConfigMaps(self._core))
        decision = decide(obj, self.settings, context)
        self.stats["decided"] += 1
        if decision.action is Action.NONE:
            return True
        if decision.action is Action.BLOCKED:
            self._count("blocked")
            self._report_once(key, obj, decision, ("Warning", "ConfigurationRefused"), decision.reason)
            return True
        version = (obj.get("metadata") or {}).get("resourceVersion")
        patch = [{"op": "test", "path": "/metadata/resourceVersion", "value": version}, *decision.patch]
        try:
            stored = _raw(partial(getattr(self._apps, f"patch_namespaced_{_PLURAL[kind]}"), name, namespace, patch,
                                  _preload_content=False, _request_timeout=_REQUEST_TIMEOUT))  # fmt: skip
        except ApiException as error:
            if error.status in (409, 422):  # the test failed: written meanwhile; decide again on the new state
                return False
            if error.status in (400, 403):  # refused by admission (ours or another): say so, try later
                message = _status_message(error)
                self._count("refused")
                refused = f"rolling to {decision.new_hash} was refused: {message}"
                self._report_once(key, obj, decision, ("Warning", "RolloutRefused"), refused)
                return False
            raise
        if current_hash((stored.get("spec") or {}).get("template")) != decision.new_hash:
            log.warning("rollout controller: %s %s/%s: stored with another digest (admission changed it); again",
                        *key)  # fmt: skip
            return False
        self._count("rolled")
        self._reported.pop(key, None)
        changed = ", ".join(mounted_configmaps(obj, self.settings))
        message = (f"ConfigMap {changed} changed: pod template {decision.old_hash or 'without a hash'} -> "
                   f"{decision.new_hash}; rolling the pods (validated by haproxy-guard)")  # fmt: skip
        log.info("rollout controller: %s %s/%s: %s", kind, namespace, name, message)
        self._event(obj, "Normal", "ConfigurationChanged", message)
        return True

    def _count(self, result: str) -> None:
        self.stats[result] += 1
        self.on_result(result)

    def _ignored(self, namespace: str) -> bool:
        if namespace in NEVER_NAMESPACES or namespace == self.namespace:
            return True
        cached = self._namespaces.get(namespace)
        if cached is not None and time.monotonic() - cached[0] < 30:
            return cached[1]
        found = _raw(lambda: self._core.read_namespace(namespace, _preload_content=False,
                                                       _request_timeout=_REQUEST_TIMEOUT), missing=True)  # fmt: skip
        labels = ((found or {}).get("metadata") or {}).get("labels") or {}
        ignored = IGNORE_LABEL in labels
        if len(self._namespaces) > 10_000:
            self._namespaces.clear()
        self._namespaces[namespace] = (time.monotonic(), ignored)
        return ignored

    def _report_once(
        self, key: WorkloadKey, obj: dict[str, Any], decision: Decision, event: tuple[str, str], message: str
    ) -> None:
        """One Event per workload and refused hash (a retry does not repeat it)."""
        kind, reason = event
        marker = f"{reason}:{decision.new_hash}"
        if self._reported.get(key) == marker:
            return
        if len(self._reported) > _MAX_REPORTED:
            self._reported.clear()
        self._reported[key] = marker
        log.warning("rollout controller: %s %s/%s: %s", *key, message)
        self._event(obj, kind, reason, message)

    def _event(self, obj: dict[str, Any], kind: str, reason: str, message: str) -> None:
        metadata = obj.get("metadata") or {}
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{metadata.get('name')}.", "namespace": metadata.get("namespace")},
            "involvedObject": {
                "apiVersion": "apps/v1",
                "kind": obj.get("kind"),
                "name": metadata.get("name"),
                "namespace": metadata.get("namespace"),
                "uid": metadata.get("uid"),
            },
            "reason": reason,
            "message": message[:1024],
            "type": kind,
            "source": {"component": COMPONENT},
            "reportingComponent": "haproxy-guard.io/rollouts",
            "reportingInstance": self.identity[:128],
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            self._core.create_namespaced_event(
                str(metadata.get("namespace")),
                body,  # type: ignore[arg-type]
                _request_timeout=_REQUEST_TIMEOUT,
            )
        except Exception as error:  # an Event is a courtesy: never a reason to fail the rollout
            log.info("rollout controller: event not recorded: %s", error)


def _all_keys(index: MountIndex) -> Iterator[WorkloadKey]:
    yield from index.keys()


def _status_message(error: Any) -> str:
    try:
        return str(json.loads(error.body).get("message"))
    except (TypeError, ValueError, AttributeError):
        return str(error.reason)

"""HAProxy ConfigMaps: which ConfigMaps hold an HAProxy configuration, and a view of one.

A `v1` ConfigMap is an HAProxy ConfigMap when it has a `haproxy.cfg` key or carries the label
`haproxy-guard.io/config: "true"` (then its `*.cfg` keys, in name order, are the configuration). The
view renders what `haproxy -c` needs and validates lazily, once, through the validator it was given.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from haproxy_guard.policies.digest import record
from haproxy_guard.policies.haproxy.bundle import DEFAULT_MOUNT_DIR, ConfigBundle
from haproxy_guard.policies.haproxy.facts import ConfigFacts, facts_from_text
from haproxy_guard.policies.haproxy.validator import ValidationResult, Validator
from haproxy_guard.policies.memo import once
from haproxy_guard.policies.model.container_view import ContainerView
from haproxy_guard.policies.model.findings import Violation, json_pointer
from haproxy_guard.policies.model.objects import ANNOTATION_PREFIX, Object, object_identity, string_annotations
from haproxy_guard.policies.model.settings import Settings

ConfigCheck = Callable[["ConfigSubject", Settings], list[Violation]]
CONFIG_KEY = "haproxy.cfg"
CONFIG_LABEL = ANNOTATION_PREFIX + "config"
VERSION_ANNOTATION = ANNOTATION_PREFIX + "haproxy-version"


@dataclass(frozen=True)
class HAProxyConfigMap:
    obj: Object
    name: str
    namespace: str | None
    annotations: dict[str, str]
    config_keys: tuple[str, ...]
    data: dict[str, bytes] = field(repr=False)

    @property
    def kind(self) -> str:
        return "ConfigMap"

    @property
    def version(self) -> str | None:
        """The HAProxy version the pods run, declared with `haproxy-guard.io/haproxy-version`."""
        return self.annotations.get(VERSION_ANNOTATION)

    @property
    def pointer(self) -> str:
        """Where findings about the configuration point: its first key (or `data` when it has none)."""
        return json_pointer("data", self.config_keys[0]) if self.config_keys else "/data"

    @cached_property
    def text(self) -> str:
        return "\n".join(self.data[key].decode("utf-8", "replace") for key in self.config_keys)

    @cached_property
    def facts(self) -> ConfigFacts:
        return facts_from_text(self.text)

    def digest(self) -> str:
        """A digest of every key and value (each length-prefixed, see `digest`), for the pod template's
        config-hash annotation."""
        hasher = hashlib.sha256()
        for key in sorted(self.data):
            record(hasher, b"K", key, self.data[key])
        return hasher.hexdigest()

    @once
    def bundle(self) -> ConfigBundle:
        """What the validator checks for the ConfigMap alone: its config keys; the other keys at the official
        image's folder, or wherever the configuration names a file by one of their names (the mount path is
        unknown); an open environment (any variable may be defined, with a value unknown here). Built once
        per view (a webhook asks for it to know whether the answer is cached, then to check)."""
        configs = tuple((key, self.data[key].decode("utf-8", "replace")) for key in self.config_keys)
        files = {f"{DEFAULT_MOUNT_DIR}/{key}": value for key, value in self.data.items() if key not in self.config_keys}
        return ConfigBundle(configs, files, {}, match_by_name=True, env_open=True)

    def bundle_in(self, view: ContainerView) -> ConfigBundle:
        """What the validator checks for the ConfigMap as one container runs it: the files its command loads
        (this ConfigMap's, and any other readable ConfigMap's loaded with them), every other file the
        container mounts, what is unknown there, and its environment. When the command loads nothing this
        ConfigMap provides (a path the view cannot see), this ConfigMap's config keys as it mounts them."""
        loaded = view.loaded_files()
        if not any(view.origins[path][0] == self.name for path in loaded):
            loaded = tuple(
                path for key in self.config_keys for path, origin in view.origins.items() if origin == (self.name, key)
            )
        if not loaded:
            fallback = self.bundle()
            return replace(fallback, env=view.env, unknown_env=view.unknown_env, env_open=view.env_open)
        configs = tuple(
            (self._display(view.origins[path]), view.files[path].decode("utf-8", "replace")) for path in loaded
        )
        files = {path: content for path, content in view.files.items() if path not in loaded}
        return ConfigBundle(
            configs,
            files,
            view.env,
            config_dir=posixpath.dirname(loaded[0]),
            complete_dirs=view.complete_dirs,
            opaque_dirs=view.opaque_dirs,
            unknown_env=view.unknown_env,
            env_open=view.env_open,
        )

    def _display(self, origin: tuple[str, str]) -> str:
        configmap, key = origin
        return key if configmap == self.name else f"{configmap}/{key}"


@dataclass
class ConfigSubject:
    """A ConfigMap under review, with its validation run at most once and only when a policy asks."""

    configmap: HAProxyConfigMap
    validator: Validator | None
    version: str | None = None
    view: ContainerView | None = None
    """What the container mounting it sees (None: the ConfigMap checked alone)."""
    services: Callable[[str | None, str], Object | None] | None = None
    """(namespace, name) -> a Service around it, when known (the CLI's input, the cluster)."""
    prefer: str | None = None
    """For a ConfigMap checked alone with no version: the branch of the workloads that mount it, tried first
    (`Validator.validate`)."""
    _result: ValidationResult | None = None

    @property
    def checked(self) -> ValidationResult | None:
        """The validation's result once it ran (None before, or without a validator)."""
        return self._result

    @property
    def validation(self) -> ValidationResult | None:
        if self.validator is None:
            return None
        if self._result is None:
            bundle = self.configmap.bundle() if self.view is None else self.configmap.bundle_in(self.view)
            self._result = self.validator.validate(bundle, self.version, prefer=self.prefer)
        return self._result


def needs_configuration(check: ConfigCheck) -> ConfigCheck:
    """For checks of a configuration's content: nothing to say about a ConfigMap that has none (a labelled
    ConfigMap without a `*.cfg` key, which `haproxy-config-valid` reports)."""

    @functools.wraps(check)
    def guarded(subject: ConfigSubject, settings: Settings) -> list[Violation]:
        return check(subject, settings) if subject.configmap.config_keys else []

    return guarded


def _data(obj: Object) -> dict[str, bytes] | None:
    data: dict[str, bytes] = {}
    raw = obj.get("data") or {}
    binary = obj.get("binaryData") or {}
    if not isinstance(raw, dict) or not isinstance(binary, dict):
        return None
    for key, value in raw.items():
        if isinstance(value, str):
            data[str(key)] = value.encode()
    for key, value in binary.items():
        try:
            data[str(key)] = base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError):
            continue
    return data


def inspect_configmap(obj: Object, namespace_hint: str | None = None) -> HAProxyConfigMap | None:
    """A view of `obj` when it is an HAProxy ConfigMap (a `haproxy.cfg` key, or the config label), else None.
    Any other ConfigMap is turned away before its data is decoded (most ConfigMaps of a cluster)."""
    if obj.get("apiVersion") != "v1" or obj.get("kind") != "ConfigMap":
        return None
    labels: Any = (obj.get("metadata") or {}).get("labels") or {}
    labelled = isinstance(labels, dict) and labels.get(CONFIG_LABEL) == "true"
    raw, binary = obj.get("data"), obj.get("binaryData")
    if not labelled and not (
        (isinstance(raw, dict) and isinstance(raw.get(CONFIG_KEY), str))
        or (isinstance(binary, dict) and CONFIG_KEY in binary)
    ):
        return None  # no key can be `haproxy.cfg` once decoded
    data = _data(obj)
    if data is None:
        return None
    if CONFIG_KEY in data:
        keys: tuple[str, ...] = (CONFIG_KEY,)
    elif labelled:
        keys = tuple(sorted(key for key in data if key.endswith(".cfg")))
    else:
        return None
    name, namespace = object_identity(obj, namespace_hint)
    return HAProxyConfigMap(obj, name, namespace, string_annotations(obj), keys, data)

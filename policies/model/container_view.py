"""What one container of a pod sees at start-up, as far as admission can know it: the files of its volumes,
its environment, and the configuration files its command loads.

- **Files.** Every `volumeMount` of the container: a `configMap` volume (with its `items`, `subPath`,
  `optional`) and the ConfigMaps of a `projected` volume are read through the `ConfigMapSource`, their keys
  placed at the paths the kubelet writes them to. A folder whose whole content is known (a readable ConfigMap
  mounted without `subPath`) is *complete*: a file missing there is missing in the pod too. Anything else (a
  Secret, an unreadable ConfigMap, an `emptyDir`, a volume nested inside a complete folder) is *opaque*: its
  files are unknown, and the check stands in for the ones the configuration names.
- **Environment.** `envFrom` then `env` (later entries win, as in the kubelet). Values from a readable
  ConfigMap are known; from a Secret, a field or a resource they are *unknown* (named, valueless); an
  `envFrom` that cannot be read (a Secret, a missing ConfigMap) makes the environment *open*: any name may be
  defined.
- **Configuration files.** The `-f` arguments of the container's `command` and `args`; without any, the
  official images' default (`/usr/local/etc/haproxy/haproxy.cfg`). A folder loads its `*.cfg` files in name
  order, as HAProxy does.
"""

from __future__ import annotations

import base64
import binascii
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from haproxy_guard.policies.model.objects import Object

ConfigMapSource = Callable[[str | None, str], Object | None]
"""(namespace, name) -> the ConfigMap object, or None when it does not exist or cannot be read."""

DEFAULT_CONFIG = "/usr/local/etc/haproxy/haproxy.cfg"
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


@dataclass(frozen=True)
class ContainerView:
    files: dict[str, bytes] = field(default_factory=dict)
    """Absolute path -> content, for every file of a readable ConfigMap the container mounts."""
    origins: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Absolute path -> (ConfigMap name, key) it comes from."""
    complete_dirs: tuple[str, ...] = ()
    opaque_dirs: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    unknown_env: frozenset[str] = frozenset()
    env_open: bool = False
    config_paths: tuple[str, ...] = (DEFAULT_CONFIG,)
    """The `-f` arguments, as written (files or folders)."""

    def loaded_files(self) -> tuple[str, ...]:
        """The configuration files HAProxy loads, in order, among those the view knows: a file as named, a
        folder's `*.cfg` files in name order."""
        loaded: list[str] = []
        for path in self.config_paths:
            normal = posixpath.normpath(path)
            if normal in self.files:
                loaded.append(normal)
                continue
            prefix = normal.rstrip("/") + "/"
            inside = sorted(name for name in self.files if name.startswith(prefix) and "/" not in name[len(prefix) :])
            loaded += [name for name in inside if name.endswith(".cfg")]
        return tuple(dict.fromkeys(loaded))


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _configmap_data(obj: Object) -> dict[str, bytes]:
    data = {str(key): value.encode() for key, value in _mapping(obj.get("data")).items() if isinstance(value, str)}
    for key, value in _mapping(obj.get("binaryData")).items():
        try:
            data[str(key)] = base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError):
            continue
    return data


def _projected_keys(data: dict[str, bytes], items: Any) -> dict[str, bytes] | None:
    """Relative path -> content of what a ConfigMap volume (source) projects: all keys, or `items` only (None
    when an item names a key the ConfigMap lacks: the kubelet then fails the mount unless optional)."""
    if not isinstance(items, list) or not items:
        return dict(data)
    projected: dict[str, bytes] = {}
    for item in items:
        key, path = _mapping(item).get("key"), _mapping(item).get("path")
        if not isinstance(key, str) or not isinstance(path, str):
            continue
        if key not in data:
            return None
        projected[posixpath.normpath(path)] = data[key]
    return projected


@dataclass
class _Volume:
    files: dict[str, tuple[str, str, bytes]] | None  # relative path -> (ConfigMap, key, content); None: opaque


def _volume(volume: dict[str, Any], namespace: str | None, source: ConfigMapSource | None) -> _Volume:
    sources: list[dict[str, Any]] = []
    if isinstance(volume.get("configMap"), dict):
        sources = [volume["configMap"]]
    elif isinstance(volume.get("projected"), dict):
        for entry in _mapping(volume["projected"]).get("sources") or []:
            if not isinstance(_mapping(entry).get("configMap"), dict):
                return _Volume(None)  # a Secret, the downward API or a token: content unknown here
            sources.append(entry["configMap"])
    else:
        return _Volume(None)
    files: dict[str, tuple[str, str, bytes]] = {}
    for configmap in sources:
        name = configmap.get("name")
        obj = source(namespace, name) if source is not None and isinstance(name, str) else None
        if obj is None:
            return _Volume(None)
        data = _configmap_data(obj)
        projected = _projected_keys(data, configmap.get("items"))
        if projected is None:
            return _Volume(None)
        keys = {posixpath.normpath(item["path"]): item["key"] for item in configmap.get("items") or []
                if isinstance(item, dict) and isinstance(item.get("path"), str)}  # fmt: skip
        for path, content in projected.items():
            files[path] = (str(name), keys.get(path, path), content)
    return _Volume(files)


def _env(
    container: Object, namespace: str | None, source: ConfigMapSource | None
) -> tuple[dict[str, str], set[str], bool]:
    env: dict[str, str] = {}
    unknown: set[str] = set()
    env_open = False
    for raw_entry in container.get("envFrom") or []:
        entry = _mapping(raw_entry)
        prefix = entry.get("prefix") if isinstance(entry.get("prefix"), str) else ""
        reference = _mapping(entry.get("configMapRef"))
        obj = (
            source(namespace, reference["name"])
            if source is not None and isinstance(reference.get("name"), str)
            else None
        )
        if obj is None:
            env_open = env_open or not (reference and reference.get("optional") is True and source is not None)
            continue
        for key, value in _mapping(obj.get("data")).items():
            name = f"{prefix}{key}"
            if isinstance(value, str) and _ENV_NAME.match(name):
                env[name] = value
                unknown.discard(name)
    for raw_entry in container.get("env") or []:
        entry = _mapping(raw_entry)
        variable, literal = entry.get("name"), entry.get("value")
        if not isinstance(variable, str):
            continue
        if isinstance(literal, str) or "valueFrom" not in entry:
            env[variable] = literal if isinstance(literal, str) else ""
            unknown.discard(variable)
            continue
        value_from = _mapping(entry.get("valueFrom"))
        key_ref = _mapping(value_from.get("configMapKeyRef"))
        obj = (
            source(namespace, key_ref["name"]) if source is not None and isinstance(key_ref.get("name"), str) else None
        )
        value = _mapping(obj.get("data")).get(str(key_ref.get("key"))) if obj is not None else None
        if isinstance(value, str):
            env[variable] = value
            unknown.discard(variable)
        else:
            env.pop(variable, None)
            unknown.add(variable)
    return env, unknown, env_open


def _config_paths(container: Object) -> tuple[str, ...]:
    words = [word for key in ("command", "args") for word in (container.get(key) or []) if isinstance(word, str)]
    paths = [words[index + 1] for index, word in enumerate(words[:-1]) if word == "-f"]
    paths += [word[2:] for word in words if word.startswith("-f") and len(word) > 2 and word[2] == "/"]
    return tuple(paths) or (DEFAULT_CONFIG,)


def container_view(
    pod_spec: Object, container: Object, namespace: str | None, source: ConfigMapSource | None
) -> ContainerView:
    volumes = {
        volume["name"]: volume
        for volume in pod_spec.get("volumes") or []
        if isinstance(volume, dict) and isinstance(volume.get("name"), str)
    }
    files: dict[str, bytes] = {}
    origins: dict[str, tuple[str, str]] = {}
    complete: list[str] = []
    opaque: list[str] = []
    for raw_mount in container.get("volumeMounts") or []:
        mount = _mapping(raw_mount)
        mount_path, name = mount.get("mountPath"), mount.get("name")
        if not isinstance(mount_path, str) or not mount_path.startswith("/") or name not in volumes:
            continue
        mount_path = posixpath.normpath(mount_path)
        volume = _volume(volumes[name], namespace, source)
        sub_path = mount.get("subPath") if isinstance(mount.get("subPath"), str) and mount.get("subPath") else None
        if volume.files is None:
            opaque.append(mount_path)
            continue
        for relative, (configmap, key, content) in volume.files.items():
            if sub_path is None:
                target = posixpath.join(mount_path, relative)
            elif relative == posixpath.normpath(sub_path):
                target = mount_path
            elif relative.startswith(posixpath.normpath(sub_path) + "/"):
                target = posixpath.join(mount_path, relative[len(posixpath.normpath(sub_path)) + 1 :])
            else:
                continue
            files[target], origins[target] = content, (configmap, key)
        if sub_path is None or any(relative.startswith(sub_path.rstrip("/") + "/") for relative in volume.files):
            complete.append(mount_path)
    env, unknown, env_open = _env(container, namespace, source)
    return ContainerView(
        files,
        origins,
        tuple(complete),
        tuple(opaque),
        env,
        frozenset(unknown),
        env_open,
        _config_paths(container),
    )
